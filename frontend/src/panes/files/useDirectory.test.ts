import { describe, expect, it, vi } from 'vitest'
import type { FileListing, ListQuery, RemotePath } from '../../api/files'

const pending: { path: RemotePath; query: ListQuery; resolve: (l: FileListing) => void }[] = []
vi.mock('../../api/files', () => ({
  listFiles: (_rid: number, path: RemotePath, query: ListQuery) =>
    new Promise<FileListing>((resolve) => pending.push({ path, query, resolve })),
}))

const { useDirectory } = await import('./useDirectory')

function answer(index: number, names: string[]): void {
  const call = pending[index]
  if (!call) throw new Error(`no call ${index}`)
  const path = 'path' in call.path ? call.path.path : '/raw'
  call.resolve({ path, total: names.length, offset: 0, entries: names.map((name) => ({ name, kind: 'file', size: 0, mode: 0, mtime: 0, uid: 0, gid: 0 })) })
}

const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

describe('useDirectory', () => {
  it('a refresh while another folder opens lists that folder, after it is shown', async () => {
    pending.length = 0
    const dir = useDirectory(1)
    const first = dir.load({ path: '/a' })
    answer(0, ['x'])
    expect(await first).toBe(true)
    const going = dir.load({ path: '/a/sub' }) // the user opens a folder...
    const refreshed = dir.refresh() // ...while an operation that ended asks for a refresh
    answer(1, ['old'])
    expect(await going).toBe(true)
    await flush()
    expect(pending[2]?.path).toEqual({ path: '/a/sub' }) // listed again, not /a
    answer(2, ['old', 'new'])
    expect(await refreshed).toBe(true)
    expect(dir.dir.value).toEqual({ path: '/a/sub' })
    expect(dir.entries.value.map((e) => e.name)).toEqual(['old', 'new'])
  })
  it('keeps the folder shown when another cannot be opened', async () => {
    pending.length = 0
    const dir = useDirectory(1)
    const first = dir.load({ path: '/a' })
    answer(0, ['x'])
    await first
    const failing = dir.load({ path: '/nope' })
    pending[1]?.resolve(Promise.reject(new Error('gone')) as never)
    expect(await failing).toBe(false)
    expect(dir.dir.value).toEqual({ path: '/a' })
    expect(dir.error.value?.message).toContain('gone')
  })
})
