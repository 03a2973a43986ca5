import { describe, expect, it } from 'vitest'
import { formatBytes, formatLoad, percentOf } from './format'

describe('formatBytes', () => {
  it('uses binary units with about three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(1024 ** 3)).toBe('1 GiB')
    expect(formatBytes(16 * 1024 ** 3)).toBe('16 GiB')
    expect(formatBytes(15.63 * 1024 ** 3)).toBe('15.6 GiB')
    expect(formatBytes(100 * 1024 ** 2)).toBe('100 MiB')
    expect(formatBytes(931.5 * 1024 ** 3)).toBe('932 GiB')
    expect(formatBytes(2 * 1024 ** 4)).toBe('2 TiB')
  })

  it('has a fallback for missing values', () => {
    expect(formatBytes(null)).toBe('—')
    expect(formatBytes(Number.NaN)).toBe('—')
    expect(formatBytes(-1, '?')).toBe('?')
  })
})

describe('percentOf and formatLoad', () => {
  it('clamps percentages', () => {
    expect(percentOf(1, 4)).toBe(25)
    expect(percentOf(5, 4)).toBe(100)
    expect(percentOf(1, 0)).toBe(0)
  })

  it('formats load averages', () => {
    expect(formatLoad(0.4213)).toBe('0.42')
    expect(formatLoad(12.34)).toBe('12.3')
    expect(formatLoad(undefined)).toBe('—')
  })
})
