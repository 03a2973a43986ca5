import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError, parseRetryAfter } from './client'

type FetchArgs = [input: string, init: RequestInit]

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  })
}

function clientAnswering(...responses: Response[]) {
  const fetchMock = vi.fn<(...args: FetchArgs) => Promise<Response>>()
  for (const response of responses) fetchMock.mockResolvedValueOnce(response)
  const client = new ApiClient({ fetch: fetchMock as unknown as typeof fetch })
  const call = (i = 0): { url: string; init: RequestInit; headers: Record<string, string> } => {
    const [url, init] = fetchMock.mock.calls[i] as FetchArgs
    return { url, init, headers: init.headers as Record<string, string> }
  }
  return { client, fetchMock, call }
}

async function rejectionOf(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError)
    return error as ApiError
  }
  throw new Error('expected the call to fail')
}

describe('ApiClient requests', () => {
  it('sends JSON to /api/v1 with same-origin credentials and parses the answer', async () => {
    const { client, call } = clientAnswering(jsonResponse(200, { ok: true }))
    const answer = await client.post<{ ok: boolean }>('/things', { a: 1 })
    expect(answer).toEqual({ ok: true })
    const { url, init, headers } = call()
    expect(url).toBe('/api/v1/things')
    expect(init.method).toBe('POST')
    expect(init.credentials).toBe('same-origin')
    expect(init.body).toBe('{"a":1}')
    expect(headers['Content-Type']).toBe('application/json')
  })

  it('returns undefined for 204 No Content', async () => {
    const { client } = clientAnswering(new Response(null, { status: 204 }))
    await expect(client.delete('/tokens/1')).resolves.toBeUndefined()
  })

  it('passes keepalive through', async () => {
    const { client, call } = clientAnswering(jsonResponse(200, {}))
    await client.patch('/preferences', {}, { keepalive: true })
    expect(call().init.keepalive).toBe(true)
  })
})

describe('CSRF header', () => {
  it.each(['POST', 'PUT', 'PATCH', 'DELETE'] as const)('is sent on %s', async (method) => {
    const { client, call } = clientAnswering(jsonResponse(200, {}))
    client.csrfToken = 'tok-123'
    await client.request(method, '/x')
    expect(call().headers['X-CSRF-Token']).toBe('tok-123')
  })

  it('is not sent on GET', async () => {
    const { client, call } = clientAnswering(jsonResponse(200, {}))
    client.csrfToken = 'tok-123'
    await client.get('/x')
    expect(call().headers).not.toHaveProperty('X-CSRF-Token')
  })

  it('is not sent before a token is known', async () => {
    const { client, call } = clientAnswering(jsonResponse(200, {}))
    await client.post('/x', {})
    expect(call().headers).not.toHaveProperty('X-CSRF-Token')
  })
})

describe('error envelope', () => {
  it('becomes an ApiError with status, code, message and details', async () => {
    const { client } = clientAnswering(
      jsonResponse(422, {
        error: {
          code: 'validation_error',
          message: 'The request is not valid.',
          details: [{ field: 'body.preferences.editor.font_size', message: 'must be at most 40' }],
        },
      }),
    )
    const error = await rejectionOf(client.patch('/preferences', {}))
    expect(error.status).toBe(422)
    expect(error.code).toBe('validation_error')
    expect(error.message).toBe('The request is not valid.')
    expect(error.details).toEqual([{ field: 'body.preferences.editor.font_size', message: 'must be at most 40' }])
    expect(error.detailsFor('editor.font_size')).toEqual(['must be at most 40'])
    expect(error.detailsFor('font_size')).toEqual(['must be at most 40'])
    expect(error.detailsFor('theme')).toEqual([])
    expect(error.retryAfter).toBeNull()
  })

  it('reads Retry-After on 429', async () => {
    const { client } = clientAnswering(
      jsonResponse(429, { error: { code: 'rate_limited', message: 'Too many attempts.' } }, { 'Retry-After': '17' }),
    )
    const error = await rejectionOf(client.post('/auth/login', { username: 'a', password: 'b' }))
    expect(error.status).toBe(429)
    expect(error.code).toBe('rate_limited')
    expect(error.retryAfter).toBe(17)
  })

  it('copes with a body that is not JSON', async () => {
    const { client } = clientAnswering(new Response('<html>Bad gateway</html>', { status: 502 }))
    const error = await rejectionOf(client.get('/info'))
    expect(error.status).toBe(502)
    expect(error.code).toBe('http_502')
    expect(error.message).toMatch(/502/)
  })

  it('turns a network failure into network_error', async () => {
    const fetchMock = vi.fn().mockRejectedValue(new TypeError('Failed to fetch'))
    const client = new ApiClient({ fetch: fetchMock as unknown as typeof fetch })
    const error = await rejectionOf(client.get('/info'))
    expect(error.status).toBe(0)
    expect(error.code).toBe('network_error')
  })
})

