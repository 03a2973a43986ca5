/**
 * Joining as a guest (GuestJoin.vue): the invitation code a link brings in
 * `?invitation=`, what the form checks before the server does, and the address to show
 * once the code has been used.
 */

export const NAME_MAX = 100
export const INVITATION_PARAMETER = 'invitation'

export interface JoinDraft {
  displayName: string
  password: string
  confirm: string
}

/** The code in a page's query (`?invitation=K7QM-4TXP-9WRB`), or null. */
export function invitationCodeFrom(search: string): string | null {
  const code = new URLSearchParams(search).get(INVITATION_PARAMETER)
  return code === null ? null : code.trim()
}

/** `url` without the invitation (the address bar after joining, or when logging in instead). */
export function withoutInvitation(url: string): string {
  const parsed = new URL(url)
  parsed.searchParams.delete(INVITATION_PARAMETER)
  const path = parsed.pathname === '/login' ? '/' : parsed.pathname
  return `${path}${parsed.search}${parsed.hash}`
}

/** What is wrong with the form, by field (`display_name`, `password`, `confirm`); empty: nothing. */
export function joinProblems(draft: JoinDraft, minPasswordLength: number): Record<string, string> {
  const problems: Record<string, string> = {}
  const name = draft.displayName.trim()
  if (!name) problems.display_name = 'Type your name, as the others in the workshop know you.'
  else if (name.length > NAME_MAX) problems.display_name = `At most ${NAME_MAX} characters.`
  if (draft.password.length < minPasswordLength) {
    problems.password = `Choose a password of at least ${minPasswordLength} characters.`
  } else if (draft.confirm !== draft.password) {
    problems.confirm = 'The two passwords differ: type the same one twice.'
  }
  return problems
}
