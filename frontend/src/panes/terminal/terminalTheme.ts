/**
 * xterm.js colours from labgate's design tokens (`--lg-terminal-*`, `--lg-surface`,
 * `--lg-text` in styles/theme.css), so a terminal follows the light and dark themes.
 */
import type { ITheme } from '@xterm/xterm'

/** Reads one CSS custom property, e.g. `getComputedStyle(document.documentElement)`. */
export type TokenReader = (name: string) => string

const ANSI = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'] as const

const NORMAL_KEYS: Record<(typeof ANSI)[number], keyof ITheme> = {
  black: 'black',
  red: 'red',
  green: 'green',
  yellow: 'yellow',
  blue: 'blue',
  magenta: 'magenta',
  cyan: 'cyan',
  white: 'white',
}

const BRIGHT_KEYS: Record<(typeof ANSI)[number], keyof ITheme> = {
  black: 'brightBlack',
  red: 'brightRed',
  green: 'brightGreen',
  yellow: 'brightYellow',
  blue: 'brightBlue',
  magenta: 'brightMagenta',
  cyan: 'brightCyan',
  white: 'brightWhite',
}

export function terminalTheme(read: TokenReader): ITheme {
  const token = (name: string): string | undefined => read(`--lg-${name}`).trim() || undefined
  const theme: Record<string, string | undefined> = {
    background: token('surface'),
    foreground: token('text'),
    cursor: token('terminal-cursor'),
    cursorAccent: token('surface'),
    selectionBackground: token('terminal-selection'),
    scrollbarSliderBackground: token('terminal-scrollbar'),
    scrollbarSliderHoverBackground: token('terminal-scrollbar-hover'),
    scrollbarSliderActiveBackground: token('terminal-scrollbar-hover'),
  }
  for (const colour of ANSI) {
    theme[NORMAL_KEYS[colour]] = token(`terminal-${colour}`)
    theme[BRIGHT_KEYS[colour]] = token(`terminal-bright-${colour}`)
  }
  return Object.fromEntries(Object.entries(theme).filter(([, value]) => value !== undefined)) as ITheme
}

/** The monospace font stack of the design tokens (xterm.js needs it as a string). */
export function terminalFont(read: TokenReader): string {
  return read('--lg-font-mono').trim() || 'monospace'
}

export function documentTokens(): TokenReader {
  const style = getComputedStyle(document.documentElement)
  return (name) => style.getPropertyValue(name)
}