describe('401 handler', () => {
  const unauthenticated = () =>
    jsonResponse(401, { error: { code: 'not_authenticated', message: 'Log in first.' } })

  it('reports a 401 from an ordinary call', async () => {
    const { client } = clientAnswering(unauthenticated())
    const onUnauthorized = vi.fn()
    client.onUnauthorized = onUnauthorized
    const error = await rejectionOf(client.get('/preferences'))
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
    expect(onUnauthorized).toHaveBeenCalledWith(error)
  })

  it('does not report a 401 from login (wrong password)', async () => {
    const { client } = clientAnswering(
      jsonResponse(401, { error: { code: 'invalid_credentials', message: 'Wrong username or password.' } }),
    )
    const onUnauthorized = vi.fn()
    client.onUnauthorized = onUnauthorized
    const error = await rejectionOf(client.post('/auth/login', { username: 'a', password: 'b' }))
    expect(error.code).toBe('invalid_credentials')
    expect(onUnauthorized).not.toHaveBeenCalled()
  })

  it('is not called for other errors', async () => {
    const { client } = clientAnswering(jsonResponse(403, { error: { code: 'forbidden', message: 'No.' } }))
    const onUnauthorized = vi.fn()
    client.onUnauthorized = onUnauthorized
    await rejectionOf(client.get('/users'))
    expect(onUnauthorized).not.toHaveBeenCalled()
  })
})

describe('password change hook', () => {
  const changeRequired = () =>
    jsonResponse(403, {
      error: {
        code: 'password_change_required',
        message: 'You logged in with a one-time password. Choose your own password first.',
      },
    })

  it('reports a 403 password_change_required', async () => {
    const { client } = clientAnswering(changeRequired())
    const onPasswordChangeRequired = vi.fn()
    const onUnauthorized = vi.fn()
    client.onPasswordChangeRequired = onPasswordChangeRequired
    client.onUnauthorized = onUnauthorized
    const error = await rejectionOf(client.get('/tokens'))
    expect(error.status).toBe(403)
    expect(error.code).toBe('password_change_required')
    expect(onPasswordChangeRequired).toHaveBeenCalledTimes(1)
    expect(onPasswordChangeRequired).toHaveBeenCalledWith(error)
    expect(onUnauthorized).not.toHaveBeenCalled()
  })

  it('is not called for other 403s', async () => {
    const { client } = clientAnswering(
      jsonResponse(403, { error: { code: 'forbidden', message: 'Only administrators may do this.' } }),
      jsonResponse(403, { error: { code: 'csrf_failed', message: 'Reload the page.' } }),
    )
    const onPasswordChangeRequired = vi.fn()
    client.onPasswordChangeRequired = onPasswordChangeRequired
    await rejectionOf(client.get('/users'))
    await rejectionOf(client.post('/tokens', {}))
    expect(onPasswordChangeRequired).not.toHaveBeenCalled()
  })
})

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('30')).toBe(30)
    expect(parseRetryAfter(' 0 ')).toBe(0)
  })

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('2026-11-22T10:00:00Z')
    expect(parseRetryAfter('Sun, 22 Nov 2026 10:00:45 GMT', now)).toBe(45)
    expect(parseRetryAfter('Sun, 22 Nov 2026 09:00:00 GMT', now)).toBe(0)
  })

  it('gives null for missing or unreadable values', () => {
    expect(parseRetryAfter(null)).toBeNull()
    expect(parseRetryAfter('')).toBeNull()
    expect(parseRetryAfter('soon')).toBeNull()
  })
})
