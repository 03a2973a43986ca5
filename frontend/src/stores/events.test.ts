import { describe, expect, it, vi } from 'vitest'
import { api } from '../api/client'
import { fakeSockets } from '../testing/fakeSocket'
import { BACKOFF_MAX_MS, STABLE_MS, backoffDelay, createEventsStore } from './events'

/** Timers the test fires by hand. */
function manualTimers() {
  let now = 0
  const pending = new Map<number, { at: number; fn: () => void }>()
  let next = 1
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const id = next++
      pending.set(id, { at: now + ms, fn })
      return id
    },
    clearTimeout: (id: unknown) => void pending.delete(id as number),
    /** Let `ms` pass, firing what falls due. */
    advance(ms: number) {
      now += ms
      for (const [id, timer] of [...pending]) {
        if (timer.at <= now) {
          pending.delete(id)
          timer.fn()
        }
      }
    },
    delays: () => [...pending.values()].map((t) => t.at - now),
    count: () => pending.size,
  }
}

function setup() {
  const timers = manualTimers()
  const sockets = fakeSockets()
  const store = createEventsStore({
    socketFactory: sockets.factory,
    url: () => 'ws://x/api/v1/events',
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: timers.now,
    random: () => 0.5, // no jitter
  })
  return { store, timers, sockets }
}

const status = (state: string) => ({ state, message: '', error: null, since: null })

describe('backoffDelay', () => {
  it('doubles from one second up to the cap', () => {
    const exact = () => 0.5
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, exact))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ])
  })

  it('jitters by at most 20 %', () => {
    expect(backoffDelay(2, () => 0)).toBe(3200)
    expect(backoffDelay(2, () => 1)).toBe(4800)
    expect(backoffDelay(50, () => 1)).toBe(BACKOFF_MAX_MS * 1.2)
  })
})

