import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError } from './client'
import {
  bytesToBase64,
  childPath,
  copyPath,
  displayPath,
  listFiles,
  parentPath,
  readFile,
  renamePath,
  searchFiles,
  writeFile,
} from './files'

type FetchArgs = [input: string, init: RequestInit]

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function clientAnswering(...responses: Response[]) {
  const fetchMock = vi.fn<(...args: FetchArgs) => Promise<Response>>()
  for (const response of responses) fetchMock.mockResolvedValueOnce(response)
  const client = new ApiClient({ fetch: fetchMock as unknown as typeof fetch })
  client.csrfToken = 'csrf-1'
  const call = (i = 0) => {
    const [url, init] = fetchMock.mock.calls[i] as FetchArgs
    return { url, method: init.method, body: init.body ? JSON.parse(String(init.body)) : undefined }
  }
  return { client, call }
}

afterEach(() => vi.unstubAllGlobals())

describe('paths', () => {
  it('joins text paths as text', () => {
    expect(childPath({ path: '/home/alice' }, { name: 'data' })).toEqual({ path: '/home/alice/data' })
    expect(childPath({ path: '/' }, { name: 'etc' })).toEqual({ path: '/etc' })
  })

  it('keeps names that are not UTF-8 as bytes', () => {
    const raw = bytesToBase64(new Uint8Array([0x66, 0xff, 0x6f]))
    const joined = childPath({ path: '/tmp' }, { name: 'f\ufffdo', raw })
    expect(joined).toEqual({ path_raw: bytesToBase64(new Uint8Array([...new TextEncoder().encode('/tmp/'), 0x66, 0xff, 0x6f])) })
    expect(displayPath(joined)).toBe('/tmp/f\ufffdo')
    // Its parent is text again; the parent of a raw directory stays raw.
    expect(parentPath(joined)).toEqual({ path: '/tmp' })
    const rawDir = childPath({ path: '/tmp' }, { name: '?', raw: bytesToBase64(new Uint8Array([0xfe])) })
    const inside = childPath(rawDir, { name: 'x' })
    expect(parentPath(inside)).toEqual(rawDir)
  })

  it('finds the parent of text paths', () => {
    expect(parentPath({ path: '/a/b/' })).toEqual({ path: '/a' })
    expect(parentPath({ path: '/a' })).toEqual({ path: '/' })
    expect(parentPath({ path: '/' })).toEqual({ path: '/' })
  })
})

describe('file calls', () => {
  it('lists with the path and options in the query', async () => {
    const { client, call } = clientAnswering(json(200, { entries: [] }), json(200, { entries: [] }))
    await listFiles(3, { path: '~/data dir' }, { offset: 0, limit: 1000, hidden: true }, client)
    await listFiles(3, { path_raw: 'AAE=' }, {}, client)
    expect(call(0).url).toBe('/api/v1/resources/3/files?path=%7E%2Fdata+dir&offset=0&limit=1000&hidden=true')
    expect(call(1).url).toBe('/api/v1/resources/3/files?path_raw=AAE%3D')
  })

  it('sends rename, copy and search with to/to_raw and flags', async () => {
    const { client, call } = clientAnswering(json(200, {}), json(200, { skipped: [] }), json(200, { matches: [] }))
    await renamePath(3, { path: '/a' }, { path: '/b' }, { overwrite: true }, client)
    await copyPath(3, { path: '/a' }, { path_raw: 'AAE=' }, {}, client)
    await searchFiles(3, { path: '~' }, '*.py', { limit: 10 }, client)
    expect(call(0)).toMatchObject({ method: 'POST', body: { path: '/a', to: '/b', overwrite: true } })
    expect(call(1).body).toEqual({ path: '/a', to_raw: 'AAE=' })
    expect(call(2).url).toBe('/api/v1/resources/3/files/search?path=%7E&pattern=*.py&limit=10')
  })

  it('writes with If-Match and the CSRF header, and reads the version from the ETag', async () => {
    const fetchMock = vi.fn<(...args: FetchArgs) => Promise<Response>>()
    fetchMock.mockResolvedValueOnce(json(200, { version: 'v2', size: 5 }))
    fetchMock.mockResolvedValueOnce(new Response('hello', { status: 200, headers: { ETag: '"v2"' } }))
    vi.stubGlobal('fetch', fetchMock)
    const client = new ApiClient()
    client.csrfToken = 'csrf-1'
    await expect(writeFile(3, { path: '/a.py' }, 'hello', { ifVersion: 'v1' }, client)).resolves.toEqual({ version: 'v2', size: 5 })
    const [url, init] = fetchMock.mock.calls[0] as FetchArgs
    expect(url).toBe('/api/v1/resources/3/files/content?path=%2Fa.py')
    expect(init.headers).toMatchObject({ 'If-Match': '"v1"', 'X-CSRF-Token': 'csrf-1' })
    const content = await readFile(3, { path: '/a.py' })
    expect(content.version).toBe('v2')
    expect(new TextDecoder().decode(content.bytes)).toBe('hello')
  })

  it('turns a refused save into an ApiError with the server code', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(409, { error: { code: 'conflict', message: 'Changed on disk.' } })))
    await expect(writeFile(3, { path: '/a.py' }, 'x', { ifVersion: 'v1' })).rejects.toMatchObject({
      status: 409,
      code: 'conflict',
    })
    await expect(writeFile(3, { path: '/a.py' }, 'x')).rejects.toBeInstanceOf(ApiError)
  })
})
