/** What the Requests pane says about a request for more time, and the hours a grant gives. */
import type { ExtensionRequest } from '../../api/sessions'
import { formatRemaining, nextStop } from '../apps/sessionTime'

/** The most hours one decision may give (the API's limit: 30 days). */
export const MAX_GRANT_HOURS = 24 * 30

/** "3 h 20 min left (if idle)", "ended", "no limit". */
export function timeLeft(request: Pick<ExtensionRequest, 'session'>, now: number): string {
  const stop = nextStop(request.session)
  if (!stop) return ['running', 'starting', 'pending'].includes(request.session.state) ? 'no limit' : 'ended'
  const left = formatRemaining(Math.max(0, stop.at.getTime() - now))
  return stop.cause === 'idle' ? `${left} left if idle` : `${left} left`
}

/** How long the session has run: since it was ready, or since it was launched. */
export function ranFor(request: Pick<ExtensionRequest, 'session'>, now: number): string {
  const since = new Date(request.session.ready_at ?? request.session.created_at).getTime()
  return formatRemaining(Math.max(0, now - since))
}

/** The hours typed into a grant, or the reason they will not do. */
export function grantHours(typed: string | number): { hours: number } | { error: string } {
  const text = String(typed).trim()
  if (!/^\d+$/.test(text)) return { error: 'Give a whole number of hours.' }
  const hours = Number(text)
  if (hours < 1 || hours > MAX_GRANT_HOURS) return { error: `Give between 1 and ${MAX_GRANT_HOURS} hours.` }
  return { hours }
}

/** "Granted 10 h of 48 by root", "Refused by root", "Granted by root". */
export function decisionSummary(request: ExtensionRequest): string {
  const by = request.decided_by ? ` by ${request.decided_by}` : ''
  if (request.state === 'refused') return `Refused${by}`
  const given = request.granted_hours ?? request.hours
  return given === request.hours ? `Granted ${given} h${by}` : `Granted ${given} h of ${request.hours}${by}`
}
