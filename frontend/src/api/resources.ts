/**
 * Resources (issue 3): the computers labgate reaches by SSH, their credentials, the
 * user's labgate key pair, the SSH CA, and the two WebSockets (connect, events).
 *
 * Everything the front end knows about the resources API is in this one module, typed
 * after docs/api-contract.md ("Resources (issue 3)"), so that a change of the server
 * side is a change here.
 */
import { api, API_PREFIX, ApiError, type ApiClient } from './client'
import type { PersonRef, SessionRole } from './sharing'

// --- objects -------------------------------------------------------------------------

export type ResourceKind = 'ssh' | 'local'

export type AuthMethod = 'password' | 'keyboard-interactive' | 'key' | 'generated-key' | 'certificate'

export const AUTH_METHODS: readonly AuthMethod[] = [
  'password',
  'keyboard-interactive',
  'key',
  'generated-key',
  'certificate',
]

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'failed'

export type ResourceErrorCode =
  | 'host_key_unknown'
  | 'host_key_changed'
  | 'auth_failed'
  | 'name_not_found'
  | 'connection_refused'
  | 'timed_out'
  | 'unreachable'
  | 'python_missing'
  | 'python_too_old'
  | 'agent_failed'
  | 'login_required'
  // Seen from the server too: the SSH server broke off, an uploaded key was unusable,
  // the attempt ended without an answer.
  | 'ssh_failed'
  | 'key_rejected'
  | 'cancelled'

/** Why a connection failed. `hop`: index into the chain (0 = first jump host), or null. */
export interface ResourceError {
  /** One of {@link ResourceErrorCode}; other strings are possible (a newer server). */
  code: ResourceErrorCode | (string & {})
  message: string
  hop: number | null
  hop_label: string | null
}

export interface ResourceStatus {
  state: ConnectionState
  message: string
  error: ResourceError | null
  since: string | null
}

export interface Hop {
  id: number
  host: string
  port: number
  /** Empty: the same account as on the resource. */
  username: string
  auth_method: AuthMethod
}

export interface RememberedKey {
  /** null: the resource itself; else the id of a hop. */
  hop_id: number | null
  fingerprint: string
}

export interface HostKey {
  id: number
  host: string
  port: number
  fingerprint: string
  confirmed_at: string
}

export interface Resource {
  id: number
  name: string
  kind: ResourceKind
  shared: boolean
  owner: string | null
  description: string
  host: string
  port: number
  username: string
  auth_method: AuthMethod
  hops: Hop[]
  python: string
  setup_lines: string[]
  groups: string[]
  account_rule: string
  account_overrides: Record<string, string>
  /** The remote account for the caller. */
  remote_username: string
  /** Whether the caller's commands there run as root (a warning badge shows it). */
  runs_as_root: boolean
  remembered_keys: RememberedKey[]
  host_keys: HostKey[]
  can_edit: boolean
  status: ResourceStatus
  created_at: string
  updated_at: string
}

export interface HopInput {
  /** Present for a hop that already exists: it keeps its remembered keys. */
  id?: number
  host: string
  port?: number
  username?: string
  auth_method: AuthMethod
}

/** Body of POST /resources. */
export interface ResourceCreate {
  name: string
  host: string
  port?: number
  username: string
  auth_method: AuthMethod
  hops?: HopInput[]
  python?: string
  setup_lines?: string[]
  description?: string
  shared?: boolean
  groups?: string[]
  account_rule?: string
  account_overrides?: Record<string, string>
}

/** Body of PATCH /resources/{id}: any field of a create but `shared`. */
export type ResourcePatch = Partial<Omit<ResourceCreate, 'shared'>>

export interface GpuInfo {
  index: number
  name: string
  memory_total: number
  memory_used: number
  /** Percent, 0..100. */
  utilization: number
}

export interface SystemInfo {
  hostname: string
  user: string
  home: string
  platform: string
  python: string
  cpus: number
  /** Load averages over 1, 5 and 15 minutes. */
  load: number[]
  memory: { total: number; available: number }
  home_disk: { total: number; free: number }
  /** null: not read (a connect answer may leave GPUs out; GET …/system has them). */
  gpus: GpuInfo[] | null
}

export interface UserSshKey {
  public_key: string
  fingerprint: string
  created_at: string
}

export interface SshCa {
  public_key: string
  fingerprint: string
  sshd_config: string
}

export interface Group {
  id: number
  name: string
  description: string
  members: string[]
}

// --- REST ----------------------------------------------------------------------------

const resourcePath = (id: number): string => `/resources/${encodeURIComponent(String(id))}`

/** `target` for the resource itself, else the hop's id. */
export type KeyHop = 'target' | number

export async function listResources(client: ApiClient = api): Promise<Resource[]> {
  const answer = await client.get<{ resources: Resource[] }>('/resources')
  return answer.resources
}

export function getResource(id: number, client: ApiClient = api): Promise<Resource> {
  return client.get<Resource>(resourcePath(id))
}

