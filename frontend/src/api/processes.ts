/**
 * Processes and terminals on a resource (docs/api-contract.md, "Processes and
 * terminals"): started by the user's daemon there, so they outlive the browser tab, the
 * SSH connection and the labgate server.
 *
 * The REST calls are thin; {@link ProcessAttachment} is the attach WebSocket with the
 * one property every pane relies on: it never loses or repeats a byte. It remembers the
 * offset of the last byte it delivered and, when the socket closes for any reason but
 * the process's end (network drop, server restart), opens a new one from that offset.
 */
import { api, type ApiClient } from './client'
import {
  browserSocket,
  isRefusal,
  reportLoginEnded,
  socketEndMessage,
  socketUrl,
  type SocketFactory,
} from './resources'

export interface ProcessInfo {
  id: string
  pid: number
  name: string
  command: string
  pty: boolean
  /** Seconds since the epoch (the resource's clock). */
  started_at: number
  /** When it ended (the resource's clock), null while it runs. */
  ended_at?: number | null
  running: boolean
  exit_status: number | null
  signal: string | null
  /** Offset of the oldest byte still in the 1 MiB ring (> 0 once older output left it). */
  output_start: number
  output_end: number
  cols: number | null
  rows: number | null
}

export interface ProcessStart {
  /** Absent with `pty: true`: the user's login shell (a terminal). */
  command?: string
  cwd?: string
  pty?: boolean
  cols?: number
  rows?: number
  name?: string
}

export type SignalName = 'TERM' | 'INT' | 'KILL' | 'HUP' | 'QUIT' | 'STOP' | 'CONT' | 'USR1' | 'USR2' | 'WINCH'

function processesPath(resourceId: number): string {
  return `/resources/${resourceId}/processes`
}

export function startProcess(resourceId: number, body: ProcessStart, client: ApiClient = api): Promise<ProcessInfo> {
  return client.post<ProcessInfo>(processesPath(resourceId), body)
}

export async function listProcesses(resourceId: number, client: ApiClient = api): Promise<ProcessInfo[]> {
  const answer = await client.get<{ processes: ProcessInfo[] }>(processesPath(resourceId))
  return answer.processes
}

export function signalProcess(
  resourceId: number,
  processId: string,
  signal: SignalName,
  client: ApiClient = api,
): Promise<void> {
  return client.post<void>(`${processesPath(resourceId)}/${encodeURIComponent(processId)}/signal`, { signal })
}

/** Forget an ended process and its output (409 `running` while it runs). */
export function forgetProcess(resourceId: number, processId: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`${processesPath(resourceId)}/${encodeURIComponent(processId)}`)
}

export function attachSocketUrl(
  resourceId: number,
  processId: string,
  offset: number,
  location?: Pick<Location, 'protocol' | 'host'>,
): string {
  return socketUrl(`${processesPath(resourceId)}/${encodeURIComponent(processId)}/attach?offset=${offset}`, location)
}

// --- the attach socket ------------------------------------------------------------------

/** Which stream a chunk of output came from. */
export type OutputStream = 'stdout' | 'stderr' | 'terminal'

const STREAM_BY_CODE: Record<number, OutputStream> = { 1: 'stdout', 2: 'stderr', 3: 'terminal' }

/** The 9-byte header of an output frame: 8-byte big-endian offset, 1-byte stream. */
export const OUTPUT_HEADER_BYTES = 9

export interface OutputChunk {
  /** Offset of the chunk's first byte in the process's output. */
  offset: number
  stream: OutputStream
  data: Uint8Array
}

/** Parse one binary frame of the attach socket; null for a frame too short to be one. */
export function parseOutputFrame(buffer: ArrayBuffer): OutputChunk | null {
  if (buffer.byteLength < OUTPUT_HEADER_BYTES) return null
  const view = new DataView(buffer)
  const offset = Number(view.getBigUint64(0))
  const stream = STREAM_BY_CODE[view.getUint8(8)] ?? 'stdout'
  return { offset, stream, data: new Uint8Array(buffer, OUTPUT_HEADER_BYTES) }
}

