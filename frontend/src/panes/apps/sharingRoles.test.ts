import { describe, expect, it } from 'vitest'
import { defaultRole, isOwn, isSharedWithMe, roleLabel, roleMeaning, roleOptions, sharedByLine, sharedMarkTitle, sharedWithYou } from './sharingRoles'

const alice = { id: 2, username: 'alice', display_name: 'Alice Liddell' }

describe('sharingRoles', () => {
  it('offers only the roles the server offers, most rights first', () => {
    expect(roleOptions(['guest', 'user'])).toEqual([
      { value: 'user', label: 'can use' },
      { value: 'guest', label: 'can view' },
    ])
    // JupyterLab cannot be shared view-only: no guest, and nothing unknown slips through.
    expect(roleOptions(['support', 'user', 'owner', 'superuser'])).toEqual([
      { value: 'user', label: 'can use' },
      { value: 'support', label: 'support staff' },
    ])
    expect(roleOptions([])).toEqual([])
  })

  it('starts a new share as full use where offered', () => {
    expect(defaultRole(['guest', 'user'])).toBe('user')
    expect(defaultRole(['guest'])).toBe('guest')
    expect(defaultRole([])).toBeNull()
  })

  it('says in one line what each role allows', () => {
    expect(roleMeaning('guest')).toMatch(/not type/)
    expect(roleMeaning('user')).toMatch(/as you do/)
    expect(roleLabel('admin')).toBe('administrator')
  })

  it('marks a session shared with the caller with its owner and the role', () => {
    expect(sharedByLine({ my_role: 'guest', owner: alice })).toBe('shared by Alice Liddell · can view')
    expect(sharedByLine({ my_role: 'user', owner: { ...alice, display_name: ' ' } })).toBe('shared by alice · can use')
    expect(sharedByLine({ my_role: 'support', owner: alice })).toBe('shared by Alice Liddell · support staff')
    expect(sharedByLine({ my_role: 'owner', owner: alice })).toBeNull()
    expect(sharedByLine({ my_role: 'admin', owner: alice })).toBeNull()
    expect(sharedByLine({})).toBeNull()
  })

  it('words the bar of a shared app or desktop pane: whose, and what the caller may do', () => {
    expect(sharedWithYou({ my_role: 'guest', owner: alice })).toBe('Alice Liddell shared this session with you: you can view it, not use it.')
    expect(sharedWithYou({ my_role: 'user', owner: alice })).toBe('Alice Liddell shared this session with you: you can use it.')
    expect(sharedWithYou({ my_role: 'support' })).toBe('Someone shared this session with you: you can use it as support staff.')
    expect(sharedWithYou({ my_role: 'owner', owner: alice })).toBeNull()
  })

  it('takes a session without a role (a server without sharing) as the caller\'s own', () => {
    expect(isOwn({})).toBe(true)
    expect(isOwn({ my_role: 'owner' })).toBe(true)
    expect(isOwn({ my_role: 'admin' })).toBe(false)
    expect(isSharedWithMe({ my_role: 'admin' })).toBe(false)
    expect(isSharedWithMe({ my_role: 'guest' })).toBe(true)
  })

  it('counts who has access where the server says', () => {
    expect(sharedMarkTitle({})).toBe('Shared with others')
    expect(sharedMarkTitle({ share_count: 1 })).toBe('Shared with 1 person or group')
    expect(sharedMarkTitle({ share_count: 3 })).toBe('Shared with 3 people or groups')
  })
})
