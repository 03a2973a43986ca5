import { describe, expect, it } from 'vitest'
import { datesLine } from '../../api/experiments'
import { emptyDraft, inputOf } from './experimentForm'

describe('the experiment form', () => {
  it('reads members one a line, by user name or e-mail, with a role', () => {
    const draft = { ...emptyDraft(), code: ' 12-34 ', members: 'alice:pi\n\nbob@uni.example\ncarol:local_contact', ends: '2026-11-03' }
    const result = inputOf(draft)
    expect(result).toEqual({
      input: {
        code: '12-34',
        title: '',
        instrument: '',
        starts_at: null,
        ends_at: '2026-11-03T00:00:00Z',
        members: [
          { username: 'alice', role: 'pi' },
          { email: 'bob@uni.example', role: 'member' },
          { username: 'carol', role: 'local_contact' },
        ],
        locations: [],
      },
    })
  })

  it('names what is wrong', () => {
    const draft = {
      ...emptyDraft(),
      members: 'eve:boss',
      starts: '2026-12-01',
      ends: '2026-11-01',
      locations: [{ resource_id: null, kind: 'raw' as const, path: '/d' }, { resource_id: 1, kind: 'raw' as const, path: 'rel' }],
    }
    const result = inputOf(draft)
    expect('errors' in result && Object.keys(result.errors).sort()).toEqual(['code', 'ends', 'locations.0', 'locations.1', 'members'])
  })

  it('says an experiment’s dates as its state', () => {
    const base = { starts_at: '2026-10-01T00:00:00Z', ends_at: '2026-11-03T00:00:00Z', launch_until: '2026-12-03T00:00:00Z' }
    expect(datesLine({ ...base, phase: 'running' })).toBe('running until 3 Nov 2026')
    expect(datesLine({ ...base, phase: 'ended' })).toBe('ended on 3 Nov 2026, data usable until 3 Dec 2026')
    expect(datesLine({ ...base, phase: 'closed' })).toBe('closed on 3 Dec 2026')
    expect(datesLine({ ...base, phase: 'upcoming' })).toBe('starts on 1 Oct 2026')
  })
})
