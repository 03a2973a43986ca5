/**
 * How roles in a shared session read: the short label ("can view"), one line on what it
 * allows, which roles the Share dialog offers, and the Sessions list's "shared by" line.
 */
import type { AppSession } from '../../api/sessions'
import type { PersonRef, SessionRole, ShareRole } from '../../api/sharing'

/** The order roles are offered in, most rights first. */
export const SHARE_ROLES: readonly ShareRole[] = ['user', 'guest', 'support']

const LABELS: Record<SessionRole, string> = {
  owner: 'owner',
  user: 'can use',
  guest: 'can view',
  support: 'support staff',
  admin: 'administrator',
}

const MEANINGS: Record<ShareRole, string> = {
  user: 'Can use it as you do: type, click, run and change things.',
  guest: 'Can watch, but not type, click or change anything.',
  support: 'Facility support staff: can use it to help you.',
}

export function roleLabel(role: SessionRole): string {
  return LABELS[role]
}

export function roleMeaning(role: ShareRole): string {
  return MEANINGS[role]
}

export interface RoleOption {
  value: ShareRole
  label: string
}

/** The roles the server offers for this session, in a steady order (unknown ones left out). */
export function roleOptions(offered: readonly string[]): RoleOption[] {
  return SHARE_ROLES.filter((role) => offered.includes(role)).map((role) => ({ value: role, label: LABELS[role] }))
}

/** What a new share or invitation starts as: full use where offered, else the first role. */
export function defaultRole(offered: readonly string[]): ShareRole | null {
  return roleOptions(offered)[0]?.value ?? null
}

export function personName(person: Pick<PersonRef, 'username' | 'display_name'>): string {
  return person.display_name?.trim() || person.username
}

/** The session is the caller's own (servers without sharing say nothing: theirs). */
export function isOwn(session: Pick<AppSession, 'my_role'>): boolean {
  return session.my_role === undefined || session.my_role === 'owner'
}

/** Someone else shared it with the caller (as user, guest or support staff). */
export function isSharedWithMe(session: Pick<AppSession, 'my_role'>): boolean {
  return session.my_role === 'user' || session.my_role === 'guest' || session.my_role === 'support'
}

/** "shared by alice · can view" for a session shared with the caller, else null. */
export function sharedByLine(session: Pick<AppSession, 'my_role' | 'owner'>): string | null {
  if (!isSharedWithMe(session) || !session.my_role) return null
  const owner = session.owner ? personName(session.owner) : 'someone'
  return `shared by ${owner} · ${roleLabel(session.my_role)}`
}

/** The bar on a pane of a session shared with the caller: "alice shared this session with you: you can use it.", else null. */
export function sharedWithYou(session: Pick<AppSession, 'my_role' | 'owner'>): string | null {
  if (!isSharedWithMe(session) || !session.my_role) return null
  const owner = session.owner ? personName(session.owner) : 'Someone'
  const can = session.my_role === 'guest' ? 'can view it, not use it' : session.my_role === 'support' ? 'can use it as support staff' : 'can use it'
  return `${owner} shared this session with you: you ${can}.`
}

/** The title of the owner's "shared" mark: how many have access, where the server says. */
export function sharedMarkTitle(session: Pick<AppSession, 'share_count'>): string {
  const count = session.share_count
  if (count === undefined) return 'Shared with others'
  return count === 1 ? 'Shared with 1 person or group' : `Shared with ${count} people or groups`
}
