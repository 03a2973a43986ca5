/**
 * Opening and splitting panes in the dockview workspace. The shell's menus and the
 * group header actions call these; panes may too (e.g. "open this file in an editor").
 */
import { reactive, shallowRef } from 'vue'
import type { AddPanelPositionOptions, DockviewApi, DockviewGroupPanel, IDockviewPanel } from 'dockview-core'
import { getPane, hasPane } from './registry'

/** The pane a new workspace starts with, and the fallback for splits of unknown panes. */
export const DEFAULT_PANE_KIND = 'welcome'

export type SplitDirection = 'right' | 'below'

/** The live workspace, once dockview is ready (null on the login page). */
export const workspaceApi = shallowRef<DockviewApi | null>(null)

let panelCounter = 0

/** Unique within the layout and across reloads (ids are saved with the layout). */
export function newPanelId(kind: string): string {
  panelCounter += 1
  const random = Math.random().toString(36).slice(2, 8)
  return `${kind}-${Date.now().toString(36)}${panelCounter.toString(36)}-${random}`
}

export interface OpenPaneOptions {
  params?: Record<string, unknown>
  title?: string
  /** Where to put it; by default a new tab in the active group. */
  position?: AddPanelPositionOptions
}

export function openPane(dockview: DockviewApi, kind: string, options: OpenPaneOptions = {}): IDockviewPanel {
  const definition = getPane(kind)
  if (!definition) throw new Error(`Unknown pane kind "${kind}"`)
  return dockview.addPanel({
    id: newPanelId(kind),
    component: kind,
    ...(definition.guardedClose ? { tabComponent: GUARDED_TAB } : {}),
    title: options.title ?? definition.title,
    params: options.params ?? {},
    ...(options.position ? { position: options.position } : {}),
  })
}

/**
 * Bring the first open pane of `kind` to the front, or open one when there is none
 * (for links such as "Open Resources" that should not pile up copies).
 */
export function focusOrOpenPane(dockview: DockviewApi, kind: string, options: OpenPaneOptions = {}): IDockviewPanel {
  const existing = dockview.panels.find((panel) => panel.api.component === kind)
  if (existing) {
    existing.api.setActive()
    return existing
  }
  return openPane(dockview, kind, options)
}

/**
 * Split a group: open a copy of its active pane (same kind and params) in a new group
 * on that side, like an editor's "split right". An empty group splits into the default pane.
 */
export function splitGroup(dockview: DockviewApi, group: DockviewGroupPanel, direction: SplitDirection): IDockviewPanel {
  const active = group.activePanel
  const kind = active && hasPane(active.api.component) ? active.api.component : DEFAULT_PANE_KIND
  const params = active?.params ? { ...active.params } : {}
  const copyParams = getPane(kind)?.splitParams
  return openPane(dockview, kind, {
    params: copyParams ? copyParams(params) : params,
    title: active?.title,
    position: { referenceGroup: group, direction },
  })
}

// --- closing ---------------------------------------------------------------------------

/** The tab component of panes with {@link PaneDefinition.guardedClose} (see GuardedTab.vue). */
export const GUARDED_TAB = 'guarded'

/** Answers whether the pane may close now (it may ask the user first). */
export type CloseGuard = () => boolean | Promise<boolean>

const closeGuards = new Map<string, CloseGuard>()

/** A pane says what must happen before it closes; returns the function that removes the guard. */
export function setCloseGuard(panelId: string, guard: CloseGuard): () => void {
  closeGuards.set(panelId, guard)
  return () => {
    if (closeGuards.get(panelId) === guard) closeGuards.delete(panelId)
  }
}

/** Close a pane unless its guard says no. Answers whether it closed. */
export async function closePanel(panel: IDockviewPanel): Promise<boolean> {
  const guard = closeGuards.get(panel.id)
  if (guard && !(await guard())) return false
  closeGuards.delete(panel.id)
  panel.api.close()
  return true
}

/** Close a group's panes one by one (each may ask); the group goes when the last one has. */
export async function closeGroup(group: DockviewGroupPanel): Promise<void> {
  for (const panel of [...group.panels]) {
    if (!(await closePanel(panel))) return
  }
}

/**
 * Panes whose work is not saved: their tabs and the tab list show "●". Kept apart from
 * the tab titles so that a saved layout never brings back a marker its text no longer has.
 */
export const unsavedPanes: ReadonlySet<string> = reactive(new Set<string>())

export function markUnsaved(panelId: string, unsaved: boolean): void {
  const panes = unsavedPanes as Set<string>
  if (unsaved) panes.add(panelId)
  else panes.delete(panelId)
}

/** Whether any open pane would ask before closing (the page asks before it is left). */
export function hasGuardedPanes(): boolean {
  return closeGuards.size > 0
}

export function openDefaultLayout(dockview: DockviewApi): void {
  openPane(dockview, DEFAULT_PANE_KIND)
}
