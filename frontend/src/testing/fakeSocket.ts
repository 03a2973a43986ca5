/** A WebSocket stand-in for unit tests: records what is sent, lets the test play the server. */
import type { SocketFactory, SocketLike } from '../api/resources'

export class FakeSocket implements SocketLike {
  readyState = 0
  sent: unknown[] = []
  closedWith: { code?: number; reason?: string } | null = null
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open')
    this.sent.push(JSON.parse(data))
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason }
    this.readyState = 3
  }

  // The server's side.
  open(): void {
    this.readyState = 1
    this.onopen?.(new Event('open'))
  }

  receive(message: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(message) }))
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3
    this.onerror?.(new Event('error'))
    this.onclose?.(new CloseEvent('close', { code, reason }))
  }
}

/** A factory that remembers every socket it made. */
export function fakeSockets(): { factory: SocketFactory; sockets: FakeSocket[]; last: () => FakeSocket } {
  const sockets: FakeSocket[] = []
  return {
    sockets,
    factory: (url) => {
      const socket = new FakeSocket(url)
      sockets.push(socket)
      return socket
    },
    last: () => {
      const socket = sockets[sockets.length - 1]
      if (!socket) throw new Error('no socket was opened')
      return socket
    },
  }
}
