/**
 * Interactive sessions (docs/api-contract.md, "Sessions (issue 5)"): the app templates,
 * launching, the list, stopping, extending, the app's log, and administrators'
 * decisions on requests for more time. A session's app is at `/s/<id>/`.
 */
import { api, type ApiClient } from './client'
import { socketUrl } from './resources'
import type { ExperimentRef } from './experiments'
import type { PersonRef, SessionRole } from './sharing'

export type SessionState = 'pending' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed' | 'expired'

export const LIVE_STATES: readonly SessionState[] = ['pending', 'starting', 'running', 'stopping']

export type FieldKind = 'text' | 'path' | 'integer' | 'choice' | 'lines' | 'boolean'

export interface TemplateField {
  name: string
  label: string
  kind: FieldKind
  default: unknown
  help: string
  required: boolean
  minimum: number | null
  maximum: number | null
  choices: string[]
  /** Only for launchers that schedule batch jobs (SLURM). */
  batch_only: boolean
}

export interface AppTemplateInfo {
  id: string
  title: string
  description: string
  icon: string
  view: AppView
  fields: TemplateField[]
  launchers: string[]
}

export type ExtensionState = 'pending' | 'granted' | 'refused'

export interface Extension {
  id: number
  session_id: string
  hours: number
  reason: string
  state: ExtensionState
  requested_at: string
  decided_at: string | null
  /** The hours given once granted (an administrator may give another amount than asked). */
  granted_hours: number | null
  /** The administrator's word to the user with their decision. */
  answer: string
}

/** The session a request for more time is for, as the administrator deciding it sees it. */
export interface RequestedFor {
  title: string
  template: string
  template_title: string
  launcher: string
  resource_id: number
  resource_name: string
  state: SessionState
  created_at: string
  ready_at: string | null
  ends_at: string | null
  idle_stop_at: string | null
}

/** A request for more time, for administrators: whose, for which session, who decided it. */
export interface ExtensionRequest extends Extension {
  username: string
  display_name: string
  session: RequestedFor
  decided_by: string | null
}

export interface Decision {
  grant: boolean
  /** With a grant: the hours given (default: those asked). */
  hours?: number
  /** Shown to the user with the decision. */
  answer?: string
}

/** How a session is shown: its app's pages, a remote desktop, or a terminal its owner shares. */
export type AppView = 'web' | 'desktop' | 'terminal'

export interface AppSession {
  id: string
  title: string
  template: string
  view: AppView
  launcher: string
  resource_id: number
  owner_id: number
  state: SessionState
  message: string
  progress: string[]
  url: string
  created_at: string
  ready_at: string | null
  ended_at: string | null
  last_activity_at: string
  idle_minutes: number
  idle_stop_at: string | null
  /** The same as idle_stop_at (the session's details call it the idle deadline). */
  idle_deadline?: string | null
  ends_at: string | null
  warned_at: string | null
  /** How many of the stop warnings (a day and an hour before) were sent for the current deadline. */
  warnings_sent?: number
  form: Record<string, unknown>
  extension: Extension | null
  /** The ways on that a failed session offers, a button each (see panes/apps/failureActions.ts). */
  actions: FailureAction[]
  /** The caller's role in the session (sharing, api/sharing.ts); absent from servers without sharing: the owner. */
  my_role?: SessionRole
  /** Whose session it is. */
  owner?: PersonRef
  /** The session has shares or invitations (for its owner). */
  shared?: boolean
  /** How many people and groups have access (for its owner), where the server says. */
  share_count?: number
  /** When the owner asked support staff for help (for support staff), else null. */
  help_requested_at?: string | null
  /** The experiment it was launched for (api/experiments.ts), null: none. */
  experiment?: ExperimentRef | null
}

/** A way on from a failure: `kind` says what it does (`retry`: the launch form again with
 * the session's values; `setup_apps`: its program is missing on the resource
 * `resource_id`, where labgate can set up JupyterLab and TensorBoard, api/appSetup.ts),
 * `label` is the button's text. */
export interface FailureAction {
  kind: string
  label: string
  resource_id: number | null
}

