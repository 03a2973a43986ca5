/**
 * The viewer registry: component name → the Vue component that shows a file in the
 * viewer pane. labgate's own viewers register here (ImageViewer, PdfViewer, ...); a
 * plug-in's bundle registers its components here through `api.registerViewer`.
 * Which file opens with which component is the server's table (/api/v1/info `viewers`).
 *
 * A viewer component receives the props `resourceId` (number), `path` (RemotePath),
 * `entry` (FileEntry: name, size, ...) and `name` (the file's name), and may emit
 * `download` to offer the file for download.
 */
import { markRaw, shallowReactive, type Component } from 'vue'

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/

const viewers = shallowReactive(new Map<string, Component>())

/** Register a viewer component. A name given twice is a programming error and throws. */
export function registerViewer(name: string, component: Component): void {
  if (!NAME_PATTERN.test(name)) throw new Error(`Viewer component "${name}" must match ${NAME_PATTERN}`)
  if (viewers.has(name)) throw new Error(`Viewer component "${name}" is already registered`)
  viewers.set(name, markRaw(component))
}

export function getViewer(name: string): Component | undefined {
  return viewers.get(name)
}

/** Every registered name, in registration order. */
export function listViewers(): string[] {
  return [...viewers.keys()]
}

/** Forget every registration. For tests only. */
export function clearViewerRegistry(): void {
  viewers.clear()
}
