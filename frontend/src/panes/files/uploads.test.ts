import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { ApiError } from '../../api/client'
import type { NewUpload, Upload } from '../../api/transfers'
import { estimateRate, FileUpload, formatDuration, nextChunk, type UploadApi, type UploadProgress } from './uploads'

describe('nextChunk', () => {
  it('plans chunks from the offset the resource holds', () => {
    expect(nextChunk(0, 25, 10)).toEqual({ start: 0, end: 10 })
    expect(nextChunk(20, 25, 10)).toEqual({ start: 20, end: 25 })
    expect(nextChunk(25, 25, 10)).toBeNull()
    expect(nextChunk(0, 0, 10)).toBeNull()
  })
})

describe('estimateRate', () => {
  it('measures over the recent samples', () => {
    const rate = estimateRate([{ at: 0, bytes: 0 }, { at: 1000, bytes: 100 }, { at: 2000, bytes: 200 }], 1000)
    expect(rate.bytesPerSecond).toBe(100)
    expect(rate.secondsLeft).toBe(8)
    expect(estimateRate([], 10).secondsLeft).toBeNull()
    expect(formatDuration(42)).toBe('42 s')
    expect(formatDuration(3 * 3600 + 600)).toBe('3 h 10 min')
  })
})

/** A resource that holds the bytes; `dropAt` makes the chunk that crosses it break midway once. */
function fakeResource(options: { dropAt?: number; exists?: boolean } = {}) {
  let held: Uint8Array = new Uint8Array()
  let dropped = false
  let completedWith: string | null = null
  const record = (): Upload => ({ id: 'u1', resource_id: 1, path: '/x', size: 0, offset: held.length, sha256: null, overwrite: false, if_match: null, created_at: '', last_activity_at: '', expires_at: '' })
  const api: UploadApi = {
    async create(_path, upload: NewUpload) {
      if (options.exists && !upload.overwrite) throw new ApiError(409, 'exists', 'x exists.')
      return record()
    },
    async get() {
      return record()
    },
    async put(_id, offset, chunk) {
      if (offset !== held.length) throw new ApiError(409, 'wrong_offset', 'Wrong offset.')
      const bytes = new Uint8Array(await chunk.arrayBuffer())
      const drop = options.dropAt
      if (drop !== undefined && !dropped && offset < drop && offset + bytes.length > drop) {
        dropped = true
        held = concat(held, bytes.subarray(0, drop - offset)) // what arrived is kept
        throw new ApiError(0, 'network_error', 'Could not reach the labgate server.')
      }
      held = concat(held, bytes)
      return held.length
    },
    async complete(_id, body) {
      completedWith = body.sha256
      const actual = createHash('sha256').update(held).digest('hex')
      if (body.sha256 !== actual) throw new ApiError(422, 'checksum_mismatch', 'The checksum differs.')
      return { path: '/x', size: held.length, sha256: actual, version: 'v1' }
    },
    async cancel() {},
  }
  return { api, held: () => held, completedWith: () => completedWith }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

const data = new Uint8Array(100_003).map((_, i) => (i * 7) & 0xff)
const noWait = async (): Promise<void> => {}

describe('FileUpload', () => {
  it('sends every chunk and completes with the right checksum', async () => {
    const resource = fakeResource()
    const states: UploadProgress['state'][] = []
    const upload = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: (p) => states.push(p.state) }, { chunkBytes: 10_000 })
    const done = await upload.run()
    expect(resource.held()).toEqual(data)
    expect(done.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    expect(states.at(-1)).toBe('done')
  })
  it('continues from what arrived after the connection drops mid-chunk', async () => {
    const resource = fakeResource({ dropAt: 45_678 })
    const states: UploadProgress['state'][] = []
    const upload = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: (p) => states.push(p.state), waitToRetry: noWait }, { chunkBytes: 10_000 })
    await upload.run()
    expect(states).toContain('waiting')
    expect(resource.held()).toEqual(data)
  })
  it('resumes a known upload from the resource offset, hashing what is already there', async () => {
    const resource = fakeResource({ dropAt: 30_001 })
    const first = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: () => {}, waitToRetry: () => Promise.reject(new Error('page reloaded')) }, { chunkBytes: 10_000 })
    await expect(first.run()).rejects.toThrow('page reloaded')
    expect(resource.held().length).toBe(30_001)
    const states: UploadProgress['state'][] = []
    const again = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: (p) => states.push(p.state) }, { chunkBytes: 10_000, resumeId: 'u1' })
    await again.run()
    expect(states).toContain('hashing')
    expect(resource.held()).toEqual(data)
  })
  it('fails with checksum_mismatch when the re-picked file differs', async () => {
    const resource = fakeResource({ dropAt: 30_001 })
    const first = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: () => {}, waitToRetry: () => Promise.reject(new Error('reload')) }, { chunkBytes: 10_000 })
    await expect(first.run()).rejects.toThrow()
    const other = data.slice()
    other[5] = 255 - (other[5] as number)
    const again = new FileUpload(resource.api, new Blob([other]), { path: '/x' }, { onProgress: () => {} }, { chunkBytes: 10_000, resumeId: 'u1' })
    await expect(again.run()).rejects.toMatchObject({ code: 'checksum_mismatch' })
  })
  it('stops at once on a name that exists, before sending anything', async () => {
    const resource = fakeResource({ exists: true })
    const upload = new FileUpload(resource.api, new Blob([data]), { path: '/x' }, { onProgress: () => {} })
    await expect(upload.run()).rejects.toMatchObject({ code: 'exists' })
    expect(resource.held().length).toBe(0)
  })
})
