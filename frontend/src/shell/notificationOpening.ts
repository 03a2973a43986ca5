/**
 * What clicking a notification opens: its session (the pane its app needs, or the
 * Sessions pane once it has ended), the session's sharing dialog (someone joined), or an
 * experiment (the Experiments pane, when this labgate has it).
 */
import type { AppNotification } from '../api/notifications'

export type NotificationTarget =
  | { kind: 'session'; sessionId: string }
  | { kind: 'sharing'; sessionId: string }
  | { kind: 'experiment'; experimentId: number }
  | { kind: 'none' }

export function targetOf(notification: Pick<AppNotification, 'subject'>): NotificationTarget {
  const subject = notification.subject
  if (typeof subject.session === 'string') {
    return subject.sharing ? { kind: 'sharing', sessionId: subject.session } : { kind: 'session', sessionId: subject.session }
  }
  if (typeof subject.experiment === 'number') return { kind: 'experiment', experimentId: subject.experiment }
  return { kind: 'none' }
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(iso: string, now: number): string {
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000)
  if (seconds < 60) return 'just now'
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ago`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ago`
  return `${Math.floor(hours / 24)} days ago`
}
