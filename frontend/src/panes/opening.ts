/**
 * How panes open each other: the file browser opens editors, viewers and terminals, the
 * editor opens a terminal in the file's folder, the Resources pane opens a file browser.
 * Each target pane owns its params type here, so that a pane never needs to import
 * another pane's component to open it. Params are saved with the layout: keep them
 * small and serialisable, and never rename a field once released.
 */
import type { DockviewApi, IDockviewPanel } from 'dockview-core'
import { displayPath, type FileEntry, type RemotePath } from '../api/files'
import { openPane, workspaceApi } from './workspace'

export const FILES_PANE = 'files'
export const EDITOR_PANE = 'editor'
export const TERMINAL_PANE = 'terminal'
export const VIEWER_PANE = 'viewer'
export const APP_PANE = 'app'
export const DESKTOP_PANE = 'desktop'
export const SHARED_TERMINAL_PANE = 'shared-terminal'
export const LAUNCHER_PANE = 'launcher'
export const SESSIONS_PANE = 'sessions'
export const EXTENSION_REQUESTS_PANE = 'extension-requests'
export const USERS_PANE = 'users'
export const GROUPS_PANE = 'groups'
export const GUEST_INVITATIONS_PANE = 'guest-invitations'
export const SHARED_RESOURCES_PANE = 'shared-resources'
export const APP_TEMPLATES_PANE = 'app-templates'
export const ALL_SESSIONS_PANE = 'all-sessions'
export const AUDIT_LOG_PANE = 'audit-log'
export const ANNOUNCEMENTS_PANE = 'announcements'
export const QUOTAS_PANE = 'quotas'
export const EXPERIMENTS_PANE = 'experiments'
export const EXPERIMENTS_ADMIN_PANE = 'experiments-admin'

export interface FilesParams extends Record<string, unknown> {
  resourceId: number
  /** The folder shown; absent: the home directory. */
  path?: RemotePath
}

export interface EditorParams extends Record<string, unknown> {
  resourceId: number
  path: RemotePath
  /** Where the cursor was (1-based), restored with the layout. */
  line?: number
  column?: number
}

export interface TerminalParams extends Record<string, unknown> {
  resourceId: number
  /** The daemon's process id once the shell is started: the pane re-attaches to it. */
  processId?: string
  /** Folder to start the shell in (only when it is started). */
  cwd?: string
}

export interface ViewerParams extends Record<string, unknown> {
  resourceId: number
  path: RemotePath
  /** The viewer's id (image, pdf, text, table, json, markdown, html, ...). */
  viewer: string
}

export interface AppParams extends Record<string, unknown> {
  /** The session whose app the pane shows (its page at `/s/<id>/`). */
  sessionId: string
}

export interface SharedTerminalParams extends Record<string, unknown> {
  /** The session sharing the terminal (over `/api/v1/sessions/<id>/terminal`). */
  sessionId: string
  /** Only watch (a GUEST: the server drops what they send whatever this says). */
  viewOnly?: boolean
}

export interface DesktopParams extends Record<string, unknown> {
  /** The session whose desktop the pane shows (over `/api/v1/sessions/<id>/desktop`). */
  sessionId: string
  /** Only watch: no keyboard, pointer or clipboard to the desktop (a shared session's
   * GUEST is view-only whatever this says; the server enforces it). */
  viewOnly?: boolean
}

export interface LauncherParams extends Record<string, unknown> {
  /** Open the launch form of this template at once (e.g. "Open in TensorBoard"). */
  template?: string
  resourceId?: number
  /** Values for the form's fields, over the remembered ones. */
  form?: Record<string, unknown>
  /** Launch for this experiment (the launch form has it chosen). */
  experimentId?: number
}

/** The last part of a path, for tab titles. */
export function baseName(path: RemotePath): string {
  const text = displayPath(path).replace(/\/+$/, '')
  return text.slice(text.lastIndexOf('/') + 1) || '/'
}

function samePath(a: RemotePath | undefined, b: RemotePath): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b)
}

function workspace(): DockviewApi {
  const dockview = workspaceApi.value
  if (!dockview) throw new Error('The workspace is not ready')
  return dockview
}

/** An open pane of `kind` showing `path` of `resourceId`, if any. */
function findPane(kind: string, resourceId: number, path: RemotePath): IDockviewPanel | undefined {
  return workspace().panels.find((panel) => {
    const params = panel.params as Record<string, unknown> | undefined
    return panel.api.component === kind && params?.resourceId === resourceId && samePath(params.path as RemotePath, path)
  })
}

export function openFileBrowser(resourceId: number, path?: RemotePath, title?: string): IDockviewPanel {
  const params: FilesParams = { resourceId, ...(path ? { path } : {}) }
  return openPane(workspace(), FILES_PANE, { params, ...(title ? { title } : {}) })
}

