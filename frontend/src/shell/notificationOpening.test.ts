import { describe, expect, it } from 'vitest'
import { ago, targetOf } from './notificationOpening'

describe('targetOf', () => {
  it('opens a session, its sharing dialog, an experiment, or nothing', () => {
    expect(targetOf({ subject: { session: 'abc' } })).toEqual({ kind: 'session', sessionId: 'abc' })
    expect(targetOf({ subject: { session: 'abc', sharing: true } })).toEqual({ kind: 'sharing', sessionId: 'abc' })
    expect(targetOf({ subject: { experiment: 7 } })).toEqual({ kind: 'experiment', experimentId: 7 })
    expect(targetOf({ subject: { announcement: 3 } })).toEqual({ kind: 'none' })
  })
})

describe('ago', () => {
  const now = Date.parse('2026-12-07T12:00:00Z')
  it('says how long ago, coarsely', () => {
    expect(ago('2026-12-07T11:59:30Z', now)).toBe('just now')
    expect(ago('2026-12-07T11:55:00Z', now)).toBe('5 min ago')
    expect(ago('2026-12-07T09:00:00Z', now)).toBe('3 h ago')
    expect(ago('2026-12-04T12:00:00Z', now)).toBe('3 days ago')
  })
})
