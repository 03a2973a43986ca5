import { describe, expect, it } from 'vitest'
import { MAX_RECONNECT_ATTEMPTS } from './closeCodes'
import { DesktopConnection, type DesktopClient, type DesktopPhase, type DesktopSocket } from './desktopConnection'

type Listener = (event: never) => void

class FakeSocket implements DesktopSocket {
  closed = false
  private listeners: Listener[] = []
  addEventListener(_type: 'close', listener: (event: { code: number; reason: string }) => void): void {
    this.listeners.push(listener as Listener)
  }
  close(): void {
    this.closed = true
  }
  /** The server (or the network) ends the socket. */
  end(code: number, reason = ''): void {
    for (const listener of this.listeners) (listener as (e: { code: number; reason: string }) => void)({ code, reason })
  }
}

class FakeClient implements DesktopClient {
  disconnects = 0
  private listeners = new Map<string, ((event: unknown) => void)[]>()
  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as (event: unknown) => void])
  }
  disconnect(): void {
    this.disconnects += 1
  }
  emit(type: string, detail: unknown = {}): void {
    for (const listener of this.listeners.get(type) ?? []) listener({ detail })
  }
}

function harness() {
  const sockets: FakeSocket[] = []
  const clients: FakeClient[] = []
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = []
  const phases: [DesktopPhase, string][] = []
  const loginEnded: number[] = []
  const connection = new DesktopConnection<FakeClient>(
    {
      socket: () => {
        const socket = new FakeSocket()
        sockets.push(socket)
        return socket
      },
      client: () => {
        const client = new FakeClient()
        clients.push(client)
        return client
      },
      setTimeout: (fn, ms) => {
        const timer = { fn, ms, cancelled: false }
        timers.push(timer)
        return timer
      },
      clearTimeout: (handle) => {
        ;(handle as { cancelled: boolean }).cancelled = true
      },
      random: () => 0.5,
    },
    {
      phase: (phase, message) => phases.push([phase, message]),
      client: () => undefined,
      loginEnded: (code) => loginEnded.push(code),
    },
  )
  const lastSocket = (): FakeSocket => sockets[sockets.length - 1] as FakeSocket
  const lastClient = (): FakeClient => clients[clients.length - 1] as FakeClient
  const runTimer = (): number => {
    const timer = timers.find((t) => !t.cancelled)
    if (!timer) throw new Error('no timer')
    timer.cancelled = true
    timer.fn()
    return timer.ms
  }
  return { connection, sockets, clients, timers, phases, loginEnded, lastSocket, lastClient, runTimer }
}

describe('DesktopConnection', () => {
  it('is connected once the client says so', () => {
    const h = harness()
    h.connection.open()
    expect(h.connection.phase).toBe('connecting')
    h.lastClient().emit('connect')
    expect(h.connection.phase).toBe('connected')
  })

  it('reconnects after a drop with growing waits, and starts counting again once through', () => {
    const h = harness()
    h.connection.open()
    h.lastClient().emit('connect')
    h.lastSocket().end(1006)
    expect(h.connection.phase).toBe('reconnecting')
    expect(h.connection.message).toMatch(/dropped/)
    expect(h.runTimer()).toBe(500)
    expect(h.sockets).toHaveLength(2)
    expect(h.sockets[0]?.closed).toBe(true)
    h.lastSocket().end(4503) // desktop not ready yet: still trying
    expect(h.connection.phase).toBe('reconnecting')
    expect(h.runTimer()).toBe(1000)
    h.lastClient().emit('connect')
    expect(h.connection.phase).toBe('connected')
    h.lastSocket().end(1001)
    expect(h.runTimer()).toBe(500)
  })

  it('gives up on each refusal with its message and no new socket', () => {
    for (const [code, text] of [
      [4401, /login ended/],
      [4403, /not allowed/],
      [4404, /no such desktop/],
      [4410, /session ended/],
    ] as const) {
      const h = harness()
      h.connection.open()
      h.lastSocket().end(code)
      expect(h.connection.phase).toBe('ended')
      expect(h.connection.message).toMatch(text)
      expect(h.timers).toHaveLength(0)
      expect(h.loginEnded).toEqual(code === 4401 ? [4401] : [])
    }
  })

  it('gives up after many failed tries, and Reconnect starts again', () => {
    const h = harness()
    h.connection.open()
    for (let i = 0; i < MAX_RECONNECT_ATTEMPTS; i += 1) {
      h.lastSocket().end(1006)
      h.runTimer()
    }
    h.lastSocket().end(1006)
    expect(h.connection.phase).toBe('ended')
    expect(h.connection.message).toMatch(/gave up/)
    h.connection.reconnect()
    expect(h.connection.phase).toBe('connecting')
    h.lastSocket().end(1006)
    expect(h.connection.phase).toBe('reconnecting')
  })

  it('treats a password request or a security failure as an error to show', () => {
    const asked = harness()
    asked.connection.open()
    asked.lastClient().emit('credentialsrequired', { types: ['password'] })
    expect(asked.connection.phase).toBe('ended')
    expect(asked.connection.message).toMatch(/asked for a password/)
    expect(asked.lastClient().disconnects).toBe(1)

    const refused = harness()
    refused.connection.open()
    refused.lastClient().emit('securityfailure', { status: 1, reason: 'no entry' })
    expect(refused.connection.message).toBe('The desktop refused the connection: no entry.')
  })

  it('ignores the sockets it let go of, and stops for good when closed', () => {
    const h = harness()
    h.connection.open()
    const first = h.lastSocket()
    h.connection.reconnect()
    first.end(4410) // the old socket's end says nothing about the new one
    expect(h.connection.phase).toBe('connecting')
    h.lastSocket().end(1006)
    h.connection.close()
    expect(h.timers.every((t) => t.cancelled)).toBe(true)
    expect(h.connection.phase).toBe('closed')
    h.connection.reconnect()
    expect(h.connection.phase).toBe('closed')
  })

  it('does not ask a client that already disconnected to disconnect again', () => {
    const h = harness()
    h.connection.open()
    const client = h.lastClient()
    h.lastSocket().end(1006)
    client.emit('disconnect', { clean: false })
    h.runTimer()
    expect(client.disconnects).toBe(0)
    h.connection.end('This session ended.')
    expect(h.lastClient().disconnects).toBe(1)
  })
})
