import { describe, expect, it } from 'vitest'
import { hiddenCount } from './tabStrip'

describe('hiddenCount', () => {
  const strip = { left: 100, right: 500 }

  it('counts the tabs not entirely in the strip', () => {
    expect(hiddenCount(strip, [])).toBe(0)
    expect(hiddenCount(strip, [{ left: 100, right: 300 }, { left: 300, right: 500 }])).toBe(0)
    // Scrolled: one cut at the left, one past the right end, one beyond it.
    const tabs = [
      { left: 40, right: 140 },
      { left: 140, right: 400 },
      { left: 400, right: 560 },
      { left: 560, right: 700 },
    ]
    expect(hiddenCount(strip, tabs)).toBe(3)
  })

  it('forgives a pixel of rounding', () => {
    expect(hiddenCount(strip, [{ left: 99.5, right: 500.6 }])).toBe(0)
  })
})
