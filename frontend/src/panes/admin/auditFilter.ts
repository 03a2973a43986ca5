/** The Audit log pane's filter form, as the API takes it (api/console.ts `listAudit`). */
import type { AuditFilter } from '../../api/console'

export interface AuditForm {
  event: string
  actor: string
  target: string
  /** `<input type="datetime-local">` values: local time, no zone ("2026-12-07T09:30"). */
  since: string
  until: string
}

/** A local date and time as ISO 8601 in UTC; null for an empty or unreadable one. */
export function localToIso(value: string): string | null {
  if (!value.trim()) return null
  const at = new Date(value)
  return Number.isNaN(at.getTime()) ? null : at.toISOString()
}

/** The filter to ask for, or what is wrong with the form. */
export function auditQuery(form: AuditForm): { filter: AuditFilter } | { error: string } {
  const since = localToIso(form.since)
  const until = localToIso(form.until)
  if (since && until && until <= since) return { error: 'The end of the time range must be after its start.' }
  const filter: AuditFilter = {}
  for (const key of ['event', 'actor', 'target'] as const) {
    const text = form[key].trim()
    if (text) filter[key] = text
  }
  if (since) filter.since = since
  if (until) filter.until = until
  return { filter }
}

/** An event's details in one short line ("user=alice, role=staff"). */
export function detailLine(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ')
}
