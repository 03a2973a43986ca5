import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import type { Favourite, NewFavourite } from '../api/favourites'
import type { AppSession } from '../api/sessions'
import { createFavouritesStore, starredFirst } from './favourites'

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

/** A server keeping favourites in memory, as the API answers. */
function fakeServer(start: Favourite[] = []) {
  let rows = [...start]
  let next = 100
  return {
    rows: () => rows,
    deps: {
      list: vi.fn(async () => [...rows]),
      add: vi.fn(async (body: NewFavourite) => {
        if (rows.some((f) => f.kind === body.kind && f.target === body.target && body.kind !== 'preset')) {
          throw new ApiError(409, 'conflict', 'That is starred already.')
        }
        const made: Favourite = {
          id: next++,
          kind: body.kind,
          target: body.target ?? `key${next}`,
          title: body.title ?? body.target ?? '',
          preset: body.preset ?? null,
          position: rows.length,
        }
        rows = [...rows, made]
        return made
      }),
      change: vi.fn(async (id: number, changes: { title?: string; position?: number }) => {
        rows = rows.map((f) => (f.id === id ? { ...f, ...changes } : f))
        return rows.find((f) => f.id === id)!
      }),
      remove: vi.fn(async (id: number) => {
        if (!rows.some((f) => f.id === id)) throw new ApiError(404, 'not_found', 'You have no favourite.')
        rows = rows.filter((f) => f.id !== id)
      }),
      launch: vi.fn(async (id: number) => ({ id: `s${id}`, state: 'pending' }) as AppSession),
    },
  }
}

const starred = (id: number, kind: Favourite['kind'], target: string, position: number): Favourite => ({
  id,
  kind,
  target,
  title: target,
  preset: null,
  position,
})

describe('favourites store', () => {
  it('reads once for all its holders, in the users order, and forgets them when the last lets go', async () => {
    const server = fakeServer([starred(2, 'template', 'tensorboard', 1), starred(1, 'folder', '3:/data', 0)])
    const store = createFavouritesStore(server.deps)
    const releaseLauncher = store.acquire()
    const releaseStar = store.acquire()
    await flush()
    expect(server.deps.list).toHaveBeenCalledTimes(1)
    expect(store.favourites.value.map((f) => f.id)).toEqual([1, 2])
    expect(store.isStarred('template', 'tensorboard')).toBe(true)
    expect(store.isStarred('resource', 'tensorboard')).toBe(false)
    expect(store.isStarred('folder', '3:/data')).toBe(true)
    releaseStar()
    releaseStar()
    expect(store.loaded.value).toBe(true)
    releaseLauncher()
    expect(store.favourites.value).toEqual([])
    expect(store.loaded.value).toBe(false)
  })

  it('keeps no answer that came after the last holder let go (a logout)', async () => {
    let answer: (favourites: Favourite[]) => void = () => undefined
    const server = fakeServer()
    const store = createFavouritesStore({ ...server.deps, list: () => new Promise((resolve) => (answer = resolve)) })
    const release = store.acquire()
    release()
    answer([starred(1, 'resource', '3', 0)])
    await flush()
    expect(store.favourites.value).toEqual([])
    expect(store.loaded.value).toBe(false)
  })

  it('toggles a star on and off, once however often it is clicked meanwhile', async () => {
    const server = fakeServer()
    const store = createFavouritesStore(server.deps)
    store.acquire()
    await flush()
    await Promise.all([store.toggle('template', 'jupyterlab', 'JupyterLab'), store.toggle('template', 'jupyterlab', 'JupyterLab')])
    expect(server.deps.add).toHaveBeenCalledTimes(1)
    expect(server.deps.add).toHaveBeenCalledWith({ kind: 'template', target: 'jupyterlab', title: 'JupyterLab' })
    expect(store.isStarred('template', 'jupyterlab')).toBe(true)
    await store.toggle('template', 'jupyterlab')
    expect(store.isStarred('template', 'jupyterlab')).toBe(false)
    expect(server.rows()).toEqual([])
  })

  it('takes the servers word when another tab starred or unstarred it first', async () => {
    const server = fakeServer()
    const store = createFavouritesStore(server.deps)
    store.acquire()
    await flush()
    await server.deps.add({ kind: 'resource', target: '7' }) // another tab
    await store.toggle('resource', '7')
    expect(store.isStarred('resource', '7')).toBe(true)
    const [row] = server.rows()
    await server.deps.remove(row!.id) // another tab again
    await store.toggle('resource', '7')
    expect(store.isStarred('resource', '7')).toBe(false)
  })

  it('saves, renames, removes and launches presets', async () => {
    const server = fakeServer([starred(1, 'template', 'jupyterlab', 0)])
    const store = createFavouritesStore(server.deps)
    store.acquire()
    await flush()
    const launch = { template: 'jupyterlab', resource_id: 3, launcher: 'slurm', form: { cores: 4 }, experiment_id: 12 }
    const saved = await store.savePreset('GPU lab', launch)
    expect(server.deps.add).toHaveBeenCalledWith({ kind: 'preset', title: 'GPU lab', preset: launch })
    expect(store.presets.value.map((p) => p.title)).toEqual(['GPU lab'])
    await store.rename(saved.id, 'GPU lab, 4 cores')
    expect(store.presets.value.map((p) => p.title)).toEqual(['GPU lab, 4 cores'])
    expect((await store.launchPreset(saved.id)).id).toBe(`s${saved.id}`)
    await store.remove(saved.id)
    expect(store.presets.value).toEqual([])
    expect(store.favourites.value.map((f) => f.id)).toEqual([1])
  })

  it('puts starred items first, each part in its own order', () => {
    const names = ['a', 'b', 'c', 'd', 'e']
    expect(starredFirst(names, (n) => n === 'd' || n === 'b')).toEqual(['b', 'd', 'a', 'c', 'e'])
    expect(starredFirst(names, () => false)).toEqual(names)
  })
})
