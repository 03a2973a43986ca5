/**
 * Opening an invitation link (`/?invite=<token>`): once logged in, the workspace takes the
 * token out of the address bar (so it is neither bookmarked nor shown), says whose session
 * it is for and in what role, and asks the user; only if they say yes is it accepted and
 * the session opened. (A link is anyone's to send: one click on it must not put the user
 * into a stranger's session.) Every refusal is said in words.
 */
import { ApiError } from '../../api/client'
import type { Accepted, InvitationPreview, ShareRole } from '../../api/sharing'

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

const AS_ROLE: Record<ShareRole, string> = {
  user: 'a user (you can work in it)',
  guest: 'a viewer (you can watch, not change anything)',
  support: 'support staff',
}

/** The question asked before joining: "Join mallory's session “X” as a viewer…?" */
export function joinQuestion(preview: InvitationPreview): string {
  const owner = preview.owner.username || 'someone'
  return `Join ${owner}'s session “${preview.title}” (${preview.app}) as ${AS_ROLE[preview.role]}?`
}

export interface AcceptDeps {
  href: () => string
  /** Put an address in the bar without loading it (history.replaceState). */
  replace: (path: string) => void
  /** What the link would give (nothing accepted). */
  preview: (token: string) => Promise<InvitationPreview>
  /** Ask the user whether to join; true: yes. */
  ask: (preview: InvitationPreview) => Promise<boolean>
  accept: (token: string) => Promise<Accepted>
  /** Open the session in the workspace. */
  open: (accepted: Accepted) => Promise<void>
  notify: (message: string, kind: 'info' | 'error') => void
}

/**
 * The invitation in the address, if there is one: the token leaves the address bar
 * first, whatever follows; the user is asked, and only then is it accepted. Returns what
 * was accepted, or null (none, refused, or the user said no).
 */
export async function acceptInviteFromAddress(deps: AcceptDeps): Promise<Accepted | null> {
  const href = deps.href()
  const token = inviteToken(new URL(href).search)
  if (token === null) return null
  deps.replace(withoutInvite(href))
  let accepted: Accepted
  try {
    if (!(await deps.ask(await deps.preview(token)))) return null
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
