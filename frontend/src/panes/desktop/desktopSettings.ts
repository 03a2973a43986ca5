/**
 * How a user likes their desktops shown, remembered in their preferences (the
 * `desktop.*` keys, docs/api-contract.md), and how each setting maps onto noVNC's
 * client: scaling, picture quality and compression, and a dot for an invisible pointer.
 */
import type { PreferenceValues } from '../../api/types'

/**
 * - `remote`: the desktop's screen follows the pane's size (noVNC's resizeSession, which
 *   asks the server with SetDesktopSize); scaled down if the server will not resize;
 * - `fit`: the desktop keeps its size, scaled to fit the pane;
 * - `actual`: one pixel per pixel, with scroll bars when the pane is smaller.
 */
export type Scaling = 'remote' | 'fit' | 'actual'

export const SCALINGS: readonly { value: Scaling; label: string }[] = [
  { value: 'remote', label: 'Follow the pane' },
  { value: 'fit', label: 'Fit to the pane' },
  { value: 'actual', label: '1:1 (scroll)' },
]

export interface DesktopSettings {
  scaling: Scaling
  /** JPEG quality, 0 (lowest) to 9. */
  quality: number
  /** Compression level, 0 (none) to 9. */
  compression: number
  dotCursor: boolean
}

export const DEFAULT_SETTINGS: Readonly<DesktopSettings> = { scaling: 'remote', quality: 6, compression: 2, dotCursor: false }

const KEYS = {
  scaling: 'desktop.scaling',
  quality: 'desktop.quality',
  compression: 'desktop.compression',
  dotCursor: 'desktop.dot_cursor',
} as const satisfies Record<keyof DesktopSettings, string>

function level(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 9 ? value : fallback
}

/** The settings from the preferences (`get` reads one key); anything unusable is the default. */
export function settingsFrom(get: (key: string) => unknown): DesktopSettings {
  const scaling = get(KEYS.scaling)
  return {
    scaling: SCALINGS.some((s) => s.value === scaling) ? (scaling as Scaling) : DEFAULT_SETTINGS.scaling,
    quality: level(get(KEYS.quality), DEFAULT_SETTINGS.quality),
    compression: level(get(KEYS.compression), DEFAULT_SETTINGS.compression),
    dotCursor: typeof get(KEYS.dotCursor) === 'boolean' ? (get(KEYS.dotCursor) as boolean) : DEFAULT_SETTINGS.dotCursor,
  }
}

/** The preference changes that save `changes`. */
export function preferenceChanges(changes: Partial<DesktopSettings>): PreferenceValues {
  const out: PreferenceValues = {}
  for (const [name, value] of Object.entries(changes) as [keyof DesktopSettings, unknown][]) {
    if (value !== undefined) out[KEYS[name]] = value
  }
  return out
}

/** The settings noVNC's client takes. */
export interface ViewSettable {
  scaleViewport: boolean
  resizeSession: boolean
  clipViewport: boolean
  qualityLevel: number
  compressionLevel: number
  showDotCursor: boolean
}

export function applySettings(client: ViewSettable, settings: DesktopSettings): void {
  client.clipViewport = false
  client.resizeSession = settings.scaling === 'remote'
  // While following the pane, scaling only matters if the server keeps its own size.
  client.scaleViewport = settings.scaling !== 'actual'
  client.qualityLevel = settings.quality
  client.compressionLevel = settings.compression
  client.showDotCursor = settings.dotCursor
}

/**
 * Whether the pane only shows the desktop: asked for in the pane's params, or the
 * viewer's role in a shared session is GUEST (`my_role`, from sharing). The server
 * drops a view-only viewer's input all the same; this keeps the pane from offering it.
 */
export function isViewOnly(params: { viewOnly?: unknown }, role?: unknown): boolean {
  return params.viewOnly === true || (typeof role === 'string' && role.toLowerCase() === 'guest')
}
