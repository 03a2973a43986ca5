import { describe, expect, it } from 'vitest'
import type { User } from '../../api/types'
import { filterUsers, generatedLength, lastAdminReason, oneTimePassword } from './userRules'

function user(username: string, overrides: Partial<User> = {}): User {
  return {
    id: username.length,
    username,
    display_name: username[0]!.toUpperCase() + username.slice(1),
    email: `${username}@example.org`,
    role: 'user',
    disabled: false,
    groups: [],
    created_at: '2030-01-01T00:00:00Z',
    last_login_at: null,
    must_change_password: false,
    ...overrides,
  }
}

const USERS = [
  user('admin', { role: 'admin' }),
  user('alice', { display_name: 'Alice Smith' }),
  user('bob', { disabled: true, email: null }),
  user('guest01', { role: 'guest' }),
]

describe('user rules', () => {
  it('finds users by any word of their names or address, with role and state', () => {
    const names = (text: string, role: User['role'] | 'all' = 'all', state: 'all' | 'enabled' | 'disabled' = 'all') =>
      filterUsers(USERS, { text, role, state }).map((u) => u.username)
    expect(names('')).toEqual(['admin', 'alice', 'bob', 'guest01'])
    expect(names('SMITH')).toEqual(['alice'])
    expect(names('alice example.org')).toEqual(['alice'])
    expect(names('example.org')).toEqual(['admin', 'alice', 'guest01'])
    expect(names('', 'guest')).toEqual(['guest01'])
    expect(names('', 'all', 'disabled')).toEqual(['bob'])
    expect(names('', 'all', 'enabled')).toEqual(['admin', 'alice', 'guest01'])
  })

  it('says why the last enabled administrator cannot leave, and only then', () => {
    const [admin, alice] = USERS
    expect(lastAdminReason(USERS, admin!, 'demoted')).toBe(
      'admin is the last enabled administrator and cannot be demoted: make another user an administrator first.',
    )
    expect(lastAdminReason(USERS, alice!, 'deleted')).toBeNull()
    const two = [...USERS, user('root', { role: 'admin' })]
    expect(lastAdminReason(two, admin!, 'disabled')).toBeNull()
    // A disabled administrator does not count, and is not the last one either.
    const withDisabled = [...USERS, user('old', { role: 'admin', disabled: true })]
    expect(lastAdminReason(withDisabled, admin!, 'disabled')).not.toBeNull()
    expect(lastAdminReason(withDisabled, withDisabled[4]!, 'deleted')).toBeNull()
  })

  it('makes passwords of the asked length from unambiguous characters, without bias', () => {
    const password = oneTimePassword(24)
    expect(password).toHaveLength(24)
    expect(password).toMatch(/^[a-km-zA-HJ-NP-Z2-9]+$/)
    expect(oneTimePassword(24)).not.toBe(password)
    // Bytes that would favour the first characters are skipped, not folded in.
    let call = 0
    const fill = (bytes: Uint8Array) => bytes.fill(call++ === 0 ? 255 : 0)
    expect(oneTimePassword(4, fill)).toBe('aaaa')
    expect(call).toBe(2)
    expect(generatedLength(10)).toBe(16)
    expect(generatedLength(20)).toBe(20)
    expect(generatedLength(undefined)).toBe(16)
  })
})
