import { describe, expect, it } from 'vitest'
import { inAdminOrder } from './adminOrder'

const pane = (kind: string): { kind: string } => ({ kind })

describe('inAdminOrder', () => {
  it('puts the console panes in the menu order and the others after, as registered', () => {
    const registered = ['extension-requests', 'sky-map', 'users', 'audit-log', 'quotas', 'another', 'groups']
    expect(inAdminOrder(registered.map(pane)).map((p) => p.kind)).toEqual([
      'users',
      'groups',
      'quotas',
      'extension-requests',
      'audit-log',
      'sky-map',
      'another',
    ])
  })

  it('leaves the list it is given as it was', () => {
    const given = [pane('audit-log'), pane('users')]
    inAdminOrder(given)
    expect(given.map((p) => p.kind)).toEqual(['audit-log', 'users'])
  })
})
