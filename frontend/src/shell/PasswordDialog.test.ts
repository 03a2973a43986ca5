import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, defineComponent, h, nextTick, ref } from 'vue'
import { api } from '../api/client'
import { notices } from '../stores/notices'
import { passwordChangeRequired, session, startSession } from '../stores/session'
import PasswordDialog from './PasswordDialog.vue'

const SUCCESS = 'Password changed. Other devices have been logged out.'
const FIRST = 'Your password is set. Welcome to labgate.'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

/** Mount the dialog the way WorkspaceView does: with v-if, closed by its `close` event. */
function mountDialog(props: { required?: boolean } = {}) {
  const open = ref(true)
  const Host = defineComponent({
    setup: () => () =>
      open.value ? h(PasswordDialog, { username: 'alice', ...props, onClose: () => (open.value = false) }) : null,
  })
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp(Host)
  app.mount(root)
  const byId = <T extends HTMLElement>(id: string) => root.querySelector<T>(`[data-testid="${id}"]`)
  const input = (id: string) => byId<HTMLInputElement>(id) as HTMLInputElement
  async function type(id: string, value: string): Promise<void> {
    const el = input(id)
    el.value = value
    el.dispatchEvent(new Event('input'))
    await nextTick()
  }
  async function submit(): Promise<void> {
    byId<HTMLButtonElement>('password-save')?.click()
    await flush()
  }
  return { app, root, open, byId, input, type, submit }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let mounted: ReturnType<typeof mountDialog> | null = null

beforeEach(() => {
  notices.value = []
  api.csrfToken = 'csrf-1'
})

afterEach(() => {
  mounted?.app.unmount()
  mounted?.root.remove()
  mounted = null
  api.csrfToken = null
})

async function fillIn(current: string, next: string, repeat: string): Promise<void> {
  await mounted!.type('password-current', current)
  await fillInNew(next, repeat)
}

async function fillInNew(next: string, repeat: string): Promise<void> {
  await mounted!.type('password-new', next)
  await mounted!.type('password-repeat', repeat)
}

describe('PasswordDialog', () => {
  beforeEach(() => {
    mounted = mountDialog()
  })

  it('offers password fields with the right autocomplete hints', () => {
    const m = mounted!
    expect(m.byId('password-dialog')).not.toBeNull()
    expect(m.input('password-current').type).toBe('password')
    expect(m.input('password-current').autocomplete).toBe('current-password')
    expect(m.input('password-new').autocomplete).toBe('new-password')
    expect(m.input('password-repeat').autocomplete).toBe('new-password')
  })

  it('does not call the server when the new passwords differ', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    await fillIn('old password 1', 'new password 2', 'new password 3')
    await mounted!.submit()
    expect(mounted!.byId('password-mismatch')?.textContent).toMatch(/do not match/)
    expect(mounted!.input('password-repeat').getAttribute('aria-invalid')).toBe('true')
    expect(fetchMock).not.toHaveBeenCalled()

    await mounted!.type('password-repeat', 'new password 2')
    expect(mounted!.byId('password-mismatch')).toBeNull()
  })

  it('changes the password, closes and says so', async () => {
    const fetchMock = vi.fn(async () => new Response(null, { status: 204 }))
    vi.stubGlobal('fetch', fetchMock)
    await fillIn('old password 1', 'new password 2', 'new password 2')
    const inputs = ['password-current', 'password-new', 'password-repeat'].map(mounted!.input)
    await mounted!.submit()

    expect(fetchMock).toHaveBeenCalledTimes(1)
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/users/me/password')
    expect(init.method).toBe('POST')
    expect(JSON.parse(String(init.body))).toEqual({ current_password: 'old password 1', new_password: 'new password 2' })
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('csrf-1')

    expect(mounted!.open.value).toBe(false)
    expect(mounted!.byId('password-dialog')).toBeNull()
    expect(notices.value.map((n) => [n.kind, n.message])).toEqual([['info', SUCCESS]])
    expect(inputs.map((el) => el.value)).toEqual(['', '', ''])
  })

  it('disables the button while the change is on its way', async () => {
    let answer: (response: Response) => void = () => {}
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))))
    await fillIn('old password 1', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId<HTMLButtonElement>('password-save')?.disabled).toBe(true)
    answer(json(422, { error: { code: 'validation_error', message: 'No.' } }))
    await flush()
    expect(mounted!.byId<HTMLButtonElement>('password-save')?.disabled).toBe(false)
  })

  it('shows a wrong current password next to that field and stays open', async () => {
    const message = 'The current password is wrong.'
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(422, {
          error: { code: 'validation_error', message, details: [{ field: 'body.current_password', message }] },
        }),
      ),
    )
    await fillIn('wrong password', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId('password-current-error')?.textContent?.trim()).toBe(message)
    expect(mounted!.byId('password-new-error')).toBeNull()
    expect(mounted!.byId('password-error')).toBeNull()
    expect(mounted!.open.value).toBe(true)
    expect(notices.value).toEqual([])
  })

  it('shows a refused new password next to the new field', async () => {
    const message = 'Passwords need at least 10 characters.'
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(422, { error: { code: 'validation_error', message, details: [{ field: 'body.new_password', message }] } }),
      ),
    )
    await fillIn('old password 1', 'short', 'short')
    await mounted!.submit()
    expect(mounted!.byId('password-new-error')?.textContent?.trim()).toBe(message)
    expect(mounted!.byId('password-current-error')).toBeNull()
  })

  it('shows other failures above the form', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(500, { error: { code: 'internal_error', message: 'Oops.' } })))
    await fillIn('old password 1', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId('password-error')?.textContent?.trim()).toBe('Oops.')
  })

  it('offers Cancel and a close button, not "Log out"', () => {
    const m = mounted!
    expect(m.root.querySelector('[aria-label="Close"]')).not.toBeNull()
    expect(m.byId('password-logout')).toBeNull()
    expect(m.byId('password-required')).toBeNull()
  })

  it('closes on Esc and clears the fields', async () => {
    await fillIn('old password 1', 'new password 2', 'new password 2')
    const inputs = ['password-current', 'password-new', 'password-repeat'].map(mounted!.input)
    mounted!.byId('password-dialog')?.dispatchEvent(new Event('cancel', { cancelable: true }))
    await nextTick()
    expect(mounted!.open.value).toBe(false)
    expect(inputs.map((el) => el.value)).toEqual(['', '', ''])
  })
})

