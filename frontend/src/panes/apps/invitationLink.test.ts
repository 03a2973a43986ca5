import { describe, expect, it } from 'vitest'
import { describeExpiry, describeUses, invitationFormErrors, invitationLink, isExpired } from './invitationLink'

const NOW = Date.parse('2026-03-01T12:00:00Z')

describe('invitationLink', () => {
  it('completes the server\'s path with this page\'s origin', () => {
    expect(invitationLink('/?invite=abc_DEF-1', 'https://lab.example.org')).toBe('https://lab.example.org/?invite=abc_DEF-1')
    expect(invitationLink('/?invite=x', 'http://127.0.0.1:8123')).toBe('http://127.0.0.1:8123/?invite=x')
  })

  it('refuses anything that would lead to another server', () => {
    expect(() => invitationLink('https://evil.example/?invite=x', 'https://lab.example.org')).toThrow(/Not a path/)
    expect(() => invitationLink('//evil.example/?invite=x', 'https://lab.example.org')).toThrow(/Not a path/)
  })

  it('says how long an invitation still runs', () => {
    expect(describeExpiry({ expires_at: '2026-03-01T17:00:00Z' }, NOW)).toBe('expires in 5 h 00 min')
    expect(describeExpiry({ expires_at: '2026-03-01T12:30:00Z' }, NOW)).toBe('expires in 30 min')
    expect(describeExpiry({ expires_at: '2026-03-11T12:00:00Z' }, NOW)).toBe('expires in 10 days')
    expect(describeExpiry({ expires_at: '2026-03-01T12:00:00Z' }, NOW)).toBe('expired')
    expect(isExpired({ expires_at: '2026-03-01T11:00:00Z' }, NOW)).toBe(true)
  })

  it('says how much of it is used', () => {
    expect(describeUses({ uses: 0, max_uses: 1 })).toBe('for one person')
    expect(describeUses({ uses: 0, max_uses: 5 })).toBe('for up to 5 people')
    expect(describeUses({ uses: 2, max_uses: 5 })).toBe('used 2 of 5 times')
    expect(describeUses({ uses: 5, max_uses: 5 })).toBe('used up')
  })

  it('checks the form against the server\'s limits', () => {
    expect(invitationFormErrors({ expiresInHours: 24, maxUses: 1 })).toEqual({})
    expect(invitationFormErrors({ expiresInHours: 720, maxUses: '1000' })).toEqual({})
    expect(invitationFormErrors({ expiresInHours: 0, maxUses: 1001 })).toEqual({
      expiresInHours: 'Choose from 1 to 720 hours.',
      maxUses: 'Enter a whole number from 1 to 1000.',
    })
    expect(Object.keys(invitationFormErrors({ expiresInHours: '', maxUses: '2.5' }))).toEqual(['expiresInHours', 'maxUses'])
  })
})
