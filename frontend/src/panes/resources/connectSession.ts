/**
 * One connect attempt: the WebSocket `/api/v1/resources/{id}/connect` driving the pure
 * state machine of connectMachine.ts. The dialog renders `state` and calls the methods.
 */
import { shallowRef, type ShallowRef } from 'vue'
import {
  browserSocket,
  connectSocketUrl,
  parseFrame,
  reportLoginEnded,
  SOCKET_OPEN,
  type SocketFactory,
  type SocketLike,
} from '../../api/resources'
import { connectStep, initialConnectState, type ConnectEvent, type ConnectState } from './connectMachine'

export interface ConnectSession {
  readonly state: ShallowRef<ConnectState>
  answer(answers: string[]): void
  answerKey(privateKey: string, passphrase: string, remember: boolean): void
  confirmHostKey(accept: boolean): void
  cancel(): void
  /** Stop listening (the dialog is gone); cancels a conversation still under way. */
  dispose(): void
}

export interface ConnectSessionOptions {
  socketFactory?: SocketFactory
  url?: string
  /** Called once when the attempt ends (connected, failed or cancelled). */
  onFinished?: (state: ConnectState) => void
}

export function startConnect(resourceId: number, options: ConnectSessionOptions = {}): ConnectSession {
  const state = shallowRef<ConnectState>(initialConnectState())
  const factory = options.socketFactory ?? browserSocket
  let socket: SocketLike | null = null
  let reported = false

  function dispatch(event: ConnectEvent): void {
    const step = connectStep(state.value, event)
    for (const message of step.send) {
      if (socket && socket.readyState === SOCKET_OPEN) socket.send(JSON.stringify(message))
    }
    state.value = step.state
    if (step.close) closeSocket()
    if (step.state.finished && !reported) {
      reported = true
      options.onFinished?.(step.state)
    }
  }

  function closeSocket(): void {
    const s = socket
    socket = null
    if (!s) return
    s.onopen = s.onmessage = s.onerror = s.onclose = null
    try {
      s.close(1000)
    } catch {
      // already closed
    }
  }

  try {
    socket = factory(options.url ?? connectSocketUrl(resourceId))
  } catch {
    dispatch({ type: 'socket_closed', code: 1006, reason: '' })
  }
  if (socket) {
    socket.onopen = () => dispatch({ type: 'socket_open' })
    socket.onmessage = (event) => {
      const message = parseFrame(event.data)
      if (message) dispatch({ type: 'server', message })
    }
    // An error is always followed by a close event, which carries the code.
    socket.onerror = () => {}
    socket.onclose = (event) => {
      socket = null
      dispatch({ type: 'socket_closed', code: event.code, reason: event.reason })
      reportLoginEnded(event.code, event.reason)
    }
  }

  return {
    state,
    answer: (answers) => dispatch({ type: 'answer', answers }),
    answerKey: (privateKey, passphrase, remember) =>
      dispatch({ type: 'answer_key', private_key: privateKey, passphrase, remember }),
    confirmHostKey: (accept) => dispatch({ type: 'confirm_host_key', accept }),
    cancel: () => dispatch({ type: 'cancel' }),
    dispose: () => {
      if (!state.value.finished) dispatch({ type: 'cancel' })
      closeSocket()
    },
  }
}
