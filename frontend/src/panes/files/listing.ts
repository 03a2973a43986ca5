/**
 * What the file browser shows of a directory: its entries sorted (folders first), the
 * hidden ones and those the filter leaves out removed, and which are selected. Pure
 * functions over plain data, so that 100,000 entries sort once per change and the
 * component only renders what is on screen.
 */
import type { FileEntry } from '../../api/files'

export type SortKey = 'name' | 'size' | 'mtime'
export type SortDirection = 'asc' | 'desc'

export interface SortOrder {
  key: SortKey
  direction: SortDirection
}

/** An entry's stable identity within one directory: its name's bytes (raw when not UTF-8). */
export function entryKey(entry: Pick<FileEntry, 'name' | 'raw'>): string {
  return entry.raw !== undefined ? `raw:${entry.raw}` : `name:${entry.name}`
}

/** A directory, or a symlink to one: both open as folders. */
export function isFolder(entry: Pick<FileEntry, 'kind' | 'target_kind'>): boolean {
  return entry.kind === 'directory' || (entry.kind === 'symlink' && entry.target_kind === 'directory')
}

export function isHidden(entry: Pick<FileEntry, 'name'>): boolean {
  return entry.name.startsWith('.')
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' })

/** Folders first, then by `order` (name as the tie-breaker, so the order is total). */
export function sortEntries(entries: readonly FileEntry[], order: SortOrder): FileEntry[] {
  const sign = order.direction === 'asc' ? 1 : -1
  const byName = (a: FileEntry, b: FileEntry): number => collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  return [...entries].sort((a, b) => {
    const folders = Number(isFolder(b)) - Number(isFolder(a))
    if (folders !== 0) return folders
    let primary = 0
    if (order.key === 'size') primary = a.size - b.size
    else if (order.key === 'mtime') primary = a.mtime - b.mtime
    return sign * (primary || byName(a, b))
  })
}

/** Entries whose name contains `filter` (case ignored); hidden ones only when asked. */
export function filterEntries(entries: readonly FileEntry[], filter: string, showHidden: boolean): FileEntry[] {
  const needle = filter.trim().toLocaleLowerCase()
  if (!needle && showHidden) return [...entries]
  return entries.filter((entry) => (showHidden || !isHidden(entry)) && (!needle || entry.name.toLocaleLowerCase().includes(needle)))
}

/** The next sort order when a column header is clicked: same column flips, another starts ascending (dates: newest first). */
export function toggleSort(current: SortOrder, key: SortKey): SortOrder {
  if (current.key === key) return { key, direction: current.direction === 'asc' ? 'desc' : 'asc' }
  return { key, direction: key === 'mtime' ? 'desc' : 'asc' }
}

/**
 * Selection over the visible rows: a set of entry keys, the anchor of a Shift range and
 * the focused row (the cursor of the keyboard), by index into the visible list.
 */
export interface Selection {
  keys: ReadonlySet<string>
  anchor: number
  focus: number
}

export const EMPTY_SELECTION: Selection = { keys: new Set(), anchor: -1, focus: -1 }

export interface Pointer {
  shift?: boolean
  /** Ctrl or Cmd: add or remove one row. */
  toggle?: boolean
}

function range(rows: readonly FileEntry[], from: number, to: number): Set<string> {
  const keys = new Set<string>()
  const [lo, hi] = from <= to ? [from, to] : [to, from]
  for (let i = Math.max(lo, 0); i <= hi && i < rows.length; i += 1) keys.add(entryKey(rows[i] as FileEntry))
  return keys
}

/** A click (or a cursor move) on row `index`, with the modifier keys held. */
export function selectAt(rows: readonly FileEntry[], selection: Selection, index: number, pointer: Pointer = {}): Selection {
  if (rows.length === 0) return EMPTY_SELECTION
  const at = Math.max(0, Math.min(index, rows.length - 1))
  const key = entryKey(rows[at] as FileEntry)
  if (pointer.shift) {
    const anchor = selection.anchor >= 0 ? selection.anchor : at
    const keys = range(rows, anchor, at)
    if (pointer.toggle) for (const k of selection.keys) keys.add(k)
    return { keys, anchor, focus: at }
  }
  if (pointer.toggle) {
    const keys = new Set(selection.keys)
    if (keys.has(key)) keys.delete(key)
    else keys.add(key)
    return { keys, anchor: at, focus: at }
  }
  return { keys: new Set([key]), anchor: at, focus: at }
}

export function selectAll(rows: readonly FileEntry[], selection: Selection): Selection {
  return { keys: new Set(rows.map(entryKey)), anchor: selection.anchor, focus: selection.focus }
}

/** Keys of rows that are no longer shown leave the selection (after filtering, a reload). */
export function keepVisible(rows: readonly FileEntry[], selection: Selection): Selection {
  if (selection.keys.size === 0) return selection
  const visible = new Set(rows.map(entryKey))
  const keys = new Set([...selection.keys].filter((k) => visible.has(k)))
  const focus = Math.min(selection.focus, rows.length - 1)
  return { keys, anchor: Math.min(selection.anchor, rows.length - 1), focus }
}

export type CursorMove = 'up' | 'down' | 'home' | 'end' | 'pageUp' | 'pageDown'

/** Where the keyboard cursor goes from `focus` (-1: nothing focused yet). */
export function moveCursor(focus: number, move: CursorMove, count: number, pageSize: number): number {
  if (count === 0) return -1
  const page = Math.max(1, pageSize)
  const from = focus < 0 ? -1 : focus
  const next = {
    up: from <= 0 ? 0 : from - 1,
    down: from + 1,
    home: 0,
    end: count - 1,
    pageUp: from - page,
    pageDown: from < 0 ? page - 1 : from + page,
  }[move]
  return Math.max(0, Math.min(next, count - 1))
}

/** The selected entries, in the order shown. */
export function selectedEntries(rows: readonly FileEntry[], selection: Selection): FileEntry[] {
  if (selection.keys.size === 0) return []
  return rows.filter((entry) => selection.keys.has(entryKey(entry)))
}

/**
 * Type-ahead: the first row at or after `from` whose name starts with `prefix` (case
 * ignored), wrapping round; -1 when none does.
 */
export function findByPrefix(rows: readonly FileEntry[], prefix: string, from: number): number {
  const needle = prefix.toLocaleLowerCase()
  if (!needle || rows.length === 0) return -1
  const start = Math.max(0, from)
  for (let step = 0; step < rows.length; step += 1) {
    const i = (start + step) % rows.length
    if ((rows[i] as FileEntry).name.toLocaleLowerCase().startsWith(needle)) return i
  }
  return -1
}
