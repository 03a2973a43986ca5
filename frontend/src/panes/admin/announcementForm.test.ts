import { describe, expect, it } from 'vitest'
import { emptyDraft, inputOf, problemsOf, toLocalInput } from './announcementForm'

const now = new Date(2026, 11, 7, 12, 0)

describe('the announcement form', () => {
  it('starts empty, ending a day later', () => {
    const draft = emptyDraft(now)
    expect(draft.endsAt).toBe(toLocalInput(new Date(2026, 11, 8, 12, 0)))
    expect(problemsOf(draft, now)).toEqual({ text: 'Write what the banner says.' })
  })

  it('refuses an end before the start and text too long', () => {
    const draft = { ...emptyDraft(now), text: 'x'.repeat(2001), startsAt: '2026-12-09T10:00', endsAt: '2026-12-09T09:00' }
    expect(Object.keys(problemsOf(draft, now)).sort()).toEqual(['ends_at', 'text'])
  })

  it('sends times with their zone, and no start for now', () => {
    const input = inputOf({ ...emptyDraft(now), text: '  Beam down  ' })
    expect(input.text).toBe('Beam down')
    expect(input.starts_at).toBeNull()
    expect(input.ends_at).toBe(new Date(2026, 11, 8, 12, 0).toISOString())
  })
})
