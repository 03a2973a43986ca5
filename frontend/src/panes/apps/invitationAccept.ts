/**
 * Opening an invitation link (`/?invite=<token>`): once logged in, the workspace accepts
 * it, takes the token out of the address bar (so it is neither bookmarked nor shown) and
 * opens the session; every refusal is said in words.
 */
import { ApiError } from '../../api/client'
import type { Accepted } from '../../api/sharing'

export const INVITE_PARAM = 'invite'

/** The token in a page's query string, or null. */
export function inviteToken(search: string): string | null {
  const token = new URLSearchParams(search).get(INVITE_PARAM)
  return token && token.trim() !== '' ? token.trim() : null
}

/** The same address without the invitation (other parameters and the fragment kept). */
export function withoutInvite(href: string): string {
  const url = new URL(href)
  url.searchParams.delete(INVITE_PARAM)
  return `${url.pathname}${url.search}${url.hash}`
}

const MESSAGES: Record<string, string> = {
  invitation_unknown: 'This invitation link is not valid: it may have been ended by the person who made it, or copied incompletely.',
  invitation_expired: 'This invitation link has expired. Ask the person who sent it for a new one.',
  invitation_used_up: 'This invitation link has been used as often as it allows. Ask the person who sent it for a new one.',
  session_ended: 'The session this invitation was for has ended.',
}

/** What to tell the user when accepting failed. */
export function invitationErrorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const known = MESSAGES[error.code]
    if (known) return known
    if (error.status === 422) return `You cannot accept this invitation: ${error.message}`
    return `The invitation could not be accepted: ${error.message}`
  }
  return `The invitation could not be accepted: ${error instanceof Error ? error.message : String(error)}`
}

export interface AcceptDeps {
  href: () => string
  /** Put an address in the bar without loading it (history.replaceState). */
  replace: (path: string) => void
  accept: (token: string) => Promise<Accepted>
  /** Open the session in the workspace. */
  open: (accepted: Accepted) => Promise<void>
  notify: (message: string, kind: 'info' | 'error') => void
}

/**
 * Accept the invitation in the address, if there is one: the token leaves the address bar
 * first, whatever follows. Returns what was accepted, or null.
 */
export async function acceptInviteFromAddress(deps: AcceptDeps): Promise<Accepted | null> {
  const href = deps.href()
  const token = inviteToken(new URL(href).search)
  if (token === null) return null
  deps.replace(withoutInvite(href))
  let accepted: Accepted
  try {
    accepted = await deps.accept(token)
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) deps.notify(invitationErrorMessage(error), 'error')
    return null
  }
  try {
    await deps.open(accepted)
  } catch (error) {
    deps.notify(`You joined the session, but it could not be opened: ${error instanceof Error ? error.message : String(error)}`, 'error')
  }
  return accepted
}
