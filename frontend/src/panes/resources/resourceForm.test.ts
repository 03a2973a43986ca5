import { describe, expect, it } from 'vitest'
import { ApiError } from '../../api/client'
import { makeResource } from '../../testing/resources'
import {
  checkForm,
  createPayload,
  emptyForm,
  emptyHop,
  emptyOverride,
  errorsFromApi,
  firstErrorKey,
  formFromResource,
  formKeyOf,
  hasErrors,
  methodsFor,
  moveRow,
  parsePort,
  payloadFromForm,
  overridesOf,
  remoteAccount,
  setupLines,
  type FormContext,
  type ResourceForm,
} from './resourceForm'

const create: FormContext = { mode: 'create', kind: 'ssh', isAdmin: false }
const createAsAdmin: FormContext = { mode: 'create', kind: 'ssh', isAdmin: true }
const edit: FormContext = { mode: 'edit', kind: 'ssh', isAdmin: false }
const editAsAdmin: FormContext = { mode: 'edit', kind: 'ssh', isAdmin: true }
const editLocal: FormContext = { mode: 'edit', kind: 'local', isAdmin: true }

function filled(overrides: Partial<ResourceForm> = {}): ResourceForm {
  return { ...emptyForm('alice'), name: 'cluster', host: 'login.example.org', ...overrides }
}

function hop(host: string, extra: Partial<ReturnType<typeof emptyHop>> = {}) {
  return { ...emptyHop(), host, ...extra }
}

function validation(...details: [field: string, message: string][]): ApiError {
  return new ApiError(
    422,
    'validation_error',
    'The request is not valid.',
    details.map(([field, message]) => ({ field, message })),
  )
}

describe('form <-> payload', () => {
  it('turns a new resource into a POST body with defaults filled in', () => {
    const form = filled({
      port: '',
      python: '',
      setup: '  module load python \n\n source ~/venv/bin/activate\n',
      description: ' GPU nodes ',
      hops: [hop(' gw.example.org ', { port: '2222', username: '', auth_method: 'key' })],
    })
    expect(createPayload(form, false)).toEqual({
      name: 'cluster',
      host: 'login.example.org',
      port: 22,
      username: 'alice',
      auth_method: 'password',
      python: 'python3',
      setup_lines: ['module load python', 'source ~/venv/bin/activate'],
      description: 'GPU nodes',
      hops: [{ host: 'gw.example.org', port: 2222, username: '', auth_method: 'key' }],
    })
  })

  it('round-trips a resource through the form, keeping hop ids', () => {
    const resource = makeResource({
      port: 2200,
      python: '/opt/py/bin/python3',
      setup_lines: ['module load python', 'export OMP_NUM_THREADS=4'],
      hops: [
        { id: 7, host: 'gw.example.org', port: 22, username: '', auth_method: 'key' },
        { id: 8, host: 'bastion', port: 2022, username: 'ab', auth_method: 'keyboard-interactive' },
      ],
    })
    const form = formFromResource(resource)
    expect(form.port).toBe('2200')
    expect(form.setup).toBe('module load python\nexport OMP_NUM_THREADS=4')
    expect(form.hops.map((h) => [h.id, h.host, h.port])).toEqual([
      [7, 'gw.example.org', ''],
      [8, 'bastion', '2022'],
    ])
    expect(payloadFromForm(form, edit)).toEqual({
      name: 'cluster',
      host: 'login.example.org',
      port: 2200,
      username: 'alice',
      auth_method: 'password',
      python: '/opt/py/bin/python3',
      setup_lines: ['module load python', 'export OMP_NUM_THREADS=4'],
      description: '',
      hops: [
        { id: 7, host: 'gw.example.org', port: 22, username: '', auth_method: 'key' },
        { id: 8, host: 'bastion', port: 2022, username: 'ab', auth_method: 'keyboard-interactive' },
      ],
    })
  })

  it('sends hops in their new order after a move, new ones without id', () => {
    const form = formFromResource(
      makeResource({
        hops: [
          { id: 7, host: 'first', port: 22, username: '', auth_method: 'key' },
          { id: 8, host: 'second', port: 22, username: '', auth_method: 'key' },
        ],
      }),
    )
    form.hops = [...moveRow(form.hops, 1, -1), hop('third')]
    const body = payloadFromForm(form, edit)
    expect(body.hops).toEqual([
      { id: 8, host: 'second', port: 22, username: '', auth_method: 'key' },
      { id: 7, host: 'first', port: 22, username: '', auth_method: 'key' },
      { host: 'third', port: 22, username: '', auth_method: 'password' },
    ])
  })

  it('never sends `shared` on edit, nor sharing fields for own resources', () => {
    const body = payloadFromForm(filled(), editAsAdmin)
    expect(body).not.toHaveProperty('shared')
    expect(body).not.toHaveProperty('groups')
    expect(body).not.toHaveProperty('account_rule')
    expect(body).not.toHaveProperty('account_overrides')
  })

  it('shares a new resource with groups, a rule and per-user accounts (administrators)', () => {
    const form = filled({
      shared: true,
      username: 'ignored',
      auth_method: 'certificate',
      groups: ['physics', 'chemistry'],
      account_rule: ' lab_{username} ',
      overrides: [
        { ...emptyOverride(), user: 'bob', account: 'robert' },
        { ...emptyOverride(), user: ' ', account: '' }, // an empty row is left out
      ],
    })
    expect(createPayload(form, true)).toMatchObject({
      shared: true,
      username: '',
      auth_method: 'certificate',
      groups: ['physics', 'chemistry'],
      account_rule: 'lab_{username}',
      account_overrides: { bob: 'robert' },
    })
  })

  it('edits a shared resource without `shared` but with its sharing fields', () => {
    const form = formFromResource(
      makeResource({ shared: true, owner: null, groups: ['physics'], account_overrides: { bob: 'robert' } }),
    )
    const body = payloadFromForm(form, editAsAdmin)
    expect(body).not.toHaveProperty('shared')
    expect(body).toMatchObject({ groups: ['physics'], account_rule: '{username}', account_overrides: { bob: 'robert' } })
  })

  it('sends only what a local resource has: its accounts for administrators', () => {
    const form = formFromResource(
      makeResource({ kind: 'local', name: 'local', host: '', shared: true, account_overrides: { boss: 'root' } }),
    )
    form.setup = 'module load python'
    const basics = { name: 'local', description: '', python: 'python3', setup_lines: ['module load python'] }
    expect(payloadFromForm(form, editLocal)).toEqual({
      ...basics,
      account_rule: '{username}',
      account_overrides: { boss: 'root' },
    })
    expect(payloadFromForm(form, { ...editLocal, isAdmin: false })).toEqual(basics)
  })

  it('numbers set-up lines as the user sees them', () => {
    expect(setupLines('a\n\n  b  \r\nc')).toEqual({ lines: ['a', 'b', 'c'], lineNumbers: [1, 3, 4] })
    expect(setupLines('')).toEqual({ lines: [], lineNumbers: [] })
  })

  it('reads ports', () => {
    expect(parsePort('')).toBeNull()
    expect(parsePort(' 2222 ')).toBe(2222)
    for (const bad of ['0', '65536', '22a', '-1', '2.5']) expect(parsePort(bad)).toBeNaN()
  })

  it('computes the remote account like the server', () => {
    expect(remoteAccount('{username}', {}, 'alice')).toBe('alice')
    expect(remoteAccount('lab_{username}', {}, 'alice')).toBe('lab_alice')
    // An exception beats the rule (the dialog's "For you" preview uses the rows typed so far).
    const overrides = overridesOf({ overrides: [{ key: 1, user: ' alice ', account: ' lgt-a ' }, { key: 2, user: '', account: '' }] })
    expect(overrides).toEqual({ alice: 'lgt-a' })
    expect(remoteAccount('root', overrides, 'alice')).toBe('lgt-a')
    expect(remoteAccount('root', overrides, 'bob')).toBe('root')
    expect(remoteAccount('lab_{username}', { alice: 'asmith' }, 'alice')).toBe('asmith')
  })

  it('offers certificates for shared resources only', () => {
    expect(methodsFor(false)).not.toContain('certificate')
    expect(methodsFor(true)).toContain('certificate')
  })
})