describe('events store', () => {
  it('opens one socket for all holders and closes it when the last lets go', () => {
    const { store, sockets } = setup()
    expect(store.connection.value).toBe('idle')
    const releaseA = store.acquire()
    const releaseB = store.acquire()
    expect(sockets.sockets).toHaveLength(1)
    expect(sockets.last().url).toBe('ws://x/api/v1/events')
    expect(store.connection.value).toBe('connecting')
    sockets.last().open()
    expect(store.connection.value).toBe('open')

    releaseA()
    releaseA() // twice is harmless
    expect(sockets.last().closedWith).toBeNull()
    releaseB()
    expect(sockets.last().closedWith).not.toBeNull()
    expect(store.connection.value).toBe('idle')
    expect(store.holders()).toBe(0)
  })

  it('hands status events to listeners, and nothing malformed', () => {
    const { store, sockets } = setup()
    const listener = vi.fn()
    store.onEvent(listener)
    store.acquire()
    sockets.last().open()
    sockets.last().receive({ type: 'resource_status', resource_id: 3, status: status('connected') })
    sockets.last().receive({ type: 'resource_status', resource_id: 'x', status: status('connected') })
    sockets.last().receive({ type: 'resource_status', resource_id: 4 })
    sockets.last().receive({ type: 'something_new' })
    expect(listener).toHaveBeenCalledTimes(1)
    expect(listener).toHaveBeenCalledWith({ type: 'resource_status', resource_id: 3, status: status('connected') })
  })

  it('hands administrators\' news of requests for more time to listeners, without what else came with it', () => {
    const { store, sockets } = setup()
    const listener = vi.fn()
    store.onEvent(listener)
    store.acquire()
    sockets.last().open()
    sockets.last().receive({ type: 'extension_requests', id: 3 })
    expect(listener).toHaveBeenCalledExactlyOnceWith({ type: 'extension_requests' })
  })

  it('tells an owner who joined their session, and drops a join it cannot read', () => {
    const { store, sockets } = setup()
    const listener = vi.fn()
    store.onEvent(listener)
    store.acquire()
    sockets.last().open()
    const alice = { id: 2, username: 'alice', display_name: 'Alice A.' }
    sockets.last().receive({ type: 'session_joined', session_id: 's1', user: alice, role: 'guest', extra: 1 })
    sockets.last().receive({ type: 'session_joined', session_id: 's1', user: null, role: 'guest' })
    sockets.last().receive({ type: 'session_joined', session_id: 's1', user: alice, role: 'emperor' })
    expect(listener).toHaveBeenCalledExactlyOnceWith({ type: 'session_joined', session_id: 's1', user: alice, role: 'guest' })
  })

  it('passes on a request for help with who asked, the title and the message; malformed ones are dropped', () => {
    const { store, sockets } = setup()
    const listener = vi.fn()
    store.onEvent(listener)
    store.acquire()
    sockets.last().open()
    const owner = { username: 'alice', display_name: 'Alice A.' }
    sockets.last().receive({ type: 'help_asked', session_id: 's1', title: 'Desktop on box', owner, message: 'The plot window is empty.', extra: 1 })
    sockets.last().receive({ type: 'help_asked', session_id: 's1', title: 'Desktop on box', owner: null, message: 'x' })
    sockets.last().receive({ type: 'help_asked', session_id: 's1', title: 7, owner, message: 'x' })
    expect(listener).toHaveBeenCalledExactlyOnceWith({ type: 'help_asked', session_id: 's1', title: 'Desktop on box', owner, message: 'The plot window is empty.' })
  })

  it('reconnects with growing back-off while the server is away', () => {
    const { store, sockets, timers } = setup()
    store.acquire()
    sockets.last().drop()
    expect(store.connection.value).toBe('waiting')
    expect(store.retryInMs.value).toBe(1000)
    expect(timers.delays()).toEqual([1000])

    timers.advance(999)
    expect(sockets.sockets).toHaveLength(1)
    timers.advance(1)
    expect(sockets.sockets).toHaveLength(2)
    expect(store.connection.value).toBe('connecting')

    sockets.last().drop()
    expect(timers.delays()).toEqual([2000])
    timers.advance(2000)
    sockets.last().drop()
    expect(timers.delays()).toEqual([4000])
    timers.advance(4000)
    expect(sockets.sockets).toHaveLength(4)
  })

  it('starts the back-off again after a healthy connection', () => {
    const { store, sockets, timers } = setup()
    store.acquire()
    sockets.last().drop()
    timers.advance(1000)
    sockets.last().drop()
    timers.advance(2000)
    // This one works: a message arrives, then it drops.
    sockets.last().open()
    sockets.last().receive({ type: 'resource_status', resource_id: 1, status: status('connected') })
    sockets.last().drop()
    expect(timers.delays()).toEqual([1000])
  })

  it('counts a socket that opens and drops at once as a failure', () => {
    const { store, sockets, timers } = setup()
    store.acquire()
    sockets.last().open()
    sockets.last().drop()
    expect(timers.delays()).toEqual([1000])
    timers.advance(1000)
    sockets.last().open()
    sockets.last().drop()
    expect(timers.delays()).toEqual([2000])
    timers.advance(2000)
    // Open long enough without any event: healthy.
    sockets.last().open()
    timers.advance(STABLE_MS)
    sockets.last().drop()
    expect(timers.delays()).toEqual([1000])
  })

  it('tells listeners when it reconnects (events may have been missed)', () => {
    const { store, sockets, timers } = setup()
    const onReconnect = vi.fn()
    store.onReconnect(onReconnect)
    store.acquire()
    sockets.last().open()
    expect(onReconnect).not.toHaveBeenCalled()
    sockets.last().drop()
    timers.advance(1000)
    sockets.last().open()
    expect(onReconnect).toHaveBeenCalledTimes(1)
  })

  it('tells listeners to read everything again when the server says so (resync)', () => {
    const { store, sockets } = setup()
    const onReconnect = vi.fn()
    const onEvent = vi.fn()
    store.onReconnect(onReconnect)
    store.onEvent(onEvent)
    store.acquire()
    sockets.last().open()
    sockets.last().receive({ type: 'resync' })
    expect(onReconnect).toHaveBeenCalledTimes(1)
    expect(onEvent).not.toHaveBeenCalled()
    expect(store.connection.value).toBe('open')
  })

  it('stops retrying when the server refuses, until asked again', () => {
    const { store, sockets, timers } = setup()
    store.acquire()
    sockets.last().drop(4403, 'not_authenticated')
    expect(store.connection.value).toBe('refused')
    expect(store.refusal.value).toBe('not_authenticated')
    expect(timers.count()).toBe(0)

    store.reconnectNow()
    expect(sockets.sockets).toHaveLength(2)
    expect(store.connection.value).toBe('connecting')
  })

  it('stops for good when the login ends, and takes the app to the login page', () => {
    const onUnauthorized = vi.fn()
    api.onUnauthorized = onUnauthorized
    try {
      const { store, sockets, timers } = setup()
      store.acquire()
      sockets.last().open()
      sockets.last().drop(4401, 'login_ended')
      expect(store.connection.value).toBe('refused')
      expect(store.refusal.value).toBe('login_ended')
      expect(timers.count()).toBe(0)
      expect(onUnauthorized).toHaveBeenCalledTimes(1)
      expect(onUnauthorized.mock.calls[0]?.[0]).toMatchObject({
        status: 401,
        message: 'Your login ended: log in again.',
      })
    } finally {
      api.onUnauthorized = null
    }
  })

  it('stops retrying when access is withdrawn, the login staying', () => {
    const onUnauthorized = vi.fn()
    api.onUnauthorized = onUnauthorized
    try {
      const { store, sockets, timers } = setup()
      store.acquire()
      sockets.last().open()
      sockets.last().drop(4403, 'access_withdrawn')
      expect(store.connection.value).toBe('refused')
      expect(timers.count()).toBe(0)
      expect(onUnauthorized).not.toHaveBeenCalled()
    } finally {
      api.onUnauthorized = null
    }
  })

  it('retries at once when asked while waiting', () => {
    const { store, sockets, timers } = setup()
    store.acquire()
    sockets.last().drop()
    sockets.last() // the first
    store.reconnectNow()
    expect(sockets.sockets).toHaveLength(2)
    expect(timers.count()).toBe(0)
    expect(store.retryInMs.value).toBeNull()
  })

  it('does not reconnect after the last holder let go', () => {
    const { store, sockets, timers } = setup()
    const release = store.acquire()
    sockets.last().drop()
    release()
    expect(timers.count()).toBe(0)
    timers.advance(60_000)
    expect(sockets.sockets).toHaveLength(1)
    expect(store.connection.value).toBe('idle')
    store.reconnectNow()
    expect(sockets.sockets).toHaveLength(1)
  })

  it('retries when the socket cannot even be made', () => {
    const timers = manualTimers()
    let calls = 0
    const store = createEventsStore({
      socketFactory: () => {
        calls += 1
        throw new Error('no WebSocket here')
      },
      url: () => 'ws://x',
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
      now: timers.now,
      random: () => 0.5,
    })
    store.acquire()
    expect(store.connection.value).toBe('waiting')
    timers.advance(1000)
    expect(calls).toBe(2)
  })
})
