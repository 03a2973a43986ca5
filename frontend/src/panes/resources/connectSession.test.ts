import { describe, expect, it, vi } from 'vitest'
import { fakeSockets } from '../../testing/fakeSocket'
import { startConnect } from './connectSession'

describe('startConnect', () => {
  it('opens the connect socket, answers through it and reports the end once', () => {
    const { factory, last } = fakeSockets()
    const onFinished = vi.fn()
    const session = startConnect(3, { socketFactory: factory, url: 'ws://x/api/v1/resources/3/connect', onFinished })
    const socket = last()
    expect(socket.url).toBe('ws://x/api/v1/resources/3/connect')
    expect(session.state.value.phase).toBe('starting')

    socket.open()
    expect(socket.sent).toEqual([{ type: 'connect' }])
    socket.receive({ type: 'prompt', id: 1, hop: 0, hop_label: 'a@gw:22', kind: 'password', prompts: [] })
    expect(session.state.value.phase).toBe('prompt')
    session.answer(['pw'])
    expect(socket.sent.at(-1)).toEqual({ type: 'answer', id: 1, answers: ['pw'] })

    socket.receive({ type: 'connected', status: { state: 'connected' }, system: { hostname: 'h' } })
    expect(session.state.value.system).toMatchObject({ hostname: 'h', gpus: null })
    expect(session.state.value.phase).toBe('connected')
    expect(socket.closedWith).toEqual({ code: 1000, reason: undefined })
    expect(onFinished).toHaveBeenCalledTimes(1)
    expect(onFinished.mock.calls[0]?.[0]).toMatchObject({ phase: 'connected' })

    session.dispose()
    expect(onFinished).toHaveBeenCalledTimes(1)
  })

  it('builds the URL from the page location by default', () => {
    const { factory, last } = fakeSockets()
    startConnect(12, { socketFactory: factory })
    expect(last().url).toBe(`ws://${window.location.host}/api/v1/resources/12/connect`)
  })

  it('cancels over the socket and closes it', () => {
    const { factory, last } = fakeSockets()
    const session = startConnect(3, { socketFactory: factory })
    last().open()
    session.cancel()
    expect(last().sent.at(-1)).toEqual({ type: 'cancel' })
    expect(last().closedWith).not.toBeNull()
    expect(session.state.value.phase).toBe('cancelled')
  })

  it('cancels a running attempt when the dialog goes away', () => {
    const { factory, last } = fakeSockets()
    const onFinished = vi.fn()
    const session = startConnect(3, { socketFactory: factory, onFinished })
    last().open()
    session.dispose()
    expect(last().sent.at(-1)).toEqual({ type: 'cancel' })
    expect(onFinished.mock.calls[0]?.[0]).toMatchObject({ phase: 'cancelled' })
  })

  it('fails when the socket drops, with the refusal reason', () => {
    const { factory, last } = fakeSockets()
    const session = startConnect(3, { socketFactory: factory })
    last().drop(4403, 'forbidden')
    expect(session.state.value.phase).toBe('failed')
    expect(session.state.value.error?.code).toBe('forbidden')
  })

  it('fails cleanly when the socket cannot even be made', () => {
    const session = startConnect(3, {
      socketFactory: () => {
        throw new SyntaxError('bad URL')
      },
    })
    expect(session.state.value.phase).toBe('failed')
    expect(session.state.value.error?.code).toBe('connection_lost')
  })
})
