import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Sha256 } from './sha256'

const hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('Sha256', () => {
  it('matches known digests', () => {
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(new Sha256().update(new TextEncoder().encode('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
  it('gives the same digest however the input is cut, for every padding length', () => {
    for (const length of [55, 56, 63, 64, 65, 119, 120, 1000]) {
      const data = new Uint8Array(length).map((_, i) => (i * 31 + 7) & 0xff)
      const hash = new Sha256()
      for (let i = 0; i < length; i += 13) hash.update(data.subarray(i, i + 13))
      expect(hash.hex(), `length ${length}`).toBe(hex(data))
    }
  })
  it('hashes a few MiB in pieces like an upload', () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i ^ (i >> 8)) & 0xff)
    const hash = new Sha256()
    for (let i = 0; i < data.length; i += 1 << 20) hash.update(data.subarray(i, i + (1 << 20)))
    expect(hash.hex()).toBe(hex(data))
  })
})
