import { describe, expect, it, vi } from 'vitest'
import { changePassword } from './account'
import { ApiClient, ApiError } from './client'

type FetchArgs = [input: string, init: RequestInit]

function clientAnswering(response: Response) {
  const fetchMock = vi.fn<(...args: FetchArgs) => Promise<Response>>().mockResolvedValueOnce(response)
  const client = new ApiClient({ fetch: fetchMock as unknown as typeof fetch })
  const call = () => {
    const [url, init] = fetchMock.mock.calls[0] as FetchArgs
    return { url, init, headers: init.headers as Record<string, string> }
  }
  return { client, fetchMock, call }
}

const request = { current_password: 'old password 1', new_password: 'new password 2' }

describe('changePassword', () => {
  it('posts both passwords to /users/me/password with the CSRF header', async () => {
    const { client, call } = clientAnswering(new Response(null, { status: 204 }))
    client.csrfToken = 'tok-123'
    await expect(changePassword(request, client)).resolves.toBeUndefined()
    const { url, init, headers } = call()
    expect(url).toBe('/api/v1/users/me/password')
    expect(init.method).toBe('POST')
    expect(init.credentials).toBe('same-origin')
    expect(JSON.parse(String(init.body))).toEqual(request)
    expect(headers['Content-Type']).toBe('application/json')
    expect(headers['X-CSRF-Token']).toBe('tok-123')
  })

  it('rejects with the 422 field details (wrong current password)', async () => {
    const { client } = clientAnswering(
      new Response(
        JSON.stringify({
          error: {
            code: 'validation_error',
            message: 'The current password is wrong.',
            details: [{ field: 'body.current_password', message: 'The current password is wrong.' }],
          },
        }),
        { status: 422, headers: { 'Content-Type': 'application/json' } },
      ),
    )
    const error = await changePassword(request, client).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).status).toBe(422)
    expect((error as ApiError).detailsFor('current_password')).toEqual(['The current password is wrong.'])
  })
})
