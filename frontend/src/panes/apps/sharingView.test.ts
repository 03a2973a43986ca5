import { describe, expect, it, vi } from 'vitest'
import type { ServerEvent } from '../../api/resources'
import type { Sharing } from '../../api/sharing'
import { CONNECTED_REFRESH_MS, createSharingView } from './sharingView'

const EMPTY: Sharing = {
  shares: [],
  invitations: [],
  support: { allowed: false, help_requested_at: null, group: null, available: false },
  connected: [],
  roles: ['user'],
}

async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve()
}

function setup() {
  const listeners = new Set<(event: ServerEvent) => void>()
  const reconnects = new Set<() => void>()
  let tick: (() => void) | null = null
  const release = vi.fn()
  const get = vi.fn(async () => EMPTY)
  const view = createSharingView('s1', {
    get,
    events: {
      acquire: () => release,
      onEvent: (l) => (listeners.add(l), () => listeners.delete(l)),
      onReconnect: (l) => (reconnects.add(l), () => reconnects.delete(l)),
    },
    setInterval: (fn, ms) => {
      expect(ms).toBe(CONNECTED_REFRESH_MS)
      tick = fn
      return 1
    },
    clearInterval: () => (tick = null),
  })
  const emit = (event: ServerEvent) => [...listeners].forEach((l) => l(event))
  return { view, get, release, emit, reconnect: () => [...reconnects].forEach((l) => l()), tick: () => tick?.(), listeners }
}

describe('sharingView', () => {
  it('reads again on this session\'s events, on reconnect and on its timer, and stops cleanly', async () => {
    const s = setup()
    const stop = s.view.follow()
    await flush()
    expect(s.view.sharing.value).toEqual(EMPTY)
    s.emit({ type: 'session_joined', session_id: 's1', user: { id: 2, username: 'bob', display_name: null }, role: 'guest' })
    s.emit({ type: 'session_changed', session_id: 's1' })
    s.emit({ type: 'session_changed', session_id: 'other' })
    s.reconnect()
    s.tick()
    await flush()
    expect(s.get).toHaveBeenCalledTimes(5)
    stop()
    expect(s.release).toHaveBeenCalledOnce()
    expect(s.listeners.size).toBe(0)
    s.tick()
    expect(s.get).toHaveBeenCalledTimes(5)
  })

  it('keeps only the latest of crossing answers, and says why a read failed', async () => {
    const s = setup()
    let answerFirst: (value: Sharing) => void = () => undefined
    s.get.mockImplementationOnce(() => new Promise<Sharing>((resolve) => (answerFirst = resolve)))
    s.get.mockImplementationOnce(async () => ({ ...EMPTY, roles: ['guest'] }))
    const first = s.view.load()
    await s.view.load()
    answerFirst({ ...EMPTY, roles: ['support'] })
    await first
    expect(s.view.sharing.value?.roles).toEqual(['guest'])
    s.get.mockImplementationOnce(async () => Promise.reject(new Error('The server had a problem')))
    await s.view.load()
    expect(s.view.error.value).toBe('The server had a problem')
  })
})
