/** Experiments (proposals) and their data (docs/api-contract.md, "Experiments"). */
import { api, type ApiClient } from './client'
import type { SessionState } from './sessions'
import type { PersonRef } from './sharing'

export type ExperimentRole = 'pi' | 'member' | 'local_contact'
export type LocationKind = 'raw' | 'processed' | 'scratch'
/** Where an experiment is in its life: before its start, running, ended (its data still
 * usable, within the embargo) or closed. */
export type ExperimentPhase = 'upcoming' | 'running' | 'ended' | 'closed'

export interface ExperimentMember {
  username: string
  email: string
  role: ExperimentRole
  /** Matched to a labgate user (by user name or e-mail). */
  matched: boolean
}

export interface ExperimentLocation {
  resource_id: number
  resource_name: string
  kind: LocationKind
  path: string
}

export interface Experiment {
  id: number
  code: string
  title: string
  instrument: string
  starts_at: string | null
  ends_at: string | null
  /** Sessions for it may be started, and run, until then (its end plus the embargo). */
  launch_until: string | null
  phase: ExperimentPhase
  can_launch: boolean
  why_not: string | null
  my_role: ExperimentRole | null
  source: string
  members: ExperimentMember[]
  locations: ExperimentLocation[]
}

/** What a session carries of its experiment. */
export interface ExperimentRef {
  id: number
  code: string
  title: string
}

/** Another member's live session for one of the caller's experiments: listed, no access. */
export interface ExperimentSession {
  id: string
  title: string
  template: string
  state: SessionState
  created_at: string
  owner: PersonRef
  experiment: ExperimentRef
}

export interface ExperimentInput {
  code: string
  title: string
  instrument: string
  starts_at: string | null
  ends_at: string | null
  members: { username?: string; email?: string; role: ExperimentRole }[]
  locations: { resource_id: number; kind: LocationKind; path: string }[]
}

export interface ImportReport {
  created: string[]
  updated: string[]
  unchanged: string[]
  refused: { where: string; problem: string; code: string }[]
  dry_run: boolean
  summary: string
}

export const ROLE_LABELS: Record<ExperimentRole, string> = {
  pi: 'Principal investigator',
  member: 'Member',
  local_contact: 'Local contact',
}

export const KIND_LABELS: Record<LocationKind, string> = {
  raw: 'Raw data (read-only)',
  processed: 'Processed',
  scratch: 'Scratch',
}

const path = (id: number): string => `/experiments/${id}`

export async function listExperiments(options: { all?: boolean } = {}, client: ApiClient = api): Promise<Experiment[]> {
  return (await client.get<{ experiments: Experiment[] }>(`/experiments${options.all ? '?all=true' : ''}`)).experiments
}

export function createExperiment(input: ExperimentInput, client: ApiClient = api): Promise<Experiment> {
  return client.post<Experiment>('/experiments', input)
}

export function updateExperiment(id: number, input: ExperimentInput, client: ApiClient = api): Promise<Experiment> {
  return client.put<Experiment>(path(id), input)
}

export function deleteExperiment(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(path(id))
}

export function importExperiments(format: string, data: string, dryRun: boolean, client: ApiClient = api): Promise<ImportReport> {
  return client.post<ImportReport>('/experiments/import', { format, data, dry_run: dryRun })
}

export async function listExperimentSessions(client: ApiClient = api): Promise<ExperimentSession[]> {
  return (await client.get<{ experiment_sessions?: ExperimentSession[] }>('/sessions?live=true')).experiment_sessions ?? []
}

/** "3 Nov 2026". */
export function dayOf(iso: string | null): string {
  if (!iso) return ''
  return new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
}

/** The experiment's dates and state, for people: "running until 3 Nov 2026", "ended on
 * 3 Nov 2026, data usable until 3 Dec 2026", "closed on 3 Dec 2026", "starts on ...". */
export function datesLine(e: Pick<Experiment, 'phase' | 'starts_at' | 'ends_at' | 'launch_until'>): string {
  if (e.phase === 'upcoming') return `starts on ${dayOf(e.starts_at)}`
  if (e.phase === 'running') return e.ends_at ? `running until ${dayOf(e.ends_at)}` : 'running'
  if (e.phase === 'ended') return `ended on ${dayOf(e.ends_at)}, data usable until ${dayOf(e.launch_until)}`
  return `closed on ${dayOf(e.launch_until)}`
}

/** What a launch for `e` gets on the resource `resourceId`. */
export function attachedOn(e: Experiment, resourceId: number | null): ExperimentLocation[] {
  return e.locations.filter((l) => l.resource_id === resourceId)
}
