/**
 * One terminal pane's shell, without the DOM: start the login shell once (or attach to
 * the one the pane's params name), follow the attachment's state, and say what the pane
 * should show. The pane feeds it keystrokes and sizes and gives it somewhere to write
 * output; xterm.js stays out of here, so the rules below are unit-tested.
 *
 * Phases (what the pane shows):
 * - `starting`: asking the daemon for a new login shell (POST …/processes, pty);
 * - `connecting`: opening the attach socket; `attached`: output flows;
 * - `reconnecting`: the attachment re-opens by itself (network, SSH drop, server restart);
 *   output continues where it stopped, no byte lost or repeated;
 * - `exited`: the shell ended (see `exit`); `newShell()` starts another;
 * - `login_required`: the resource needs someone to log in; `retry()` after connecting;
 * - `gone`: the daemon does not know the process (forgotten, daemon replaced);
 * - `failed`: anything else (see `error`); `retry()`;
 * - `closed`: the pane went away (the shell runs on).
 */
import { ApiError } from '../../api/client'
import {
  ProcessAttachment,
  forgetProcess,
  startProcess,
  type AttachmentError,
  type AttachmentHandlers,
  type AttachmentState,
  type ProcessExit,
  type ProcessInfo,
  type ProcessStart,
} from '../../api/processes'

export type TerminalPhase =
  | 'starting'
  | 'connecting'
  | 'attached'
  | 'reconnecting'
  | 'exited'
  | 'login_required'
  | 'gone'
  | 'failed'
  | 'closed'

export interface TerminalSize {
  cols: number
  rows: number
}

/** What the session needs of a {@link ProcessAttachment}. */
export interface TerminalAttachment {
  readonly offset: number
  readonly error: AttachmentError | null
  write(data: string | Uint8Array): void
  resize(cols: number, rows: number): void
  close(): void
}

export interface TerminalSessionDeps {
  start(resourceId: number, body: ProcessStart): Promise<ProcessInfo>
  forget(resourceId: number, processId: string): Promise<void>
  attach(resourceId: number, processId: string, offset: number, handlers: AttachmentHandlers): TerminalAttachment
}

export interface TerminalSessionEvents {
  /** Output for the screen, in order, each byte once. */
  output(data: Uint8Array): void
  phase(phase: TerminalPhase): void
  /** The shell the pane shows changed (started, or replaced by a new one): save its id. */
  processId(id: string): void
  /** A new shell replaces an ended one: clear the screen. */
  reset(): void
  /** A line of labgate's own for the screen (output lost while away). */
  note(text: string): void
}

export interface TerminalSessionOptions {
  resourceId: number
  /** The shell to attach to; absent: start one. */
  processId?: string
  /** Folder to start a shell in. */
  cwd?: string
}

const browserDeps: TerminalSessionDeps = {
  start: (resourceId, body) => startProcess(resourceId, body),
  forget: (resourceId, processId) => forgetProcess(resourceId, processId),
  attach: (resourceId, processId, offset, handlers) =>
    new ProcessAttachment(resourceId, processId, handlers, { offset }),
}

/** The line written into the terminal when its shell ended. */
export function exitLine(exit: ProcessExit): string {
  if (exit.signal) return `[ended by signal ${exit.signal}]`
  return `[exited with status ${exit.exit_status ?? 'unknown'}]`
}

const DEFAULT_SIZE: TerminalSize = { cols: 80, rows: 24 }

export class TerminalSession {
  readonly resourceId: number
  processId: string | undefined
  phase: TerminalPhase = 'connecting'
  exit: ProcessExit | null = null
  /** Why `failed` (or `gone`), for the pane to show. */
  error: string | null = null

  private readonly cwd: string | undefined
  private readonly events: TerminalSessionEvents
  private readonly deps: TerminalSessionDeps
  private attachment: TerminalAttachment | null = null
  private size: TerminalSize = DEFAULT_SIZE
  /** Bumped whenever the shell is replaced or the session closed: late answers are dropped. */
  private generation = 0

  constructor(options: TerminalSessionOptions, events: TerminalSessionEvents, deps: TerminalSessionDeps = browserDeps) {
    this.resourceId = options.resourceId
    this.processId = options.processId
    this.cwd = options.cwd
    this.events = events
    this.deps = deps
  }

