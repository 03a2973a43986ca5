/**
 * The Resources pane mounted for real, against a fake server (fetch) and fake
 * WebSockets: the wiring between the list, the dialogs, the stores and the sockets.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, nextTick, type App } from 'vue'
import type { Resource } from '../../api/resources'
import { notices } from '../../stores/notices'
import { startSession } from '../../stores/session'
import { FakeSocket } from '../../testing/fakeSocket'
import { makeResource } from '../../testing/resources'
import ResourcesPane from './ResourcesPane.vue'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

type Route = (init: RequestInit | undefined) => Response
const routes: Record<string, Route> = {}
const requests: { key: string; body: unknown }[] = []

function serve(): void {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string, init?: RequestInit) => {
      const key = `${init?.method ?? 'GET'} ${input}`
      requests.push({ key, body: init?.body ? JSON.parse(String(init.body)) : undefined })
      const route = routes[key]
      if (!route) throw new Error(`unexpected request ${key}`)
      return route(init)
    }),
  )
}

/** Every WebSocket the pane opens. */
const sockets: FakeSocket[] = []
class BrowserSocket extends FakeSocket {
  constructor(url: string) {
    super(url)
    sockets.push(this)
  }
}
const socketFor = (path: string): FakeSocket => {
  const found = sockets.filter((s) => s.url.endsWith(path)).at(-1)
  if (!found) throw new Error(`no socket for ${path}`)
  return found
}

