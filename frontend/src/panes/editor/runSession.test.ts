import { describe, expect, it, vi } from 'vitest'
import type { AttachmentHandlers, ProcessInfo } from '../../api/processes'
import { findLastRun, OUTPUT_LIMIT_CHARS, RunSession, type RunDeps, type RunSnapshot } from './runSession'

function info(overrides: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    id: 'p1',
    pid: 10,
    name: 'run:/home/a/fit.py',
    command: 'python3 -u /home/a/fit.py',
    pty: false,
    started_at: 1000,
    ended_at: null,
    running: true,
    exit_status: null,
    signal: null,
    output_start: 0,
    output_end: 0,
    cols: null,
    rows: null,
    ...overrides,
  }
}

function setup() {
  let handlers: AttachmentHandlers = {}
  const signals: string[] = []
  const deps: RunDeps = {
    start: vi.fn(async () => info()),
    list: vi.fn(async () => [info({ id: 'old', started_at: 10 }), info({ id: 'new', started_at: 20 }), info({ id: 'sh', pty: true, started_at: 30 })]),
    signal: vi.fn(async (_r: number, _p: string, s: string) => {
      signals.push(s)
    }),
    forget: vi.fn(async () => undefined),
    attach: vi.fn((_r, _p, h: AttachmentHandlers) => {
      handlers = h
      return { close: vi.fn(), reattach: vi.fn() }
    }),
    now: () => 5_000_000,
  }
  const snapshots: RunSnapshot[] = []
  const session = new RunSession(3, (s) => snapshots.push(s), deps)
  const out = (stream: 'stdout' | 'stderr', text: string): void =>
    handlers.onOutput?.({ offset: 0, stream, data: new TextEncoder().encode(text) })
  return { session, deps, snapshots, out, signals, handlers: () => handlers }
}

describe('RunSession', () => {
  it('starts the command named after its file and keeps stdout and stderr apart', async () => {
    const { session, deps, out, handlers } = setup()
    await session.start('/home/a/fit.py', 'python3 -u /home/a/fit.py', '/home/a')
    expect(deps.start).toHaveBeenCalledWith(3, { command: 'python3 -u /home/a/fit.py', cwd: '/home/a', name: 'run:/home/a/fit.py' })
    out('stdout', 'step 1\n')
    out('stdout', 'step 2\n')
    out('stderr', 'warning\n')
    expect(session.state.pieces).toEqual([
      { stream: 'stdout', text: 'step 1\nstep 2\n' },
      { stream: 'stderr', text: 'warning\n' },
    ])
    handlers().onExit?.({ exit_status: 1, signal: null })
    expect(session.state.phase).toBe('exited')
    expect(session.state.exit).toEqual({ exit_status: 1, signal: null })
  })

  it('decodes characters split across chunks', async () => {
    const { session, handlers } = setup()
    await session.start('/a.py', 'x', '/')
    const bytes = new TextEncoder().encode('µs\n')
    handlers().onOutput?.({ offset: 0, stream: 'stdout', data: bytes.subarray(0, 1) })
    handlers().onOutput?.({ offset: 1, stream: 'stdout', data: bytes.subarray(1) })
    expect(session.state.pieces[0]?.text).toBe('µs\n')
  })

  it('stops with SIGINT, then kills on a second request', async () => {
    const { session, signals } = setup()
    await session.start('/a.py', 'x', '/')
    await session.stop()
    expect(session.state.phase).toBe('stopping')
    await session.stop()
    expect(signals).toEqual(['INT', 'KILL'])
    session.dispose()
  })

  it('finds the newest run of a file and shows it with its timing', async () => {
    const { session, deps } = setup()
    const last = await findLastRun(3, '/home/a/fit.py', deps)
    expect(last?.id).toBe('new')
    session.follow(info({ id: 'new', running: false, exit_status: 0, started_at: 100, ended_at: 112.5 }))
    expect(session.state.phase).toBe('exited')
    expect((session.state.endedAt ?? 0) - (session.state.startedAt ?? 0)).toBe(12500)
  })

  it('drops the oldest output beyond its limit and says so', async () => {
    const { session, out } = setup()
    await session.start('/a.py', 'x', '/')
    out('stdout', 'a'.repeat(OUTPUT_LIMIT_CHARS))
    out('stderr', 'tail')
    const total = session.state.pieces.reduce((n, p) => n + p.text.length, 0)
    expect(total).toBe(OUTPUT_LIMIT_CHARS)
    expect(session.state.truncated).toBe(true)
    expect(session.state.pieces.at(-1)).toEqual({ stream: 'stderr', text: 'tail' })
  })

  it('reports a command that could not start', async () => {
    const { session, deps } = setup()
    deps.start = vi.fn(async () => {
      throw new Error('Log in first.')
    })
    await session.start('/a.py', 'x', '/')
    expect(session.state).toMatchObject({ phase: 'failed', error: 'Log in first.' })
  })
})
