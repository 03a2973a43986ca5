import { describe, expect, it } from 'vitest'
import { makeResource } from '../../testing/resources'
import { addressOf, chainOf, failingIndex, hintFor } from './chain'

const withHops = makeResource({
  host: 'login.example.org',
  port: 22,
  remote_username: 'alice',
  hops: [
    { id: 7, host: 'gw.example.org', port: 22, username: '', auth_method: 'key' },
    { id: 8, host: 'bastion', port: 2022, username: 'ab', auth_method: 'password' },
  ],
})

const error = (code: string, hop: number | null = null) => ({ code, message: 'x', hop, hop_label: null })

describe('chain', () => {
  it('lists the jump hosts, then the resource, with accounts', () => {
    expect(chainOf(withHops)).toEqual([
      { index: 0, host: 'gw.example.org', address: 'alice@gw.example.org:22', isTarget: false },
      { index: 1, host: 'bastion', address: 'ab@bastion:2022', isTarget: false },
      { index: 2, host: 'login.example.org', address: 'alice@login.example.org:22', isTarget: true },
    ])
    expect(addressOf(withHops)).toBe('alice@login.example.org:22')
  })

  it('uses the caller’s account on shared resources', () => {
    const shared = makeResource({ shared: true, username: '', remote_username: 'lab_bob' })
    expect(addressOf(shared)).toBe('lab_bob@login.example.org:22')
  })

  it('has no chain for local', () => {
    const local = makeResource({ kind: 'local', host: '' })
    expect(chainOf(local)).toEqual([])
    expect(addressOf(local)).toBe('alice on the labgate server')
    expect(addressOf({ ...local, remote_username: '', username: '' })).toBe('the labgate server itself')
    expect(failingIndex(local, error('agent_failed'))).toBeNull()
  })

  it('marks the failing server', () => {
    expect(failingIndex(withHops, error('auth_failed', 0))).toBe(0)
    expect(failingIndex(withHops, error('timed_out', 1))).toBe(1)
    expect(failingIndex(withHops, error('timed_out', 9))).toBe(2)
    // No hop: the resource itself, for failures that belong to a server.
    expect(failingIndex(withHops, error('python_missing'))).toBe(2)
    expect(failingIndex(withHops, error('login_required'))).toBeNull()
    expect(failingIndex(withHops, null)).toBeNull()
  })

  it('has a hint for every error code, a hard stop for a changed host key', () => {
    const codes = [
      'host_key_unknown',
      'host_key_changed',
      'auth_failed',
      'name_not_found',
      'connection_refused',
      'timed_out',
      'unreachable',
      'python_missing',
      'python_too_old',
      'agent_failed',
      'login_required',
      'ssh_failed',
      'key_rejected',
      'cancelled',
      'not_found',
      'forbidden',
      'agent_unavailable',
      'something_new',
    ]
    for (const code of codes) expect(hintFor(error(code)).text).not.toBe('')
    const changed = hintFor(error('host_key_changed'))
    expect(changed.hardStop).toBe(true)
    expect(changed.text).toMatch(/administrator/)
    expect(hintFor(error('auth_failed')).hardStop).toBe(false)
    const python = hintFor(error('python_missing'), { python: '/opt/py3', can_edit: true })
    expect(python.suggestEdit).toBe(true)
    expect(python.text).toContain('/opt/py3')
    expect(python.text).toMatch(/python path/)
  })

  it('sends a user without an account on local to an administrator, and back to Try again', () => {
    const missing = hintFor(error('local_account_missing'))
    const refused = hintFor(error('local_account_refused'))
    for (const hint of [missing, refused]) {
      expect(hint.hardStop).toBe(false)
      expect(hint.text).toMatch(/administrator/)
      expect(hint.text).toContain('Try again')
    }
    expect(missing.title).toMatch(/missing/)
    expect(refused.title).toMatch(/refuses/)
    expect(refused.text).toMatch(/exception/)
  })
})
