/** The Guest invitations pane's form (its fields as typed, checked, and sent) and how a row reads. */
import type { GuestInvitation, InvitationInput, InvitationState } from '../../api/guests'
import { toLocalInput } from './announcementForm'

export interface InvitationDraft {
  title: string
  /** As typed: checked to be a whole number. */
  seats: string
  /** `<input type="datetime-local">` value (local time). */
  expiresAt: string
}

export const TITLE_MAX = 200
export const MAX_SEATS = 10_000
/** Guest accounts are temporary: the server refuses an end further than this. */
export const MAX_DAYS = 366
/** A workshop's day ends at this hour: the default end. */
const END_HOUR = 18

/** A new invitation: 30 seats, ending at 18:00 today (tomorrow when that has passed). */
export function emptyDraft(now: Date): InvitationDraft {
  const end = new Date(now)
  end.setHours(END_HOUR, 0, 0, 0)
  if (end <= now) end.setDate(end.getDate() + 1)
  return { title: '', seats: '30', expiresAt: toLocalInput(end) }
}

/** What is wrong with the draft, by field (`title`, `seats`, `expires_at`); empty: nothing. */
export function problemsOf(draft: InvitationDraft, now: Date): Record<string, string> {
  const problems: Record<string, string> = {}
  const title = draft.title.trim()
  if (!title) problems.title = 'Give the invitation a title, such as the workshop’s name.'
  else if (title.length > TITLE_MAX) problems.title = `At most ${TITLE_MAX} characters (${title.length} now).`
  const seats = Number(draft.seats.trim())
  if (!/^\d+$/.test(draft.seats.trim()) || seats < 1 || seats > MAX_SEATS) {
    problems.seats = `Seats are a whole number from 1 to ${MAX_SEATS}.`
  }
  const end = draft.expiresAt ? new Date(draft.expiresAt) : null
  if (!end || Number.isNaN(end.getTime())) problems.expires_at = 'Say when it ends.'
  else if (end <= now) problems.expires_at = 'The end must be in the future.'
  else if (end.getTime() - now.getTime() > MAX_DAYS * 24 * 3600_000) {
    problems.expires_at = 'Guest accounts are temporary: an invitation ends within a year.'
  }
  return problems
}

export function inputOf(draft: InvitationDraft): InvitationInput {
  return {
    title: draft.title.trim(),
    seats: Number(draft.seats.trim()),
    expires_at: new Date(draft.expiresAt).toISOString(),
  }
}

const STATE_LABELS: Record<InvitationState, string> = {
  open: 'Open',
  full: 'Full',
  expired: 'Ended',
  revoked: 'Withdrawn',
}

export function stateLabel(state: InvitationState): string {
  return STATE_LABELS[state]
}

/** "12 of 30 seats taken, 18 left". */
export function seatsText(invitation: Pick<GuestInvitation, 'seats' | 'used' | 'seats_left'>): string {
  return `${invitation.used} of ${invitation.seats} taken, ${invitation.seats_left} left`
}
