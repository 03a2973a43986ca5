import { describe, expect, it } from 'vitest'
import { appendFollowed, growthOf, pageCount, pageRange } from './textPages'

describe('pages', () => {
  it('cuts a file into pages of byte ranges', () => {
    expect(pageCount(0, 10)).toBe(1)
    expect(pageCount(25, 10)).toBe(3)
    expect(pageRange(0, 25, 10)).toEqual({ start: 0, end: 9 })
    expect(pageRange(2, 25, 10)).toEqual({ start: 20, end: 24 })
    expect(pageRange(9, 25, 10)).toEqual({ start: 20, end: 24 })
  })
})

describe('follow', () => {
  it('appends, and past the limit drops whole lines from the start', () => {
    expect(appendFollowed('a\n', 'b\n', 100)).toEqual({ text: 'a\nb\n', dropped: false })
    const next = appendFollowed('line1\nline2\n', 'line3\n', 10)
    expect(next.dropped).toBe(true)
    expect(next.text).toBe('line3\n')
  })
  it('tells growth from truncation', () => {
    expect(growthOf(10, 12)).toBe('grew')
    expect(growthOf(10, 10)).toBe('same')
    expect(growthOf(10, 3)).toBe('shrank')
  })
})
