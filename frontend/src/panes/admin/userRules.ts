/**
 * The Users pane's rules: finding users, what the server will refuse for the last
 * administrator (said before the click), and one-time passwords made in the browser.
 */
import type { Role, User } from '../../api/types'

export type StateFilter = 'all' | 'enabled' | 'disabled'

export interface UserFilter {
  /** Matched against username, display name and e-mail, case-insensitively. */
  text: string
  role: Role | 'all'
  state: StateFilter
}

export function filterUsers(users: readonly User[], filter: UserFilter): User[] {
  const words = filter.text.trim().toLowerCase().split(/\s+/).filter(Boolean)
  return users.filter((user) => {
    if (filter.role !== 'all' && user.role !== filter.role) return false
    if (filter.state === 'enabled' && user.disabled) return false
    if (filter.state === 'disabled' && !user.disabled) return false
    const haystack = [user.username, user.display_name ?? '', user.email ?? ''].join(' ').toLowerCase()
    return words.every((word) => haystack.includes(word))
  })
}

export type LeavingAction = 'disabled' | 'demoted' | 'deleted'

/**
 * Why `user` cannot be disabled, demoted or deleted: they are the last enabled
 * administrator (the server refuses it too, 409). Null when nothing stands in the way.
 */
export function lastAdminReason(users: readonly User[], user: User, action: LeavingAction): string | null {
  if (user.role !== 'admin' || user.disabled) return null
  const enabledAdmins = users.filter((u) => u.role === 'admin' && !u.disabled).length
  if (enabledAdmins > 1) return null
  return `${user.username} is the last enabled administrator and cannot be ${action}: make another user an administrator first.`
}

// No characters that read alike (0/O, 1/l/I): the password may be read out or typed from paper.
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'

/**
 * A random one-time password of `length` characters (at least the server's minimum),
 * from the browser's cryptographic generator, without bias.
 */
export function oneTimePassword(
  length: number,
  fill: (bytes: Uint8Array) => Uint8Array = (bytes) => crypto.getRandomValues(bytes),
): string {
  const limit = 256 - (256 % ALPHABET.length) // bytes at or above it would favour the first letters
  let password = ''
  while (password.length < length) {
    for (const byte of fill(new Uint8Array(length))) {
      if (byte < limit && password.length < length) password += ALPHABET[byte % ALPHABET.length]
    }
  }
  return password
}

/** The length of passwords labgate makes: 16, or the server's minimum if that is more. */
export function generatedLength(minimum: number | undefined): number {
  return Math.max(16, minimum ?? 0)
}
