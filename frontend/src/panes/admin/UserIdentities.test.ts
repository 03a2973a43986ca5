import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, h, nextTick, type App } from 'vue'
import type { AuthProvider, Identity } from '../../api/types'

const admin = {
  id: 1,
  username: 'root',
  display_name: '',
  email: null,
  role: 'admin',
  disabled: false,
  groups: [],
  created_at: '2026-11-22T10:00:00Z',
  last_login_at: null,
  must_change_password: false,
}

const LDAP: Identity = {
  id: 7,
  provider: 'ldap',
  provider_label: 'University account',
  subject: '5d2f-entry-uuid',
  label: 'alice@university.example',
  created_at: '2026-12-01T10:00:00Z',
  last_login_at: '2026-12-02T10:00:00Z',
  checked_at: null,
  refused_at: '2026-12-03T10:00:00Z',
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

type Routes = Record<string, (init?: RequestInit) => Response>

async function identitiesOf(username: string, providers: AuthProvider[], routes: Routes) {
  const all: Routes = {
    'GET /api/v1/info': () =>
      json(200, { name: 'labgate', version: '0.1.0', auth_providers: providers, limits: { api_token_max_days: 365, min_password_length: 10 } }),
    'GET /api/v1/auth/session': () => json(200, { user: admin, csrf_token: 'csrf-1' }),
    'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
    ...routes,
  }
  const fetchMock = vi.fn(async (input: string, init?: RequestInit) => {
    const route = all[`${init?.method ?? 'GET'} ${input}`]
    if (!route) throw new Error(`unexpected request ${init?.method ?? 'GET'} ${input}`)
    return route(init)
  })
  vi.stubGlobal('fetch', fetchMock)
  vi.resetModules()
  const store = await import('../../stores/session')
  await store.startSession()
  const { default: UserIdentities } = await import('./UserIdentities.vue')
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp({ render: () => h(UserIdentities, { username }) })
  app.mount(root)
  mounted = { app, root }
  await flush()
  const one = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)
  const all$ = (id: string) => [...root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)]
  async function type(id: string, value: string): Promise<void> {
    const input = one(id) as HTMLInputElement
    input.value = value
    input.dispatchEvent(new Event('input'))
    await nextTick()
  }
  async function click(id: string): Promise<void> {
    one(id)?.click()
    await flush()
  }
  return { root, one, all: all$, type, click, fetchMock }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let mounted: { app: App; root: HTMLElement } | null = null

afterEach(() => {
  mounted?.app.unmount()
  mounted?.root.remove()
  mounted = null
})

const PROVIDERS: AuthProvider[] = [
  { name: 'local', label: 'labgate account', kind: 'password' },
  { name: 'ldap', label: 'University account', kind: 'password' },
  { name: 'helmholtz', label: 'Helmholtz AAI', kind: 'redirect' },
]

describe('a user’s sign-in identities', () => {
  it('lists them, with a refusal by the provider', async () => {
    const pane = await identitiesOf('alice', PROVIDERS, {
      'GET /api/v1/users/alice/identities': () => json(200, { identities: [LDAP] }),
    })
    const [row] = pane.all('user-identity')
    expect(row?.textContent).toContain('University account')
    expect(row?.textContent).toContain('alice@university.example')
    expect(row?.textContent).toContain('5d2f-entry-uuid')
    expect(pane.one('user-identity-refused')?.textContent).toContain('refused by the provider')
    // Every active provider but labgate's own accounts can be linked.
    const options = [...(pane.one('user-identity-provider') as HTMLSelectElement).options].map((o) => o.value)
    expect(options).toEqual(['ldap', 'helmholtz'])
  })

  it('links one, and shows why a link is refused', async () => {
    const sent: unknown[] = []
    let answer = json(409, { error: { code: 'conflict', message: "That identity at helmholtz signs in as 'bob': unlink it there first." } })
    const pane = await identitiesOf('alice', PROVIDERS, {
      'GET /api/v1/users/alice/identities': () => json(200, { identities: [] }),
      'POST /api/v1/users/alice/identities': (init) => {
        sent.push(JSON.parse(String(init?.body)))
        return answer
      },
    })
    expect(pane.one('user-identities-none')).not.toBeNull()
    // Nothing typed: nothing sent.
    await pane.click('user-identity-link-submit')
    expect(pane.one('user-identity-link-error')?.textContent?.trim()).toBe('Type the identity’s name at the provider.')
    const select = pane.one('user-identity-provider') as HTMLSelectElement
    select.value = 'helmholtz'
    select.dispatchEvent(new Event('change'))
    await pane.type('user-identity-subject', '  sub-42 ')
    await pane.type('user-identity-label', 'alice@helmholtz.example')
    await pane.click('user-identity-link-submit')
    expect(pane.one('user-identity-link-error')?.textContent?.trim()).toBe(
      "That identity at helmholtz signs in as 'bob': unlink it there first.",
    )
    answer = json(201, { ...LDAP, id: 8, provider: 'helmholtz', provider_label: 'Helmholtz AAI', subject: 'sub-42', refused_at: null })
    await pane.click('user-identity-link-submit')
    expect(sent.at(-1)).toEqual({ provider: 'helmholtz', subject: 'sub-42', label: 'alice@helmholtz.example' })
    expect(pane.one('user-identity-link-error')).toBeNull()
    expect(pane.all('user-identity').map((r) => r.dataset.provider)).toEqual(['helmholtz'])
  })

  it('unlinks one once confirmed', async () => {
    const pane = await identitiesOf('alice', PROVIDERS, {
      'GET /api/v1/users/alice/identities': () => json(200, { identities: [LDAP] }),
      'DELETE /api/v1/users/alice/identities/7': () => new Response(null, { status: 204 }),
    })
    await pane.click('user-identity-unlink')
    expect(pane.one('user-identity-unlink-confirm')?.textContent).toContain('the sessions begun with it end now')
    await pane.click('user-identity-unlink-confirm-confirm')
    expect(pane.all('user-identity')).toHaveLength(0)
    expect(pane.fetchMock).toHaveBeenCalledWith('/api/v1/users/alice/identities/7', expect.objectContaining({ method: 'DELETE' }))
  })

  it('says when there is nothing to link', async () => {
    const pane = await identitiesOf('alice', [PROVIDERS[0]!], {
      'GET /api/v1/users/alice/identities': () => json(200, { identities: [] }),
    })
    expect(pane.one('user-identity-link')).toBeNull()
    expect(pane.one('user-identities-nothing-to-link')).not.toBeNull()
  })
})
