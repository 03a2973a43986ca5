/**
 * The order of the Administration menu: people first, then what they use, what runs, and
 * what happened. Panes of the console's parts and of plug-ins that are not named here
 * follow, in the order they were registered, so a new one appears without an edit here.
 */
export const ADMIN_ORDER: readonly string[] = [
  'users',
  'groups',
  'guest-invitations',
  'experiments-admin',
  'shared-resources',
  'app-templates',
  'quotas',
  'all-sessions',
  'extension-requests',
  'usage',
  'announcements',
  'audit-log',
]

/** `panes` in the menu's order (a stable sort: the unnamed keep theirs, after the named). */
export function inAdminOrder<T extends { kind: string }>(panes: readonly T[]): T[] {
  const rank = (kind: string): number => {
    const at = ADMIN_ORDER.indexOf(kind)
    return at === -1 ? ADMIN_ORDER.length : at
  }
  return [...panes].sort((a, b) => rank(a.kind) - rank(b.kind))
}
