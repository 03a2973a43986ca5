/**
 * The Run button's work: start a file's command on its resource (through the user's
 * daemon, so the run outlives the tab and the browser), stream its output with stdout
 * and stderr kept apart, report the exit status and duration, and stop it.
 *
 * A run is named after its file ({@link runProcessName}), so an editor opened later on
 * the same file finds the last run and shows its output again ({@link findLastRun}).
 */
import {
  forgetProcess,
  listProcesses,
  ProcessAttachment,
  signalProcess,
  startProcess,
  type AttachmentOptions,
  type AttachmentState,
  type OutputStream,
  type ProcessExit,
  type ProcessInfo,
  type SignalName,
} from '../../api/processes'
import { runProcessName } from './runCommands'

/** Output kept in the browser; older output is dropped first (the resource keeps 1 MiB too). */
export const OUTPUT_LIMIT_CHARS = 2_000_000

export type RunPhase = 'idle' | 'starting' | 'running' | 'stopping' | 'exited' | 'failed'

export interface OutputPiece {
  stream: OutputStream
  text: string
}

export interface RunSnapshot {
  phase: RunPhase
  command: string
  processId: string | null
  /** ms since the epoch. */
  startedAt: number | null
  endedAt: number | null
  exit: ProcessExit | null
  pieces: readonly OutputPiece[]
  /** Output that no longer fits (here or in the resource's ring) was dropped. */
  truncated: boolean
  /** The connection to the run is being re-established. */
  reconnecting: boolean
  error: string | null
}

export interface RunDeps {
  start: typeof startProcess
  list: typeof listProcesses
  signal: typeof signalProcess
  forget: typeof forgetProcess
  attach: (resourceId: number, processId: string, handlers: ConstructorParameters<typeof ProcessAttachment>[2], options?: AttachmentOptions) => Pick<ProcessAttachment, 'close' | 'reattach'>
  now: () => number
}

const defaultDeps: RunDeps = {
  start: startProcess,
  list: listProcesses,
  signal: signalProcess,
  forget: forgetProcess,
  attach: (resourceId, processId, handlers, options) => new ProcessAttachment(resourceId, processId, handlers, options),
  now: () => Date.now(),
}

/** The newest run of a file on a resource, if the daemon still has one. */
export async function findLastRun(resourceId: number, path: string, deps: Pick<RunDeps, 'list'> = defaultDeps): Promise<ProcessInfo | null> {
  const name = runProcessName(path)
  const runs = (await deps.list(resourceId)).filter((p) => p.name === name && !p.pty)
  runs.sort((a, b) => b.started_at - a.started_at)
  return runs[0] ?? null
}

export class RunSession {
  private snapshot: RunSnapshot = {
    phase: 'idle',
    command: '',
    processId: null,
    startedAt: null,
    endedAt: null,
    exit: null,
    pieces: [],
    truncated: false,
    reconnecting: false,
    error: null,
  }
  private attachment: Pick<ProcessAttachment, 'close' | 'reattach'> | null = null
  private decoders = new Map<OutputStream, TextDecoder>()
  private chars = 0
  private stopTimer: ReturnType<typeof setTimeout> | null = null

  constructor(
    readonly resourceId: number,
    private readonly onChange: (snapshot: RunSnapshot) => void,
    private readonly deps: RunDeps = defaultDeps,
  ) {}

  get state(): RunSnapshot {
    return this.snapshot
  }

  get active(): boolean {
    return this.snapshot.phase === 'starting' || this.snapshot.phase === 'running' || this.snapshot.phase === 'stopping'
  }

  /** Start `command` in `cwd` as the run of `path`. The previous run's record is forgotten. */
  async start(path: string, command: string, cwd: string): Promise<void> {
    if (this.active) return
    const previous = this.snapshot.processId
    this.reset({ phase: 'starting', command })
    if (previous) void this.deps.forget(this.resourceId, previous).catch(() => undefined)
    let info: ProcessInfo
    try {
      info = await this.deps.start(this.resourceId, { command, cwd, name: runProcessName(path) })
    } catch (error) {
      this.update({ phase: 'failed', error: error instanceof Error ? error.message : String(error) })
      return
    }
    this.follow(info)
  }

