/**
 * The copy and paste keys of a terminal. Ctrl+C and Ctrl+V belong to the shell (interrupt,
 * literal next), so copying and pasting use Ctrl+Shift+C / Ctrl+Shift+V (and Ctrl+Insert /
 * Shift+Insert) as in other terminals; Cmd+C / Cmd+V on a Mac reach the browser as usual.
 */
export type ClipboardAction = 'copy' | 'paste'

export interface KeyLike {
  type: string
  key: string
  ctrlKey: boolean
  shiftKey: boolean
  altKey: boolean
  metaKey: boolean
}

export function clipboardAction(event: KeyLike): ClipboardAction | null {
  if (event.type !== 'keydown' || event.altKey || event.metaKey) return null
  const key = event.key.toLowerCase()
  if (event.ctrlKey && event.shiftKey && key === 'c') return 'copy'
  if (event.ctrlKey && event.shiftKey && key === 'v') return 'paste'
  if (event.ctrlKey && !event.shiftKey && key === 'insert') return 'copy'
  if (event.shiftKey && !event.ctrlKey && key === 'insert') return 'paste'
  return null
}
