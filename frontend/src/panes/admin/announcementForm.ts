/** The Announcements pane's form: its fields as typed, checked, and sent. */
import type { Announcement, AnnouncementInput, Severity } from '../../api/announcements'

export interface AnnouncementDraft {
  text: string
  severity: Severity
  /** `<input type="datetime-local">` values (local time); an empty start: now. */
  startsAt: string
  endsAt: string
  email: boolean
}

export const TEXT_MAX = 2000

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** A moment as a datetime-local input shows it (local time, to the minute). */
export function toLocalInput(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

export function emptyDraft(now: Date): AnnouncementDraft {
  return { text: '', severity: 'info', startsAt: '', endsAt: toLocalInput(new Date(now.getTime() + 24 * 3600_000)), email: false }
}

export function draftOf(announcement: Announcement): AnnouncementDraft {
  return {
    text: announcement.text,
    severity: announcement.severity,
    startsAt: toLocalInput(new Date(announcement.starts_at)),
    endsAt: toLocalInput(new Date(announcement.ends_at)),
    email: announcement.email,
  }
}

/** What is wrong with the draft, by field (`text`, `ends_at`); empty: nothing. */
export function problemsOf(draft: AnnouncementDraft, now: Date): Record<string, string> {
  const problems: Record<string, string> = {}
  const text = draft.text.trim()
  if (!text) problems.text = 'Write what the banner says.'
  else if (text.length > TEXT_MAX) problems.text = `At most ${TEXT_MAX} characters (${text.length} now).`
  const start = draft.startsAt ? new Date(draft.startsAt) : now
  const end = draft.endsAt ? new Date(draft.endsAt) : null
  if (!end || Number.isNaN(end.getTime())) problems.ends_at = 'Say when it ends.'
  else if (end <= start) problems.ends_at = 'The end must come after the start.'
  return problems
}

export function inputOf(draft: AnnouncementDraft): AnnouncementInput {
  return {
    text: draft.text.trim(),
    severity: draft.severity,
    starts_at: draft.startsAt ? new Date(draft.startsAt).toISOString() : null,
    ends_at: new Date(draft.endsAt).toISOString(),
    email: draft.email,
  }
}
