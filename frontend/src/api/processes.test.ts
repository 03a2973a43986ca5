import { describe, expect, it, vi } from 'vitest'
import { api } from './client'
import { ProcessAttachment, parseOutputFrame, type AttachmentState, type BinarySocketLike } from './processes'

class FakeBinarySocket implements BinarySocketLike {
  readyState = 1
  binaryType: BinaryType = 'blob'
  sent: (string | Uint8Array)[] = []
  closedWith: number | null = null
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null

  constructor(readonly url: string) {}

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    this.sent.push(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer))
  }

  close(code?: number): void {
    this.closedWith = code ?? 1000
    this.readyState = 3
  }

  text(message: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(message) }))
  }

  output(offset: number, text: string, stream = 3): void {
    const bytes = new TextEncoder().encode(text)
    const buffer = new ArrayBuffer(9 + bytes.length)
    const view = new DataView(buffer)
    view.setBigUint64(0, BigInt(offset))
    view.setUint8(8, stream)
    new Uint8Array(buffer, 9).set(bytes)
    this.onmessage?.(new MessageEvent('message', { data: buffer }))
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3
    this.onclose?.(new CloseEvent('close', { code, reason }))
  }
}

function setup(offset = 0) {
  const sockets: FakeBinarySocket[] = []
  const timers: (() => void)[] = []
  const received: string[] = []
  const states: AttachmentState[] = []
  const attachment = new ProcessAttachment(
    3,
    'p1',
    {
      onOutput: (chunk) => received.push(new TextDecoder().decode(chunk.data)),
      onState: (state) => states.push(state),
    },
    {
      offset,
      socket: (url) => {
        const socket = new FakeBinarySocket(url)
        sockets.push(socket)
        return socket
      },
      setTimeout: (fn) => timers.push(fn),
      clearTimeout: () => undefined,
    },
  )
  const last = (): FakeBinarySocket => sockets[sockets.length - 1] as FakeBinarySocket
  return { attachment, sockets, timers, received, states, last }
}

describe('parseOutputFrame', () => {
  it('reads the offset, the stream and the bytes', () => {
    const buffer = new ArrayBuffer(12)
    const view = new DataView(buffer)
    view.setBigUint64(0, 4096n)
    view.setUint8(8, 2)
    new Uint8Array(buffer, 9).set([104, 105, 33])
    const chunk = parseOutputFrame(buffer)
    expect(chunk?.offset).toBe(4096)
    expect(chunk?.stream).toBe('stderr')
    expect(Array.from(chunk?.data ?? [])).toEqual([104, 105, 33])
  })

  it('refuses a frame shorter than its header', () => {
    expect(parseOutputFrame(new ArrayBuffer(5))).toBeNull()
  })
})

describe('ProcessAttachment', () => {
  it('re-opens from the last byte after the socket drops, delivering every byte once', () => {
    const { attachment, sockets, timers, received, last } = setup()
    expect(last().url).toContain('/resources/3/processes/p1/attach?offset=0')
    last().text({ type: 'attached', offset: 0, dropped: 0 })
    last().output(0, 'one\n')
    last().output(4, 'two\n')
    last().drop()
    expect(attachment.state).toBe('reconnecting')
    timers.shift()?.()
    expect(sockets).toHaveLength(2)
    expect(last().url).toContain('offset=8')
    last().text({ type: 'attached', offset: 8, dropped: 0 })
    // A frame that overlaps what we have (a server that replays too much) is trimmed.
    last().output(4, 'two\nthree\n')
    expect(received.join('')).toBe('one\ntwo\nthree\n')
    expect(attachment.offset).toBe(14)
  })

  it('keeps input typed while detached and sends it, in order, once attached', () => {
    const { attachment, last } = setup()
    attachment.write('ls\r')
    attachment.signal('INT')
    expect(last().sent).toHaveLength(0)
    last().text({ type: 'attached', offset: 0, dropped: 0 })
    expect(last().sent).toHaveLength(2)
    expect(new TextDecoder().decode(last().sent[0] as Uint8Array)).toBe('ls\r')
    expect(JSON.parse(last().sent[1] as string)).toEqual({ type: 'signal', signal: 'INT' })
  })

  it('stops at the process exit and does not re-open', () => {
    const { attachment, sockets, timers, last } = setup()
    last().text({ type: 'attached', offset: 0, dropped: 0 })
    last().text({ type: 'exit', exit_status: 3, signal: null })
    last().drop(1000)
    expect(attachment.state).toBe('exited')
    expect(attachment.exit).toEqual({ exit_status: 3, signal: null })
    expect(timers).toHaveLength(0)
    expect(sockets).toHaveLength(1)
  })

  it('fails on a refusal and tries again only when asked', () => {
    const { attachment, sockets, timers, last } = setup()
    last().drop(4404, 'not_found')
    expect(attachment.state).toBe('failed')
    expect(timers).toHaveLength(0)
    attachment.reattach()
    expect(sockets).toHaveLength(2)
  })

  it('says the login ended (4401) or access was withdrawn (4403), and does not re-open', () => {
    const onUnauthorized = vi.fn()
    api.onUnauthorized = onUnauthorized
    try {
      for (const [code, reason, message] of [
        [4401, 'login_ended', 'Your login ended: log in again.'],
        [4401, 'token_ended', 'Your login ended: log in again.'],
        [4403, 'access_withdrawn', 'Access to this was withdrawn.'],
      ] as const) {
        const { attachment, sockets, timers, last } = setup()
        last().text({ type: 'attached', offset: 0, dropped: 0 })
        last().drop(code, reason)
        expect(attachment.state).toBe('failed')
        expect(attachment.error).toEqual({ code: reason, message })
        expect(timers).toHaveLength(0)
        expect(sockets).toHaveLength(1)
      }
      // The login's end also takes the app to the login page; a withdrawal does not.
      expect(onUnauthorized).toHaveBeenCalledTimes(2)
      expect(onUnauthorized.mock.calls[0]?.[0]).toMatchObject({ status: 401, code: 'login_ended' })
    } finally {
      api.onUnauthorized = null
    }
  })

  it('reports the server failing to reach the resource, then lets the pane retry', () => {
    const { attachment, sockets, last } = setup(100)
    last().text({ type: 'failed', error: { code: 'login_required', message: 'Log in first.' } })
    last().drop(1000)
    expect(attachment.state).toBe('failed')
    expect(attachment.error?.code).toBe('login_required')
    attachment.reattach()
    expect(sockets).toHaveLength(2)
    expect(last().url).toContain('offset=100')
  })

  it('detaches on close without re-opening', () => {
    const { attachment, sockets, timers, last } = setup()
    last().text({ type: 'attached', offset: 0, dropped: 0 })
    attachment.close()
    expect(last().closedWith).toBe(1000)
    expect(timers).toHaveLength(0)
    expect(sockets).toHaveLength(1)
    expect(attachment.state).toBe('closed')
  })
})
