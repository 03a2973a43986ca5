/** The file browser's keyboard shortcuts: a key press (with its modifiers) to an action. */

export type KeyAction =
  | { kind: 'move'; move: 'up' | 'down' | 'home' | 'end' | 'pageUp' | 'pageDown'; extend: boolean }
  | { kind: 'open' }
  | { kind: 'parent' }
  | { kind: 'back' }
  | { kind: 'forward' }
  | { kind: 'rename' }
  | { kind: 'delete' }
  | { kind: 'copy' }
  | { kind: 'cut' }
  | { kind: 'paste' }
  | { kind: 'selectAll' }
  | { kind: 'clear' }
  | { kind: 'menu' }
  | { kind: 'editPath' }
  | { kind: 'filter' }
  | { kind: 'refresh' }
  | { kind: 'newFolder' }
  | { kind: 'typeAhead'; text: string }

export interface KeyPress {
  key: string
  ctrlKey?: boolean
  metaKey?: boolean
  altKey?: boolean
  shiftKey?: boolean
}

const MOVES: Record<string, 'up' | 'down' | 'home' | 'end' | 'pageUp' | 'pageDown'> = {
  ArrowUp: 'up',
  ArrowDown: 'down',
  Home: 'home',
  End: 'end',
  PageUp: 'pageUp',
  PageDown: 'pageDown',
}

export function keyAction(event: KeyPress): KeyAction | null {
  const mod = Boolean(event.ctrlKey || event.metaKey)
  const key = event.key
  if (event.altKey) {
    if (key === 'ArrowUp') return { kind: 'parent' }
    if (key === 'ArrowLeft') return { kind: 'back' }
    if (key === 'ArrowRight') return { kind: 'forward' }
    return null
  }
  if (mod) {
    const lower = key.toLowerCase()
    if (lower === 'c') return { kind: 'copy' }
    if (lower === 'x') return { kind: 'cut' }
    if (lower === 'v') return { kind: 'paste' }
    if (lower === 'a') return { kind: 'selectAll' }
    if (lower === 'l') return { kind: 'editPath' }
    if (lower === 'f') return { kind: 'filter' }
    if (lower === 'n' && event.shiftKey) return { kind: 'newFolder' }
    return null
  }
  const move = MOVES[key]
  if (move) return { kind: 'move', move, extend: Boolean(event.shiftKey) }
  switch (key) {
    case 'Enter':
      return { kind: 'open' }
    case 'Backspace':
      return { kind: 'parent' }
    case 'F2':
      return { kind: 'rename' }
    case 'F5':
      return { kind: 'refresh' }
    case 'Delete':
      return { kind: 'delete' }
    case 'Escape':
      return { kind: 'clear' }
    case 'ContextMenu':
      return { kind: 'menu' }
    case 'F10':
      return event.shiftKey ? { kind: 'menu' } : null
  }
  if (key.length === 1 && key !== ' ') return { kind: 'typeAhead', text: key }
  return null
}
