/** User accounts, for administrators (docs/api-contract.md, "Users"). */
import { api, type ApiClient } from './client'
import type { Role, User } from './types'

export interface NewUser {
  username: string
  password: string
  role: Role
  display_name: string
  email: string | null
  /** The password is one-time: the user must choose their own at their first login. */
  must_change_password: boolean
}

/** What an administrator may change; a `password` with `must_change_password` is one-time. */
export interface UserChange {
  role?: Role
  disabled?: boolean
  display_name?: string
  email?: string
  password?: string
  must_change_password?: boolean
}

const userPath = (username: string): string => `/users/${encodeURIComponent(username)}`

export async function listUsers(client: ApiClient = api): Promise<User[]> {
  return (await client.get<{ users: User[] }>('/users')).users
}

export function createUser(user: NewUser, client: ApiClient = api): Promise<User> {
  return client.post<User>('/users', user)
}

export function updateUser(username: string, change: UserChange, client: ApiClient = api): Promise<User> {
  return client.patch<User>(userPath(username), change)
}

export function deleteUser(username: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(userPath(username))
}
