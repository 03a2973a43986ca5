import { describe, expect, it } from 'vitest'
import { COMBOS, sendCombo } from './specialKeys'

describe('sendCombo', () => {
  it('presses the keys in order and releases them in reverse', () => {
    const sent: [number, string | null, boolean | undefined][] = []
    const combo = COMBOS.find((c) => c.key === 'ctrl-alt-del')
    if (!combo) throw new Error('missing')
    sendCombo({ sendKey: (keysym, code, down) => sent.push([keysym, code, down]) }, combo)
    expect(sent).toEqual([
      [0xffe3, 'ControlLeft', true],
      [0xffe9, 'AltLeft', true],
      [0xffff, 'Delete', true],
      [0xffff, 'Delete', false],
      [0xffe9, 'AltLeft', false],
      [0xffe3, 'ControlLeft', false],
    ])
  })

  it('offers the combinations a browser keeps for itself', () => {
    const labels = COMBOS.map((c) => c.label)
    for (const label of ['Ctrl+Alt+Del', 'Ctrl+Esc', 'Alt+Tab', 'Super (Windows key)', 'Ctrl+W', 'Ctrl+T', 'Ctrl+N']) {
      expect(labels).toContain(label)
    }
    expect(new Set(COMBOS.map((c) => c.key)).size).toBe(COMBOS.length)
  })
})
