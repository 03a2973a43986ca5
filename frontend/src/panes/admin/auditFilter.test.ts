import { describe, expect, it } from 'vitest'
import { auditQuery, detailLine, localToIso } from './auditFilter'

const empty = { event: '', actor: '', target: '', since: '', until: '' }

describe('auditQuery', () => {
  it('asks only for what is filled in, trimmed', () => {
    expect(auditQuery({ ...empty, event: ' user_updated ', actor: 'root' })).toEqual({
      filter: { event: 'user_updated', actor: 'root' },
    })
    expect(auditQuery(empty)).toEqual({ filter: {} })
  })

  it('gives times with a zone and refuses a range that ends before it starts', () => {
    const answer = auditQuery({ ...empty, since: '2026-12-07T09:30', until: '2026-12-07T10:00' })
    expect('filter' in answer && answer.filter.since).toBe(new Date('2026-12-07T09:30').toISOString())
    expect(auditQuery({ ...empty, since: '2026-12-07T10:00', until: '2026-12-07T09:00' })).toEqual({
      error: 'The end of the time range must be after its start.',
    })
    expect(auditQuery({ ...empty, since: '2026-12-07T10:00', until: '2026-12-07T10:00' })).toHaveProperty('error')
  })

  it('leaves out an unreadable time', () => {
    expect(localToIso('not a time')).toBeNull()
    expect(localToIso('  ')).toBeNull()
  })
})

describe('detailLine', () => {
  it('says each detail as key=value', () => {
    expect(detailLine({ user: 'alice', hours: 4, stopped: ['a'] })).toBe('user=alice, hours=4, stopped=["a"]')
    expect(detailLine({})).toBe('')
  })
})
