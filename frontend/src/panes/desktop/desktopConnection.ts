/**
 * One desktop pane's connection, without the DOM: open the desktop's WebSocket, hand it
 * to the RFB client (noVNC), follow how it ends, and open a new one after a drop. The
 * pane gives it a way to make sockets and clients; the rules below are unit-tested.
 *
 * Phases (what the pane shows):
 * - `connecting`: the first socket is opening, or the RFB handshake runs;
 * - `connected`: the desktop is on screen and takes input;
 * - `reconnecting`: the socket dropped (network, server restart, desktop not ready):
 *   a new one opens after a growing wait, over the last picture;
 * - `ended`: given up (see `message`): the session ended, access was refused, the
 *   desktop asked for a password, or it stayed unreachable; `reconnect()` tries again;
 * - `closed`: the pane went away.
 */
import { judgeClose, MAX_RECONNECT_ATTEMPTS, reconnectDelay } from './closeCodes'

export type DesktopPhase = 'connecting' | 'connected' | 'reconnecting' | 'ended' | 'closed'

/** The part of a WebSocket the connection watches (it never reads or writes frames). */
export interface DesktopSocket {
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void
  close(): void
}

/** The part of noVNC's RFB client the connection watches. */
export interface DesktopClient {
  addEventListener(type: 'connect' | 'disconnect', listener: () => void): void
  addEventListener(type: 'credentialsrequired', listener: () => void): void
  addEventListener(type: 'securityfailure', listener: (event: CustomEvent<{ status: number; reason?: string }>) => void): void
  disconnect(): void
}

export interface DesktopConnectionDeps<C extends DesktopClient> {
  /** A new WebSocket to the desktop. */
  socket(): DesktopSocket
  /** A new RFB client speaking over `socket` (it draws into the pane). */
  client(socket: DesktopSocket): C
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  random(): number
}

export interface DesktopConnectionEvents<C extends DesktopClient> {
  /** Called at once, before the old client lets go of its picture (so the pane can keep it). */
  phase(phase: DesktopPhase, message: string): void
  /** A new client: the pane applies its settings and listens to its clipboard. */
  client(client: C): void
  /** The server refused the socket because the login ended (4401). */
  loginEnded?(code: number, reason: string): void
}

export class DesktopConnection<C extends DesktopClient> {
  phase: DesktopPhase = 'connecting'
  /** Why `ended` or `reconnecting`, for the pane to show. */
  message = ''
  client: C | null = null

  private readonly deps: DesktopConnectionDeps<C>
  private readonly events: DesktopConnectionEvents<C>
  private socket: DesktopSocket | null = null
  /** Whether the client has not yet disconnected (noVNC complains when asked twice). */
  private clientLive = false
  /** New sockets opened since the desktop was last reached. */
  private attempts = 0
  private timer: unknown = null
  /** Bumped whenever a socket is let go of on purpose: its late events are ignored. */
  private generation = 0

  constructor(deps: DesktopConnectionDeps<C>, events: DesktopConnectionEvents<C>) {
    this.deps = deps
    this.events = events
  }

  open(): void {
    this.cancelTimer()
    this.release()
    const generation = this.generation
    const current = (): boolean => generation === this.generation
    const socket = this.deps.socket()
    this.socket = socket
    // Registered before the client's own listener, so the pane hears of a drop while
    // the last picture is still on screen.
    socket.addEventListener('close', (event) => {
      if (current()) this.socketClosed(event.code, event.reason)
    })
    const client = this.deps.client(socket)
    this.client = client
    this.clientLive = true
    client.addEventListener('disconnect', () => {
      if (current()) this.clientLive = false
    })
    client.addEventListener('connect', () => {
      if (!current()) return
      this.attempts = 0
      this.setPhase('connected', '')
    })
    client.addEventListener('credentialsrequired', () => {
      if (current()) {
        this.end('The desktop asked for a password, which labgate should have given it. Tell your administrator.')
      }
    })
    client.addEventListener('securityfailure', (event) => {
      if (!current()) return
      const why = event.detail.reason ? `: ${event.detail.reason}` : ''
      this.end(`The desktop refused the connection${why}.`)
    })
    this.events.client(client)
    this.setPhase(this.phase === 'reconnecting' ? 'reconnecting' : 'connecting', this.message)
  }

  /** After `ended` (or at any time): a new socket now, with a fresh count of attempts. */
  reconnect(): void {
    if (this.phase === 'closed') return
    this.attempts = 0
    this.setPhase('connecting', '')
    this.open()
  }

  /** Give up with `message` (the session ended, say): no new socket opens by itself. */
  end(message: string): void {
    if (this.phase === 'closed') return
    this.cancelTimer()
    this.release()
    this.setPhase('ended', message)
  }

  /** The pane went away. */
  close(): void {
    this.cancelTimer()
    this.release()
    this.setPhase('closed', '')
  }

  private socketClosed(code: number, reason: string): void {
    const verdict = judgeClose(code, reason)
    if (!verdict.retry) {
      if (code === 4401) this.events.loginEnded?.(code, reason)
      this.end(verdict.message)
      return
    }
    if (this.attempts >= MAX_RECONNECT_ATTEMPTS) {
      this.end(`${verdict.message} labgate tried for several minutes and gave up.`)
      return
    }
    this.setPhase('reconnecting', verdict.message)
    const delay = reconnectDelay(this.attempts, this.deps.random())
    this.attempts += 1
    // The dropped client lets go of its socket when the timer opens the next one.
    this.timer = this.deps.setTimeout(() => {
      this.timer = null
      this.open()
    }, delay)
  }

  private release(): void {
    this.generation += 1
    if (this.clientLive) this.client?.disconnect()
    this.socket?.close()
    this.client = null
    this.socket = null
    this.clientLive = false
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.deps.clearTimeout(this.timer)
    this.timer = null
  }

  private setPhase(phase: DesktopPhase, message: string): void {
    this.phase = phase
    this.message = message
    this.events.phase(phase, message)
  }
}
