import { describe, expect, it } from 'vitest'
import { invitationCodeFrom, joinProblems, withoutInvitation } from './guestJoinForm'

describe('joining as a guest', () => {
  it('finds the code a link brings; an empty one asks for it', () => {
    expect(invitationCodeFrom('?invitation=K7QM-4TXP-9WRB')).toBe('K7QM-4TXP-9WRB')
    expect(invitationCodeFrom('?invitation=%20k7qm%204txp%209wrb%20')).toBe('k7qm 4txp 9wrb')
    expect(invitationCodeFrom('?invitation=')).toBe('')
    expect(invitationCodeFrom('?invitation=%20')).toBe('')
    expect(invitationCodeFrom('?sign_in=failed')).toBeNull()
  })

  it('leaves the login page for the workspace once the code is used, keeping the rest', () => {
    expect(withoutInvitation('https://lab.example/login?invitation=K7QM-4TXP-9WRB')).toBe('/')
    expect(withoutInvitation('https://lab.example/login?invitation=X&lang=de#top')).toBe('/?lang=de#top')
    expect(withoutInvitation('https://lab.example/workspace?invitation=X')).toBe('/workspace')
  })

  it('asks for a name and the same password twice, long enough', () => {
    const good = { displayName: ' Ada ', password: 'ten chars!', confirm: 'ten chars!' }
    expect(joinProblems(good, 10)).toEqual({})
    expect(joinProblems({ ...good, displayName: '  ' }, 10)).toEqual({
      display_name: 'Type your name, as the others in the workshop know you.',
    })
    expect(joinProblems({ ...good, displayName: 'x'.repeat(101) }, 10).display_name).toMatch(/At most 100/)
    expect(joinProblems({ ...good, password: 'short', confirm: 'short' }, 10)).toEqual({
      password: 'Choose a password of at least 10 characters.',
    })
    expect(joinProblems({ ...good, confirm: 'ten chars?' }, 10)).toEqual({
      confirm: 'The two passwords differ: type the same one twice.',
    })
  })
})