describe('checks before sending', () => {
  it('accepts a complete form', () => {
    expect(checkForm(filled(), create)).toEqual({})
  })

  it('asks for name, host and user, and a valid port', () => {
    const errors = checkForm({ ...emptyForm(''), port: '99999' }, create)
    expect(Object.keys(errors).sort()).toEqual(['host', 'name', 'port', 'username'])
    expect(hasErrors(errors)).toBe(true)
  })

  it('checks each jump host, keyed by its row', () => {
    const good = hop('gw')
    const bad = hop('', { port: 'x' })
    const errors = checkForm(filled({ hops: [good, bad] }), create)
    expect(Object.keys(errors).sort()).toEqual([`hops.${bad.key}.host`, `hops.${bad.key}.port`])
  })

  it('refuses certificates on own resources', () => {
    const h = hop('gw', { auth_method: 'certificate' })
    const errors = checkForm(filled({ auth_method: 'certificate', hops: [h] }), create)
    expect(errors.auth_method).toHaveLength(1)
    expect(errors[`hops.${h.key}.auth_method`]).toHaveLength(1)
  })

  it('checks the sharing fields of a shared resource', () => {
    const a = { ...emptyOverride(), user: 'bob', account: '' }
    const b = { ...emptyOverride(), user: 'bob', account: 'x' }
    const errors = checkForm(filled({ shared: true, username: '', account_rule: ' ', overrides: [a, b] }), createAsAdmin)
    expect(errors.username).toBeUndefined() // the rule replaces it
    expect(errors.account_rule).toHaveLength(1)
    expect(errors[`overrides.${a.key}.account`]).toHaveLength(1)
    expect(errors[`overrides.${b.key}.user`]?.[0]).toMatch(/twice/)
  })

  it('asks only for a name and the accounts on the local resource', () => {
    expect(checkForm({ ...emptyForm(''), name: 'local' }, editLocal)).toEqual({})
    expect(Object.keys(checkForm(emptyForm(''), editLocal))).toEqual(['name'])
    expect(Object.keys(checkForm({ ...emptyForm(''), name: 'local', account_rule: ' ' }, editLocal))).toEqual([
      'account_rule',
    ])
  })
})