  /** Attach to the pane's shell, or start one of `size` when it has none. */
  open(size: TerminalSize | null): Promise<void> {
    if (size) this.size = size
    if (this.processId !== undefined) {
      this.attachTo(this.processId, 0)
      return Promise.resolve()
    }
    return this.startShell()
  }

  /** Keystrokes and pastes (text is sent as UTF-8). */
  write(data: string | Uint8Array): void {
    if (this.phase === 'exited' || this.phase === 'closed') return
    this.attachment?.write(data)
  }

  /** The pane's size changed; the pty follows while attached (and on every attach). */
  resize(size: TerminalSize): void {
    if (size.cols === this.size.cols && size.rows === this.size.rows) return
    this.size = size
    if (this.phase === 'attached') this.attachment?.resize(size.cols, size.rows)
  }

  /** After `login_required` or `failed`: try again from the last byte the screen has. */
  retry(): Promise<void> {
    if (this.phase !== 'login_required' && this.phase !== 'failed') return Promise.resolve()
    this.error = null
    if (this.processId === undefined) return this.startShell()
    // A new attachment from where the screen is, so nothing is shown twice.
    const offset = this.attachment?.offset ?? 0
    this.detach()
    this.attachTo(this.processId, offset)
    return Promise.resolve()
  }

  /** After `exited` or `gone`: a fresh login shell in this pane (the ended one is forgotten). */
  newShell(): Promise<void> {
    const ended = this.phase === 'exited' ? this.processId : undefined
    this.detach()
    if (ended !== undefined) {
      // Best effort: an ended shell nobody looks at any more only takes room in the list.
      this.deps.forget(this.resourceId, ended).catch(() => undefined)
    }
    this.processId = undefined
    this.exit = null
    this.error = null
    this.events.reset()
    return this.startShell()
  }

  /** The pane closed: stop listening. The shell runs on, listed in the Terminals pane. */
  close(): void {
    this.detach()
    this.setPhase('closed')
  }

  private detach(): void {
    this.generation += 1
    this.attachment?.close()
    this.attachment = null
  }

  private async startShell(): Promise<void> {
    const generation = this.generation
    this.setPhase('starting')
    const body: ProcessStart = { pty: true, cols: this.size.cols, rows: this.size.rows }
    if (this.cwd !== undefined) body.cwd = this.cwd
    let started: ProcessInfo
    try {
      started = await this.deps.start(this.resourceId, body)
    } catch (error) {
      if (generation !== this.generation) return
      this.failWith(error instanceof ApiError ? error.code : 'failed', errorText(error))
      return
    }
    if (generation !== this.generation) return
    this.processId = started.id
    this.events.processId(started.id)
    this.attachTo(started.id, 0)
  }

  private attachTo(processId: string, offset: number): void {
    const generation = this.generation
    this.setPhase('connecting')
    const current = (): boolean => generation === this.generation
    // Whether the screen shows anything yet: a drop after that is a gap in what it shows.
    let shown = offset > 0
    this.attachment = this.deps.attach(this.resourceId, processId, offset, {
      onOutput: (chunk) => {
        if (!current()) return
        shown = true
        this.events.output(chunk.data)
      },
      onState: (state) => {
        if (current()) this.followAttachment(state)
      },
      onDropped: (dropped) => {
        // Before anything is shown that is only the start of a long history.
        if (current() && shown) this.events.note(`[${dropped} bytes of output were lost while away]`)
      },
      onExit: (exit) => {
        if (!current()) return
        this.exit = exit
        this.setPhase('exited')
      },
    })
  }

  private followAttachment(state: AttachmentState): void {
    switch (state) {
      case 'connecting':
      case 'reconnecting':
        this.setPhase(state)
        break
      case 'attached':
        // The pty may have another size (another pane, a resize while detached).
        this.attachment?.resize(this.size.cols, this.size.rows)
        this.setPhase('attached')
        break
      case 'failed': {
        const error = this.attachment?.error
        this.failWith(error?.code ?? 'failed', error?.message ?? 'The terminal could not be reached.')
        break
      }
      case 'exited':
      case 'closed':
        break // `onExit` and `close()` set these phases
    }
  }

  private failWith(code: string, message: string): void {
    this.error = message
    if (code === 'login_required') this.setPhase('login_required')
    else if (code === 'not_found') this.setPhase('gone')
    else this.setPhase('failed')
  }

  private setPhase(phase: TerminalPhase): void {
    if (this.phase === phase) return
    this.phase = phase
    this.events.phase(phase)
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
