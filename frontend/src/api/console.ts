/**
 * The administration console (docs/api-contract.md, "Administration console"): groups,
 * app templates and their switches, shared resources with their sessions, everybody's
 * sessions filtered, the audit log filtered, and a user's usage (quotas, when the server
 * has them).
 */
import { ApiError, api, type ApiClient } from './client'
import type { Group, ResourceStatus } from './resources'
import type { AppSession, SessionState } from './sessions'

// --- groups --------------------------------------------------------------------------

const groupPath = (name: string): string => `/groups/${encodeURIComponent(name)}`

export function createGroup(name: string, description: string, client: ApiClient = api): Promise<Group> {
  return client.post<Group>('/groups', { name, description })
}

export function deleteGroup(name: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(groupPath(name))
}

export function addMember(group: string, username: string, client: ApiClient = api): Promise<Group> {
  return client.put<Group>(`${groupPath(group)}/members/${encodeURIComponent(username)}`)
}

export function removeMember(group: string, username: string, client: ApiClient = api): Promise<Group> {
  return client.delete<Group>(`${groupPath(group)}/members/${encodeURIComponent(username)}`)
}

// --- app templates -------------------------------------------------------------------

export interface ConsoleTemplate {
  id: string
  title: string
  description: string
  icon: string
  view: string
  source: 'plugin' | 'file'
  /** The plug-in's name, or the file's name in app_templates_dir. */
  origin: string
  enabled: boolean
  /** False: made by labgate for something else (a shared terminal), not switchable. */
  launchable: boolean
  switched: { at: string; by: string | null } | null
}

export interface RefusedTemplateFile {
  file: string
  message: string
}

export interface ConsoleTemplates {
  templates: ConsoleTemplate[]
  refused: RefusedTemplateFile[]
}

export function listConsoleTemplates(client: ApiClient = api): Promise<ConsoleTemplates> {
  return client.get<ConsoleTemplates>('/admin/app-templates')
}

export function switchTemplate(id: string, enabled: boolean, client: ApiClient = api): Promise<ConsoleTemplate> {
  return client.put<ConsoleTemplate>(`/admin/app-templates/${encodeURIComponent(id)}`, { enabled })
}

// --- shared resources ----------------------------------------------------------------

export interface SharedResource {
  id: number
  name: string
  description: string
  host: string
  port: number
  groups: string[]
  live_sessions: number
  session_users: number
  /** The calling administrator's own connection there. */
  status: ResourceStatus
}

export async function listSharedResources(client: ApiClient = api): Promise<SharedResource[]> {
  return (await client.get<{ resources: SharedResource[] }>('/admin/shared-resources')).resources
}

// --- everybody's sessions ------------------------------------------------------------

export interface SessionFilter {
  user?: string
  resource_id?: number | null
  experiment_id?: number | null
  state?: SessionState | ''
  live?: boolean
}

/** The query string of a filter: only what is given. */
export function filterQuery(values: Record<string, string | number | boolean | null | undefined>): string {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null || value === '' || value === false) continue
    query.set(key, String(value))
  }
  const text = query.toString()
  return text ? `?${text}` : ''
}

export async function listAllSessions(filter: SessionFilter = {}, client: ApiClient = api): Promise<AppSession[]> {
  const query = filterQuery({ all: true, ...filter, user: filter.user?.trim() })
  return (await client.get<{ sessions: AppSession[] }>(`/sessions${query}`)).sessions
}

// --- the audit log -------------------------------------------------------------------

export interface AuditEvent {
  id: number
  at: string
  event: string
  actor: string
  target: string
  client: string
  detail: Record<string, unknown>
}

export interface AuditPage {
  events: AuditEvent[]
  next_before_id: number | null
}

export interface AuditFilter {
  event?: string
  actor?: string
  target?: string
  /** ISO 8601 with a time zone. */
  since?: string
  until?: string
  before_id?: number | null
  limit?: number
}

export function listAudit(filter: AuditFilter = {}, client: ApiClient = api): Promise<AuditPage> {
  const trimmed = {
    ...filter,
    event: filter.event?.trim(),
    actor: filter.actor?.trim(),
    target: filter.target?.trim(),
  }
  return client.get<AuditPage>(`/audit${filterQuery(trimmed)}`)
}

// --- a user's usage ------------------------------------------------------------------

export interface UsageLimits {
  max_sessions: number | null
  max_cores: number | null
  max_memory_gb: number | null
  max_gpus: number | null
  core_hours_per_month: number | null
  gpu_hours_per_month: number | null
}

export interface UsageNow {
  sessions: number
  cores: number
  memory_gb: number
  gpus: number
  core_hours: number
  gpu_hours: number
}

export interface QuotaUsage {
  scope: string
  subject: string
  title: string
  limits: UsageLimits
  usage: UsageNow
}

export interface UserUsage {
  month: string
  quotas: QuotaUsage[]
}

/** A user's usage and limits; null where the server keeps none (no quotas: 404). */
export async function userUsage(username: string, client: ApiClient = api): Promise<UserUsage | null> {
  try {
    return await client.get<UserUsage>(`/users/${encodeURIComponent(username)}/usage`)
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null
    throw e
  }
}
