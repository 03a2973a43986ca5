/**
 * Invitation links: the address to hand out (the server gives its path, the page's origin
 * completes it), how long one still runs, how much of it is used, and the form's limits.
 */
import type { Invitation } from '../../api/sharing'
import { formatRemaining } from './sessionTime'

/** The server's limits (docs/api-contract.md, "Sharing"). */
export const EXPIRY_HOURS_MIN = 1
export const EXPIRY_HOURS_MAX = 720
export const MAX_USES_MIN = 1
export const MAX_USES_MAX = 1000

export const EXPIRY_CHOICES: readonly { value: number; label: string }[] = [
  { value: 1, label: '1 hour' },
  { value: 8, label: '8 hours' },
  { value: 24, label: '1 day' },
  { value: 168, label: '1 week' },
  { value: 720, label: '30 days' },
]

/**
 * The full link for `path` ("/?invite=..."), on this page's origin. Anything but a path
 * on this origin is refused: a link must never lead elsewhere.
 */
export function invitationLink(path: string, origin: string): string {
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error(`Not a path on this server: ${path}`)
  return new URL(path, origin).toString()
}

export function isExpired(invitation: Pick<Invitation, 'expires_at'>, now: number): boolean {
  return new Date(invitation.expires_at).getTime() <= now
}

export function isUsedUp(invitation: Pick<Invitation, 'uses' | 'max_uses'>): boolean {
  return invitation.uses >= invitation.max_uses
}

/** "expires in 5 h 00 min", "expired". */
export function describeExpiry(invitation: Pick<Invitation, 'expires_at'>, now: number): string {
  if (isExpired(invitation, now)) return 'expired'
  return `expires in ${formatRemaining(new Date(invitation.expires_at).getTime() - now)}`
}

/** "not used yet (up to 5)", "used 2 of 5 times", "used up". */
export function describeUses(invitation: Pick<Invitation, 'uses' | 'max_uses'>): string {
  if (isUsedUp(invitation)) return 'used up'
  if (invitation.uses === 0) return invitation.max_uses === 1 ? 'for one person' : `for up to ${invitation.max_uses} people`
  return `used ${invitation.uses} of ${invitation.max_uses} times`
}

export interface InvitationForm {
  expiresInHours: number | string
  maxUses: number | string
}

/** The form's problems by field (empty: it can be sent). */
export function invitationFormErrors(form: InvitationForm): Partial<Record<keyof InvitationForm, string>> {
  const errors: Partial<Record<keyof InvitationForm, string>> = {}
  const hours = Number(form.expiresInHours)
  if (String(form.expiresInHours).trim() === '' || !Number.isInteger(hours) || hours < EXPIRY_HOURS_MIN || hours > EXPIRY_HOURS_MAX) {
    errors.expiresInHours = `Choose from ${EXPIRY_HOURS_MIN} to ${EXPIRY_HOURS_MAX} hours.`
  }
  const uses = Number(form.maxUses)
  if (String(form.maxUses).trim() === '' || !Number.isInteger(uses) || uses < MAX_USES_MIN || uses > MAX_USES_MAX) {
    errors.maxUses = `Enter a whole number from ${MAX_USES_MIN} to ${MAX_USES_MAX}.`
  }
  return errors
}