/** The editor for a file: the one already open on it, brought to the front, or a new one. */
export function openEditor(resourceId: number, path: RemotePath, at: { line?: number } = {}): IDockviewPanel {
  const existing = findPane(EDITOR_PANE, resourceId, path)
  if (existing) {
    existing.api.setActive()
    if (at.line !== undefined) existing.api.updateParameters({ line: at.line })
    return existing
  }
  const params: EditorParams = { resourceId, path, ...at }
  return openPane(workspace(), EDITOR_PANE, { params, title: baseName(path) })
}

export function openViewer(resourceId: number, path: RemotePath, viewer: string): IDockviewPanel {
  const existing = findPane(VIEWER_PANE, resourceId, path)
  if (existing && (existing.params as ViewerParams | undefined)?.viewer === viewer) {
    existing.api.setActive()
    return existing
  }
  const params: ViewerParams = { resourceId, path, viewer }
  return openPane(workspace(), VIEWER_PANE, { params, title: baseName(path) })
}

/** The open terminal pane showing shell `processId` of `resourceId`, if any. */
export function findTerminal(resourceId: number, processId: string): IDockviewPanel | undefined {
  return workspace().panels.find((panel) => {
    const params = panel.params as Record<string, unknown> | undefined
    return panel.api.component === TERMINAL_PANE && params?.resourceId === resourceId && params.processId === processId
  })
}

/** A terminal: the pane already showing `processId`, brought to the front, or a new pane. */
export function openTerminal(resourceId: number, options: { cwd?: string; processId?: string; title?: string } = {}): IDockviewPanel {
  const existing = options.processId !== undefined ? findTerminal(resourceId, options.processId) : undefined
  if (existing) {
    existing.api.setActive()
    return existing
  }
  const params: TerminalParams = { resourceId }
  if (options.cwd !== undefined) params.cwd = options.cwd
  if (options.processId !== undefined) params.processId = options.processId
  return openPane(workspace(), TERMINAL_PANE, { params, ...(options.title ? { title: options.title } : {}) })
}

/**
 * What a double click on a file does. The viewers register a chooser (by type: images,
 * PDF, tables, ...) with {@link setFileOpener}; without one, files open in the editor.
 */
export type FileOpener = (resourceId: number, path: RemotePath, entry: FileEntry) => void

let fileOpener: FileOpener = (resourceId, path) => {
  openEditor(resourceId, path)
}

export function setFileOpener(opener: FileOpener): void {
  fileOpener = opener
}

export function openFile(resourceId: number, path: RemotePath, entry: FileEntry): void {
  fileOpener(resourceId, path, entry)
}

/** The open pane of `kind` showing session `sessionId`, brought to the front, if any. */
function frontSessionPane(kind: string, sessionId: string): IDockviewPanel | undefined {
  const existing = workspace().panels.find(
    (panel) => panel.api.component === kind && (panel.params as { sessionId?: unknown } | undefined)?.sessionId === sessionId,
  )
  existing?.api.setActive()
  return existing
}

/** A session's app in a pane (the one already showing it, if any). */
export function openApp(sessionId: string, title: string): IDockviewPanel {
  const params: AppParams = { sessionId }
  return frontSessionPane(APP_PANE, sessionId) ?? openPane(workspace(), APP_PANE, { params, title })
}

/** A session's remote desktop in a pane (the one already showing it, if any). */
export function openDesktop(sessionId: string, title: string, options: { viewOnly?: boolean } = {}): IDockviewPanel {
  const params: DesktopParams = { sessionId, ...(options.viewOnly ? { viewOnly: true } : {}) }
  return frontSessionPane(DESKTOP_PANE, sessionId) ?? openPane(workspace(), DESKTOP_PANE, { params, title })
}

/** A terminal someone shares, in a pane (the one already showing it, if any). */
export function openSharedTerminal(sessionId: string, title: string, options: { viewOnly?: boolean } = {}): IDockviewPanel {
  const params: SharedTerminalParams = { sessionId, ...(options.viewOnly ? { viewOnly: true } : {}) }
  return frontSessionPane(SHARED_TERMINAL_PANE, sessionId) ?? openPane(workspace(), SHARED_TERMINAL_PANE, { params, title })
}

/** A session in the pane its app needs: the desktop pane for a desktop, a terminal pane
 * for a shared terminal, else the app's pages. */
export function openSession(session: { id: string; title: string; view?: string; my_role?: string }): IDockviewPanel {
  // A guest of a shared desktop or terminal only watches: the pane says so from the start.
  const viewOnly = session.my_role === 'guest'
  if (session.view === 'desktop') return openDesktop(session.id, session.title, { viewOnly })
  if (session.view === 'terminal') return openSharedTerminal(session.id, session.title, { viewOnly })
  return openApp(session.id, session.title)
}

/** The launcher, with a template's form open (and some of its fields filled in). */
export function openLauncher(options: LauncherParams = {}): IDockviewPanel {
  return openPane(workspace(), LAUNCHER_PANE, { params: { ...options } })
}
