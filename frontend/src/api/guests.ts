/**
 * Guest invitations (docs/api-contract.md, "Guest invitations"): administrators make,
 * change and withdraw them; a guest looks a code up and joins with it, which logs them in.
 */
import { api, type ApiClient } from './client'
import type { SessionAnswer } from './types'

export type InvitationState = 'open' | 'full' | 'expired' | 'revoked'

/** A guest account of an invitation, as the console shows it. */
export interface Guest {
  username: string
  display_name: string
  joined_at: string
  last_login_at: string | null
  expires_at: string | null
  /** Their app sessions starting or running now. */
  sessions: number
}

export interface GuestInvitation {
  id: number
  title: string
  /** As people read it: `K7QM-4TXP-9WRB`. */
  code: string
  /** The joining page: `<origin>/login?invitation=<code>`. */
  link: string
  seats: number
  used: number
  seats_left: number
  expires_at: string
  created_by: string | null
  created_at: string
  revoked_at: string | null
  state: InvitationState
  guests: Guest[]
}

export interface InvitationInput {
  title: string
  seats: number
  /** ISO time with its zone. */
  expires_at: string
}

/** What a guest sees before joining. */
export interface InvitationLookup {
  title: string
  expires_at: string
  seats_left: number
}

export interface JoinInput {
  code: string
  display_name: string
  password: string
}

const path = (id: number): string => `/guest-invitations/${encodeURIComponent(String(id))}`

export async function listInvitations(client: ApiClient = api): Promise<GuestInvitation[]> {
  return (await client.get<{ invitations: GuestInvitation[] }>('/guest-invitations')).invitations
}

export function createInvitation(input: InvitationInput, client: ApiClient = api): Promise<GuestInvitation> {
  return client.post<GuestInvitation>('/guest-invitations', input)
}

export function changeInvitation(
  id: number,
  input: Partial<InvitationInput>,
  client: ApiClient = api,
): Promise<GuestInvitation> {
  return client.patch<GuestInvitation>(path(id), input)
}

/** Withdraw it; with `endAccounts` its guests are logged out and removed now. */
export function revokeInvitation(id: number, endAccounts: boolean, client: ApiClient = api): Promise<GuestInvitation> {
  return client.delete<GuestInvitation>(`${path(id)}${endAccounts ? '?end_accounts=true' : ''}`)
}

export function lookUpInvitation(code: string, client: ApiClient = api): Promise<InvitationLookup> {
  return client.get<InvitationLookup>(`/guest-invitations/lookup?code=${encodeURIComponent(code)}`)
}

/** Join as a guest: logged in afterwards (the CSRF token kept); `user.username` is generated. */
export async function joinAsGuest(input: JoinInput, client: ApiClient = api): Promise<SessionAnswer> {
  const answer = await client.post<SessionAnswer>('/auth/guest', input)
  client.csrfToken = answer.csrf_token
  return answer
}
