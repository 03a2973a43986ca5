import { describe, expect, it, vi } from 'vitest'

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
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const info = () => json(200, { name: 'labgate', version: '0.1.0', auth_providers: [] })
const notAuthenticated = () => json(401, { error: { code: 'not_authenticated', message: 'Log in first.' } })

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

// A fresh module (and so fresh state) for every test.
async function loadSession() {
  vi.resetModules()
  const session = await import('./session')
  const { api: freshApi } = await import('../api/client')
  return { ...session, api: freshApi }
}

describe('session start', () => {
  it('shows the login page, without a "session ended" notice, when not logged in', async () => {
    serve({ 'GET /api/v1/info': info, 'GET /api/v1/auth/session': notAuthenticated })
    const { session, startSession } = await loadSession()
    await startSession()
    expect(session.status).toBe('anonymous')
    expect(session.sessionEnded).toBe(false)
  })

  it('enters the workspace with the session user and keeps the CSRF token', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': () => json(200, { preferences: { theme: 'dark' }, schema: {} }),
    })
    const { session, startSession, api: client } = await loadSession()
    await startSession()
    expect(session.status).toBe('authenticated')
    expect(session.user?.username).toBe('alice')
    expect(client.csrfToken).toBe('csrf-1')
  })

  it('reports an unreachable server', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')))
    const { session, startSession } = await loadSession()
    await startSession()
    expect(session.status).toBe('unreachable')
    expect(session.startError).toMatch(/Could not reach/)
  })
})

describe('session end', () => {
  it('goes back to the login page with a notice when a call answers 401', async () => {
    const routes: Record<string, () => Response> = {
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
    }
    serve(routes)
    const { session, startSession, api: client } = await loadSession()
    await startSession()
    routes['GET /api/v1/tokens'] = notAuthenticated
    await expect(client.get('/tokens')).rejects.toMatchObject({ status: 401 })
    expect(session.status).toBe('anonymous')
    expect(session.sessionEnded).toBe(true)
    expect(session.user).toBeNull()
    expect(client.csrfToken).toBeNull()
  })

  it('logs out without the notice, flushing first', async () => {
    const fetchMock = serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
      'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }),
    })
    const { session, startSession, logOut, onBeforeLogout } = await loadSession()
    await startSession()
    const hook = vi.fn()
    onBeforeLogout(hook)
    await logOut()
    expect(hook).toHaveBeenCalledOnce()
    expect(session.status).toBe('anonymous')
    expect(session.sessionEnded).toBe(false)
    const logoutCall = fetchMock.mock.calls.find(([url]) => url === '/api/v1/auth/logout')
    expect((logoutCall?.[1]?.headers as Record<string, string>)['X-CSRF-Token']).toBe('csrf-1')
  })
})
