import { describe, expect, it } from 'vitest'
import {
  CONNECTION_LOST,
  connectStep,
  errorFromClose,
  initialConnectState,
  type ConnectEvent,
  type ConnectState,
  type ConnectStep,
} from './connectMachine'

const server = (message: Record<string, unknown> & { type: string }): ConnectEvent => ({ type: 'server', message })

/** Run events from the start; the last step, and every message sent on the way. */
function run(...events: ConnectEvent[]): ConnectStep & { sent: unknown[] } {
  let step: ConnectStep = { state: initialConnectState(), send: [], close: false }
  const sent: unknown[] = []
  for (const event of events) {
    step = connectStep(step.state, event)
    sent.push(...step.send)
  }
  return { ...step, sent }
}

const open: ConnectEvent = { type: 'socket_open' }

const passwordPrompt = {
  type: 'prompt',
  id: 1,
  hop: 0,
  hop_label: 'alice@gw:22',
  kind: 'password',
  name: '',
  instructions: '',
  prompts: [{ text: 'Password:', echo: false }],
  error: null,
}

const otpPrompt = {
  type: 'prompt',
  id: 2,
  hop: 1,
  hop_label: 'alice@login:22',
  kind: 'keyboard-interactive',
  name: 'Two-factor',
  instructions: 'Open your authenticator app.',
  prompts: [
    { text: 'Verification code:', echo: false },
    { text: 'Project:', echo: true },
  ],
  error: null,
}

const keyPrompt = { ...passwordPrompt, id: 3, kind: 'key', prompts: [], hop: 1 }

const hostKey = {
  type: 'host_key',
  hop: 1,
  hop_label: 'alice@login:22',
  host: 'login.example.org',
  port: 22,
  fingerprint: 'SHA256:abc',
  public_key: 'ssh-ed25519 AAAA',
  can_confirm: true,
}

const connectedStatus = { state: 'connected', message: 'Connected.', error: null, since: '2026-11-22T10:00:00Z' }
const system = {
  hostname: 'login1',
  user: 'alice',
  home: '/home/alice',
  platform: 'Linux',
  python: '3.11.2',
  cpus: 8,
  load: [1, 1, 1],
  memory: { total: 16, available: 8 },
  home_disk: { total: 100, free: 50 },
  gpus: [],
}

