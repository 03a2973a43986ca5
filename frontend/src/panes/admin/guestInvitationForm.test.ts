import { describe, expect, it } from 'vitest'
import { toLocalInput } from './announcementForm'
import { emptyDraft, inputOf, problemsOf, seatsText, stateLabel } from './guestInvitationForm'

const morning = new Date(2026, 11, 7, 9, 30)
const evening = new Date(2026, 11, 7, 19, 0)

describe('the guest invitation form', () => {
  it('starts with 30 seats until 18:00, tomorrow once that has passed', () => {
    expect(emptyDraft(morning)).toEqual({ title: '', seats: '30', expiresAt: toLocalInput(new Date(2026, 11, 7, 18, 0)) })
    expect(emptyDraft(evening).expiresAt).toBe(toLocalInput(new Date(2026, 11, 8, 18, 0)))
    expect(Object.keys(problemsOf(emptyDraft(morning), morning))).toEqual(['title'])
  })

  it('refuses seats that are not a whole number from 1, and ends past or too far', () => {
    const draft = { ...emptyDraft(morning), title: 'Workshop' }
    for (const seats of ['0', '-2', '2.5', 'thirty', '', '10001']) {
      expect(problemsOf({ ...draft, seats }, morning)).toEqual({ seats: 'Seats are a whole number from 1 to 10000.' })
    }
    expect(problemsOf({ ...draft, expiresAt: '2026-12-07T09:00' }, morning)).toEqual({ expires_at: 'The end must be in the future.' })
    expect(problemsOf({ ...draft, expiresAt: '2028-01-01T09:00' }, morning).expires_at).toMatch(/within a year/)
    expect(problemsOf({ ...draft, expiresAt: '' }, morning)).toEqual({ expires_at: 'Say when it ends.' })
    expect(problemsOf({ ...draft, title: 'x'.repeat(201) }, morning).title).toMatch(/At most 200/)
  })

  it('sends the end with its zone and the seats as a number', () => {
    const input = inputOf({ title: '  Python for pupils ', seats: ' 30 ', expiresAt: '2026-12-07T18:00' })
    expect(input).toEqual({ title: 'Python for pupils', seats: 30, expires_at: new Date(2026, 11, 7, 18, 0).toISOString() })
  })

  it('says a row’s seats and state in words', () => {
    expect(seatsText({ seats: 30, used: 12, seats_left: 18 })).toBe('12 of 30 taken, 18 left')
    expect(stateLabel('revoked')).toBe('Withdrawn')
    expect(stateLabel('expired')).toBe('Ended')
  })
})