function user(role: 'admin' | 'user') {
  return {
    id: 1,
    username: 'alice',
    display_name: 'Alice',
    email: null,
    role,
    disabled: false,
    groups: [],
    created_at: '2026-11-22T10:00:00Z',
    last_login_at: null,
    must_change_password: false,
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let app: App | null = null
let root: HTMLElement

async function mountPane(role: 'admin' | 'user', resources: Resource[]): Promise<void> {
  routes['GET /api/v1/info'] = () => json(200, { name: 'labgate', version: '0', auth_providers: [], limits: {} })
  routes['GET /api/v1/auth/session'] = () => json(200, { user: user(role), csrf_token: 'csrf-1' })
  routes['GET /api/v1/preferences'] = () => json(200, { preferences: {}, schema: {} })
  routes['GET /api/v1/resources'] = () => json(200, { resources })
  serve()
  await startSession()
  root = document.createElement('div')
  document.body.append(root)
  app = createApp(ResourcesPane, { params: {} })
  app.mount(root)
  await flush()
}

const $ = <T extends HTMLElement = HTMLElement>(testid: string, scope: ParentNode = document): T | null =>
  scope.querySelector<T>(`[data-testid="${testid}"]`)
const $$ = (testid: string, scope: ParentNode = document): HTMLElement[] => [
  ...scope.querySelectorAll<HTMLElement>(`[data-testid="${testid}"]`),
]

async function click(testid: string, scope: ParentNode = document): Promise<void> {
  const el = $(testid, scope)
  if (!el) throw new Error(`no element ${testid}`)
  el.click()
  await flush()
}

async function type(el: HTMLInputElement | HTMLTextAreaElement | null, value: string): Promise<void> {
  if (!el) throw new Error('no input')
  el.value = value
  el.dispatchEvent(new Event('input'))
  await nextTick()
}

async function submit(testid: string): Promise<void> {
  await click(testid)
}

const cluster = makeResource({
  id: 3,
  name: 'cluster',
  hops: [{ id: 7, host: 'gw.example.org', port: 22, username: '', auth_method: 'key' }],
})

beforeEach(() => {
  for (const key of Object.keys(routes)) delete routes[key]
  requests.length = 0
  sockets.length = 0
  notices.value = []
  vi.stubGlobal('WebSocket', BrowserSocket)
})

afterEach(() => {
  app?.unmount()
  app = null
  root?.remove()
})

describe('Resources pane', () => {
  it('welcomes a first-time user and opens the Add dialog', async () => {
    await mountPane('user', [])
    expect($('resources-empty')).not.toBeNull()
    expect($('resources-list')).toBeNull()
    await click('resources-empty-add')
    expect($('resource-dialog')).not.toBeNull()
    // A user does not see the sharing section.
    expect($('resource-form-sharing')).toBeNull()
  })

  it('lists resources with address, chain, badges and status, and follows live status', async () => {
    const failed = makeResource({
      id: 4,
      name: 'hpc',
      shared: true,
      owner: null,
      can_edit: false,
      remote_username: 'lab_alice',
      hops: [{ id: 9, host: 'gw.example.org', port: 22, username: '', auth_method: 'key' }],
      status: {
        state: 'failed',
        message: 'Failed.',
        error: { code: 'timed_out', message: 'gw.example.org did not answer.', hop: 0, hop_label: 'lab_alice@gw:22' },
        since: null,
      },
    })
    const local = makeResource({
      id: 1,
      name: 'local',
      kind: 'local',
      host: '',
      shared: true,
      can_edit: true,
      remote_username: 'root',
      runs_as_root: true,
    })
    await mountPane('user', [local, cluster, failed])

    const rows = $$('resource-row')
    expect(rows.map((r) => r.dataset.resourceName)).toEqual(['local', 'cluster', 'hpc'])
    const [localRow, clusterRow, hpcRow] = rows as [HTMLElement, HTMLElement, HTMLElement]

    expect($('resource-address', clusterRow)?.textContent).toBe('alice@gw.example.org:22'.replace('gw.example.org', 'login.example.org'))
    expect($$('chain-node', clusterRow).map((n) => n.textContent?.trim())).toEqual([
      'labgate',
      'gw.example.org (jump host)',
      'login.example.org',
    ])
    expect($('resource-status', clusterRow)?.dataset.state).toBe('disconnected')
    expect($('resource-edit', clusterRow)).not.toBeNull()
    expect($('resource-delete', clusterRow)).not.toBeNull()

    expect($('resource-shared-badge', hpcRow)).not.toBeNull()
    expect($('resource-address', hpcRow)?.textContent).toBe('lab_alice@login.example.org:22')
    expect($('resource-status', hpcRow)?.dataset.state).toBe('failed')
    expect($('resource-status-message', hpcRow)?.textContent?.trim()).toBe('gw.example.org did not answer.')
    expect($$('chain-node', hpcRow).map((n) => n.dataset.state)).toEqual([undefined, 'failed', 'ok'])
    expect($('resource-edit', hpcRow)).toBeNull()
    expect($('resource-delete', hpcRow)).toBeNull()

    expect($('resource-local-badge', localRow)).not.toBeNull()
    expect($('root-badge', localRow)?.title).toBe("Commands here run as root, the machine's administrator account")
    expect($('resource-address', localRow)?.textContent).toBe('root on the labgate server')
    expect($('root-badge', clusterRow)).toBeNull()
    expect($('resource-delete', localRow)).toBeNull()
    expect($('resource-edit', localRow)).not.toBeNull()

    // Live status over the events socket.
    const events = socketFor('/api/v1/events')
    events.open()
    await flush()
    expect($('events-status')?.dataset.state).toBe('open')
    events.receive({
      type: 'resource_status',
      resource_id: 3,
      status: { state: 'connected', message: 'Connected.', error: null, since: '2026-11-22T10:00:00Z' },
    })
    await flush()
    expect($('resource-status', $$('resource-row')[1])?.dataset.state).toBe('connected')
    expect($('resource-disconnect', $$('resource-row')[1])).not.toBeNull()
    expect($('resource-connect', $$('resource-row')[1])).toBeNull()

    // The pane going away lets go of the socket.
    app?.unmount()
    app = null
    expect(events.closedWith).not.toBeNull()
  })

  it('adds a resource: client checks, server errors at the right jump host, nothing typed is lost', async () => {
    await mountPane('user', [])
    await click('resources-add')
    const dialog = $('resource-dialog') as HTMLElement
    await type($('resource-form-name', dialog) as HTMLInputElement, 'cluster')
    await type($('resource-form-host', dialog) as HTMLInputElement, 'login.example.org')
    await type($('resource-form-setup', dialog) as HTMLTextAreaElement, 'module load python\n\nsource x')
    await click('resource-form-hop-add', dialog)
    await click('resource-form-hop-add', dialog)
    expect($$('resource-form-hop', dialog)).toHaveLength(2)

    // Both jump hosts empty: said before sending.
    await submit('resource-form-save')
    expect(requests.filter((r) => r.key === 'POST /api/v1/resources')).toHaveLength(0)
    expect($$('hop-host-error', dialog)).toHaveLength(2)

    const [first, second] = $$('resource-form-hop', dialog) as [HTMLElement, HTMLElement]
    await type($('hop-host', first) as HTMLInputElement, 'gw.example.org')
    await type($('hop-host', second) as HTMLInputElement, 'bad host')
    await type($('hop-username', second) as HTMLInputElement, 'ab')
    // Move the second up: errors follow the rows, not the positions.
    await click('hop-up', second)
    expect($$('hop-host', dialog).map((el) => (el as HTMLInputElement).value)).toEqual(['bad host', 'gw.example.org'])

    routes['POST /api/v1/resources'] = () =>
      json(422, {
        error: {
          code: 'validation_error',
          message: 'The request is not valid.',
          details: [
            { field: 'body.hops.0.host', message: 'Not a host name.' },
            { field: 'body.setup_lines.1', message: 'Not allowed.' },
          ],
        },
      })
    await submit('resource-form-save')
    const sent = requests.find((r) => r.key === 'POST /api/v1/resources')?.body as Record<string, unknown>
    expect(sent).toMatchObject({
      name: 'cluster',
      host: 'login.example.org',
      username: 'alice',
      setup_lines: ['module load python', 'source x'],
      hops: [
        { host: 'bad host', username: 'ab', port: 22, auth_method: 'password' },
        { host: 'gw.example.org', username: '', port: 22, auth_method: 'password' },
      ],
    })
    const rowsNow = $$('resource-form-hop', dialog) as [HTMLElement, HTMLElement]
    expect($('hop-host-error', rowsNow[0])?.textContent?.trim()).toBe('Not a host name.')
    expect($('hop-host-error', rowsNow[1])).toBeNull()
    expect($('resource-form-setup-error', dialog)?.textContent?.trim()).toBe('Line 3: Not allowed.')
    expect(($('resource-form-name', dialog) as HTMLInputElement).value).toBe('cluster')
    expect(($('hop-username', rowsNow[0]) as HTMLInputElement).value).toBe('ab')

    routes['POST /api/v1/resources'] = () => json(201, makeResource({ id: 10, name: 'cluster' }))
    await type($('hop-host', rowsNow[0]) as HTMLInputElement, 'bastion.example.org')
    await submit('resource-form-save')
    expect($('resource-dialog')).toBeNull()
    expect($$('resource-row').map((r) => r.dataset.resourceName)).toEqual(['cluster'])
    expect(notices.value.map((n) => n.message)).toContain('Added “cluster”.')
  })

  it('offers administrators the sharing section, with groups and exceptions', async () => {
    await mountPane('admin', [])
    routes['GET /api/v1/groups'] = () =>
      json(200, { groups: [{ id: 1, name: 'physics', description: '', members: [] }, { id: 2, name: 'chem', description: '', members: [] }] })
    await click('resources-add')
    const dialog = $('resource-dialog') as HTMLElement
    expect($('resource-form-sharing', dialog)).not.toBeNull()
    expect($('resource-form-groups', dialog)).toBeNull()
    ;($('resource-form-shared', dialog) as HTMLInputElement).click()
    await flush()
    expect($('resource-form-username', dialog)).toBeNull()
    expect($('resource-form-account-preview', dialog)?.textContent).toBe('alice')
    ;($('resource-form-group-physics', dialog) as HTMLInputElement).click()
    await type($('resource-form-account-rule', dialog) as HTMLInputElement, 'lab_{username}')
    expect($('resource-form-account-preview', dialog)?.textContent).toBe('lab_alice')
    await click('resource-form-override-add', dialog)
    const row = $('resource-form-override', dialog) as HTMLElement
    await type($('override-user', row) as HTMLInputElement, 'bob')
    await type($('override-account', row) as HTMLInputElement, 'robert')
    await type($('resource-form-name', dialog) as HTMLInputElement, 'hpc')
    await type($('resource-form-host', dialog) as HTMLInputElement, 'hpc.example.org')
    ;($('resource-form-auth', dialog) as HTMLSelectElement).value = 'certificate'
    $('resource-form-auth', dialog)?.dispatchEvent(new Event('change'))

    routes['POST /api/v1/resources'] = () => json(201, makeResource({ id: 11, name: 'hpc', shared: true }))
    await submit('resource-form-save')
    expect(requests.find((r) => r.key === 'POST /api/v1/resources')?.body).toMatchObject({
      name: 'hpc',
      shared: true,
      username: '',
      auth_method: 'certificate',
      groups: ['physics'],
      account_rule: 'lab_{username}',
      account_overrides: { bob: 'robert' },
    })
  })

  it('edits a resource, forgetting a confirmed host key on the way', async () => {
    const withKey = makeResource({
      ...cluster,
      host_keys: [{ id: 5, host: 'gw.example.org', port: 22, fingerprint: 'SHA256:old', confirmed_at: '2026-11-22T10:00:00Z' }],
      remembered_keys: [{ hop_id: 7, fingerprint: 'SHA256:mine' }],
    })
    await mountPane('user', [withKey])
    await click('resource-edit')
    const dialog = $('resource-dialog') as HTMLElement
    expect(($('resource-form-name', dialog) as HTMLInputElement).value).toBe('cluster')
    expect($('host-key-fingerprint', dialog)?.textContent).toBe('SHA256:old')
    expect($('remembered-key', dialog)?.textContent).toContain('gw.example.org')

    await type($('resource-form-name', dialog) as HTMLInputElement, 'renamed')
    routes['DELETE /api/v1/resources/3/host-keys/5'] = () => new Response(null, { status: 204 })
    routes['GET /api/v1/resources/3'] = () => json(200, { ...withKey, host_keys: [] })
    await click('host-key-forget', dialog)
    await click('host-key-forget-confirm', dialog)
    expect($('resource-host-key', dialog)).toBeNull()
    // The form kept what was typed.
    expect(($('resource-form-name', dialog) as HTMLInputElement).value).toBe('renamed')

    routes['PATCH /api/v1/resources/3'] = () => json(200, { ...withKey, name: 'renamed', host_keys: [] })
    await submit('resource-form-save')
    const patch = requests.find((r) => r.key === 'PATCH /api/v1/resources/3')?.body as Record<string, unknown>
    expect(patch).toMatchObject({ name: 'renamed', hops: [{ id: 7, host: 'gw.example.org' }] })
    expect(patch).not.toHaveProperty('shared')
    expect($('resource-dialog')).toBeNull()
    expect($('resource-name')?.textContent).toBe('renamed')
  })

  it('deletes after confirmation', async () => {
    await mountPane('user', [cluster])
    await click('resource-delete')
    expect($('resource-delete-dialog')).not.toBeNull()
    await click('resource-delete-dialog-cancel')
    expect($('resource-delete-dialog')).toBeNull()
    expect(requests.some((r) => r.key.startsWith('DELETE'))).toBe(false)

    routes['DELETE /api/v1/resources/3'] = () => new Response(null, { status: 204 })
    await click('resource-delete')
    await click('resource-delete-dialog-confirm')
    expect($('resource-delete-dialog')).toBeNull()
    expect($$('resource-row')).toHaveLength(0)
    expect($('resources-empty')).not.toBeNull()
  })

  it('connects: second factor, host key, then shows the system panel', async () => {
    await mountPane('user', [cluster])
    await click('resource-connect')
    expect($('connect-dialog')).not.toBeNull()
    const ws = socketFor('/api/v1/resources/3/connect')
    ws.open()
    expect(ws.sent).toEqual([{ type: 'connect' }])
    ws.receive({ type: 'progress', message: 'Connecting to gw.example.org:22 (hop 1 of 2)' })
    ws.receive({
      type: 'prompt',
      id: 1,
      hop: 1,
      hop_label: 'alice@login:22',
      kind: 'keyboard-interactive',
      name: '',
      instructions: 'Use your app.',
      prompts: [
        { text: 'Verification code:', echo: false },
        { text: 'Project:', echo: true },
      ],
      error: null,
    })
    await flush()
    expect($('connect-log-line')?.textContent?.trim()).toBe('Connecting to gw.example.org:22 (hop 1 of 2)')
    expect($('connect-prompt')?.dataset.kind).toBe('keyboard-interactive')
    const code = $('connect-ki-0') as HTMLInputElement
    const project = $('connect-ki-1') as HTMLInputElement
    expect(code.type).toBe('password')
    expect(project.type).toBe('text')
    expect($$('chain-node', $('connect-chain') as HTMLElement).map((n) => n.dataset.state)).toEqual([
      undefined,
      'ok',
      'active',
    ])
    await type(code, '123456')
    await type(project, 'p1')
    await click('connect-answer')
    expect(ws.sent.at(-1)).toEqual({ type: 'answer', id: 1, answers: ['123456', 'p1'] })

    ws.receive({
      type: 'host_key',
      hop: 1,
      hop_label: 'alice@login:22',
      host: 'login.example.org',
      port: 22,
      fingerprint: 'SHA256:Ab12',
      public_key: 'ssh-ed25519 AAAA',
      can_confirm: true,
    })
    await flush()
    expect($('connect-host-key-fingerprint')?.textContent?.trim()).toBe('SHA256:Ab12')
    expect($('connect-host-key')?.textContent).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub')
    await click('connect-host-key-trust')
    expect(ws.sent.at(-1)).toEqual({ type: 'confirm_host_key', accept: true })

    routes['GET /api/v1/resources/3/system'] = () => json(500, { error: { code: 'internal_error', message: 'not used' } })
    ws.receive({
      type: 'connected',
      status: { state: 'connected', message: 'Connected.', error: null, since: null },
      system: {
        hostname: 'login1',
        user: 'alice',
        home: '/home/alice',
        platform: 'Linux 6.1',
        python: '3.11.2',
        cpus: 8,
        load: [2, 1, 0.5],
        memory: { total: 16 * 1024 ** 3, available: 8 * 1024 ** 3 },
        home_disk: { total: 100 * 1024 ** 3, free: 25 * 1024 ** 3 },
        gpus: [{ index: 0, name: 'A100', memory_total: 40 * 1024 ** 3, memory_used: 10 * 1024 ** 3, utilization: 37 }],
      },
    })
    await flush()
    expect($('connect-dialog')).toBeNull()
    expect($('resource-status')?.dataset.state).toBe('connected')
    expect($('system-panel')).not.toBeNull()
    expect($('system-hostname')?.textContent?.trim()).toBe('login1')
    expect($('system-memory')?.textContent).toContain('8 GiB of 16 GiB')
    expect($('system-disk')?.textContent).toContain('75 GiB of 100 GiB')
    expect($('system-load-1')?.querySelector('[role="meter"]')?.getAttribute('aria-valuenow')).toBe('25')
    expect($('system-gpu-name')?.textContent).toContain('A100')
    expect(requests.some((r) => r.key.endsWith('/system'))).toBe(false)
  })

  it('completes a partial system answer from the connect socket with GET …/system', async () => {
    await mountPane('user', [cluster])
    await click('resource-connect')
    const ws = socketFor('/api/v1/resources/3/connect')
    const partial = {
      hostname: 'vm',
      user: 'alice',
      home: '/home/alice',
      platform: 'Linux',
      python: '3.11.7',
      cpus: 2,
      load: [0.5, 0.4, 0.3],
      memory: { total: 8 * 1024 ** 3, available: 4 * 1024 ** 3 },
      home_disk: { total: 100, free: 50 },
    }
    // The next request (GET …/system) answers when the test says so.
    let answer: (response: Response) => void = () => {}
    vi.mocked(fetch).mockImplementationOnce(
      () =>
        new Promise<Response>((resolve) => {
          answer = resolve
        }),
    )
    ws.open()
    ws.receive({
      type: 'connected',
      status: { state: 'connected', message: 'Connected.', error: null, since: null },
      system: partial,
    })
    await flush()
    expect($('system-hostname')?.textContent?.trim()).toBe('vm')
    expect($('system-gpus-unknown')?.textContent).toMatch(/Reading/)
    expect(vi.mocked(fetch).mock.calls.at(-1)?.[0]).toBe('/api/v1/resources/3/system')
    answer(json(200, { ...partial, gpus: [] }))
    await flush()
    expect($('system-gpus-unknown')).toBeNull()
    expect($('system-no-gpus')).not.toBeNull()
  })

  it('explains a changed host key as a hard stop, with the failing hop marked', async () => {
    await mountPane('user', [cluster])
    await click('resource-connect')
    const ws = socketFor('/api/v1/resources/3/connect')
    ws.open()
    ws.receive({
      type: 'failed',
      error: { code: 'host_key_changed', message: 'The host key of gw.example.org changed.', hop: 0, hop_label: 'alice@gw:22' },
    })
    await flush()
    expect($('connect-failure')?.dataset.code).toBe('host_key_changed')
    expect($('connect-failure-message')?.textContent?.trim()).toBe('The host key of gw.example.org changed.')
    expect($('connect-failure-hint')?.textContent).toMatch(/Do not connect/)
    expect($('connect-retry')).toBeNull()
    expect($$('chain-node', $('connect-chain') as HTMLElement).map((n) => n.dataset.state)).toEqual([
      undefined,
      'failed',
      'ok',
    ])
    // The list agrees.
    expect($('resource-status')?.dataset.state).toBe('failed')
    await click('connect-close')
    expect($('connect-dialog')).toBeNull()
  })

  it('sends a key with its passphrase, offers Edit for a missing python, cancels on Esc', async () => {
    await mountPane('user', [cluster])
    await click('resource-connect')
    let ws = socketFor('/api/v1/resources/3/connect')
    ws.open()
    ws.receive({ type: 'prompt', id: 4, hop: 0, hop_label: 'alice@gw:22', kind: 'key', prompts: [], error: null })
    await flush()
    await click('connect-answer')
    expect($('connect-key-error')).not.toBeNull()
    await type($('connect-key-text') as HTMLTextAreaElement, '-----BEGIN OPENSSH PRIVATE KEY-----\nx')
    await type($('connect-key-passphrase') as HTMLInputElement, 'pp')
    ;($('connect-key-remember') as HTMLInputElement).click()
    await click('connect-answer')
    expect(ws.sent.at(-1)).toEqual({
      type: 'answer',
      id: 4,
      private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nx',
      passphrase: 'pp',
      remember: true,
    })
    ws.receive({ type: 'failed', error: { code: 'python_missing', message: 'python3: not found', hop: null, hop_label: null } })
    await flush()
    expect($('connect-failure-hint')?.textContent).toMatch(/python path/)
    await click('connect-failure-edit')
    expect($('connect-dialog')).toBeNull()
    expect($('resource-dialog')).not.toBeNull()
    await click('resource-form-cancel')

    await click('resource-connect')
    ws = socketFor('/api/v1/resources/3/connect')
    ws.open()
    $('connect-dialog')?.dispatchEvent(new Event('cancel', { cancelable: true }))
    await flush()
    expect(ws.sent.at(-1)).toEqual({ type: 'cancel' })
    expect(ws.closedWith).not.toBeNull()
    expect($('connect-dialog')).toBeNull()
  })

  it('explains that an administrator must confirm a shared resource’s key', async () => {
    await mountPane('user', [cluster])
    await click('resource-connect')
    const ws = socketFor('/api/v1/resources/3/connect')
    ws.open()
    ws.receive({
      type: 'host_key',
      hop: 1,
      host: 'login.example.org',
      port: 22,
      fingerprint: 'SHA256:x',
      public_key: 'ssh-rsa AAAA',
      can_confirm: false,
    })
    await flush()
    expect($('connect-host-key-admin')).not.toBeNull()
    expect($('connect-host-key-trust')).toBeNull()
    expect($('connect-host-key')?.textContent).toContain('ssh_host_rsa_key.pub')
    await click('connect-host-key-cancel')
    expect(ws.sent.slice(-2)).toEqual([{ type: 'confirm_host_key', accept: false }, { type: 'cancel' }])
    expect($('connect-dialog')).toBeNull()
  })

  it('shows Details, and asks to connect when a login is needed', async () => {
    await mountPane('user', [cluster])
    routes['GET /api/v1/resources/3/system'] = () =>
      json(409, { error: { code: 'login_required', message: 'A password must be typed in again.' } })
    await click('resource-details')
    expect($('resource-details')?.getAttribute('aria-expanded')).toBe('true')
    expect($('system-login-required')).not.toBeNull()
    await click('system-connect')
    expect($('connect-dialog')).not.toBeNull()
  })

  it('manages the user’s SSH key', async () => {
    await mountPane('user', [])
    routes['GET /api/v1/users/me/ssh-key'] = () => json(404, { error: { code: 'not_found', message: 'No key.' } })
    await click('ssh-key-toggle')
    expect($('ssh-key-toggle')?.getAttribute('aria-expanded')).toBe('true')
    expect($('ssh-key-none')).not.toBeNull()
    const key = { public_key: 'ssh-ed25519 AAAAC3 labgate:alice', fingerprint: 'SHA256:k1', created_at: '2026-11-22T10:00:00Z' }
    routes['POST /api/v1/users/me/ssh-key'] = () => json(201, key)
    await click('ssh-key-generate')
    expect(($('ssh-key-public') as HTMLTextAreaElement).value).toBe('ssh-ed25519 AAAAC3 labgate:alice')
    expect($('ssh-key-fingerprint')?.textContent).toBe('SHA256:k1')

    await click('ssh-key-replace')
    expect($('ssh-key-replace-dialog')?.textContent).toMatch(/stops working/)
    routes['POST /api/v1/users/me/ssh-key'] = () => json(201, { ...key, public_key: 'ssh-ed25519 NEW labgate:alice' })
    await click('ssh-key-replace-dialog-confirm')
    expect($('ssh-key-replace-dialog')).toBeNull()
    expect(($('ssh-key-public') as HTMLTextAreaElement).value).toBe('ssh-ed25519 NEW labgate:alice')

    routes['DELETE /api/v1/users/me/ssh-key'] = () => new Response(null, { status: 204 })
    await click('ssh-key-delete')
    await click('ssh-key-delete-dialog-confirm')
    expect($('ssh-key-none')).not.toBeNull()
    // No CA for users.
    expect($('ssh-ca-toggle')).toBeNull()
  })

  it('shows administrators the SSH CA', async () => {
    await mountPane('admin', [])
    routes['GET /api/v1/ssh-ca'] = () =>
      json(200, { public_key: 'ssh-ed25519 CAKEY labgate-ca', fingerprint: 'SHA256:ca', sshd_config: 'TrustedUserCAKeys /etc/ssh/labgate_ca.pub' })
    await click('ssh-ca-toggle')
    expect(($('ssh-ca-public') as HTMLTextAreaElement).value).toBe('ssh-ed25519 CAKEY labgate-ca')
    expect(($('ssh-ca-config') as HTMLInputElement).value).toBe('TrustedUserCAKeys /etc/ssh/labgate_ca.pub')
    expect($('ssh-ca')?.textContent).toContain('/etc/ssh/labgate_ca.pub')
  })
})