/**
 * - `connecting`: opening the socket (first time, or after it closed);
 * - `attached`: output flows;
 * - `reconnecting`: the server lost its connection to the resource and re-attaches by
 *   itself, or our socket closed and we open a new one;
 * - `exited`: the process ended (see `exit`); nothing more will come;
 * - `failed`: refused or given up (see `error`); `reattach()` tries again;
 * - `closed`: `close()` was called.
 */
export type AttachmentState = 'connecting' | 'attached' | 'reconnecting' | 'exited' | 'failed' | 'closed'

export interface ProcessExit {
  exit_status: number | null
  signal: string | null
}

export interface AttachmentError {
  code: string
  message: string
}

export interface AttachmentHandlers {
  /** Output in order, each byte exactly once. */
  onOutput?: (chunk: OutputChunk) => void
  onState?: (state: AttachmentState) => void
  /** Output older than the ring was asked for: `dropped` bytes are gone for good. */
  onDropped?: (dropped: number) => void
  onExit?: (exit: ProcessExit) => void
}

/** The subset of a WebSocket the attachment needs (binary frames included). */
export interface BinarySocketLike {
  readonly readyState: number
  binaryType: BinaryType
  send(data: string | ArrayBufferLike | ArrayBufferView): void
  close(code?: number, reason?: string): void
  onopen: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
}

export interface AttachmentOptions {
  /** Start at this offset (0: whatever the ring still holds). */
  offset?: number
  /** The socket's URL for an offset (default: the process's own attach socket; a shared
   * terminal's recipients use the session's). */
  url?: (offset: number) => string
  socket?: (url: string) => BinarySocketLike
  /** Waits between our own re-opens of the socket; the last one repeats. */
  retryDelaysMs?: readonly number[]
  setTimeout?: (fn: () => void, ms: number) => unknown
  clearTimeout?: (handle: unknown) => void
}

const DEFAULT_RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15000]
const SOCKET_OPEN = 1

/**
 * One process's output and input, across any number of sockets. Input typed while the
 * socket is down is kept (in order) and sent once it is back.
 */
export class ProcessAttachment {
  readonly resourceId: number
  readonly processId: string
  /** Offset of the next byte expected: everything before it was delivered. */
  offset: number
  state: AttachmentState = 'connecting'
  exit: ProcessExit | null = null
  error: AttachmentError | null = null

  private readonly handlers: AttachmentHandlers
  private readonly openSocket: (url: string) => BinarySocketLike
  private readonly urlFor: (offset: number) => string
  private readonly retryDelays: readonly number[]
  private readonly schedule: (fn: () => void, ms: number) => unknown
  private readonly cancelTimer: (handle: unknown) => void
  private socket: BinarySocketLike | null = null
  private retries = 0
  private timer: unknown = null
  private pendingInput: (string | Uint8Array)[] = []