/** A launcher as one resource can use it: `unusable` says why not (null: it can). */
export interface ResourceLauncher {
  name: string
  title: string
  batch: boolean
  unusable: string | null
}

export interface LaunchRequest {
  template: string
  resource_id: number
  launcher?: string
  title?: string
  form: Record<string, unknown>
  /** Launch for this experiment: its data attached on the resource. */
  experiment_id?: number | null
}

export function isLive(session: Pick<AppSession, 'state'>): boolean {
  return LIVE_STATES.includes(session.state)
}

export async function listTemplates(client: ApiClient = api): Promise<AppTemplateInfo[]> {
  return (await client.get<{ templates: AppTemplateInfo[] }>('/app-templates')).templates
}

/** Which launchers the resource can use (each launcher's own check, asked there). */
export async function resourceLaunchers(resourceId: number, client: ApiClient = api): Promise<ResourceLauncher[]> {
  return (await client.get<{ launchers: ResourceLauncher[] }>(`/resources/${resourceId}/launchers`)).launchers
}

export function launchSession(body: LaunchRequest, client: ApiClient = api): Promise<AppSession> {
  return client.post<AppSession>('/sessions', body)
}

export async function listSessions(options: { live?: boolean } = {}, client: ApiClient = api): Promise<AppSession[]> {
  const query = options.live ? '?live=true' : ''
  return (await client.get<{ sessions: AppSession[] }>(`/sessions${query}`)).sessions
}

const sessionPath = (id: string): string => `/sessions/${encodeURIComponent(id)}`

export function getSession(id: string, client: ApiClient = api): Promise<AppSession> {
  return client.get<AppSession>(sessionPath(id))
}

/** The same app, on the same resource, with the same form: a new session. */
export function relaunchSession(session: AppSession, client: ApiClient = api): Promise<AppSession> {
  return launchSession(
    {
      template: session.template,
      resource_id: session.resource_id,
      launcher: session.launcher,
      title: session.title,
      form: session.form,
      ...(session.experiment ? { experiment_id: session.experiment.id } : {}),
    },
    client,
  )
}

export function stopSession(id: string, client: ApiClient = api): Promise<AppSession> {
  return client.post<AppSession>(`${sessionPath(id)}/stop`)
}

export function extendSession(id: string, hours: number, reason = '', client: ApiClient = api): Promise<AppSession> {
  return client.post<AppSession>(`${sessionPath(id)}/extend`, { hours, reason })
}

export function forgetSession(id: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(sessionPath(id))
}

export async function sessionLog(id: string, client: ApiClient = api): Promise<string> {
  return (await client.get<{ log: string }>(`${sessionPath(id)}/log`)).log
}

/**
 * Requests for more time (administrators only): those waiting, newest first, or those
 * `decided` by an administrator in the last week, the latest decision first.
 */
export async function listExtensionRequests(
  status: 'pending' | 'decided' = 'pending',
  client: ApiClient = api,
): Promise<ExtensionRequest[]> {
  return (await client.get<{ extensions: ExtensionRequest[] }>(`/session-extensions?status=${status}`)).extensions
}

export function decideExtension(id: number, decision: Decision, client: ApiClient = api): Promise<Extension> {
  return client.post<Extension>(`/session-extensions/${id}`, decision)
}

/** The WebSocket of a desktop session's screen (raw RFB in binary frames), on this page's origin. */
export function desktopSocketUrl(id: string, location?: Pick<Location, 'protocol' | 'host'>): string {
  return socketUrl(`${sessionPath(id)}/desktop`, location)
}

/** The WebSocket of a shared terminal (the frames of a process's attach socket), from `offset`. */
export function sharedTerminalSocketUrl(id: string, offset: number, location?: Pick<Location, 'protocol' | 'host'>): string {
  return socketUrl(`${sessionPath(id)}/terminal?offset=${offset}`, location)
}

/** Share a running terminal: the session that shares it (made now, or the one already sharing it). */
export function shareTerminal(resourceId: number, processId: string, client: ApiClient = api): Promise<AppSession> {
  return client.post<AppSession>(`/resources/${resourceId}/processes/${encodeURIComponent(processId)}/share`, {})
}