describe('the connect conversation', () => {
  it('says "connect" once the socket opens', () => {
    const step = run(open)
    expect(step.state.phase).toBe('working')
    expect(step.send).toEqual([{ type: 'connect' }])
    expect(step.close).toBe(false)
  })

  it('ignores server messages before the socket opened, and a second open', () => {
    expect(run(server({ type: 'progress', message: 'x' })).state.log).toEqual([])
    expect(run(open, open).send).toEqual([])
  })

  it('logs progress', () => {
    const step = run(open, server({ type: 'progress', message: 'Connecting to gw.example.org:22 (hop 1 of 2)' }))
    expect(step.state.log).toEqual([{ id: 1, kind: 'progress', text: 'Connecting to gw.example.org:22 (hop 1 of 2)' }])
    expect(step.state.phase).toBe('working')
  })

  it('walks progress -> prompt -> answer -> host_key -> confirm -> connected', () => {
    const events: ConnectEvent[] = [
      open,
      server({ type: 'progress', message: 'Connecting to gw.example.org:22 (hop 1 of 2)' }),
      server(passwordPrompt),
    ]
    let step = run(...events)
    expect(step.state.phase).toBe('prompt')
    expect(step.state.prompt).toMatchObject({ id: 1, kind: 'password', hop_label: 'alice@gw:22' })
    expect(step.state.activeHop).toBe(0)

    events.push({ type: 'answer', answers: ['secret'] })
    step = run(...events)
    expect(step.send).toEqual([{ type: 'answer', id: 1, answers: ['secret'] }])
    expect(step.state.phase).toBe('working')
    expect(step.state.prompt).toBeNull()
    // The password itself is never logged.
    expect(JSON.stringify(step.state.log)).not.toContain('secret')

    events.push(server(hostKey))
    step = run(...events)
    expect(step.state.phase).toBe('host_key')
    expect(step.state.hostKey).toMatchObject({ host: 'login.example.org', fingerprint: 'SHA256:abc', can_confirm: true })
    expect(step.state.activeHop).toBe(1)

    events.push({ type: 'confirm_host_key', accept: true })
    step = run(...events)
    expect(step.send).toEqual([{ type: 'confirm_host_key', accept: true }])
    expect(step.state.phase).toBe('working')

    events.push(server({ type: 'connected', status: connectedStatus, system }))
    step = run(...events)
    expect(step.state.phase).toBe('connected')
    expect(step.state.finished).toBe(true)
    expect(step.state.status).toEqual(connectedStatus)
    expect(step.state.system).toEqual(system)
    expect(step.close).toBe(true)
    expect(step.sent).toEqual([
      { type: 'connect' },
      { type: 'answer', id: 1, answers: ['secret'] },
      { type: 'confirm_host_key', accept: true },
    ])
  })

  it('answers keyboard-interactive prompts with one answer per field', () => {
    const step = run(open, server(otpPrompt), { type: 'answer', answers: ['123456', 'p1'] })
    expect(step.send).toEqual([{ type: 'answer', id: 2, answers: ['123456', 'p1'] }])
  })

  it('keeps the echo flag of each prompt', () => {
    const step = run(open, server(otpPrompt))
    expect(step.state.prompt?.prompts).toEqual([
      { text: 'Verification code:', echo: false },
      { text: 'Project:', echo: true },
    ])
    expect(step.state.prompt?.instructions).toBe('Open your authenticator app.')
  })

  it('answers a key prompt with the key, passphrase and remember flag', () => {
    const step = run(open, server(keyPrompt), {
      type: 'answer_key',
      private_key: '-----BEGIN OPENSSH PRIVATE KEY-----',
      passphrase: 'pp',
      remember: true,
    })
    expect(step.send).toEqual([
      { type: 'answer', id: 3, private_key: '-----BEGIN OPENSSH PRIVATE KEY-----', passphrase: 'pp', remember: true },
    ])
    expect(step.state.phase).toBe('working')
  })

  it('does not send the wrong kind of answer', () => {
    expect(run(open, server(keyPrompt), { type: 'answer', answers: ['x'] }).send).toEqual([])
    expect(
      run(open, server(passwordPrompt), { type: 'answer_key', private_key: 'k', passphrase: '', remember: false }).send,
    ).toEqual([])
    expect(run(open, { type: 'answer', answers: ['x'] }).send).toEqual([])
  })

  it('shows the error of a repeated prompt (wrong passphrase)', () => {
    const step = run(
      open,
      server(keyPrompt),
      { type: 'answer_key', private_key: 'k', passphrase: 'bad', remember: false },
      server({ ...keyPrompt, id: 4, error: 'Wrong passphrase.' }),
    )
    expect(step.state.phase).toBe('prompt')
    expect(step.state.prompt).toMatchObject({ id: 4, error: 'Wrong passphrase.' })
    // Shown with the question, not repeated in the log.
    expect(step.state.log.map((l) => l.text)).not.toContain('Wrong passphrase.')
  })

  it('gives a password prompt without text a default one', () => {
    const step = run(open, server({ ...passwordPrompt, prompts: [] }))
    expect(step.state.prompt?.prompts).toEqual([{ text: 'Password:', echo: false }])
  })

  it('ignores malformed prompts and unknown message types', () => {
    const before = run(open)
    expect(run(open, server({ type: 'prompt', kind: 'password' })).state).toEqual(before.state)
    expect(run(open, server({ ...passwordPrompt, kind: 'telepathy' })).state).toEqual(before.state)
    expect(run(open, server({ type: 'hologram' })).state).toEqual(before.state)
  })

  it('declining a host key says no, cancels and closes', () => {
    const step = run(open, server(hostKey), { type: 'confirm_host_key', accept: false })
    expect(step.send).toEqual([{ type: 'confirm_host_key', accept: false }, { type: 'cancel' }])
    expect(step.state.phase).toBe('cancelled')
    expect(step.state.finished).toBe(true)
    expect(step.close).toBe(true)
  })

  it('never trusts a key the user may not confirm', () => {
    const step = run(open, server({ ...hostKey, can_confirm: false }), { type: 'confirm_host_key', accept: true })
    expect(step.sent).not.toContainEqual({ type: 'confirm_host_key', accept: true })
    expect(step.state.phase).toBe('cancelled')
  })

  it('ends in failed with the error and its hop', () => {
    const error = { code: 'auth_failed', message: 'Permission denied.', hop: 0, hop_label: 'alice@gw:22' }
    const step = run(open, server(passwordPrompt), { type: 'answer', answers: ['x'] }, server({ type: 'failed', error }))
    expect(step.state.phase).toBe('failed')
    expect(step.state.error).toEqual(error)
    expect(step.state.finished).toBe(true)
    expect(step.close).toBe(true)
  })

  it('fills in a failure without details', () => {
    const step = run(open, server({ type: 'failed' }))
    expect(step.state.error).toEqual({
      code: 'agent_failed',
      message: 'The connection failed.',
      hop: null,
      hop_label: null,
    })
  })

  it('cancels at any time, telling the server when the socket is open', () => {
    for (const events of [[open], [open, server(passwordPrompt)], [open, server(hostKey)]]) {
      const step = run(...events, { type: 'cancel' })
      expect(step.send).toEqual([{ type: 'cancel' }])
      expect(step.state.phase).toBe('cancelled')
      expect(step.state.prompt).toBeNull()
      expect(step.state.hostKey).toBeNull()
      expect(step.close).toBe(true)
    }
    const early = run({ type: 'cancel' })
    expect(early.send).toEqual([])
    expect(early.state.phase).toBe('cancelled')
    expect(early.close).toBe(true)
  })

  it('does nothing more once finished', () => {
    const done = run(open, server({ type: 'connected', status: connectedStatus, system }))
    const later: ConnectEvent[] = [
      { type: 'cancel' },
      { type: 'socket_closed', code: 1000, reason: '' },
      server({ type: 'failed', error: { code: 'x', message: 'y' } }),
    ]
    let state: ConnectState = done.state
    for (const event of later) {
      const step = connectStep(state, event)
      expect(step.send).toEqual([])
      expect(step.close).toBe(false)
      state = step.state
    }
    expect(state).toBe(done.state)
  })

  it('says so when the login ends or access is withdrawn while it waits for an answer', () => {
    const ended = run(open, server(passwordPrompt), { type: 'socket_closed', code: 4401, reason: 'login_ended' })
    expect(ended.state.phase).toBe('failed')
    expect(ended.state.error?.message).toBe('Your login ended: log in again.')
    const withdrawn = run(open, server(passwordPrompt), {
      type: 'socket_closed',
      code: 4403,
      reason: 'access_withdrawn',
    })
    expect(withdrawn.state.error?.message).toBe('Access to this was withdrawn.')
    expect(withdrawn.state.error?.code).toBe('access_withdrawn')
  })

  it('fails when the socket closes before an answer', () => {
    const step = run(open, server(passwordPrompt), { type: 'socket_closed', code: 1006, reason: '' })
    expect(step.state.phase).toBe('failed')
    expect(step.state.error?.code).toBe(CONNECTION_LOST)
    expect(step.state.prompt).toBeNull()
    expect(step.send).toEqual([])
  })
})

describe('errorFromClose', () => {
  it('explains refusals', () => {
    expect(errorFromClose(4403, 'not_authenticated').code).toBe('not_authenticated')
    expect(errorFromClose(4403, 'forbidden').message).toMatch(/may not use/)
    expect(errorFromClose(4404, '').code).toBe('not_found')
    expect(errorFromClose(4403, 'csrf_failed').message).toMatch(/Reload/)
  })

  it('calls anything else a lost connection', () => {
    expect(errorFromClose(1006, '').code).toBe(CONNECTION_LOST)
    expect(errorFromClose(1011, 'internal').code).toBe(CONNECTION_LOST)
    expect(errorFromClose(4000, 'shutting down').message).toMatch(/shutting down/)
  })
})
