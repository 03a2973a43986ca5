/**
 * The file browser's clipboard: what was cut or copied, shared by every file browser
 * pane of the tab (paste into another resource's pane copies across resources).
 */
import { shallowRef } from 'vue'
import type { FileEntry, RemotePath } from '../../api/files'

export interface FileClipboard {
  mode: 'copy' | 'cut'
  resourceId: number
  /** The folder the entries are in. */
  dir: RemotePath
  entries: FileEntry[]
}

export const fileClipboard = shallowRef<FileClipboard | null>(null)

/** The MIME type of a drag between file browser panes. */
export const DRAG_TYPE = 'application/x-labgate-files'

export type DraggedFiles = FileClipboard & { mode: 'copy' }

export function parseDragged(text: string): Omit<FileClipboard, 'mode'> | null {
  try {
    const value = JSON.parse(text) as Partial<FileClipboard>
    if (typeof value.resourceId !== 'number' || !value.dir || !Array.isArray(value.entries)) return null
    return { resourceId: value.resourceId, dir: value.dir, entries: value.entries }
  } catch {
    return null
  }
}
