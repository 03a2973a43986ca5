import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/client'
import type { AttachmentError, AttachmentHandlers, ProcessInfo, ProcessStart } from '../../api/processes'
import { makeProcess } from '../../testing/processes'
import {
  TerminalSession,
  exitLine,
  type TerminalAttachment,
  type TerminalPhase,
  type TerminalSessionDeps,
} from './terminalSession'

class FakeAttachment implements TerminalAttachment {
  offset: number
  error: AttachmentError | null = null
  written: (string | Uint8Array)[] = []
  sizes: [number, number][] = []
  closed = false

  constructor(
    readonly processId: string,
    offset: number,
    readonly handlers: AttachmentHandlers,
  ) {
    this.offset = offset
  }

  write(data: string | Uint8Array): void {
    this.written.push(data)
  }

  resize(cols: number, rows: number): void {
    this.sizes.push([cols, rows])
  }

  close(): void {
    this.closed = true
  }

  // The server's side.
  attached(): void {
    this.handlers.onState?.('attached')
  }

  output(text: string): void {
    const data = new TextEncoder().encode(text)
    this.handlers.onOutput?.({ offset: this.offset, stream: 'terminal', data })
    this.offset += data.byteLength
  }

  fail(code: string, message = 'nope'): void {
    this.error = { code, message }
    this.handlers.onState?.('failed')
  }

  exit(exit_status: number | null, signal: string | null = null): void {
    this.handlers.onState?.('exited')
    this.handlers.onExit?.({ exit_status, signal })
  }
}

function setup(options: { processId?: string; cwd?: string; start?: TerminalSessionDeps['start'] } = {}) {
  const attachments: FakeAttachment[] = []
  const starts: ProcessStart[] = []
  let counter = 0
  const deps: TerminalSessionDeps = {
    start:
      options.start ??
      ((_rid, body) => {
        starts.push(body)
        counter += 1
        return Promise.resolve(makeProcess({ id: `p${counter}` }))
      }),
    forget: vi.fn(() => Promise.resolve()),
    attach: (_rid, processId, offset, handlers) => {
      const attachment = new FakeAttachment(processId, offset, handlers)
      attachments.push(attachment)
      return attachment
    },
  }
  const phases: TerminalPhase[] = []
  const saved: string[] = []
  const screen: string[] = []
  let resets = 0
  const session = new TerminalSession(
    { resourceId: 7, processId: options.processId, cwd: options.cwd },
    {
      output: (data) => screen.push(new TextDecoder().decode(data)),
      phase: (phase) => phases.push(phase),
      processId: (id) => saved.push(id),
      reset: () => {
        resets += 1
      },
      note: (text) => screen.push(`note: ${text}`),
    },
    deps,
  )
  const last = (): FakeAttachment => {
    const attachment = attachments[attachments.length - 1]
    if (!attachment) throw new Error('nothing attached')
    return attachment
  }
  return { session, deps, attachments, starts, phases, saved, screen, last, resets: () => resets }
}

