/**
 * Saving and restoring the workspace layout (the `workspace.layout` preference), so the
 * layout follows the user to any browser.
 *
 * Saves are debounced: a drag fires many layout changes and should cost one PATCH.
 * A pending save is flushed when the page goes away, with `keepalive` so it survives.
 */
import type { SerializedDockview } from 'dockview-core'

/** The part of dockview's API this module uses (a fake stands in for it in tests). */
export interface LayoutHost {
  toJSON(): SerializedDockview
  fromJSON(data: SerializedDockview): void
  clear(): void
  onDidLayoutChange(listener: () => void): { dispose(): void }
}

export type SaveLayout = (layout: SerializedDockview, options: { keepalive: boolean }) => Promise<unknown>

export const SAVE_DELAY_MS = 600

/** Browsers refuse keepalive bodies over 64 KiB; stay under it and send bigger layouts normally. */
export const KEEPALIVE_BODY_LIMIT = 60 * 1024

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A shallow shape check; dockview's `fromJSON` does the rest (and may still throw). */
export function isSerializedLayout(value: unknown): value is SerializedDockview {
  return isRecord(value) && isRecord(value.grid) && isRecord(value.grid.root) && isRecord(value.panels)
}

/** The pane kind of one serialized panel (older dockview layouts keep it in `view.content.id`). */
function panelKind(panel: unknown): string | null {
  if (!isRecord(panel)) return null
  if (typeof panel.contentComponent === 'string') return panel.contentComponent
  const view = panel.view
  if (isRecord(view) && isRecord(view.content) && typeof view.content.id === 'string') return view.content.id
  return null
}

/** Pane kinds a saved layout uses that nothing has registered. */
export function unknownKinds(layout: SerializedDockview, isKnown: (kind: string) => boolean): string[] {
  const kinds = new Set<string>()
  for (const panel of Object.values(layout.panels)) {
    const kind = panelKind(panel)
    if (kind === null || !isKnown(kind)) kinds.add(String(kind))
  }
  return [...kinds]
}

export type RestoreOutcome = 'restored' | 'default'

/**
 * Restore `saved` into `host`; on a missing, corrupt or unusable layout open the default
 * one instead. Never throws for a bad layout: the user gets a working workspace either way.
 */
export function restoreLayout(
  host: LayoutHost,
  saved: unknown,
  isKnownKind: (kind: string) => boolean,
  openDefault: () => void,
): RestoreOutcome {
  if (saved === null || saved === undefined) {
    openDefault()
    return 'default'
  }
  let problem: unknown
  if (!isSerializedLayout(saved)) {
    problem = 'it is not a dockview layout'
  } else {
    const unknown = unknownKinds(saved, isKnownKind)
    if (unknown.length > 0) {
      problem = `it uses unknown pane kinds: ${unknown.join(', ')}`
    } else {
      try {
        host.fromJSON(saved)
        return 'restored'
      } catch (error) {
        problem = error
      }
    }
  }
  console.warn('labgate: the saved workspace layout could not be restored, using the default layout;', problem)
  try {
    host.clear() // fromJSON may have built half a layout before it failed
  } catch {
    // Nothing to clear.
  }
  openDefault()
  return 'default'
}

export interface LayoutPersistence {
  /** Save now if a change is pending. */
  flush(options?: { keepalive?: boolean }): Promise<void>
  /** True while a change waits for its debounced save. */
  readonly pending: boolean
  /** Stop listening; a pending change is dropped (call `flush` first to keep it). */
  dispose(): void
}

type EventTargetLike = Pick<Window, 'addEventListener' | 'removeEventListener'>

export interface PersistOptions {
  delayMs?: number
  /** Where `pagehide`/`beforeunload` fire (the window). */
  target?: EventTargetLike
  /** Where `visibilitychange` fires (the document). */
  visibilityTarget?: (EventTargetLike & { visibilityState?: DocumentVisibilityState }) | null
}

/** Watch `host` for layout changes and save them through `save`, debounced. */
export function persistLayout(host: LayoutHost, save: SaveLayout, options: PersistOptions = {}): LayoutPersistence {
  const delayMs = options.delayMs ?? SAVE_DELAY_MS
  const target = options.target ?? window
  const visibilityTarget = options.visibilityTarget === undefined ? document : options.visibilityTarget
  let timer: ReturnType<typeof setTimeout> | null = null
  let dirty = false
  // Ordinary saves run one after another so an older layout never lands last.
  let queue: Promise<void> = Promise.resolve()

  function send(keepalive: boolean): Promise<void> {
    const layout = host.toJSON()
    const fits = !keepalive || JSON.stringify(layout).length <= KEEPALIVE_BODY_LIMIT
    const run = (): Promise<void> =>
      save(layout, { keepalive: keepalive && fits }).then(
        () => undefined,
        (error: unknown) => console.warn('labgate: could not save the workspace layout', error),
      )
    if (keepalive) return run() // the page is going away: do not wait behind other saves
    queue = queue.then(run)
    return queue
  }

  function flush(flushOptions: { keepalive?: boolean } = {}): Promise<void> {
    if (timer !== null) {
      clearTimeout(timer)
      timer = null
    }
    if (!dirty) return Promise.resolve()
    dirty = false
    return send(flushOptions.keepalive ?? false)
  }

  const changeSubscription = host.onDidLayoutChange(() => {
    dirty = true
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      void flush()
    }, delayMs)
  })

  const onPageHide = (): void => {
    void flush({ keepalive: true })
  }
  const onVisibilityChange = (): void => {
    // Mobile browsers may never fire pagehide; a hidden page is the last safe moment.
    if (visibilityTarget?.visibilityState === 'hidden') void flush({ keepalive: true })
  }
  target.addEventListener('pagehide', onPageHide)
  target.addEventListener('beforeunload', onPageHide)
  visibilityTarget?.addEventListener('visibilitychange', onVisibilityChange)

  return {
    flush,
    get pending() {
      return dirty
    },
    dispose() {
      changeSubscription.dispose()
      if (timer !== null) clearTimeout(timer)
      timer = null
      dirty = false
      target.removeEventListener('pagehide', onPageHide)
      target.removeEventListener('beforeunload', onPageHide)
      visibilityTarget?.removeEventListener('visibilitychange', onVisibilityChange)
    },
  }
}
