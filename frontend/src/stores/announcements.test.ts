import { describe, expect, it } from 'vitest'
import type { CurrentAnnouncement } from '../api/announcements'
import type { ServerEvent } from '../api/resources'
import { createAnnouncementsStore, DISMISSED_KEY } from './announcements'

function fakeEvents() {
  const listeners = new Set<(event: ServerEvent) => void>()
  return {
    acquire: () => () => {},
    onEvent: (listener: (event: ServerEvent) => void) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    onReconnect: () => () => {},
    send: (event: ServerEvent) => listeners.forEach((listener) => listener(event)),
  }
}

function memoryStorage(): Pick<Storage, 'getItem' | 'setItem'> & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return { data, getItem: (key) => data.get(key) ?? null, setItem: (key, value) => void data.set(key, value) }
}

const beam: CurrentAnnouncement = { id: 1, text: 'Beam down', severity: 'critical', starts_at: '', ends_at: '' }
const upgrade: CurrentAnnouncement = { id: 2, text: 'Upgrade', severity: 'info', starts_at: '', ends_at: '' }

describe('the announcements store', () => {
  it('reads them again when told, and remembers what was dismissed', async () => {
    let answer = [beam]
    const events = fakeEvents()
    const storage = memoryStorage()
    const store = createAnnouncementsStore({ current: async () => answer, events, storage })
    store.acquire()
    await Promise.resolve()
    await Promise.resolve()
    expect(store.shown.value.map((a) => a.id)).toEqual([1])

    answer = [beam, upgrade]
    events.send({ type: 'announcements' })
    await Promise.resolve()
    await Promise.resolve()
    expect(store.shown.value.map((a) => a.id)).toEqual([1, 2])

    store.dismiss(1)
    expect(store.shown.value.map((a) => a.id)).toEqual([2])
    expect(JSON.parse(storage.data.get(DISMISSED_KEY) ?? '[]')).toEqual([1])
    // Another tab (a new store on the same storage) keeps it dismissed.
    const again = createAnnouncementsStore({ current: async () => answer, events: fakeEvents(), storage })
    await again.load()
    expect(again.shown.value.map((a) => a.id)).toEqual([2])
  })
})
