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
  /**
   * The user logged in with a one-time password (the generated first admin password, or
   * one an admin handed out). Until they choose their own, the server answers 403
   * `password_change_required` to everything but the session, logout, their own account,
   * their password and preferences.
   */
  must_change_password: boolean
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

/** Server rules that forms can show before the server refuses an input. */
export interface ServerLimits {
  api_token_max_days: number
  min_password_length: number
}

export interface ServerInfo {
  name: string
  version: string
  auth_providers: AuthProvider[]
  limits: ServerLimits
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