describe('PasswordDialog, required (one-time password)', () => {
  const alice = {
    id: 1,
    username: 'alice',
    display_name: null,
    email: null,
    role: 'user',
    disabled: false,
    groups: [],
    created_at: '2026-11-22T10:00:00Z',
    last_login_at: null,
    must_change_password: true,
  }

  /** Answer each path from a table; unknown paths fail the test. */
  function serve(routes: Record<string, () => Response>) {
    const fetchMock = vi.fn(async (input: string, init?: RequestInit) => {
      const key = `${init?.method ?? 'GET'} ${input}`
      const route = routes[key]
      if (!route) throw new Error(`unexpected request ${key}`)
      return route()
    })
    vi.stubGlobal('fetch', fetchMock)
    return fetchMock
  }

  const routes: Record<string, () => Response> = {}

  beforeEach(async () => {
    for (const key of Object.keys(routes)) delete routes[key]
    Object.assign(routes, {
      'GET /api/v1/info': () => json(200, { name: 'labgate', version: '0.1.0', auth_providers: [], limits: { api_token_max_days: 365, min_password_length: 10 } }),
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
    })
    serve(routes)
    await startSession()
    expect(passwordChangeRequired.value).toBe(true)
    mounted = mountDialog({ required: true })
  })

  it('explains itself and offers "Log out" instead of Cancel or a close button', () => {
    const m = mounted!
    expect(m.byId('password-dialog')?.querySelector('h2')?.textContent?.trim()).toBe('Choose your own password')
    expect(m.byId('password-required')?.textContent?.trim()).toBe(
      'You logged in with a one-time password. Choose your own to continue.',
    )
    expect(m.byId('password-logout')?.textContent?.trim()).toBe('Log out')
    expect(m.root.querySelector('[aria-label="Close"]')).toBeNull()
    expect([...m.root.querySelectorAll('button')].map((b) => b.textContent?.trim())).not.toContain('Cancel')
    expect(m.byId('password-dialog')?.getAttribute('closedby')).toBe('none')
  })

  it('asks only for the new password, twice', () => {
    const m = mounted!
    expect(m.byId('password-current')).toBeNull()
    expect(m.input('password-new').autofocus).toBe(true)
    expect(m.input('password-repeat').type).toBe('password')
  })

  it('does not close on Esc, and keeps what was typed', async () => {
    await fillInNew('new password 2', 'new password 2')
    const esc = new Event('cancel', { cancelable: true })
    mounted!.byId('password-dialog')?.dispatchEvent(esc)
    await nextTick()
    expect(esc.defaultPrevented).toBe(true)
    expect(mounted!.open.value).toBe(true)
    expect(mounted!.byId('password-dialog')).not.toBeNull()
    expect(mounted!.input('password-new').value).toBe('new password 2')
  })

  it('opens again when the browser closes it anyway', async () => {
    const dialog = mounted!.byId<HTMLDialogElement>('password-dialog') as HTMLDialogElement
    expect(dialog.hasAttribute('open')).toBe(true)
    dialog.removeAttribute('open')
    dialog.dispatchEvent(new Event('close'))
    await nextTick()
    expect(dialog.hasAttribute('open')).toBe(true)
    expect(mounted!.open.value).toBe(true)
  })

  it('clears the flag in the session store on success, closes and says so', async () => {
    const fetchMock = serve({ ...routes, 'POST /api/v1/users/me/password': () => new Response(null, { status: 204 }) })
    await fillInNew('new password 2', 'new password 2')
    await mounted!.submit()

    const call = fetchMock.mock.calls.find(([url]) => url === '/api/v1/users/me/password')
    expect(JSON.parse(String(call?.[1]?.body))).toEqual({ new_password: 'new password 2' })
    expect(passwordChangeRequired.value).toBe(false)
    expect(session.user?.must_change_password).toBe(false)
    expect(session.status).toBe('authenticated')
    expect(api.csrfToken).toBe('csrf-1')
    expect(mounted!.open.value).toBe(false)
    expect(notices.value.map((n) => [n.kind, n.message])).toEqual([['info', FIRST]])
  })

  it('asks for the one-time password when the server wants it, and keeps asking', async () => {
    const message = 'Type your current password.'
    const fetchMock = serve({
      ...routes,
      'POST /api/v1/users/me/password': () =>
        json(422, {
          error: { code: 'validation_error', message, details: [{ field: 'body.current_password', message }] },
        }),
    })
    await fillInNew('new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId('password-current-error')?.textContent?.trim()).toBe(message)
    expect(mounted!.root.querySelector('#password-current-label')?.textContent).toContain('One-time password')
    expect(passwordChangeRequired.value).toBe(true)
    expect(mounted!.open.value).toBe(true)
    // Typing takes the message away, not the field; the next try sends what was typed.
    await mounted!.type('password-current', 'one-time pass')
    expect(mounted!.byId('password-current-error')).toBeNull()
    await mounted!.submit()
    const bodies = fetchMock.mock.calls
      .filter(([url]) => url === '/api/v1/users/me/password')
      .map(([, init]) => JSON.parse(String(init?.body)))
    expect(bodies).toEqual([
      { new_password: 'new password 2' },
      { current_password: 'one-time pass', new_password: 'new password 2' },
    ])
  })

  it('logs out from "Log out"', async () => {
    const fetchMock = serve({ ...routes, 'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }) })
    mounted!.byId<HTMLButtonElement>('password-logout')?.click()
    await flush()
    expect(fetchMock.mock.calls.some(([url]) => url === '/api/v1/auth/logout')).toBe(true)
    expect(session.status).toBe('anonymous')
    expect(session.sessionEnded).toBe(false)
  })
})
