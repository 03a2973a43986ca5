/**
 * The app pane of a session someone shared: whose it is and what one may do, no Share
 * button for what is not one's own, and a clear word once access ended.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, nextTick, type App } from 'vue'
import type { AppSession } from '../../api/sessions'
import { sessionsStore } from '../../stores/sessions'
import { FakeSocket } from '../../testing/fakeSocket'
import AppPane from './AppPane.vue'

const alice = { id: 1, username: 'alice', display_name: 'Alice A.' }

function session(extra: Partial<AppSession>): AppSession {
  return {
    id: 's1', title: 'Results dashboard', template: 'webapp', view: 'web', launcher: 'direct', resource_id: 7,
    owner_id: 1, state: 'running', message: '', progress: [], url: '/s/s1/', created_at: '', ready_at: null,
    ended_at: null, last_activity_at: '', idle_minutes: 120, idle_stop_at: null, ends_at: null, warned_at: null,
    form: {}, extension: null, actions: [], ...extra,
  }
}

let answer: AppSession
let app: App | null = null
let root: HTMLElement

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

async function mount(): Promise<void> {
  root = document.createElement('div')
  document.body.append(root)
  app = createApp(AppPane, { params: { params: { sessionId: 's1' } } })
  app.mount(root)
  await flush()
}

const byId = (id: string): HTMLElement | null => root.querySelector(`[data-testid="${id}"]`)

beforeEach(() => {
  vi.stubGlobal('WebSocket', FakeSocket)
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      const body = url.endsWith('/sessions/s1')
        ? answer
        : url.endsWith('/sharing')
          ? { shares: [], invitations: [], connected: [], roles: ['user'], support: { allowed: false, help_requested_at: null, group: null, available: false } }
          : { sessions: [answer] }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
    }),
  )
})

afterEach(() => {
  app?.unmount()
  app = null
  root.remove()
})

describe('AppPane, shared', () => {
  it('says whose session a guest is looking at, without a Share button or Keep it running', async () => {
    answer = session({ my_role: 'guest', owner: alice, warned_at: '2026-03-01T10:00:00Z', idle_stop_at: '2999-01-01T00:00:00Z' })
    await mount()
    expect(byId('app-shared-bar')?.textContent).toContain('Alice A. shared this session with you: you can view it, not use it.')
    expect(byId('app-share')).toBeNull()
    expect(byId('app-warning')).not.toBeNull()
    expect(byId('app-extend')).toBeNull()
  })

  it('offers its owner the Share dialog', async () => {
    answer = session({ my_role: 'owner', owner: alice })
    await mount()
    expect(byId('app-shared-bar')).toBeNull()
    byId('app-share')!.click()
    await nextTick()
    await flush()
    expect(byId('share-dialog')).not.toBeNull()
    expect(byId('share-nobody')?.textContent).toContain('Only you')
  })

  it('says that access ended once the session is gone from the list', async () => {
    answer = session({ my_role: 'user', owner: alice })
    await mount()
    expect(byId('app-frame')).not.toBeNull()
    sessionsStore.remove('s1')
    await nextTick()
    expect(byId('app-frame')).toBeNull()
    expect(byId('app-access-ended')?.textContent).toMatch(/Your access to “Results dashboard” ended: Alice A\. no longer shares it/)
  })
})
