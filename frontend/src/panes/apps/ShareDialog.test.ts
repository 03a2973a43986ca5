/**
 * The Share dialog against a scripted server: what it offers, what it sends, what it says.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, h, nextTick, type App } from 'vue'
import { api } from '../../api/client'
import type { AppSession } from '../../api/sessions'
import type { Sharing } from '../../api/sharing'
import { FakeSocket } from '../../testing/fakeSocket'
import ShareDialog from './ShareDialog.vue'

const SESSION = { id: 's1', title: 'TensorBoard on box', owner_id: 1 } as AppSession
const bob = { id: 2, username: 'bob', display_name: 'Bob B.' }
const carol = { id: 3, username: 'carol', display_name: null }

function sharing(extra: Partial<Sharing> = {}): Sharing {
  return {
    shares: [
      { id: 10, kind: 'user', user: bob, group: null, role: 'user', created_at: '2026-03-01T10:00:00Z', created_by: 'alice' },
      { id: 12, kind: 'user', user: carol, group: null, role: 'guest', created_at: '2026-03-01T10:00:00Z', created_by: null, invitation_id: 5 },
    ],
    invitations: [],
    support: { allowed: false, help_requested_at: null, group: null, available: false },
    connected: [{ user: bob, role: 'user', since: '2026-03-01T10:05:00Z' }],
    roles: ['user', 'guest'],
    ...extra,
  }
}

interface Call {
  method: string
  path: string
  body: unknown
  csrf: string | null
}
let calls: Call[] = []
/** The server's answers by "METHOD path"; a function is called each time. */
let routes: Record<string, () => Response> = {}

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

