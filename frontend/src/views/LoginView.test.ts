import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, nextTick, type App } from 'vue'
import type { AuthProvider } from '../api/types'

const alice = {
  id: 1,
  username: 'alice',
  display_name: 'Alice Smith',
  email: null,
  role: 'user',
  disabled: false,
  groups: [],
  created_at: '2026-11-22T10:00:00Z',
  last_login_at: null,
  must_change_password: false,
}

const LOCAL: AuthProvider = { name: 'local', label: 'labgate account', kind: 'password' }
const CODES: AuthProvider = { name: 'pam', label: 'University account', kind: 'password' }
const HELMHOLTZ: AuthProvider = { name: 'helmholtz', label: 'Helmholtz AAI', kind: 'redirect' }
const CAMPUS: AuthProvider = { name: 'campus', label: 'Campus SSO', kind: 'redirect' }
const STEP = {
  step: 'step-1',
  provider: 'pam',
  prompts: [{ text: 'Verification code:', echo: false }],
  messages: ['Open your authenticator app.'],
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })
}

function refusal(status: number, code: string, message: string, headers: Record<string, string> = {}): () => Response {
  return () => json(status, { error: { code, message } }, headers)
}

type Routes = Record<string, () => Response>

/** The login page of a server with `providers`, its other answers from `routes`. */
async function loginPage(providers: AuthProvider[], routes: Routes = {}) {
  const all: Routes = {
    'GET /api/v1/info': () =>
      json(200, { name: 'labgate', version: '0.1.0', auth_providers: providers, limits: { api_token_max_days: 365, min_password_length: 10 } }),
    'GET /api/v1/auth/session': refusal(401, 'not_authenticated', 'Log in first.'),
    'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
    ...routes,
  }
  const fetchMock = vi.fn(async (input: string, init?: RequestInit) => {
    const route = all[`${init?.method ?? 'GET'} ${input}`]
    if (!route) throw new Error(`unexpected request ${init?.method ?? 'GET'} ${input}`)
    return route()
  })
  vi.stubGlobal('fetch', fetchMock)
  vi.resetModules()
  const store = await import('../stores/session')
  await store.startSession()
  const { default: LoginView } = await import('./LoginView.vue')
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp(LoginView)
  app.mount(root)
  mounted = { app, root }
  await flush()
  const all$ = (id: string) => [...root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)]
  const one = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`)
  async function type(id: string, value: string, index = 0): Promise<void> {
    const input = all$(id)[index] as HTMLInputElement
    input.value = value
    input.dispatchEvent(new Event('input'))
    await nextTick()
  }
  async function click(id: string): Promise<void> {
    one(id)?.click()
    await flush()
  }
  async function logIn(username: string, password: string): Promise<void> {
    await type('login-username', username)
    await type('login-password', password)
    await click('login-submit')
  }
  return { root, one, all: all$, type, click, logIn, store, fetchMock, routes: all }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let mounted: { app: App; root: HTMLElement } | null = null

afterEach(() => {
  mounted?.app.unmount()
  mounted?.root.remove()
  mounted = null
  window.history.replaceState(null, '', '/')
})

describe('the login page', () => {
  it('is the plain form when labgate checks its own accounts only', async () => {
    const page = await loginPage([LOCAL])
    expect(page.one('login-subtitle')?.textContent?.trim()).toBe('with your labgate account')
    expect(page.one('login-form')).not.toBeNull()
    expect(page.all('login-provider')).toHaveLength(0)
    expect(page.one('login-invitation')?.getAttribute('href')).toBe('/login?invitation=')
  })

  it('has a button per identity provider above the form, which names the password providers', async () => {
    window.history.replaceState(null, '', '/workspace')
    const page = await loginPage([CODES, HELMHOLTZ, LOCAL, CAMPUS])
    expect(page.one('login-subtitle')?.textContent?.trim()).toBe('with your University account or labgate account')
    const buttons = page.all('login-provider')
    expect(buttons.map((b) => b.textContent?.trim())).toEqual(['Sign in with Helmholtz AAI', 'Sign in with Campus SSO'])
    // A full page load to the provider, coming back to where the person was.
    expect(buttons[0]?.getAttribute('href')).toBe('/api/v1/auth/providers/helmholtz/login?next=%2Fworkspace')
    expect(page.one('login-form')).not.toBeNull()
  })

  it('has no form when no provider checks one', async () => {
    const page = await loginPage([HELMHOLTZ])
    expect(page.one('login-form')).toBeNull()
    expect(page.all('login-provider')).toHaveLength(1)
    expect(page.one('login-subtitle')?.textContent?.trim()).toBe('with Helmholtz AAI')
  })

  it('asks the second factor, then enters', async () => {
    const page = await loginPage([CODES, LOCAL], {
      'POST /api/v1/auth/login': () => json(200, STEP),
      'POST /api/v1/auth/login/step': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
    })
    await page.logIn('alice', 'her password')
    expect(page.one('login-form')).toBeNull()
    expect(page.one('login-subtitle')?.textContent?.trim()).toBe('with your University account')
    expect(page.all('login-step-message').map((m) => m.textContent?.trim())).toEqual(['Open your authenticator app.'])
    const [input] = page.all('login-answer') as HTMLInputElement[]
    expect(input?.type).toBe('password')
    expect(input?.autocomplete).toBe('one-time-code')
    expect(page.root.querySelector(`label[for="${input?.id}"]`)?.textContent).toBe('Verification code')
    expect(document.activeElement).toBe(input)
    // An empty answer is not sent.
    await page.click('login-verify')
    expect(page.one('login-error')?.textContent?.trim()).toBe('Type your verification code.')
    await page.type('login-answer', '123456')
    await page.click('login-verify')
    expect(page.store.session.status).toBe('authenticated')
  })

  it('goes back to the form with the reason when the code is wrong or the step expired', async () => {
    for (const [answer, message] of [
      [refusal(401, 'sign_in_refused', 'That verification code is wrong. Start again.'), 'That verification code is wrong. Start again.'],
      [refusal(409, 'login_step_expired', 'This sign-in waited too long for an answer: start again.'), 'This sign-in waited too long for an answer: start again.'],
    ] as const) {
      const page = await loginPage([CODES], {
        'POST /api/v1/auth/login': () => json(200, STEP),
        'POST /api/v1/auth/login/step': answer,
      })
      await page.logIn('alice', 'her password')
      await page.type('login-answer', '000000')
      await page.click('login-verify')
      expect(page.one('login-step-form')).toBeNull()
      expect(page.one('login-error')?.textContent?.trim()).toBe(message)
      expect((page.one('login-username') as HTMLInputElement).value).toBe('alice')
      expect((page.one('login-password') as HTMLInputElement).value).toBe('')
      expect(page.store.session.sessionEnded).toBe(false)
      mounted?.app.unmount()
      mounted?.root.remove()
      mounted = null
    }
  })

  it('starts again when asked to', async () => {
    const page = await loginPage([CODES], { 'POST /api/v1/auth/login': () => json(200, STEP) })
    await page.logIn('alice', 'her password')
    await page.click('login-start-again')
    expect(page.one('login-step-form')).toBeNull()
    expect(page.one('login-error')).toBeNull()
    expect(document.activeElement).toBe(page.one('login-password'))
  })

  it('says why a login failed', async () => {
    const cases: [() => Response, string][] = [
      [refusal(401, 'invalid_credentials', 'Wrong user name or password.'), 'Wrong user name or password.'],
      [refusal(429, 'rate_limited', 'Too many failed logins.', { 'Retry-After': '30' }), 'Too many failed attempts. Try again in 30 seconds.'],
      [
        refusal(503, 'identity_provider_unavailable', 'The university directory cannot be reached: try again later.'),
        'The university directory cannot be reached: try again later.',
      ],
      [
        refusal(401, 'sign_in_refused', 'Your university account is locked. Ask the help desk.'),
        'Your university account is locked. Ask the help desk.',
      ],
    ]
    for (const [answer, message] of cases) {
      const page = await loginPage([CODES], { 'POST /api/v1/auth/login': answer })
      await page.logIn('alice', 'her password')
      expect(page.one('login-error')?.textContent?.trim()).toBe(message)
      mounted?.app.unmount()
      mounted?.root.remove()
      mounted = null
    }
  })

  it('tells why a sign-in at an identity provider failed, once', async () => {
    window.history.replaceState(null, '', '/login?sign_in=failed')
    const page = await loginPage([HELMHOLTZ, LOCAL], {
      'GET /api/v1/auth/sign-in-error': () => json(200, { error: 'Your account at Helmholtz AAI is locked.' }),
    })
    expect(page.one('login-error')?.textContent?.trim()).toBe('Your account at Helmholtz AAI is locked.')
    expect(window.location.search).toBe('')
    expect(window.location.pathname).toBe('/login')
    // The way back after the next sign-in is the workspace, not the login page.
    expect(page.all('login-provider')[0]?.getAttribute('href')).toBe('/api/v1/auth/providers/helmholtz/login?next=%2F')
  })
})
