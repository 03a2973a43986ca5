import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError } from './client'
import {
  addHostKey,
  connectSocketUrl,
  createResource,
  deleteMySshKey,
  deleteResource,
  disconnectResource,
  eventsSocketUrl,
  fetchMySshKey,
  fetchSshCa,
  fetchSystemInfo,
  forgetHostKey,
  forgetRememberedKey,
  generateMySshKey,
  getResource,
  isRefusal,
  listGroups,
  listResources,
  isCompleteSystemInfo,
  normalizeSystemInfo,
  parseFrame,
  rememberKey,
  updateResource,
} from './resources'

type FetchArgs = [input: string, init: RequestInit]

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

const noContent = (): Response => new Response(null, { status: 204 })

function clientAnswering(...responses: Response[]) {
  const fetchMock = vi.fn<(...args: FetchArgs) => Promise<Response>>()
  for (const response of responses) fetchMock.mockResolvedValueOnce(response)
  const client = new ApiClient({ fetch: fetchMock as unknown as typeof fetch })
  client.csrfToken = 'csrf-1'
  const call = (i = 0) => {
    const [url, init] = fetchMock.mock.calls[i] as FetchArgs
    const headers = init.headers as Record<string, string>
    return { url, method: init.method, body: init.body ? JSON.parse(String(init.body)) : undefined, headers }
  }
  return { client, call }
}

describe('resource calls', () => {
  it('lists resources from the envelope', async () => {
    const { client, call } = clientAnswering(json(200, { resources: [{ id: 1, name: 'local' }] }))
    await expect(listResources(client)).resolves.toEqual([{ id: 1, name: 'local' }])
    expect(call()).toMatchObject({ url: '/api/v1/resources', method: 'GET' })
  })

  it('gets, creates, updates and deletes with the right method, URL and body', async () => {
    const { client, call } = clientAnswering(
      json(200, { id: 3 }),
      json(201, { id: 4 }),
      json(200, { id: 3 }),
      noContent(),
    )
    await getResource(3, client)
    const body = {
      name: 'cluster',
      host: 'login.example.org',
      port: 22,
      username: 'alice',
      auth_method: 'password' as const,
      hops: [{ host: 'gw.example.org', port: 22, username: '', auth_method: 'key' as const }],
      setup_lines: ['module load python'],
    }
    await createResource(body, client)
    await updateResource(3, { name: 'renamed', hops: [{ id: 7, host: 'gw', auth_method: 'key' }] }, client)
    await expect(deleteResource(3, client)).resolves.toBeUndefined()

    expect(call(0)).toMatchObject({ url: '/api/v1/resources/3', method: 'GET' })
    expect(call(1)).toMatchObject({ url: '/api/v1/resources', method: 'POST', body })
    expect(call(1).headers['X-CSRF-Token']).toBe('csrf-1')
    expect(call(2)).toMatchObject({
      url: '/api/v1/resources/3',
      method: 'PATCH',
      body: { name: 'renamed', hops: [{ id: 7, host: 'gw', auth_method: 'key' }] },
    })
    expect(call(3)).toMatchObject({ url: '/api/v1/resources/3', method: 'DELETE' })
  })

  it('manages host keys and remembered keys', async () => {
    const { client, call } = clientAnswering(
      json(201, { id: 1 }),
      noContent(),
      json(200, { hop_id: null, fingerprint: 'SHA256:x' }),
      json(200, { hop_id: 7, fingerprint: 'SHA256:y' }),
      noContent(),
      noContent(),
    )
    await addHostKey(3, { host: 'gw', port: 22, public_key: 'ssh-ed25519 AAAA' }, client)
    await forgetHostKey(3, 9, client)
    await rememberKey(3, 'target', { private_key: 'KEY', passphrase: 'pp' }, client)
    await rememberKey(3, 7, { private_key: 'KEY' }, client)
    await forgetRememberedKey(3, 'target', client)
    await forgetRememberedKey(3, 7, client)

    expect(call(0)).toMatchObject({
      url: '/api/v1/resources/3/host-keys',
      method: 'POST',
      body: { host: 'gw', port: 22, public_key: 'ssh-ed25519 AAAA' },
    })
    expect(call(1)).toMatchObject({ url: '/api/v1/resources/3/host-keys/9', method: 'DELETE' })
    expect(call(2)).toMatchObject({
      url: '/api/v1/resources/3/remembered-keys/target',
      method: 'PUT',
      body: { private_key: 'KEY', passphrase: 'pp' },
    })
    expect(call(3)).toMatchObject({ url: '/api/v1/resources/3/remembered-keys/7', method: 'PUT' })
    expect(call(4)).toMatchObject({ url: '/api/v1/resources/3/remembered-keys/target', method: 'DELETE' })
    expect(call(5)).toMatchObject({ url: '/api/v1/resources/3/remembered-keys/7', method: 'DELETE' })
  })

  it('disconnects and reads the system', async () => {
    const { client, call } = clientAnswering(noContent(), json(200, { hostname: 'node1' }))
    await disconnectResource(3, client)
    await expect(fetchSystemInfo(3, client)).resolves.toMatchObject({ hostname: 'node1', gpus: null })
    expect(call(0)).toMatchObject({ url: '/api/v1/resources/3/disconnect', method: 'POST' })
    expect(call(0).headers['X-CSRF-Token']).toBe('csrf-1')
    expect(call(1)).toMatchObject({ url: '/api/v1/resources/3/system', method: 'GET' })
  })

  it('maps 409 login_required from the system call to an ApiError', async () => {
    const { client } = clientAnswering(
      json(409, { error: { code: 'login_required', message: 'A password must be typed in again.' } }),
    )
    const error = await fetchSystemInfo(3, client).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 409, code: 'login_required' })
  })

  it('keeps 422 details with their nested field names', async () => {
    const { client } = clientAnswering(
      json(422, {
        error: {
          code: 'validation_error',
          message: 'The request is not valid.',
          details: [{ field: 'body.hops.0.host', message: 'This field is required.' }],
        },
      }),
    )
    const error = (await createResource(
      { name: 'x', host: 'h', username: 'u', auth_method: 'password' },
      client,
    ).catch((e: unknown) => e)) as ApiError
    expect(error.code).toBe('validation_error')
    expect(error.details).toEqual([{ field: 'body.hops.0.host', message: 'This field is required.' }])
  })
})

