/** Test data for resources. */
import type { Resource } from '../api/resources'

/** A resource as the server sends it; `overrides` replace fields. */
export function makeResource(overrides: Partial<Resource> = {}): Resource {
  return {
    id: 3,
    name: 'cluster',
    kind: 'ssh',
    shared: false,
    owner: 'alice',
    description: '',
    host: 'login.example.org',
    port: 22,
    username: 'alice',
    auth_method: 'password',
    hops: [],
    python: 'python3',
    setup_lines: [],
    groups: [],
    account_rule: '{username}',
    account_overrides: {},
    remote_username: 'alice',
    runs_as_root: false,
    remembered_keys: [],
    host_keys: [],
    can_edit: true,
    status: { state: 'disconnected', message: '', error: null, since: null },
    created_at: '2026-11-22T10:00:00Z',
    updated_at: '2026-11-22T10:00:00Z',
    ...overrides,
  }
}