async function flush(): Promise<void> {
  for (let i = 0; i < 6; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let app: App | null = null
let root: HTMLElement

function mount(session: AppSession = SESSION): void {
  root = document.createElement('div')
  document.body.append(root)
  app = createApp({ render: () => h(ShareDialog, { session }) })
  app.mount(root)
}

const byId = <T extends HTMLElement = HTMLElement>(id: string): T | null => root.querySelector<T>(`[data-testid="${id}"]`)
const all = (id: string): HTMLElement[] => [...root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)]

async function setValue(id: string, value: string): Promise<void> {
  const el = root.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-testid="${id}"]`)!
  el.value = value
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input'))
  await nextTick()
}

beforeEach(() => {
  calls = []
  routes = { 'GET /api/v1/sessions/s1/sharing': () => json(200, sharing()) }
  api.csrfToken = 'csrf-1'
  vi.stubGlobal('WebSocket', FakeSocket)
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      const method = init.method ?? 'GET'
      const headers = init.headers as Record<string, string>
      calls.push({ method, path: url, body: init.body ? JSON.parse(init.body as string) : undefined, csrf: headers['X-CSRF-Token'] ?? null })
      const route = routes[`${method} ${url}`]
      return route ? route() : json(404, { error: { code: 'not_found', message: `no route ${method} ${url}` } })
    }),
  )
})

afterEach(() => {
  app?.unmount()
  app = null
  root.remove()
  api.csrfToken = null
})

describe('ShareDialog', () => {
  it('shows who has access, who is connected, and offers only the roles the server offers', async () => {
    routes['GET /api/v1/sessions/s1/sharing'] = () => json(200, sharing({ roles: ['user'] }))
    mount()
    await flush()
    expect(all('share-row').map((row) => row.dataset.name)).toEqual(['bob', 'carol'])
    // carol came with a link: ending it ends her access too.
    expect(all('share-row')[1]?.textContent).toContain('via link')
    expect(byId('share-row-connected')?.textContent).toContain('connected')
    expect(all('share-connected-row').map((row) => row.textContent)).toEqual([expect.stringContaining('Bob B.')])
    const offered = [...byId<HTMLSelectElement>('share-role')!.options].map((o) => o.textContent?.trim())
    expect(offered).toEqual(['can use'])
    // JupyterLab's kind: no view-only, and the dialog says why.
    expect(byId('share-no-guest')?.textContent).toMatch(/cannot be shared view-only/)
    expect(byId('share-support')).toBeNull()
  })

  it('says why a session cannot be shared here instead of offering the form', async () => {
    const why = 'Web apps can be shared only when each app is served from an origin of its own: an administrator must set app_domain.'
    routes['GET /api/v1/sessions/s1/sharing'] = () =>
      json(200, sharing({ sharable: false, why, support: { allowed: false, help_requested_at: null, group: 'helpdesk', available: true } }))
    mount()
    await flush()
    expect(byId('share-unavailable')?.textContent).toContain('app_domain')
    expect(byId('share-add')).toBeNull()
    expect(byId('invite-form')).toBeNull()
    expect(byId('share-support')).toBeNull()
    // Who has access still shows, and can still be taken away.
    expect(all('share-row').map((row) => row.dataset.name)).toEqual(['bob', 'carol'])
  })

  it('shares with a person by name, then reads the list again', async () => {
    routes['POST /api/v1/sessions/s1/shares'] = () => json(201, { id: 11, kind: 'user', user: carol, group: null, role: 'guest' })
    mount()
    await flush()
    await setValue('share-name', ' carol ')
    await setValue('share-role', 'guest')
    byId<HTMLButtonElement>('share-add-submit')!.click()
    await flush()
    const post = calls.find((c) => c.method === 'POST')
    expect(post).toEqual({ method: 'POST', path: '/api/v1/sessions/s1/shares', body: { user: 'carol', role: 'guest' }, csrf: 'csrf-1' })
    expect(calls.filter((c) => c.method === 'GET')).toHaveLength(2)
    expect(byId<HTMLInputElement>('share-name')!.value).toBe('')
  })

  it('offers the members of the session’s experiment, and shares with them', async () => {
    mount()
    await flush()
    const plain = [...byId<HTMLSelectElement>('share-kind')!.options].map((o) => o.textContent?.trim())
    expect(plain).toEqual(['Person', 'Group'])
    app?.unmount()
    root.remove()
    routes['POST /api/v1/sessions/s1/shares'] = () =>
      json(201, { id: 13, kind: 'experiment', user: null, group: null, experiment: { id: 4, code: '12-34' }, role: 'user' })
    mount({ ...SESSION, experiment: { id: 4, code: '12-34', title: 'Spin waves' } })
    await flush()
    const offered = [...byId<HTMLSelectElement>('share-kind')!.options].map((o) => o.textContent?.trim())
    expect(offered).toEqual(['Person', 'Group', 'Members of 12-34'])
    await setValue('share-kind', 'experiment')
    expect(byId('share-name')).toBeNull() // nothing to type: the experiment is the session's
    byId<HTMLButtonElement>('share-add-submit')!.click()
    await flush()
    const post = calls.find((c) => c.method === 'POST')
    expect(post?.body).toEqual({ experiment_id: 4, role: 'user' })
  })

  it('says what the server refused, next to the name', async () => {
    routes['POST /api/v1/sessions/s1/shares'] = () => json(422, { error: { code: 'invalid_request', message: 'There is no user named zed.' } })
    mount()
    await flush()
    byId<HTMLButtonElement>('share-add-submit')!.click()
    await flush()
    expect(byId('share-add-error')?.textContent).toMatch(/Enter the user name/)
    expect(calls.some((c) => c.method === 'POST')).toBe(false)
    await setValue('share-name', 'zed')
    byId<HTMLButtonElement>('share-add-submit')!.click()
    await flush()
    expect(byId('share-add-error')?.textContent).toContain('There is no user named zed.')
  })

  it('takes access away only after a confirmation', async () => {
    routes['DELETE /api/v1/sessions/s1/shares/10'] = () => json(204)
    mount()
    await flush()
    byId<HTMLButtonElement>('share-row-revoke')!.click()
    await nextTick()
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false)
    expect(byId('share-revoke')?.textContent).toContain('Bob B. will no longer see or use')
    byId<HTMLButtonElement>('share-revoke-confirm')!.click()
    await flush()
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(['/api/v1/sessions/s1/shares/10'])
    expect(byId('share-revoke')).toBeNull()
  })

  it('changes a role in place', async () => {
    routes['PATCH /api/v1/sessions/s1/shares/10'] = () => json(200, {})
    mount()
    await flush()
    await setValue('share-row-role', 'guest')
    await flush()
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ role: 'guest' })
  })

  it('shows a new invitation link once, on this origin, and lists the running ones', async () => {
    const running = { id: 5, role: 'guest' as const, expires_at: '2999-01-01T00:00:00Z', max_uses: 3, uses: 1, created_at: '2026-03-01T10:00:00Z' }
    routes['POST /api/v1/sessions/s1/invitations'] = () => {
      routes['GET /api/v1/sessions/s1/sharing'] = () => json(200, sharing({ invitations: [running] }))
      return json(201, { ...running, uses: 0, token: 'tok-123', path: '/?invite=tok-123' })
    }
    routes['DELETE /api/v1/sessions/s1/invitations/5'] = () => json(204)
    mount()
    await flush()
    await setValue('invite-uses', '3')
    byId<HTMLButtonElement>('invite-create')!.click()
    await flush()
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ role: 'guest', expires_in_hours: 24, max_uses: 3 })
    expect(byId<HTMLInputElement>('invite-link')!.value).toBe(`${window.location.origin}/?invite=tok-123`)
    expect(byId('invite-made')?.textContent).toMatch(/shown only this once/)
    expect(byId('invite-row-state')?.textContent).toMatch(/expires in .* · used 1 of 3 times/)
    byId<HTMLButtonElement>('invite-row-end')!.click()
    await flush()
    expect(calls.some((c) => c.method === 'DELETE' && c.path === '/api/v1/sessions/s1/invitations/5')).toBe(true)
  })

  it('refuses an invitation form out of the server\'s limits before sending it', async () => {
    mount()
    await flush()
    await setValue('invite-uses', '0')
    byId<HTMLButtonElement>('invite-create')!.click()
    await flush()
    expect(byId('invite-uses-error')?.textContent).toMatch(/from 1 to 1000/)
    expect(calls.some((c) => c.method === 'POST')).toBe(false)
  })

  it('lets support staff in and asks them for help where a support group is named', async () => {
    const support = { allowed: false, help_requested_at: null, group: 'helpdesk', available: true }
    routes['GET /api/v1/sessions/s1/sharing'] = () => json(200, sharing({ support }))
    routes['PUT /api/v1/sessions/s1/support'] = () => json(200, { ...support, allowed: true })
    routes['POST /api/v1/sessions/s1/support/help'] = () => json(200, { ...support, allowed: true, help_requested_at: '2026-03-01T11:00:00Z' })
    mount()
    await flush()
    expect(byId('share-support')?.textContent).toContain('group helpdesk')
    byId<HTMLInputElement>('support-allowed')!.click()
    await flush()
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ allowed: true })
    byId<HTMLButtonElement>('support-ask')!.click()
    await nextTick()
    await setValue('support-message', 'The plot does not update.')
    byId<HTMLButtonElement>('support-send')!.click()
    await flush()
    expect(calls.find((c) => c.path.endsWith('/support/help'))?.body).toEqual({ message: 'The plot does not update.' })
    expect(byId('support-sent')?.textContent).toMatch(/sent to the support staff/)
  })

  it('quotes the help request in one sentence, its full stop right after the closing quote', async () => {
    const support = { allowed: true, help_requested_at: '2026-03-01T11:00:00Z', help_message: 'The plot window is empty.', group: 'helpdesk', available: true }
    routes['GET /api/v1/sessions/s1/sharing'] = () => json(200, sharing({ support }))
    mount()
    await flush()
    const text = byId('support-asked')?.textContent?.trim() ?? ''
    expect(text).toMatch(/^You asked for help on .+: “The plot window is empty\.”\.$/)
  })
})