  constructor(resourceId: number, processId: string, handlers: AttachmentHandlers, options: AttachmentOptions = {}) {
    this.resourceId = resourceId
    this.processId = processId
    this.handlers = handlers
    this.offset = options.offset ?? 0
    this.urlFor = options.url ?? ((offset) => attachSocketUrl(resourceId, processId, offset))
    this.openSocket = options.socket ?? (browserSocket as SocketFactory as unknown as (url: string) => BinarySocketLike)
    this.retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
    this.schedule = options.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms))
    this.cancelTimer = options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle as number))
    this.open()
  }

  /** Send input (bytes, or text encoded as UTF-8). */
  write(data: string | Uint8Array): void {
    if (this.state === 'exited' || this.state === 'closed') return
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    if (this.state === 'attached' && this.socket?.readyState === SOCKET_OPEN) this.socket.send(bytes)
    else this.pendingInput.push(bytes)
  }

  resize(cols: number, rows: number): void {
    this.control({ type: 'resize', cols, rows })
  }

  signal(signal: SignalName): void {
    this.control({ type: 'signal', signal })
  }

  /** Try again now after `failed` (or while waiting to re-open). */
  reattach(): void {
    if (this.state === 'exited' || this.state === 'closed') return
    this.retries = 0
    this.clearTimer()
    if (this.socket === null) this.open()
  }

  /** Stop listening. The process goes on running on the resource. */
  close(): void {
    this.clearTimer()
    this.setState('closed')
    this.pendingInput = []
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.onmessage = null
      socket.close(1000, 'detached')
    }
  }

  private control(message: Record<string, unknown>): void {
    if (this.state === 'exited' || this.state === 'closed') return
    const text = JSON.stringify(message)
    if (this.state === 'attached' && this.socket?.readyState === SOCKET_OPEN) this.socket.send(text)
    else if (message.type !== 'resize') this.pendingInput.push(text)
    // A resize while detached is dropped: the pane sends its size again on `attached`.
  }

  private open(): void {
    this.setState(this.retries === 0 && this.offset === 0 ? 'connecting' : 'reconnecting')
    const socket = this.openSocket(this.urlFor(this.offset))
    socket.binaryType = 'arraybuffer'
    this.socket = socket
    socket.onmessage = (event) => this.receive(event.data)
    socket.onclose = (event) => this.closed(event.code, event.reason)
  }

  private receive(data: unknown): void {
    if (data instanceof ArrayBuffer) {
      const chunk = parseOutputFrame(data)
      if (chunk === null) return
      // Never deliver a byte twice: skip what an overlapping frame repeats.
      const end = chunk.offset + chunk.data.byteLength
      if (end <= this.offset) return
      const skip = Math.max(0, this.offset - chunk.offset)
      const fresh = skip > 0 ? { ...chunk, offset: this.offset, data: chunk.data.subarray(skip) } : chunk
      this.offset = end
      this.retries = 0
      this.handlers.onOutput?.(fresh)
      return
    }
    if (typeof data !== 'string') return
    let message: Record<string, unknown>
    try {
      message = JSON.parse(data) as Record<string, unknown>
    } catch {
      return
    }
    switch (message.type) {
      case 'attached': {
        const start = typeof message.offset === 'number' ? message.offset : this.offset
        const dropped = typeof message.dropped === 'number' ? message.dropped : 0
        if (start > this.offset) this.offset = start
        if (dropped > 0) this.handlers.onDropped?.(dropped)
        this.retries = 0
        this.setState('attached')
        this.flushInput()
        break
      }
      case 'reconnecting':
        this.setState('reconnecting')
        break
      case 'exit':
        this.exit = {
          exit_status: typeof message.exit_status === 'number' ? message.exit_status : null,
          signal: typeof message.signal === 'string' ? message.signal : null,
        }
        this.setState('exited')
        this.handlers.onExit?.(this.exit)
        break
      case 'failed': {
        const error = (message.error ?? {}) as Record<string, unknown>
        this.error = {
          code: typeof error.code === 'string' ? error.code : 'failed',
          message: typeof error.message === 'string' ? error.message : 'The process could not be reached.',
        }
        this.setState('failed')
        break
      }
    }
  }

  private closed(code: number, reason: string): void {
    this.socket = null
    if (this.state === 'exited' || this.state === 'closed' || this.state === 'failed') return
    if (isRefusal(code)) {
      this.error = { code: reason || 'forbidden', message: refusalMessage(code, reason) }
      this.setState('failed')
      reportLoginEnded(code, reason)
      return
    }
    // Network drop or server restart: open a new socket from the last byte we have.
    const delay = this.retryDelays[Math.min(this.retries, this.retryDelays.length - 1)] ?? 1000
    this.retries += 1
    this.setState('reconnecting')
    this.timer = this.schedule(() => {
      this.timer = null
      if (this.state === 'reconnecting' && this.socket === null) this.open()
    }, delay)
  }

  private flushInput(): void {
    const socket = this.socket
    if (!socket) return
    for (const item of this.pendingInput) socket.send(item)
    this.pendingInput = []
  }

  private clearTimer(): void {
    if (this.timer !== null) this.cancelTimer(this.timer)
    this.timer = null
  }

  private setState(state: AttachmentState): void {
    if (this.state === state) return
    this.state = state
    this.handlers.onState?.(state)
  }
}

function refusalMessage(code: number, reason: string): string {
  if (code === 4404) return 'This process or resource is not there (any more).'
  return socketEndMessage(code, reason) ?? 'labgate refused to attach to this process.'
}