  /** Show a run that is already there (found by {@link findLastRun}). */
  follow(info: ProcessInfo): void {
    this.attachment?.close()
    if (this.snapshot.processId !== info.id) this.reset({ command: info.command })
    this.update({
      processId: info.id,
      phase: info.running ? 'running' : 'exited',
      startedAt: info.started_at * 1000,
      endedAt: info.ended_at ? info.ended_at * 1000 : null,
      exit: info.running ? null : { exit_status: info.exit_status, signal: info.signal },
      truncated: info.output_start > 0,
    })
    this.attachment = this.deps.attach(this.resourceId, info.id, {
      onOutput: (chunk) => this.append(chunk.stream, chunk.data),
      onDropped: () => this.update({ truncated: true }),
      onExit: (exit) => this.exited(exit),
      onState: (state) => this.attachmentState(state),
    })
  }

  /**
   * Stop: SIGINT first (Python prints where it was), SIGTERM if it is still running after
   * a moment, SIGKILL on a second click.
   */
  async stop(): Promise<void> {
    const id = this.snapshot.processId
    if (!id || !this.active) return
    const escalate = this.snapshot.phase === 'stopping'
    this.update({ phase: 'stopping' })
    await this.send(id, escalate ? 'KILL' : 'INT')
    if (!escalate && this.stopTimer === null) {
      this.stopTimer = setTimeout(() => {
        this.stopTimer = null
        if (this.active) void this.send(id, 'TERM')
      }, 2000)
    }
  }

  /** Stop showing the run (the tab closes); the run itself goes on. */
  dispose(): void {
    this.attachment?.close()
    this.attachment = null
    if (this.stopTimer !== null) clearTimeout(this.stopTimer)
  }

  /** Try to reach the run again after the connection to it failed. */
  reattach(): void {
    this.update({ error: null })
    this.attachment?.reattach()
  }

  clearOutput(): void {
    this.chars = 0
    this.update({ pieces: [] })
  }

  private async send(id: string, signal: SignalName): Promise<void> {
    try {
      await this.deps.signal(this.resourceId, id, signal)
    } catch (error) {
      this.update({ error: error instanceof Error ? error.message : String(error) })
    }
  }

  private exited(exit: ProcessExit): void {
    if (this.stopTimer !== null) clearTimeout(this.stopTimer)
    this.stopTimer = null
    this.flushDecoders()
    this.update({ phase: 'exited', exit, endedAt: this.snapshot.endedAt ?? this.deps.now(), reconnecting: false })
  }

  private attachmentState(state: AttachmentState): void {
    if (state === 'reconnecting') this.update({ reconnecting: true })
    else if (state === 'attached') this.update({ reconnecting: false, error: null })
    else if (state === 'failed') this.update({ reconnecting: false, error: 'The connection to this run was lost.' })
  }

  private append(stream: OutputStream, data: Uint8Array): void {
    let decoder = this.decoders.get(stream)
    if (!decoder) {
      decoder = new TextDecoder('utf-8')
      this.decoders.set(stream, decoder)
    }
    this.push(stream, decoder.decode(data, { stream: true }))
  }

  private flushDecoders(): void {
    for (const [stream, decoder] of this.decoders) this.push(stream, decoder.decode())
    this.decoders.clear()
  }

  private push(stream: OutputStream, text: string): void {
    if (text === '') return
    const pieces = [...this.snapshot.pieces]
    const last = pieces[pieces.length - 1]
    if (last && last.stream === stream) pieces[pieces.length - 1] = { stream, text: last.text + text }
    else pieces.push({ stream, text })
    this.chars += text.length
    let truncated = this.snapshot.truncated
    while (this.chars > OUTPUT_LIMIT_CHARS && pieces.length > 0) {
      const first = pieces[0] as OutputPiece
      const excess = this.chars - OUTPUT_LIMIT_CHARS
      truncated = true
      if (first.text.length <= excess) {
        pieces.shift()
        this.chars -= first.text.length
      } else {
        pieces[0] = { stream: first.stream, text: first.text.slice(excess) }
        this.chars -= excess
      }
    }
    this.update({ pieces, truncated })
  }

  private reset(changes: Partial<RunSnapshot>): void {
    this.attachment?.close()
    this.attachment = null
    this.decoders.clear()
    this.chars = 0
    this.snapshot = {
      phase: 'idle',
      command: '',
      processId: null,
      startedAt: null,
      endedAt: null,
      exit: null,
      pieces: [],
      truncated: false,
      reconnecting: false,
      error: null,
      ...changes,
    }
    this.onChange(this.snapshot)
  }

  private update(changes: Partial<RunSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...changes }
    this.onChange(this.snapshot)
  }
}
