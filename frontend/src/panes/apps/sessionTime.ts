/** When a session will be stopped if nothing happens, and how that reads. */
import type { AppSession } from '../../api/sessions'

export interface StopForecast {
  at: Date
  cause: 'idle' | 'time'
}

export function nextStop(session: Pick<AppSession, 'idle_stop_at' | 'ends_at'>): StopForecast | null {
  const idle = session.idle_stop_at ? new Date(session.idle_stop_at) : null
  const end = session.ends_at ? new Date(session.ends_at) : null
  if (idle && (!end || idle <= end)) return { at: idle, cause: 'idle' }
  if (end) return { at: end, cause: 'time' }
  return null
}

/** "3 h 20 min", "12 min", "under a minute". */
export function formatRemaining(ms: number): string {
  if (ms < 60_000) return 'under a minute'
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`
  return `${Math.floor(hours / 24)} days`
}

/** The sessions list's "time left" cell. */
export function describeTimeLeft(session: AppSession, now: number): string {
  const stop = nextStop(session)
  if (!stop) return 'no limit'
  const left = formatRemaining(stop.at.getTime() - now)
  return stop.cause === 'idle' ? `${left} if idle` : left
}
