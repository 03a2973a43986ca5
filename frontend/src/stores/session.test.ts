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
  must_change_password: false,
}

/** Alice logged in with the one-time password an admin gave her. */
const aliceOneTime = { ...alice, must_change_password: true }

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const info = () => json(200, { name: 'labgate', version: '0.1.0', auth_providers: [], limits: { api_token_max_days: 365, min_password_length: 10 } })
const notAuthenticated = () => json(401, { error: { code: 'not_authenticated', message: 'Log in first.' } })
const changeRequired = () =>
  json(403, {
    error: {
      code: 'password_change_required',
      message: 'You logged in with a one-time password. Choose your own password first.',
    },
  })

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

describe('one-time password', () => {
  const preferencesAnswer = () => json(200, { preferences: {}, schema: {} })

  it('is required after logging in with one', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': notAuthenticated,
      'POST /api/v1/auth/login': () => json(200, { user: aliceOneTime, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
    })
    const { session, startSession, logIn, passwordChangeRequired } = await loadSession()
    await startSession()
    expect(passwordChangeRequired.value).toBe(false)
    await logIn('alice', 'one-time password')
    expect(session.status).toBe('authenticated')
    expect(session.user?.must_change_password).toBe(true)
    expect(passwordChangeRequired.value).toBe(true)
  })

  it('is required on start-up when the existing session still has one', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: aliceOneTime, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
    })
    const { session, startSession, passwordChangeRequired } = await loadSession()
    await startSession()
    expect(session.status).toBe('authenticated')
    expect(passwordChangeRequired.value).toBe(true)
  })

  it('is not required for an ordinary password', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
    })
    const { startSession, passwordChangeRequired } = await loadSession()
    await startSession()
    expect(passwordChangeRequired.value).toBe(false)
  })

  it('is no longer required once the password has changed; session and CSRF token stay', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: aliceOneTime, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
    })
    const { session, startSession, passwordChanged, passwordChangeRequired, api: client } = await loadSession()
    await startSession()
    const before = session.user
    passwordChanged()
    expect(passwordChangeRequired.value).toBe(false)
    expect(session.user?.must_change_password).toBe(false)
    expect(session.user).not.toBe(before) // a new object, so views given the user see the change
    expect(session.user?.username).toBe('alice')
    expect(session.status).toBe('authenticated')
    expect(client.csrfToken).toBe('csrf-1')
  })

  it('becomes required when a call answers 403 password_change_required', async () => {
    const routes: Record<string, () => Response> = {
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
    }
    serve(routes)
    const { session, startSession, passwordChangeRequired, api: client } = await loadSession()
    await startSession()
    expect(passwordChangeRequired.value).toBe(false)
    routes['GET /api/v1/tokens'] = changeRequired
    await expect(client.get('/tokens')).rejects.toMatchObject({ status: 403, code: 'password_change_required' })
    expect(passwordChangeRequired.value).toBe(true)
    expect(session.user?.must_change_password).toBe(true)
    expect(session.status).toBe('authenticated')
    expect(client.csrfToken).toBe('csrf-1')
  })

  it('does not become required through another 403', async () => {
    const routes: Record<string, () => Response> = {
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
      'GET /api/v1/preferences': preferencesAnswer,
      'GET /api/v1/users': () => json(403, { error: { code: 'forbidden', message: 'Only administrators may do this.' } }),
    }
    serve(routes)
    const { startSession, passwordChangeRequired, api: client } = await loadSession()
    await startSession()
    await expect(client.get('/users')).rejects.toMatchObject({ status: 403 })
    expect(passwordChangeRequired.value).toBe(false)
  })
})

describe('sign-in with further prompts', () => {
  const preferencesAnswer = () => json(200, { preferences: {}, schema: {} })
  const step = {
    step: 'step-1',
    provider: 'pam',
    prompts: [{ text: 'Verification code:', echo: false }],
    messages: ['Open your authenticator app.'],
  }

  it('gives the prompts, then enters with the answers and keeps the CSRF token', async () => {
    const fetchMock = serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': notAuthenticated,
      'POST /api/v1/auth/login': () => json(200, step),
      'POST /api/v1/auth/login/step': () => json(200, { user: alice, csrf_token: 'csrf-2' }),
      'GET /api/v1/preferences': preferencesAnswer,
    })
    const { session, startSession, logIn, answerStep, api: client } = await loadSession()
    await startSession()
    expect(await logIn('alice', 'her password')).toEqual(step)
    expect(session.status).toBe('anonymous')
    expect(client.csrfToken).toBeNull()
    expect(await answerStep('step-1', ['123456'])).toBeNull()
    expect(session.status).toBe('authenticated')
    expect(client.csrfToken).toBe('csrf-2')
    const answered = fetchMock.mock.calls.find(([url]) => url === '/api/v1/auth/login/step')
    expect(JSON.parse(String(answered?.[1]?.body))).toEqual({ step: 'step-1', answers: ['123456'] })
  })

  it('gives the next prompts when the provider asks again', async () => {
    const next = { ...step, step: 'step-2', prompts: [{ text: 'New password:', echo: false }] }
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': notAuthenticated,
      'POST /api/v1/auth/login/step': () => json(200, next),
    })
    const { session, startSession, answerStep } = await loadSession()
    await startSession()
    expect(await answerStep('step-1', ['123456'])).toEqual(next)
    expect(session.status).toBe('anonymous')
  })

  it('rejects a wrong answer without calling it a session that ended', async () => {
    serve({
      'GET /api/v1/info': info,
      'GET /api/v1/auth/session': notAuthenticated,
      'POST /api/v1/auth/login/step': () =>
        json(401, { error: { code: 'sign_in_refused', message: 'That verification code is wrong.' } }),
    })
    const { session, startSession, answerStep } = await loadSession()
    await startSession()
    await expect(answerStep('step-1', ['000000'])).rejects.toMatchObject({ status: 401, code: 'sign_in_refused' })
    expect(session.sessionEnded).toBe(false)
  })
})

describe('logging out at the identity provider', () => {
  const loggedIn = (logout: () => Response) => ({
    'GET /api/v1/info': info,
    'GET /api/v1/auth/session': () => json(200, { user: alice, csrf_token: 'csrf-1' }),
    'GET /api/v1/preferences': () => json(200, { preferences: {}, schema: {} }),
    'POST /api/v1/auth/logout': logout,
  })

  it('goes where the server says once the client is logged out', async () => {
    const url = 'https://idp.example/logout?post_logout_redirect_uri=x'
    serve(loggedIn(() => json(200, { logout_url: url })))
    const { session, startSession, logOut, pageExit, api: client } = await loadSession()
    await startSession()
    const assign = vi.fn((_: string) => {
      // Left only once labgate's own state is gone.
      expect(session.status).toBe('anonymous')
      expect(client.csrfToken).toBeNull()
    })
    pageExit.assign = assign
    await logOut()
    expect(assign).toHaveBeenCalledWith(url)
  })

  it('stays on the page after a plain logout, and never follows a script address', async () => {
    for (const answer of [() => new Response(null, { status: 204 }), () => json(200, { logout_url: 'javascript:alert(1)' })]) {
      serve(loggedIn(answer))
      const { session, startSession, logOut, pageExit } = await loadSession()
      await startSession()
      const assign = vi.fn()
      pageExit.assign = assign
      await logOut()
      expect(assign).not.toHaveBeenCalled()
      expect(session.status).toBe('anonymous')
    }
  })
})