describe('server errors to fields', () => {
  it('puts top-level fields next to their inputs', () => {
    const errors = errorsFromApi(
      validation(['body.name', 'A resource with this name exists.'], ['body.port', 'Input should be less than 65536']),
      filled(),
      create,
    )
    expect(errors).toEqual({
      name: ['A resource with this name exists.'],
      port: ['Input should be less than 65536'],
    })
  })

  it('finds the jump host by its index in the body, even after moves', () => {
    const first = hop('a')
    const second = hop('b')
    const form = filled({ hops: [second, first] })
    const errors = errorsFromApi(
      validation(['body.hops.0.host', 'Not a host name.'], ['body.hops.1.port', 'Too big.'], ['body.hops.1', 'Bad hop.']),
      form,
      create,
    )
    expect(errors).toEqual({
      [`hops.${second.key}.host`]: ['Not a host name.'],
      [`hops.${first.key}.port`]: ['Too big.'],
      [`hops.${first.key}.host`]: ['Bad hop.'],
    })
  })

  it('names the line of a refused set-up line', () => {
    const form = filled({ setup: 'module load python\n\nrm -rf /\n' })
    expect(errorsFromApi(validation(['body.setup_lines.1', 'Not allowed.']), form, create)).toEqual({
      setup: ['Line 3: Not allowed.'],
    })
    expect(errorsFromApi(validation(['body.setup_lines', 'Too many lines.']), form, create)).toEqual({
      setup: ['Too many lines.'],
    })
  })

  it('finds per-user accounts by user name', () => {
    const row = { ...emptyOverride(), user: 'bob', account: 'rob ert' }
    const form = filled({ shared: true, overrides: [row] })
    expect(
      errorsFromApi(
        validation(['body.account_overrides.bob', 'Not a user name.'], ['body.account_overrides.bob.[key]', 'No such user.']),
        form,
        createAsAdmin,
      ),
    ).toEqual({
      [`overrides.${row.key}.account`]: ['Not a user name.'],
      [`overrides.${row.key}.user`]: ['No such user.'],
    })
  })

  it('shows a user name error of a shared resource at the account rule', () => {
    const form = filled({ shared: true })
    expect(errorsFromApi(validation(['body.username', 'Required.']), form, createAsAdmin)).toEqual({
      account_rule: ['Required.'],
    })
  })

  it('puts what the form does not show above it', () => {
    const form = filled()
    expect(
      errorsFromApi(
        validation(['body', 'Unknown field.'], ['body.groups', 'Only for shared resources.'], ['query.x', 'Odd.']),
        form,
        create,
      ),
    ).toEqual({ form: ['Unknown field.', 'Only for shared resources.', 'Odd.'] })
    const local = formFromResource(makeResource({ kind: 'local' }))
    expect(errorsFromApi(validation(['body.host', 'Not for local.']), local, editLocal)).toEqual({
      form: ['Not for local.'],
    })
  })

  it('puts other failures above the form, and ignores a 401', () => {
    expect(errorsFromApi(new ApiError(403, 'forbidden', 'Only administrators may share.'), filled(), create)).toEqual({
      form: ['Only administrators may share.'],
    })
    expect(errorsFromApi(new ApiError(409, 'conflict', 'Name taken.'), filled(), create)).toEqual({ form: ['Name taken.'] })
    expect(errorsFromApi(new ApiError(401, 'not_authenticated', 'Log in.'), filled(), create)).toBeNull()
    expect(errorsFromApi(new TypeError('boom'), filled(), create)).toEqual({ form: ['boom'] })
  })

  it('falls back to the error message for a detail without one', () => {
    expect(errorsFromApi(validation(['body.name', '']), filled(), create)).toEqual({ name: ['The request is not valid.'] })
  })

  it('maps server field names without the body prefix too', () => {
    expect(formKeyOf('name', filled(), create)).toBe('name')
    expect(formKeyOf('', filled(), create)).toBeNull()
    expect(formKeyOf('body.hops.5.host', filled(), create)).toBe('hops')
  })

  it('finds the first error in the order of the form', () => {
    const h = hop('')
    const form = filled({ hops: [h] })
    expect(firstErrorKey({ setup: ['x'], [`hops.${h.key}.host`]: ['y'] }, form)).toBe(`hops.${h.key}.host`)
    expect(firstErrorKey({ description: ['x'], name: ['y'] }, form)).toBe('name')
    expect(firstErrorKey({}, form)).toBeNull()
  })
})

describe('moveRow', () => {
  it('moves within bounds only', () => {
    expect(moveRow([1, 2, 3], 0, 1)).toEqual([2, 1, 3])
    expect(moveRow([1, 2, 3], 2, -1)).toEqual([1, 3, 2])
    const rows = [1, 2, 3]
    expect(moveRow(rows, 0, -1)).toBe(rows)
    expect(moveRow(rows, 2, 1)).toBe(rows)
  })
})
