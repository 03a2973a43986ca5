import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import type { Resource, ResourceStatus } from '../api/resources'
import { fakeEvents } from '../testing/events'
import { makeResource } from '../testing/resources'
import { createResourcesStore } from './resources'

const connected: ResourceStatus = { state: 'connected', message: 'Connected.', error: null, since: 'now' }

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

function setup(list: () => Promise<Resource[]>) {
  const events = fakeEvents()
  const timers: (() => void)[] = []
  const store = createResourcesStore({
    list,
    events: events.events,
    now: () => 1000,
    setTimeout: (fn) => timers.push(fn),
  })
  return { store, events, timers }
}

describe('resources store', () => {
  it('loads once for all panes and follows the events while used', async () => {
    const list = vi.fn(async () => [makeResource()])
    const { store, events } = setup(list)
    const releaseA = store.acquire()
    const releaseB = store.acquire()
    await flush()
    expect(list).toHaveBeenCalledTimes(1)
    expect(events.events.acquire).toHaveBeenCalledTimes(1)
    expect(store.loaded.value).toBe(true)
    expect(store.resources.value.map((r) => r.name)).toEqual(['cluster'])

    events.emit({ type: 'resource_status', resource_id: 3, status: connected })
    expect(store.find(3)?.status).toEqual(connected)

    releaseA()
    expect(events.release).not.toHaveBeenCalled()
    releaseB()
    expect(events.release).toHaveBeenCalledTimes(1)
    expect(events.listenerCount()).toBe(0)
    // Nobody looks any more: nothing of the user's stays behind.
    expect(store.resources.value).toEqual([])
    expect(store.loaded.value).toBe(false)
  })

  it('reloads when an event names a resource it does not know (newly shared)', async () => {
    const list = vi.fn(async () => [makeResource()])
    const { store, events, timers } = setup(list)
    store.acquire()
    await flush()
    events.emit({ type: 'resource_status', resource_id: 99, status: connected })
    events.emit({ type: 'resource_status', resource_id: 98, status: connected })
    expect(timers).toHaveLength(1)
    timers[0]?.()
    await flush()
    expect(list).toHaveBeenCalledTimes(2)
  })

  it('reloads after the events socket reconnects', async () => {
    const list = vi.fn(async () => [makeResource()])
    const { store, events } = setup(list)
    store.acquire()
    await flush()
    events.reconnect()
    await flush()
    expect(list).toHaveBeenCalledTimes(2)
  })

  it('keeps a status that arrived while the list was loading', async () => {
    let answer: (resources: Resource[]) => void = () => {}
    const list = vi.fn(() => new Promise<Resource[]>((resolve) => (answer = resolve)))
    const { store, events } = setup(list)
    store.acquire()
    await flush()
    events.emit({ type: 'resource_status', resource_id: 3, status: connected })
    answer([makeResource()])
    await flush()
    expect(store.find(3)?.status).toEqual(connected)
  })

  it('shares one request between concurrent loads', async () => {
    const list = vi.fn(async () => [makeResource()])
    const { store } = setup(list)
    await Promise.all([store.load(), store.load()])
    expect(list).toHaveBeenCalledTimes(1)
  })

  it('reports a failed load, but not a 401 (the login page takes over)', async () => {
    const list = vi
      .fn<() => Promise<Resource[]>>()
      .mockRejectedValueOnce(new ApiError(500, 'internal_error', 'Oops.'))
      .mockRejectedValueOnce(new ApiError(401, 'not_authenticated', 'Log in.'))
    const { store } = setup(list)
    await store.load()
    expect(store.error.value).toBe('Oops.')
    expect(store.loading.value).toBe(false)
    await store.load()
    expect(store.error.value).toBe('Oops.')
  })

  it('upserts, removes and keeps system snapshots', async () => {
    const { store } = setup(async () => [makeResource()])
    await store.load()
    store.upsert(makeResource({ name: 'renamed' }))
    store.upsert(makeResource({ id: 4, name: 'new' }))
    expect(store.resources.value.map((r) => r.name)).toEqual(['renamed', 'new'])
    const info = {
      hostname: 'h',
      user: 'alice',
      home: '/home/alice',
      platform: 'Linux',
      python: '3.12',
      cpus: 4,
      load: [0, 0, 0],
      memory: { total: 1, available: 1 },
      home_disk: { total: 1, free: 1 },
      gpus: [],
    }
    store.setSystem(4, info)
    expect(store.systems.value[4]).toEqual({ info, at: 1000 })
    store.remove(4)
    expect(store.find(4)).toBeUndefined()
    expect(store.systems.value[4]).toBeUndefined()
  })
})
