import { describe, expect, it } from 'vitest'
import type { FileEntry } from '../../api/files'
import {
  EMPTY_SELECTION,
  entryKey,
  filterEntries,
  findByPrefix,
  keepVisible,
  moveCursor,
  selectAll,
  selectAt,
  selectedEntries,
  sortEntries,
  toggleSort,
} from './listing'

function entry(name: string, extra: Partial<FileEntry> = {}): FileEntry {
  return { name, kind: 'file', size: 0, mode: 0o644, mtime: 0, uid: 1000, gid: 1000, ...extra }
}

const dir = (name: string, extra: Partial<FileEntry> = {}): FileEntry => entry(name, { kind: 'directory', ...extra })

describe('sortEntries', () => {
  const rows = [entry('b.txt', { size: 5, mtime: 3 }), dir('zeta'), entry('a10.txt', { size: 1, mtime: 9 }), entry('a2.txt', { size: 9, mtime: 1 }), dir('Alpha'), entry('link', { kind: 'symlink', target_kind: 'directory' })]
  const names = (list: FileEntry[]): string[] => list.map((e) => e.name)

  it('puts folders (and links to folders) first, then names in natural order', () => {
    expect(names(sortEntries(rows, { key: 'name', direction: 'asc' }))).toEqual(['Alpha', 'link', 'zeta', 'a2.txt', 'a10.txt', 'b.txt'])
  })
  it('keeps folders first when descending', () => {
    expect(names(sortEntries(rows, { key: 'name', direction: 'desc' }))).toEqual(['zeta', 'link', 'Alpha', 'b.txt', 'a10.txt', 'a2.txt'])
  })
  it('sorts by size and by date', () => {
    expect(names(sortEntries(rows, { key: 'size', direction: 'asc' })).slice(3)).toEqual(['a10.txt', 'b.txt', 'a2.txt'])
    expect(names(sortEntries(rows, { key: 'mtime', direction: 'desc' })).slice(3)).toEqual(['a10.txt', 'b.txt', 'a2.txt'])
  })
  it('does not change its input', () => {
    const copy = [...rows]
    sortEntries(rows, { key: 'size', direction: 'desc' })
    expect(rows).toEqual(copy)
  })
  it('sorts 100,000 entries', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => entry(`f${(i * 7919) % 100_000}`))
    const sorted = sortEntries(many, { key: 'name', direction: 'asc' })
    expect(sorted[0]?.name).toBe('f0')
    expect(sorted[99_999]?.name).toBe('f99999')
  })
})

describe('filterEntries', () => {
  const rows = [entry('.bashrc'), entry('Data.CSV'), entry('notes.md')]
  it('hides dot files unless asked', () => {
    expect(filterEntries(rows, '', false).map((e) => e.name)).toEqual(['Data.CSV', 'notes.md'])
    expect(filterEntries(rows, '', true)).toHaveLength(3)
  })
  it('matches part of the name, case ignored', () => {
    expect(filterEntries(rows, 'csv', false).map((e) => e.name)).toEqual(['Data.CSV'])
    expect(filterEntries(rows, ' BASH ', true).map((e) => e.name)).toEqual(['.bashrc'])
    expect(filterEntries(rows, 'bash', false)).toEqual([])
  })
})

describe('toggleSort', () => {
  it('flips the same column and starts another ascending (dates newest first)', () => {
    expect(toggleSort({ key: 'name', direction: 'asc' }, 'name')).toEqual({ key: 'name', direction: 'desc' })
    expect(toggleSort({ key: 'name', direction: 'desc' }, 'size')).toEqual({ key: 'size', direction: 'asc' })
    expect(toggleSort({ key: 'name', direction: 'asc' }, 'mtime')).toEqual({ key: 'mtime', direction: 'desc' })
  })
})

describe('selection', () => {
  const rows = ['a', 'b', 'c', 'd', 'e'].map((n) => entry(n))
  const keys = (s: { keys: ReadonlySet<string> }): string[] => [...s.keys].map((k) => k.slice(5)).sort()

  it('selects one row on a plain click', () => {
    const s = selectAt(rows, EMPTY_SELECTION, 2)
    expect(keys(s)).toEqual(['c'])
    expect(s.focus).toBe(2)
  })
  it('extends from the anchor with Shift, both ways', () => {
    let s = selectAt(rows, EMPTY_SELECTION, 1)
    s = selectAt(rows, s, 3, { shift: true })
    expect(keys(s)).toEqual(['b', 'c', 'd'])
    s = selectAt(rows, s, 0, { shift: true })
    expect(keys(s)).toEqual(['a', 'b'])
  })
  it('toggles single rows with Ctrl', () => {
    let s = selectAt(rows, EMPTY_SELECTION, 0)
    s = selectAt(rows, s, 4, { toggle: true })
    expect(keys(s)).toEqual(['a', 'e'])
    s = selectAt(rows, s, 0, { toggle: true })
    expect(keys(s)).toEqual(['e'])
  })
  it('selects all, and forgets rows that are no longer shown', () => {
    const all = selectAll(rows, EMPTY_SELECTION)
    expect(all.keys.size).toBe(5)
    const kept = keepVisible(rows.slice(0, 2), all)
    expect(keys(kept)).toEqual(['a', 'b'])
  })
  it('returns the selected entries in the order shown', () => {
    const s = selectAt(rows, selectAt(rows, EMPTY_SELECTION, 3), 1, { toggle: true })
    expect(selectedEntries(rows, s).map((e) => e.name)).toEqual(['b', 'd'])
  })
  it('keys raw names by their bytes', () => {
    expect(entryKey({ name: '\ufffd', raw: '/w==' })).toBe('raw:/w==')
    expect(entryKey({ name: 'a' })).not.toBe(entryKey({ name: '\ufffd', raw: 'YQ==' }))
  })
})

describe('moveCursor', () => {
  it('moves within the list and clamps at the ends', () => {
    expect(moveCursor(-1, 'down', 5, 3)).toBe(0)
    expect(moveCursor(0, 'up', 5, 3)).toBe(0)
    expect(moveCursor(4, 'down', 5, 3)).toBe(4)
    expect(moveCursor(1, 'pageDown', 5, 3)).toBe(4)
    expect(moveCursor(4, 'pageUp', 5, 3)).toBe(1)
    expect(moveCursor(2, 'home', 5, 3)).toBe(0)
    expect(moveCursor(2, 'end', 5, 3)).toBe(4)
    expect(moveCursor(2, 'end', 0, 3)).toBe(-1)
  })
})

describe('findByPrefix', () => {
  const rows = ['apple', 'Banana', 'blueberry', 'cherry'].map((n) => entry(n))
  it('finds the next name starting with the typed text, wrapping round', () => {
    expect(findByPrefix(rows, 'b', 0)).toBe(1)
    expect(findByPrefix(rows, 'b', 2)).toBe(2)
    expect(findByPrefix(rows, 'b', 3)).toBe(1)
    expect(findByPrefix(rows, 'bl', 0)).toBe(2)
    expect(findByPrefix(rows, 'x', 0)).toBe(-1)
  })
})
