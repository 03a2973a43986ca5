/** Short messages shown in the corner of the shell ("Could not save the theme: ..."). */
import { shallowRef } from 'vue'

export type NoticeKind = 'info' | 'error'

/** A button on a notice ("Open"); the notice goes once it is clicked. */
export interface NoticeAction {
  label: string
  run: () => void
}

export interface Notice {
  id: number
  kind: NoticeKind
  message: string
  action?: NoticeAction
}

const DEFAULT_TIMEOUT_MS = 6000

let nextId = 1
export const notices = shallowRef<Notice[]>([])

export function dismissNotice(id: number): void {
  notices.value = notices.value.filter((n) => n.id !== id)
}

export function notify(message: string, kind: NoticeKind = 'error', timeoutMs = DEFAULT_TIMEOUT_MS, action?: NoticeAction): number {
  const id = nextId++
  notices.value = [...notices.value, action ? { id, kind, message, action } : { id, kind, message }]
  if (timeoutMs > 0) setTimeout(() => dismissNotice(id), timeoutMs)
  return id
}
