/** Quotas and usage (docs/api-contract.md, "Quotas"). */
import { api, type ApiClient } from './client'

export type QuotaScope = 'role' | 'group' | 'experiment'

/** The most that may be in use at once, and used in a calendar month (null: no limit). */
export interface QuotaLimits {
  max_sessions: number | null
  max_cores: number | null
  max_memory_gb: number | null
  max_gpus: number | null
  core_hours_per_month: number | null
  gpu_hours_per_month: number | null
}

/** In use now (live sessions) and used this month. */
export interface QuotaUsage {
  sessions: number
  cores: number
  memory_gb: number
  gpus: number
  core_hours: number
  gpu_hours: number
}

export interface QuotaWithUsage {
  scope: QuotaScope
  subject: string
  /** "Role user", "Group physics", "Experiment 12-34". */
  title: string
  limits: QuotaLimits
  usage: QuotaUsage
}

export interface UsageReport {
  /** The month (UTC) the hours are of: "2026-12". */
  month: string
  quotas: QuotaWithUsage[]
}

export interface Quota {
  scope: QuotaScope
  subject: string
  title: string
  limits: QuotaLimits
  /** `settings`: a role's defaults from the configuration; `console`: set by an administrator. */
  source: 'settings' | 'console'
  updated_at: string | null
}

export interface QuotaList {
  defaults: Quota[]
  quotas: Quota[]
}

export const LIMIT_NAMES: (keyof QuotaLimits)[] = [
  'max_sessions',
  'max_cores',
  'max_memory_gb',
  'max_gpus',
  'core_hours_per_month',
  'gpu_hours_per_month',
]

export const NO_LIMITS: QuotaLimits = {
  max_sessions: null,
  max_cores: null,
  max_memory_gb: null,
  max_gpus: null,
  core_hours_per_month: null,
  gpu_hours_per_month: null,
}

const quotaPath = (scope: QuotaScope, subject: string): string => `/quotas/${scope}/${encodeURIComponent(subject)}`

export function myQuotas(client: ApiClient = api): Promise<UsageReport> {
  return client.get<UsageReport>('/quotas/mine')
}

/** A user's quotas and usage (administrators). */
export function userUsage(username: string, client: ApiClient = api): Promise<UsageReport> {
  return client.get<UsageReport>(`/users/${encodeURIComponent(username)}/usage`)
}

export function listQuotas(client: ApiClient = api): Promise<QuotaList> {
  return client.get<QuotaList>('/quotas')
}

/** Set (replace) a quota; null limits are none. */
export function setQuota(scope: QuotaScope, subject: string, limits: QuotaLimits, client: ApiClient = api): Promise<Quota> {
  return client.put<Quota>(quotaPath(scope, subject), limits)
}

export function removeQuota(scope: QuotaScope, subject: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(quotaPath(scope, subject))
}