describe('SSH key, CA and groups', () => {
  it('reads the user key, or null for 404', async () => {
    const key = { public_key: 'ssh-ed25519 AAAA labgate:alice', fingerprint: 'SHA256:k', created_at: 'now' }
    const { client, call } = clientAnswering(
      json(200, key),
      json(404, { error: { code: 'not_found', message: 'No key.' } }),
    )
    await expect(fetchMySshKey(client)).resolves.toEqual(key)
    await expect(fetchMySshKey(client)).resolves.toBeNull()
    expect(call(0)).toMatchObject({ url: '/api/v1/users/me/ssh-key', method: 'GET' })
  })

  it('passes other failures of the key read on', async () => {
    const { client } = clientAnswering(json(500, { error: { code: 'internal_error', message: 'Oops.' } }))
    await expect(fetchMySshKey(client)).rejects.toMatchObject({ status: 500 })
  })

  it('generates and deletes the key, reads the CA and the groups', async () => {
    const { client, call } = clientAnswering(
      json(201, { public_key: 'k' }),
      noContent(),
      json(200, { public_key: 'ca', fingerprint: 'f', sshd_config: 'TrustedUserCAKeys /etc/ssh/labgate_ca.pub' }),
      json(200, { groups: [{ id: 1, name: 'physics', description: '', members: [] }] }),
    )
    await generateMySshKey(client)
    await deleteMySshKey(client)
    await fetchSshCa(client)
    await expect(listGroups(client)).resolves.toEqual([{ id: 1, name: 'physics', description: '', members: [] }])
    expect(call(0)).toMatchObject({ url: '/api/v1/users/me/ssh-key', method: 'POST' })
    expect(call(0).headers['X-CSRF-Token']).toBe('csrf-1')
    expect(call(1)).toMatchObject({ url: '/api/v1/users/me/ssh-key', method: 'DELETE' })
    expect(call(2)).toMatchObject({ url: '/api/v1/ssh-ca', method: 'GET' })
    expect(call(3)).toMatchObject({ url: '/api/v1/groups', method: 'GET' })
  })
})

describe('WebSocket URLs and frames', () => {
  it('follows the page scheme and host', () => {
    expect(connectSocketUrl(3, { protocol: 'http:', host: '127.0.0.1:8000' })).toBe(
      'ws://127.0.0.1:8000/api/v1/resources/3/connect',
    )
    expect(eventsSocketUrl({ protocol: 'https:', host: 'labgate.example.org' })).toBe(
      'wss://labgate.example.org/api/v1/events',
    )
  })

  it('parses JSON objects with a type, and nothing else', () => {
    expect(parseFrame('{"type":"progress","message":"hi"}')).toEqual({ type: 'progress', message: 'hi' })
    expect(parseFrame('{"message":"no type"}')).toBeNull()
    expect(parseFrame('[1,2]')).toBeNull()
    expect(parseFrame('not json')).toBeNull()
    expect(parseFrame(new ArrayBuffer(2))).toBeNull()
  })

  it('knows the refusal close codes', () => {
    expect(isRefusal(4403)).toBe(true)
    expect(isRefusal(4404)).toBe(true)
    expect(isRefusal(1006)).toBe(false)
    expect(isRefusal(1000)).toBe(false)
  })
})

describe('normalizeSystemInfo', () => {
  it('keeps a full answer as it is', () => {
    const full = {
      hostname: 'h',
      user: 'alice',
      home: '/home/alice',
      platform: 'Linux',
      python: '3.12.1',
      cpus: 8,
      load: [1, 2, 3],
      memory: { total: 10, available: 4 },
      home_disk: { total: 100, free: 50 },
      gpus: [{ index: 0, name: 'A100', memory_total: 40, memory_used: 1, utilization: 5 }],
    }
    expect(normalizeSystemInfo(full)).toEqual(full)
    expect(isCompleteSystemInfo(normalizeSystemInfo(full)!)).toBe(true)
  })

  it('fills in what is missing, GPUs as unknown', () => {
    const info = normalizeSystemInfo({ hostname: 'vm', user: 0, load: [0.5], memory: { total: 10, available: 5 } })
    expect(info).toEqual({
      hostname: 'vm',
      user: '0',
      home: '',
      platform: '',
      python: '',
      cpus: 1,
      load: [0.5, 0, 0],
      memory: { total: 10, available: 5 },
      home_disk: { total: 0, free: 0 },
      gpus: null,
    })
    expect(isCompleteSystemInfo(info!)).toBe(false)
  })

  it('refuses what is not system information', () => {
    expect(normalizeSystemInfo(null)).toBeNull()
    expect(normalizeSystemInfo({})).toBeNull()
    expect(normalizeSystemInfo('vm')).toBeNull()
  })
})
