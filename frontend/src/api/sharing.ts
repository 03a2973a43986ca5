/**
 * Sharing a session (docs/api-contract.md, "Sharing"): who has access to a session and in
 * which role, invitation links, support staff, and accepting an invitation.
 */
import { api, type ApiClient } from './client'

/** What a person may do in a shared session. The owner is `owner`; an administrator looking
 * at someone else's session is `admin`. */
export type ShareRole = 'user' | 'guest' | 'support'
export type SessionRole = 'owner' | ShareRole | 'admin'

export interface PersonRef {
  id: number
  username: string
  display_name: string | null
}

export interface GroupRef {
  id: number
  name: string
}

/** One grant: to a user, a group, or the members of the session's experiment. */
export interface Share {
  id: number
  kind: 'user' | 'group' | 'experiment'
  user: PersonRef | null
  group: GroupRef | null
  experiment?: { id: number; code: string } | null
  role: ShareRole
  created_at: string
  created_by: string | null
  /** Made by accepting this invitation (ending the invitation ends the share too). */
  invitation_id?: number | null
}

export interface Invitation {
  id: number
  role: ShareRole
  expires_at: string
  max_uses: number
  uses: number
  created_at: string
}

/** An invitation just made: its secret `token` and the link's `path`, given this once. */
export interface NewInvitation extends Invitation {
  token: string
  path: string
}

export interface SupportState {
  /** The owner lets members of the support group join. */
  allowed: boolean
  help_requested_at: string | null
  /** What the owner wrote when asking for help. */
  help_message?: string
  /** The support group's name; null when the server names none. */
  group: string | null
  /** Support can be offered for this session (a support group is configured). */
  available: boolean
}

export interface Connection {
  user: PersonRef
  role: SessionRole
  since: string
}

export interface Sharing {
  shares: Share[]
  invitations: Invitation[]
  support: SupportState
  connected: Connection[]
  /** The roles this session's template allows (GUEST only where view-only is enforced). */
  roles: ShareRole[]
  /** Whether it can be shared on this installation; when not, `why` says so (a web app
   * while the server has no `app_domain`). Absent from older servers: sharable. */
  sharable?: boolean
  why?: string | null
}

/** Share with a user or with a group, by name. */
export type ShareTarget = { user: string } | { group: string } | { experiment_id: number }

export interface InvitationRequest {
  role: ShareRole
  expires_in_hours: number
  max_uses: number
}

export interface Accepted {
  session_id: string
  role: ShareRole
}

/** What an invitation link would give, asked before accepting it. */
export interface InvitationPreview {
  session_id: string
  title: string
  /** The app's name ("JupyterLab", "Desktop"). */
  app: string
  view: string
  owner: PersonRef
  role: ShareRole
}

const sharingPath = (sessionId: string): string => `/sessions/${encodeURIComponent(sessionId)}`

export function getSharing(sessionId: string, client: ApiClient = api): Promise<Sharing> {
  return client.get<Sharing>(`${sharingPath(sessionId)}/sharing`)
}

export function addShare(sessionId: string, target: ShareTarget, role: ShareRole, client: ApiClient = api): Promise<Share> {
  return client.post<Share>(`${sharingPath(sessionId)}/shares`, { ...target, role })
}

export function changeShare(sessionId: string, shareId: number, role: ShareRole, client: ApiClient = api): Promise<Share> {
  return client.patch<Share>(`${sharingPath(sessionId)}/shares/${shareId}`, { role })
}

export function revokeShare(sessionId: string, shareId: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${sharingPath(sessionId)}/shares/${shareId}`)
}

export function createInvitation(sessionId: string, request: InvitationRequest, client: ApiClient = api): Promise<NewInvitation> {
  return client.post<NewInvitation>(`${sharingPath(sessionId)}/invitations`, request)
}

export function endInvitation(sessionId: string, invitationId: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${sharingPath(sessionId)}/invitations/${invitationId}`)
}

export function setSupportAllowed(sessionId: string, allowed: boolean, client: ApiClient = api): Promise<SupportState> {
  return client.put<SupportState>(`${sharingPath(sessionId)}/support`, { allowed })
}

export function askForHelp(sessionId: string, message: string, client: ApiClient = api): Promise<SupportState> {
  return client.post<SupportState>(`${sharingPath(sessionId)}/support/help`, { message })
}

export function acceptInvitation(token: string, client: ApiClient = api): Promise<Accepted> {
  return client.post<Accepted>('/invitations/accept', { token })
}

/** Whose session an invitation is for, and in what role; accepts nothing. */
export function previewInvitation(token: string, client: ApiClient = api): Promise<InvitationPreview> {
  return client.post<InvitationPreview>('/invitations/preview', { token })
}
