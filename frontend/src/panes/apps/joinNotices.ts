/**
 * Telling a session's owner who joined it: a `session_joined` event on the events socket
 * becomes a notice "alice joined “Desktop on box” (can view)". And telling support staff
 * that an owner asks for help: a `help_asked` event becomes a notice with an Open button.
 */
import type { HelpAskedEvent, ServerEvent } from '../../api/resources'
import type { PersonRef, SessionRole } from '../../api/sharing'
import { personName, roleLabel } from './sharingRoles'

export function joinMessage(user: Pick<PersonRef, 'username' | 'display_name'>, title: string, role: SessionRole): string {
  return `${personName(user)} joined “${title}” (${roleLabel(role)})`
}

export interface JoinDeps {
  onEvent: (listener: (event: ServerEvent) => void) => () => void
  /** The session's title, or null when it cannot be read. */
  title: (sessionId: string) => Promise<string | null>
  notify: (message: string) => void
}

/** Listen for joins until the returned function is called. */
export function watchJoins(deps: JoinDeps): () => void {
  return deps.onEvent((event) => {
    if (event.type !== 'session_joined') return
    void deps.title(event.session_id).then((title) => deps.notify(joinMessage(event.user, title ?? 'your session', event.role)))
  })
}

export function helpMessage(event: Pick<HelpAskedEvent, 'owner' | 'title' | 'message'>): string {
  const said = event.message ? `: “${event.message}”` : ''
  return `${personName(event.owner)} asks for help with “${event.title}”${said}`
}

export interface HelpDeps {
  onEvent: (listener: (event: ServerEvent) => void) => () => void
  /** A notice with an Open button that calls `open`. */
  notify: (message: string, open: () => void) => void
  open: (sessionId: string) => void
}

/** Listen for requests for help (support staff get them) until the returned function is called. */
export function watchHelpRequests(deps: HelpDeps): () => void {
  return deps.onEvent((event) => {
    if (event.type !== 'help_asked') return
    deps.notify(helpMessage(event), () => deps.open(event.session_id))
  })
}
