/**
 * Opening and splitting panes in the dockview workspace. The shell's menus and the
 * group header actions call these; panes may too (e.g. "open this file in an editor").
 */
import { shallowRef } from 'vue'
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

export function openDefaultLayout(dockview: DockviewApi): void {
  openPane(dockview, DEFAULT_PANE_KIND)
}
