/** The roles an administrator can give, as the Users pane offers them. */
import type { Role } from '../../api/types'

export const ROLE_OPTIONS: readonly { value: Role; label: string }[] = [
  { value: 'user', label: 'User' },
  { value: 'staff', label: 'Staff' },
  { value: 'guest', label: 'Guest' },
  { value: 'admin', label: 'Administrator' },
]
