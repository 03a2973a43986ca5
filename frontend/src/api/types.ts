/** Objects the labgate API returns (docs/api-contract.md). */

export type Role = 'admin' | 'user' | 'guest'

export interface User {
  id: number
  username: string
  display_name: string | null
  email: string | null
  role: Role
  disabled: boolean
  groups: string[]
  created_at: string
  last_login_at: string | null
}

/** Answer of login and of GET /auth/session. */
export interface SessionAnswer {
  user: User
  csrf_token: string
}

export interface AuthProvider {
  name: string
  label: string
}

export interface ServerInfo {
  name: string
  version: string
  auth_providers: AuthProvider[]
}

export type PreferenceValues = Record<string, unknown>

export interface PreferenceSchemaEntry {
  description: string
  default: unknown
}

export interface PreferencesAnswer {
  preferences: PreferenceValues
  schema?: Record<string, PreferenceSchemaEntry>
}

export type TokenScope = 'read' | 'write' | 'admin'

export interface Token {
  id: number
  name: string
  scopes: TokenScope[]
  prefix: string
  created_at: string
  expires_at: string | null
  last_used_at: string | null
  revoked: boolean
}

export interface CreatedToken {
  token: Token
  /** The full secret; the server shows it exactly once. */
  secret: string
}