export function createResource(body: ResourceCreate, client: ApiClient = api): Promise<Resource> {
  return client.post<Resource>('/resources', body)
}

export function updateResource(id: number, body: ResourcePatch, client: ApiClient = api): Promise<Resource> {
  return client.patch<Resource>(resourcePath(id), body)
}

export function deleteResource(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(resourcePath(id))
}

export function addHostKey(
  id: number,
  key: { host: string; port: number; public_key: string },
  client: ApiClient = api,
): Promise<HostKey> {
  return client.post<HostKey>(`${resourcePath(id)}/host-keys`, key)
}

export function forgetHostKey(id: number, keyId: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${resourcePath(id)}/host-keys/${encodeURIComponent(String(keyId))}`)
}

export function rememberKey(
  id: number,
  hop: KeyHop,
  key: { private_key: string; passphrase?: string },
  client: ApiClient = api,
): Promise<RememberedKey> {
  return client.put<RememberedKey>(`${resourcePath(id)}/remembered-keys/${encodeURIComponent(String(hop))}`, key)
}

export function forgetRememberedKey(id: number, hop: KeyHop, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${resourcePath(id)}/remembered-keys/${encodeURIComponent(String(hop))}`)
}

export function disconnectResource(id: number, client: ApiClient = api): Promise<void> {
  return client.post<void>(`${resourcePath(id)}/disconnect`)
}

/** Connects first when nothing must be typed; else rejects with 409 `login_required`. */
export async function fetchSystemInfo(id: number, client: ApiClient = api): Promise<SystemInfo> {
  const answer = await client.get<unknown>(`${resourcePath(id)}/system`)
  const info = normalizeSystemInfo(answer)
  if (!info) throw new ApiError(502, 'bad_answer', 'The server sent system information labgate cannot read.')
  return info
}

const finite = (value: unknown, fallback = 0): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback
const text = (value: unknown): string => (typeof value === 'string' ? value : value == null ? '' : String(value))

/**
 * SystemInfo from whatever the server sent: missing numbers become 0, missing GPUs null
 * (unknown, not "none"). Null when it is not system information at all.
 */
export function normalizeSystemInfo(value: unknown): SystemInfo | null {
  if (!isRecord(value) || typeof value.hostname !== 'string') return null
  const memory = isRecord(value.memory) ? value.memory : {}
  const disk = isRecord(value.home_disk) ? value.home_disk : {}
  const load = Array.isArray(value.load) ? value.load : []
  return {
    hostname: value.hostname,
    user: text(value.user),
    home: text(value.home),
    platform: text(value.platform),
    python: text(value.python),
    cpus: finite(value.cpus, 1),
    load: [0, 1, 2].map((i) => finite(load[i])),
    memory: { total: finite(memory.total), available: finite(memory.available) },
    home_disk: { total: finite(disk.total), free: finite(disk.free) },
    gpus: Array.isArray(value.gpus)
      ? value.gpus.filter(isRecord).map((g, i) => ({
          index: finite(g.index, i),
          name: text(g.name),
          memory_total: finite(g.memory_total),
          memory_used: finite(g.memory_used),
          utilization: finite(g.utilization),
        }))
      : null,
  }
}

/** Everything the system panel shows is there (else it asks GET …/system). */
export function isCompleteSystemInfo(info: SystemInfo): boolean {
  return info.gpus !== null && info.memory.total > 0
}

/** The user's labgate key pair, or null when they have none (404). */
export async function fetchMySshKey(client: ApiClient = api): Promise<UserSshKey | null> {
  try {
    return await client.get<UserSshKey>('/users/me/ssh-key')
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null
    throw error
  }
}

/** Generate a new ed25519 pair, replacing any old one. */
export function generateMySshKey(client: ApiClient = api): Promise<UserSshKey> {
  return client.post<UserSshKey>('/users/me/ssh-key')
}

export function deleteMySshKey(client: ApiClient = api): Promise<void> {
  return client.delete<void>('/users/me/ssh-key')
}

export function fetchSshCa(client: ApiClient = api): Promise<SshCa> {
  return client.get<SshCa>('/ssh-ca')
}

/** All groups (administrators only). */
export async function listGroups(client: ApiClient = api): Promise<Group[]> {
  const answer = await client.get<{ groups: Group[] }>('/groups')
  return answer.groups
}

// --- WebSockets ----------------------------------------------------------------------

