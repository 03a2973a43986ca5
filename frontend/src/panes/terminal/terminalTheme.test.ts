import { describe, expect, it } from 'vitest'
import { terminalFont, terminalTheme } from './terminalTheme'

describe('terminalTheme', () => {
  it('takes the surface, the text and the 16 ANSI colours from the tokens', () => {
    const tokens: Record<string, string> = {
      '--lg-surface': ' #101010',
      '--lg-text': '#eeeeee',
      '--lg-terminal-red': '#ff0000',
      '--lg-terminal-bright-red': '#ff8080',
      '--lg-terminal-selection': 'rgb(0 0 0 / 30%)',
    }
    const theme = terminalTheme((name) => tokens[name] ?? '')
    expect(theme).toEqual({
      background: '#101010',
      foreground: '#eeeeee',
      cursorAccent: '#101010',
      selectionBackground: 'rgb(0 0 0 / 30%)',
      red: '#ff0000',
      brightRed: '#ff8080',
    })
  })

  it('falls back to any monospace font', () => {
    expect(terminalFont(() => '')).toBe('monospace')
    expect(terminalFont(() => " 'DejaVu Sans Mono', monospace")).toBe("'DejaVu Sans Mono', monospace")
  })
})
