/**
 * Key combinations the browser or the local system would keep for itself (closing the
 * tab, switching windows, the start menu), sent to the desktop from the toolbar's menu.
 * In full screen, where the browser allows it, the keyboard is locked and they work
 * when typed as well.
 */

/** One key: its X11 keysym (what RFB sends) and its DOM code (for noVNC's scancodes). */
export interface RemoteKey {
  keysym: number
  code: string
}

export const KEYS = {
  control: { keysym: 0xffe3, code: 'ControlLeft' },
  alt: { keysym: 0xffe9, code: 'AltLeft' },
  shift: { keysym: 0xffe1, code: 'ShiftLeft' },
  super: { keysym: 0xffeb, code: 'MetaLeft' },
  delete: { keysym: 0xffff, code: 'Delete' },
  escape: { keysym: 0xff1b, code: 'Escape' },
  tab: { keysym: 0xff09, code: 'Tab' },
  backspace: { keysym: 0xff08, code: 'Backspace' },
  f4: { keysym: 0xffc1, code: 'F4' },
  w: { keysym: 0x0077, code: 'KeyW' },
  t: { keysym: 0x0074, code: 'KeyT' },
  n: { keysym: 0x006e, code: 'KeyN' },
  q: { keysym: 0x0071, code: 'KeyQ' },
} as const satisfies Record<string, RemoteKey>

export interface KeyCombo {
  key: string
  label: string
  keys: readonly RemoteKey[]
}

export const COMBOS: readonly KeyCombo[] = [
  { key: 'ctrl-alt-del', label: 'Ctrl+Alt+Del', keys: [KEYS.control, KEYS.alt, KEYS.delete] },
  { key: 'ctrl-esc', label: 'Ctrl+Esc', keys: [KEYS.control, KEYS.escape] },
  { key: 'alt-tab', label: 'Alt+Tab', keys: [KEYS.alt, KEYS.tab] },
  { key: 'alt-shift-tab', label: 'Alt+Shift+Tab', keys: [KEYS.alt, KEYS.shift, KEYS.tab] },
  { key: 'alt-f4', label: 'Alt+F4', keys: [KEYS.alt, KEYS.f4] },
  { key: 'super', label: 'Super (Windows key)', keys: [KEYS.super] },
  { key: 'ctrl-w', label: 'Ctrl+W', keys: [KEYS.control, KEYS.w] },
  { key: 'ctrl-t', label: 'Ctrl+T', keys: [KEYS.control, KEYS.t] },
  { key: 'ctrl-n', label: 'Ctrl+N', keys: [KEYS.control, KEYS.n] },
  { key: 'ctrl-q', label: 'Ctrl+Q', keys: [KEYS.control, KEYS.q] },
  { key: 'ctrl-alt-backspace', label: 'Ctrl+Alt+Backspace', keys: [KEYS.control, KEYS.alt, KEYS.backspace] },
  { key: 'escape', label: 'Esc', keys: [KEYS.escape] },
]

export interface KeySender {
  sendKey(keysym: number, code: string | null, down?: boolean): void
}

/** Press the keys in order, then release them in reverse, as a person's fingers would. */
export function sendCombo(client: KeySender, combo: KeyCombo): void {
  for (const key of combo.keys) client.sendKey(key.keysym, key.code, true)
  for (const key of [...combo.keys].reverse()) client.sendKey(key.keysym, key.code, false)
}