/** `ws:` or `wss:` URL of an API path on this page's origin. */
export function socketUrl(path: string, location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}${API_PREFIX}${path}`
}

export function connectSocketUrl(id: number, location?: Pick<Location, 'protocol' | 'host'>): string {
  return socketUrl(`${resourcePath(id)}/connect`, location)
}

export function eventsSocketUrl(location?: Pick<Location, 'protocol' | 'host'>): string {
  return socketUrl('/events', location)
}

/** The part of a WebSocket the stores use; tests give a fake. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
}

export type SocketFactory = (url: string) => SocketLike

export const browserSocket: SocketFactory = (url) => new WebSocket(url)

/** WebSocket.OPEN, without needing the global in tests. */
export const SOCKET_OPEN = 1

/**
 * Close codes the server uses to refuse a socket: 4401 (not logged in) or 4403 with the
 * error code as the reason (`not_authenticated`, `csrf_failed`, `forbidden`), 4404 for
 * an unknown resource. An open socket is closed the same way when its login ends (4401
 * `login_ended` / `token_ended`) or what it does is no longer allowed (4403
 * `access_withdrawn`): never open such a socket again by itself.
 */
export function isRefusal(code: number): boolean {
  return code >= 4400 && code < 4500
}

export const LOGIN_ENDED = 4401
export const NOT_ALLOWED = 4403
export const LOGIN_ENDED_MESSAGE = 'Your login ended: log in again.'
export const ACCESS_WITHDRAWN_MESSAGE = 'Access to this was withdrawn.'

/** What to tell the user when the server closed a socket because their login ended or
 * their access was withdrawn; null for any other close. */
export function socketEndMessage(code: number, reason: string): string | null {
  if (code === LOGIN_ENDED || reason === 'not_authenticated') return LOGIN_ENDED_MESSAGE
  if (code === NOT_ALLOWED && reason === 'access_withdrawn') return ACCESS_WITHDRAWN_MESSAGE
  return null
}

/** A socket learnt that the login ended: the app leaves for the login page, as after a
 * 401 from the API (`api.onUnauthorized`). */
export function reportLoginEnded(code: number, reason: string, client: ApiClient = api): void {
  if (code !== LOGIN_ENDED) return
  client.onUnauthorized?.(new ApiError(401, reason || 'login_ended', LOGIN_ENDED_MESSAGE))
}

// Connect conversation (server -> client).

export interface PromptField {
  text: string
  echo: boolean
}

export type PromptKind = 'password' | 'keyboard-interactive' | 'key'

export interface PromptMessage {
  type: 'prompt'
  id: number
  hop: number | null
  hop_label: string | null
  kind: PromptKind
  name: string
  instructions: string
  prompts: PromptField[]
  error: string | null
}

export interface HostKeyMessage {
  type: 'host_key'
  hop: number | null
  hop_label: string | null
  host: string
  port: number
  fingerprint: string
  public_key: string
  can_confirm: boolean
}

export type ConnectServerMessage =
  | { type: 'progress'; message: string }
  | PromptMessage
  | HostKeyMessage
  | { type: 'connected'; status: ResourceStatus; system: SystemInfo | null }
  | { type: 'failed'; error: ResourceError }

// Connect conversation (client -> server).

export type ConnectClientMessage =
  | { type: 'connect' }
  | { type: 'answer'; id: number; answers: string[] }
  | { type: 'answer'; id: number; private_key: string; passphrase: string; remember: boolean }
  | { type: 'confirm_host_key'; accept: boolean }
  | { type: 'cancel' }

// Events (server -> client).

export interface ResourceStatusEvent {
  type: 'resource_status'
  resource_id: number
  status: ResourceStatus
}

/** One of the user's sessions changed (read it again: GET /sessions/{id}). */
export interface SessionChangedEvent {
  type: 'session_changed'
  session_id: string
}

/** For administrators: a request for more time started to wait or was decided (read the list again). */
export interface ExtensionRequestsEvent {
  type: 'extension_requests'
}

/** For a session's owner: someone joined it (their first connection; api/sharing.ts). */
export interface SessionJoinedEvent {
  type: 'session_joined'
  session_id: string
  user: PersonRef
  role: SessionRole
}

/** For support staff: an owner asked them for help with a session (which lets them join it). */
export interface HelpAskedEvent {
  type: 'help_asked'
  session_id: string
  title: string
  owner: Pick<PersonRef, 'username' | 'display_name'>
  message: string
}

/** A notification was added to the user's centre (read the list again; api/notifications.ts). */
export interface NotificationEvent {
  type: 'notification'
  id: number
}

/** The announcements shown changed (one posted, changed, deleted, began or ended). */
export interface AnnouncementsEvent {
  type: 'announcements'
}

export type ServerEvent =
  | ResourceStatusEvent
  | SessionChangedEvent
  | ExtensionRequestsEvent
  | SessionJoinedEvent
  | HelpAskedEvent
  | NotificationEvent
  | AnnouncementsEvent

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Parse one text frame; null for anything that is not a JSON object with a `type`. */
export function parseFrame(data: unknown): (Record<string, unknown> & { type: string }) | null {
  if (typeof data !== 'string') return null
  try {
    const value: unknown = JSON.parse(data)
    return isRecord(value) && typeof value.type === 'string' ? (value as Record<string, unknown> & { type: string }) : null
  } catch {
    return null
  }
}
