import { describe, expect, it } from 'vitest'
import { describeTimeLeft, formatRemaining, nextStop } from './sessionTime'
import type { AppSession } from '../../api/sessions'

describe('session time', () => {
  it('takes the earlier of idle clean-up and the end of its time', () => {
    expect(nextStop({ idle_stop_at: '2026-12-02T10:00:00Z', ends_at: '2026-12-02T12:00:00Z' })?.cause).toBe('idle')
    expect(nextStop({ idle_stop_at: '2026-12-02T13:00:00Z', ends_at: '2026-12-02T12:00:00Z' })?.cause).toBe('time')
    expect(nextStop({ idle_stop_at: null, ends_at: null })).toBeNull()
  })

  it('reads well', () => {
    expect(formatRemaining(30_000)).toBe('under a minute')
    expect(formatRemaining(12 * 60_000)).toBe('12 min')
    expect(formatRemaining((3 * 60 + 5) * 60_000)).toBe('3 h 05 min')
    expect(formatRemaining(72 * 3_600_000)).toBe('3 days')
    const session = { idle_stop_at: '2026-12-02T10:30:00Z', ends_at: null } as unknown as AppSession
    expect(describeTimeLeft(session, Date.parse('2026-12-02T10:00:00Z'))).toBe('30 min if idle')
  })
})
