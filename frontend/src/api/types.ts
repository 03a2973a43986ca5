/** Objects the labgate API returns (docs/api-contract.md). */

export type Role = 'admin' | 'staff' | 'user' | 'guest'

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
  /** The sign-in provider that made the account (`local`: labgate's own); absent from older servers. */
  auth_provider?: string
  /** A guest's account ends then. */
  expires_at?: string | null
  /**
   * Why `disabled`: `admin` (an administrator), `provider` (its sign-in provider refused it
   * at a re-check; a sign-in there enables it again); null when enabled.
   */
  disabled_reason?: string | null
}

/** Answer of login and of GET /auth/session. */
export interface SessionAnswer {
  user: User
  csrf_token: string
}

/**
 * A sign-in provider: `password` ones check the login form (asked in order), `redirect`
 * ones are buttons that go to an identity provider. Older servers give no kind: password.
 */
export interface AuthProvider {
  name: string
  label: string
  kind?: 'password' | 'redirect'
}

/** A further question a sign-in asks (a second factor): its text, and whether the answer may show. */
export interface LoginPrompt {
  text: string
  echo: boolean
}

/** The provider asks more before it decides: answer `prompts` in order, sending `step` back. */
export interface LoginStep {
  step: string
  provider: string
  prompts: LoginPrompt[]
  /** What the provider said meanwhile ("Your password expires in 3 days"). */
  messages: string[]
}

/** A way a person signs in as their account: an identity at a sign-in provider. */
export interface Identity {
  id: number
  provider: string
  /** The provider's name on the login page ("University account"). */
  provider_label: string
  /** The provider's stable name for the person (an OpenID `sub`, an LDAP entryUUID, a PAM `name:uid`). */
  subject: string
  /** What the provider last called them (a login name, an e-mail). */
  label: string
  created_at: string
  last_login_at: string | null
  checked_at: string | null
  /** When the provider refused it at a re-check. */
  refused_at: string | null
}

/** Server rules that forms can show before the server refuses an input. */
export interface ServerLimits {
  api_token_max_days: number
  min_password_length: number
}

/** A loaded plug-in (labgate's own built-ins among them). */
export interface PluginInfo {
  name: string
  version: string
}

/** A plug-in's front-end bundle: the browser imports `entry` at start (docs/plugins.md). */
export interface BundleInfo {
  name: string
  version: string
  /** The URL of its entry module, below /plugins/<name>/. */
  entry: string
}

/** Which files a viewer opens, and the front-end component that shows them. */
export interface ViewerInfo {
  id: string
  title: string
  /** The component's name in the viewer registry (panes/viewer/registry.ts). */
  component: string
  /** Lower case, without the dot. */
  extensions: string[]
  /** Whole file names, lower case. */
  names: string[]
  /** Among viewers claiming a file the highest wins; labgate's own have 0. */
  priority: number
  /** The bundle holding the component ('' for labgate's own). */
  bundle: string
}

/** A launcher the server offers: where an app runs. */
export interface LauncherInfo {
  name: string
  /** How the launch form offers it: "On the resource itself". */
  title: string
  /** It schedules batch jobs: the form asks for CPUs, memory, GPUs, time. */
  batch: boolean
}

/** A kind of pane the server offers. */
export interface PaneInfo {
  kind: string
  title: string
  in_menu: boolean
  bundle: string
  /** Offered to administrators only (the Administration menu); absent from older servers. */
  admin_only?: boolean
}

export interface ServerInfo {
  name: string
  version: string
  auth_providers: AuthProvider[]
  limits: ServerLimits
  plugins?: PluginInfo[]
  bundles?: BundleInfo[]
  launchers?: LauncherInfo[]
  /** Which viewer opens which files (none listed: none claims any). */
  viewers?: ViewerInfo[]
  /** Absent from servers before plug-ins described panes: every registered pane is offered. */
  panes?: PaneInfo[]
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
