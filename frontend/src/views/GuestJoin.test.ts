import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, nextTick, type App } from 'vue'
import { api } from '../api/client'
import { session } from '../stores/session'
import GuestJoin from './GuestJoin.vue'

const CODE = 'K7QM-4TXP-9WRB'
const INVITATION = { title: 'Python workshop', expires_at: '2026-12-07T18:00:00Z', seats_left: 12 }
const GUEST = {
  id: 7,
  username: 'guest-k7qm4',
  display_name: 'Ada',
  email: null,
  role: 'guest',
  disabled: false,
  groups: [],
  created_at: '2026-12-07T09:00:00Z',
  last_login_at: '2026-12-07T09:00:00Z',
  must_change_password: false,
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

let app: App | null = null
let root: HTMLElement | null = null

function mount(code = CODE): { byId: (id: string) => HTMLElement | null; left: () => number } {
  let leaves = 0
  root = document.createElement('div')
  document.body.append(root)
  app = createApp(GuestJoin, { code, onLeave: () => leaves++ })
  app.mount(root)
  return { byId: (id) => root!.querySelector<HTMLElement>(`[data-testid="${id}"]`), left: () => leaves }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
  await nextTick()
}

async function type(field: HTMLElement | null, value: string): Promise<void> {
  const input = field as HTMLInputElement
  input.value = value
  input.dispatchEvent(new Event('input'))
  await nextTick()
}

afterEach(() => {
  app?.unmount()
  root?.remove()
  app = root = null
  api.csrfToken = null
})

describe('GuestJoin', () => {
  it('shows the invitation, joins, and tells the guest their user name', async () => {
    const fetchMock = vi.fn(async (url: string) => {
      if (url.startsWith('/api/v1/guest-invitations/lookup')) return json(200, INVITATION)
      if (url === '/api/v1/auth/guest') return json(200, { user: GUEST, csrf_token: 'csrf-guest' })
      if (url === '/api/v1/preferences') return json(200, { preferences: {} })
      return json(404, { error: { code: 'not_found', message: url } })
    })
    vi.stubGlobal('fetch', fetchMock)
    const view = mount()
    await flush()
    expect(fetchMock.mock.calls[0]?.[0]).toBe(`/api/v1/guest-invitations/lookup?code=${encodeURIComponent(CODE)}`)
    expect(view.byId('guest-join-title')?.textContent?.trim()).toBe('Python workshop')
    expect(view.byId('guest-join-seats')?.textContent?.trim()).toBe('12')

    // Two different passwords: said, and nothing sent.
    await type(view.byId('guest-join-name'), '  Ada ')
    await type(view.byId('guest-join-password'), 'a long password')
    await type(view.byId('guest-join-confirm'), 'a long passw0rd')
    view.byId('guest-join-submit')?.click()
    await flush()
    expect(view.byId('guest-join-confirm-error')?.textContent).toMatch(/differ/)
    expect(fetchMock).toHaveBeenCalledTimes(1)

    await type(view.byId('guest-join-confirm'), 'a long password')
    view.byId('guest-join-submit')?.click()
    await flush()
    const [url, init] = fetchMock.mock.calls[1] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/auth/guest')
    expect(JSON.parse(String(init.body))).toEqual({ code: CODE, display_name: 'Ada', password: 'a long password' })
    expect(api.csrfToken).toBe('csrf-guest')
    expect(view.byId('guest-join-username')?.textContent?.trim()).toBe('guest-k7qm4')

    view.byId('guest-join-continue')?.click()
    await flush()
    expect(session.status).toBe('authenticated')
    expect(session.user?.username).toBe('guest-k7qm4')
  })

  it('says why a code is no use and offers the login page', async () => {
    const message = 'Every seat of this invitation is taken. Ask whoever invited you for more seats or a new invitation.'
    vi.stubGlobal('fetch', vi.fn(async () => json(404, { error: { code: 'invitation_unusable', message } })))
    const view = mount()
    await flush()
    expect(view.byId('guest-join-unusable')?.textContent?.trim()).toBe(message)
    expect(view.byId('guest-join-form')).toBeNull()
    view.byId('guest-join-login')?.click()
    expect(view.left()).toBe(1)
  })

  it('asks for the code when the link brings none, and again when it is no use', async () => {
    const message = 'There is no invitation with this code. Check it with whoever invited you.'
    const fetchMock = vi.fn(async (url: string) =>
      url.endsWith(encodeURIComponent(CODE)) ? json(200, INVITATION) : json(404, { error: { code: 'invitation_unusable', message } }),
    )
    vi.stubGlobal('fetch', fetchMock)
    const view = mount('')
    await flush()
    expect(fetchMock).not.toHaveBeenCalled()
    view.byId('guest-join-code-submit')?.click()
    await flush()
    expect(view.byId('guest-join-unusable')?.textContent?.trim()).toBe('Type the invitation code you were given.')
    expect(fetchMock).not.toHaveBeenCalled()

    await type(view.byId('guest-join-code'), 'NOPE-NOPE-NOPE')
    view.byId('guest-join-code-submit')?.click()
    await flush()
    expect(view.byId('guest-join-unusable')?.textContent?.trim()).toBe(message)
    expect(view.byId('guest-join-code')).not.toBeNull()

    await type(view.byId('guest-join-code'), ` ${CODE} `)
    view.byId('guest-join-code-submit')?.click()
    await flush()
    expect(view.byId('guest-join-code')).toBeNull()
    expect(view.byId('guest-join-title')?.textContent?.trim()).toBe('Python workshop')
  })
})
