/**
 * The pane registry: every kind of pane (welcome, file browser, editor, terminal, ...)
 * registers itself here, and the workspace, the Panes menu and layout restore read it.
 *
 * A pane's `kind` is stored in saved layouts, so it must never change once released.
 */
import { markRaw, shallowReactive, type Component } from 'vue'
import type { IDockviewPanelProps } from 'dockview-core'

/** The props dockview gives a pane component: `params` holds the pane's own params plus its dockview APIs. */
export type PaneProps<P extends Record<string, unknown> = Record<string, unknown>> = {
  params: IDockviewPanelProps<P>
}

export interface PaneDefinition {
  /** Stable identifier, e.g. "welcome", "terminal". Lower-case letters, digits, dots and dashes. */
  kind: string
  /** Default tab title and the label in the Panes menu. */
  title: string
  /** The Vue component; it receives {@link PaneProps}. */
  component: Component
  /** SVG path data for a 24x24 icon (stroke drawn), shown in menus. */
  icon?: string
  /** Listed in a menu (default true). Panes opened only from elsewhere set false. */
  inMenu?: boolean
  /**
   * For administrators only: offered in the top bar's Administration menu instead of the
   * Panes menu (the API behind it refuses everyone else all the same).
   */
  adminOnly?: boolean
  /**
   * The pane may refuse to close (an editor with unsaved changes asks first): its tab's
   * close button goes through {@link setCloseGuard} in workspace.ts.
   */
  guardedClose?: boolean
  /**
   * The params of the copy a split opens (default: the same params). A terminal drops
   * its shell's id, so the copy starts a shell of its own.
   */
  splitParams?: (params: Record<string, unknown>) => Record<string, unknown>
}

const KIND_PATTERN = /^[a-z][a-z0-9.-]*$/

const panes = shallowReactive(new Map<string, PaneDefinition>())

/** Register a pane kind. Registering a kind twice is a programming error and throws. */
export function registerPane(definition: PaneDefinition): void {
  if (!KIND_PATTERN.test(definition.kind)) {
    throw new Error(`Pane kind "${definition.kind}" must match ${KIND_PATTERN}`)
  }
  if (panes.has(definition.kind)) {
    throw new Error(`Pane kind "${definition.kind}" is already registered`)
  }
  panes.set(definition.kind, { inMenu: true, ...definition, component: markRaw(definition.component) })
}

export function getPane(kind: string): PaneDefinition | undefined {
  return panes.get(kind)
}

export function hasPane(kind: string): boolean {
  return panes.has(kind)
}

/** All registered panes, in registration order. */
export function listPanes(): PaneDefinition[] {
  return [...panes.values()]
}

/** How the server lists a pane (/api/v1/info `panes`); servers before admin_only leave it out. */
export interface ListedPane {
  kind: string
  in_menu: boolean
  admin_only?: boolean
}

function offeredPanes(listed: readonly ListedPane[] | undefined, adminOnly: boolean): PaneDefinition[] {
  const offered =
    listed && listed.length > 0
      ? new Set(listed.filter((p) => p.in_menu && Boolean(p.admin_only) === adminOnly).map((p) => p.kind))
      : null
  return listPanes().filter(
    (pane) =>
      pane.inMenu !== false && Boolean(pane.adminOnly) === adminOnly && (offered === null || offered.has(pane.kind)),
  )
}

/**
 * The panes the Panes menu offers: registered for the menu and, when the server lists
 * panes (/api/v1/info `panes`: labgate's own and plug-ins'), listed there for the menu.
 * Without the server's list, every registered one. Administrators' panes are not among
 * them ({@link adminPanes}).
 */
export function menuPanes(listed?: readonly ListedPane[]): PaneDefinition[] {
  return offeredPanes(listed, false)
}

/** The panes the Administration menu offers (to administrators), by the same rules. */
export function adminPanes(listed?: readonly ListedPane[]): PaneDefinition[] {
  return offeredPanes(listed, true)
}

/** `{kind: component}` for dockview's `components` option. */
export function paneComponents(): Record<string, Component> {
  return Object.fromEntries([...panes.values()].map((p) => [p.kind, p.component]))
}

/** Forget every registration. For tests only. */
export function clearPaneRegistry(): void {
  panes.clear()
}
