/** Sign-in identities: the ways a person signs in as their account (docs/api-contract.md, "Users"). */
import { api, type ApiClient } from './client'
import type { Identity } from './types'

/** What an administrator links: the provider's name, its name for the person, and a label. */
export interface NewIdentity {
  provider: string
  subject: string
  label: string
}

const identitiesPath = (username: string): string => `/users/${encodeURIComponent(username)}/identities`

export async function myIdentities(client: ApiClient = api): Promise<Identity[]> {
  return (await client.get<{ identities: Identity[] }>('/users/me/identities')).identities
}

export async function userIdentities(username: string, client: ApiClient = api): Promise<Identity[]> {
  return (await client.get<{ identities: Identity[] }>(identitiesPath(username))).identities
}

export function linkIdentity(username: string, identity: NewIdentity, client: ApiClient = api): Promise<Identity> {
  return client.post<Identity>(identitiesPath(username), identity)
}

/** Take the identity from the user; the sessions begun with it end. */
export function unlinkIdentity(username: string, id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${identitiesPath(username)}/${id}`)
}
