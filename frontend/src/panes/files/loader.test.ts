import { describe, expect, it } from 'vitest'
import type { FileEntry, FileListing, ListQuery, RemotePath } from '../../api/files'
import { loadDirectory, type ListingProgress } from './loader'

function fakeDirectory(count: number) {
  const all: FileEntry[] = Array.from({ length: count }, (_, i) => ({ name: `f${i}`, kind: 'file', size: i, mode: 0o644, mtime: 0, uid: 0, gid: 0 }))
  const asked: { path: RemotePath; query: ListQuery }[] = []
  const list = async (path: RemotePath, query: ListQuery): Promise<FileListing> => {
    asked.push({ path, query })
    const offset = query.offset ?? 0
    return { path: '/home/u', total: all.length, offset, entries: all.slice(offset, offset + (query.limit ?? 1000)) }
  }
  return { list, asked }
}

describe('loadDirectory', () => {
  it('shows a small first page, then fetches the rest in pages of at most 5000', async () => {
    const dir = fakeDirectory(12_345)
    const seen: number[] = []
    const done = await loadDirectory(dir.list, { path: '~' }, new AbortController().signal, (p) => seen.push(p.entries.length))
    expect(seen).toEqual([500, 5500, 10500, 12345])
    expect(done.done).toBe(true)
    expect(done.entries).toHaveLength(12_345)
    expect(dir.asked.map((a) => a.query.limit)).toEqual([500, 5000, 5000, 5000])
    // Later pages name the expanded folder, not ~, and always include hidden files.
    expect(dir.asked[1]?.path).toEqual({ path: '/home/u' })
    expect(dir.asked.every((a) => a.query.hidden === true)).toBe(true)
  })
  it('finishes at once for a small folder', async () => {
    const dir = fakeDirectory(3)
    const progress: ListingProgress[] = []
    await loadDirectory(dir.list, { path: '/x' }, new AbortController().signal, (p) => progress.push({ ...p }))
    expect(progress).toHaveLength(1)
    expect(progress[0]?.done).toBe(true)
  })
  it('stops when aborted', async () => {
    const dir = fakeDirectory(20_000)
    const controller = new AbortController()
    const seen: number[] = []
    await loadDirectory(dir.list, { path: '/x' }, controller.signal, (p) => {
      seen.push(p.entries.length)
      controller.abort()
    })
    expect(seen).toEqual([500])
    expect(dir.asked).toHaveLength(1)
  })
  it('keeps an entry once when the folder changed between pages', async () => {
    const entries = ['a', 'b', 'c'].map((name) => ({ name, kind: 'file', size: 0, mode: 0, mtime: 0, uid: 0, gid: 0 }))
    let call = 0
    const list = async (): Promise<FileListing> => {
      call += 1
      // The second page starts again at "b" (something before it was deleted meanwhile).
      return call === 1 ? { path: '/x', total: 3, offset: 0, entries: entries.slice(0, 2) } : { path: '/x', total: 3, offset: 2, entries: entries.slice(1) }
    }
    const done = await loadDirectory(list, { path: '/x' }, new AbortController().signal, () => {}, { first: 2 })
    expect(done.entries.map((e) => e.name)).toEqual(['a', 'b', 'c'])
  })
})
