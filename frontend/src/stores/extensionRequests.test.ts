import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import type { ExtensionRequest } from '../api/sessions'
import { fakeEvents } from '../testing/events'
import { createExtensionRequestsStore } from './extensionRequests'

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

const asked = (id: number) => ({ id }) as ExtensionRequest

describe('extension requests store', () => {
  it('reads both lists when held, again on each event and reconnect, and forgets them when let go', async () => {
    const events = fakeEvents()
    let waiting = [asked(1)]
    const list = vi.fn(async (status: 'pending' | 'decided') => (status === 'pending' ? waiting : [asked(9)]))
    const store = createExtensionRequestsStore({ list, events: events.events })
    const releaseBar = store.acquire()
    const releasePane = store.acquire()
    await flush()
    expect(events.events.acquire).toHaveBeenCalledTimes(1)
    expect(store.pending.value.map((r) => r.id)).toEqual([1])
    expect(store.decided.value.map((r) => r.id)).toEqual([9])

    waiting = [asked(2), asked(1)]
    events.emit({ type: 'session_changed', session_id: 'x' })
    await flush()
    expect(list).toHaveBeenCalledTimes(2)
    events.emit({ type: 'extension_requests' })
    await flush()
    expect(store.pending.value.map((r) => r.id)).toEqual([2, 1])
    waiting = []
    events.reconnect()
    await flush()
    expect(store.pending.value).toEqual([])

    releaseBar()
    expect(events.release).not.toHaveBeenCalled()
    releasePane()
    expect(events.release).toHaveBeenCalledTimes(1)
    expect(events.listenerCount()).toBe(0)
    expect(store.loaded.value).toBe(false)
    expect(store.decided.value).toEqual([])
  })

  it('keeps only the newest read when reads overlap', async () => {
    const answers: ((requests: ExtensionRequest[]) => void)[] = []
    const list = vi.fn((status: 'pending' | 'decided') =>
      status === 'pending' ? new Promise<ExtensionRequest[]>((resolve) => answers.push(resolve)) : Promise.resolve([]),
    )
    const events = fakeEvents()
    const store = createExtensionRequestsStore({ list, events: events.events })
    store.acquire()
    events.emit({ type: 'extension_requests' })
    answers[1]!([asked(2)])
    await flush()
    answers[0]!([asked(1)])
    await flush()
    expect(store.pending.value.map((r) => r.id)).toEqual([2])
  })

  it('shows nothing, and why, once the user is no longer an administrator', async () => {
    const events = fakeEvents()
    let refuse = false
    const list = vi.fn(async () => {
      if (refuse) throw new ApiError(403, 'forbidden', 'Only administrators may do this.')
      return [asked(1)]
    })
    const store = createExtensionRequestsStore({ list, events: events.events })
    store.acquire()
    await flush()
    expect(store.pending.value).toHaveLength(1)
    refuse = true
    events.emit({ type: 'extension_requests' })
    await flush()
    expect(store.pending.value).toEqual([])
    expect(store.error.value).toBe('Only administrators may do this.')
  })
})