describe('TerminalSession', () => {
  it('starts a login shell of the pane size once, saves its id and attaches from the start', async () => {
    const t = setup({ cwd: '~/data' })
    await t.session.open({ cols: 120, rows: 33 })
    expect(t.starts).toEqual([{ pty: true, cols: 120, rows: 33, cwd: '~/data' }])
    expect(t.saved).toEqual(['p1'])
    expect(t.last().processId).toBe('p1')
    expect(t.last().offset).toBe(0)
    t.last().attached()
    t.last().output('$ ')
    expect(t.phases).toEqual(['starting', 'connecting', 'attached'])
    expect(t.screen).toEqual(['$ '])
  })

  it('attaches to the shell its params name instead of starting one', async () => {
    const t = setup({ processId: 'kept' })
    await t.session.open({ cols: 80, rows: 24 })
    expect(t.starts).toEqual([])
    expect(t.saved).toEqual([])
    expect(t.last().processId).toBe('kept')
    expect(t.last().offset).toBe(0) // the ring is replayed: the scrollback comes back
  })

  it('sends its size on every attach and on changes while attached only', async () => {
    const t = setup({ processId: 'kept' })
    await t.session.open({ cols: 100, rows: 30 })
    t.session.resize({ cols: 90, rows: 30 }) // before attached: remembered
    expect(t.last().sizes).toEqual([])
    t.last().attached()
    expect(t.last().sizes).toEqual([[90, 30]])
    t.session.resize({ cols: 90, rows: 30 }) // unchanged: nothing sent
    t.session.resize({ cols: 91, rows: 31 })
    expect(t.last().sizes).toEqual([
      [90, 30],
      [91, 31],
    ])
    // Reconnected after a drop: the size is sent again (the pty may have changed meanwhile).
    t.last().handlers.onState?.('reconnecting')
    t.last().attached()
    expect(t.last().sizes.at(-1)).toEqual([91, 31])
    expect(t.phases).toEqual(['attached', 'reconnecting', 'attached'])
  })

  it('passes keystrokes on until the shell exits, then tells how it ended', async () => {
    const t = setup({ processId: 'kept' })
    await t.session.open(null)
    t.last().attached()
    t.session.write('ls\r')
    t.last().exit(3)
    t.session.write('ignored')
    expect(t.last().written).toEqual(['ls\r'])
    expect(t.session.phase).toBe('exited')
    expect(exitLine(t.session.exit!)).toBe('[exited with status 3]')
    expect(exitLine({ exit_status: null, signal: 'HUP' })).toBe('[ended by signal HUP]')
  })

  it('starts a new shell after an exit: forgets the old one, clears the screen, saves the new id', async () => {
    const t = setup()
    await t.session.open({ cols: 80, rows: 24 })
    const first = t.last()
    first.attached()
    first.exit(0)
    await t.session.newShell()
    expect(t.deps.forget).toHaveBeenCalledWith(7, 'p1')
    expect(first.closed).toBe(true)
    expect(t.resets()).toBe(1)
    expect(t.saved).toEqual(['p1', 'p2'])
    expect(t.last().processId).toBe('p2')
    // A late event of the old attachment changes nothing.
    first.output('stale')
    first.fail('agent_failed')
    expect(t.screen).toEqual([])
    expect(t.session.phase).toBe('connecting')
  })

  it('asks for a login, then re-attaches from the last byte it showed', async () => {
    const t = setup({ processId: 'kept' })
    await t.session.open(null)
    t.last().attached()
    t.last().output('12345')
    t.last().fail('login_required', 'log in first')
    expect(t.session.phase).toBe('login_required')
    await t.session.retry()
    expect(t.attachments).toHaveLength(2)
    expect(t.attachments[0]?.closed).toBe(true)
    expect(t.last().offset).toBe(5)
    expect(t.session.phase).toBe('connecting')
  })

  it('says so when output was lost between two attachments, not when a long history starts', async () => {
    const t = setup({ processId: 'kept' })
    await t.session.open(null)
    t.last().handlers.onDropped?.(4096) // attached from 0: the ring had moved on, as it does
    t.last().attached()
    t.last().output('abc')
    t.last().handlers.onDropped?.(20) // the attachment re-opened by itself after a long drop
    t.last().fail('login_required')
    await t.session.retry() // from offset 3, and bytes after it have left the ring meanwhile
    t.last().handlers.onDropped?.(500)
    expect(t.screen).toEqual([
      'abc',
      'note: [20 bytes of output were lost while away]',
      'note: [500 bytes of output were lost while away]',
    ])
  })

  it('asks for a login when starting the shell needs one, and starts it on retry', async () => {
    let refuse = true
    const t = setup({
      start: () => {
        if (refuse) return Promise.reject(new ApiError(409, 'login_required', 'log in first'))
        return Promise.resolve(makeProcess({ id: 'after-login' }))
      },
    })
    await t.session.open({ cols: 80, rows: 24 })
    expect(t.session.phase).toBe('login_required')
    expect(t.attachments).toEqual([])
    refuse = false
    await t.session.retry()
    expect(t.saved).toEqual(['after-login'])
    expect(t.last().processId).toBe('after-login')
  })

  it('says a forgotten process is gone and other failures failed', async () => {
    const gone = setup({ processId: 'old' })
    await gone.session.open(null)
    gone.last().fail('not_found', 'There is no process')
    expect(gone.session.phase).toBe('gone')
    await gone.session.newShell()
    expect(gone.deps.forget).not.toHaveBeenCalled() // nothing to forget
    expect(gone.saved).toEqual(['p1'])

    const broken = setup({ processId: 'x' })
    await broken.session.open(null)
    broken.last().fail('agent_failed', 'The connection broke')
    expect(broken.session.phase).toBe('failed')
    expect(broken.session.error).toBe('The connection broke')
  })

  it('stops listening when closed, even while the shell is being started', async () => {
    let answer: (info: ProcessInfo) => void = () => undefined
    const t = setup({ start: () => new Promise((resolve) => (answer = resolve)) })
    const opening = t.session.open({ cols: 80, rows: 24 })
    t.session.close()
    answer(makeProcess({ id: 'late' }))
    await opening
    expect(t.attachments).toEqual([])
    expect(t.saved).toEqual([])
    expect(t.session.phase).toBe('closed')
  })
})
