/**
 * Telling a session's owner who joined it: a `session_joined` event on the events socket
 * becomes a notice "alice joined “Desktop on box” (can view)".
 */
import type { ServerEvent } from '../../api/resources'
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
