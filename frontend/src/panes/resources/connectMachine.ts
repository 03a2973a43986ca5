/**
 * The connect conversation (WebSocket `/api/v1/resources/{id}/connect`) as a pure state
 * machine: `connectStep(state, event)` gives the next state, the messages to send and
 * whether to close the socket. No Vue, no sockets: `connectSession.ts` drives it.
 *
 *   starting --open--> working --progress--> working
 *   working --prompt--> prompt --answer--> working
 *   working --host_key--> host_key --trust--> working
 *   host_key --decline--> cancelled
 *   working --connected--> connected        (finished)
 *   any --failed--> failed                  (finished)
 *   any --cancel--> cancelled               (finished)
 *   any --socket closed early--> failed     (finished)
 */
import {
  normalizeSystemInfo,
  socketEndMessage,
  type ConnectClientMessage,
  type HostKeyMessage,
  type PromptField,
  type PromptKind,
  type PromptMessage,
  type ResourceError,
  type ResourceStatus,
  type SystemInfo,
} from '../../api/resources'

export type ConnectPhase = 'starting' | 'working' | 'prompt' | 'host_key' | 'connected' | 'failed' | 'cancelled'

export type LogKind = 'progress' | 'sent' | 'error'

export interface LogLine {
  id: number
  kind: LogKind
  text: string
}

export interface ConnectState {
  phase: ConnectPhase
  log: LogLine[]
  /** The question being asked (phase `prompt`). */
  prompt: PromptMessage | null
  /** The unknown host key to confirm (phase `host_key`). */
  hostKey: HostKeyMessage | null
  /** The server of the chain the conversation is at (index; see chain.ts), from the last prompt or key. */
  activeHop: number | null
  error: ResourceError | null
  status: ResourceStatus | null
  system: SystemInfo | null
  /** Nothing more will happen: connected, failed or cancelled. */
  finished: boolean
}

export type ConnectEvent =
  | { type: 'socket_open' }
  | { type: 'server'; message: Record<string, unknown> & { type: string } }
  | { type: 'answer'; answers: string[] }
  | { type: 'answer_key'; private_key: string; passphrase: string; remember: boolean }
  | { type: 'confirm_host_key'; accept: boolean }
  | { type: 'cancel' }
  | { type: 'socket_closed'; code: number; reason: string }

export interface ConnectStep {
  state: ConnectState
  send: ConnectClientMessage[]
  /** Close the socket (the conversation is over on our side). */
  close: boolean
}

/** A client-side error code: the socket to the labgate server ended before an answer. */
export const CONNECTION_LOST = 'connection_lost'

export function initialConnectState(): ConnectState {
  return {
    phase: 'starting',
    log: [],
    prompt: null,
    hostKey: null,
    activeHop: null,
    error: null,
    status: null,
    system: null,
    finished: false,
  }
}

function appendLog(state: ConnectState, kind: LogKind, text: string): LogLine[] {
  const last = state.log[state.log.length - 1]
  return [...state.log, { id: (last?.id ?? 0) + 1, kind, text }]
}

const str = (value: unknown, fallback = ''): string => (typeof value === 'string' ? value : fallback)
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null)

function promptFrom(m: Record<string, unknown>): PromptMessage | null {
  const id = num(m.id)
  const kind = str(m.kind) as PromptKind
  if (id === null || !['password', 'keyboard-interactive', 'key'].includes(kind)) return null
  const prompts: PromptField[] = Array.isArray(m.prompts)
    ? m.prompts
        .filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null)
        .map((p) => ({ text: str(p.text), echo: p.echo === true }))
    : []
  return {
    type: 'prompt',
    id,
    hop: num(m.hop),
    hop_label: typeof m.hop_label === 'string' ? m.hop_label : null,
    kind,
    name: str(m.name),
    instructions: str(m.instructions),
    // A password prompt with no text of its own still asks for one password.
    prompts: kind === 'password' && prompts.length === 0 ? [{ text: 'Password:', echo: false }] : prompts,
    error: typeof m.error === 'string' && m.error !== '' ? m.error : null,
  }
}

function hostKeyFrom(m: Record<string, unknown>): HostKeyMessage {
  return {
    type: 'host_key',
    hop: num(m.hop),
    hop_label: typeof m.hop_label === 'string' ? m.hop_label : null,
    host: str(m.host),
    port: num(m.port) ?? 22,
    fingerprint: str(m.fingerprint),
    public_key: str(m.public_key),
    can_confirm: m.can_confirm === true,
  }
}

export function errorFrom(value: unknown): ResourceError {
  const e = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
  return {
    code: str(e.code, 'agent_failed'),
    message: str(e.message, 'The connection failed.'),
    hop: num(e.hop),
    hop_label: typeof e.hop_label === 'string' ? e.hop_label : null,
  }
}

/** What a socket closed before any result means, from its close code and reason. */
export function errorFromClose(code: number, reason: string): ResourceError {
  let message = 'The connection to the labgate server was lost before the attempt finished. Try again.'
  let errorCode = CONNECTION_LOST
  const ended = socketEndMessage(code, reason)
  if (code === 4404 || reason === 'not_found') {
    errorCode = 'not_found'
    message = 'This resource does not exist any more.'
  } else if (ended !== null) {
    errorCode = reason || 'not_authenticated'
    message = ended
  } else if (reason === 'forbidden') {
    errorCode = reason
    message = 'You may not use this resource.'
  } else if (reason === 'csrf_failed') {
    errorCode = reason
    message = 'The labgate server refused the connection from this page. Reload the page and try again.'
  } else if (code === 1006 || code === 1011 || code === 1000 || code === 1001) {
    // Keep the generic message.
  } else if (reason) {
    message = `The labgate server ended the attempt: ${reason}.`
  }
  return { code: errorCode, message, hop: null, hop_label: null }
}

function onServerMessage(state: ConnectState, m: Record<string, unknown> & { type: string }): ConnectStep {
  const same: ConnectStep = { state, send: [], close: false }
  switch (m.type) {
    case 'progress': {
      const text = str(m.message)
      return text ? { state: { ...state, log: appendLog(state, 'progress', text) }, send: [], close: false } : same
    }
    case 'prompt': {
      const prompt = promptFrom(m)
      if (!prompt) return same
      // A repeated question's error (`Wrong passphrase.`) is shown with the question, not logged.
      return {
        state: { ...state, phase: 'prompt', prompt, hostKey: null, activeHop: prompt.hop },
        send: [],
        close: false,
      }
    }
    case 'host_key': {
      const hostKey = hostKeyFrom(m)
      return {
        state: { ...state, phase: 'host_key', hostKey, prompt: null, activeHop: hostKey.hop },
        send: [],
        close: false,
      }
    }
    case 'connected': {
      const status = (typeof m.status === 'object' && m.status !== null ? m.status : null) as ResourceStatus | null
      const system: SystemInfo | null = normalizeSystemInfo(m.system)
      return {
        state: {
          ...state,
          phase: 'connected',
          status,
          system,
          prompt: null,
          hostKey: null,
          finished: true,
          log: appendLog(state, 'progress', 'Connected.'),
        },
        send: [],
        close: true,
      }
    }
    case 'failed': {
      const error = errorFrom(m.error)
      return {
        state: {
          ...state,
          phase: 'failed',
          error,
          prompt: null,
          hostKey: null,
          activeHop: null,
          finished: true,
        },
        send: [],
        close: true,
      }
    }
    default:
      return same // a message type a newer server sends: ignore it
  }
}

export function connectStep(state: ConnectState, event: ConnectEvent): ConnectStep {
  const same: ConnectStep = { state, send: [], close: false }
  if (state.finished) return same

  switch (event.type) {
    case 'socket_open':
      if (state.phase !== 'starting') return same
      return { state: { ...state, phase: 'working' }, send: [{ type: 'connect' }], close: false }

    case 'server':
      if (state.phase === 'starting') return same
      return onServerMessage(state, event.message)

    case 'answer': {
      const prompt = state.prompt
      if (state.phase !== 'prompt' || !prompt || prompt.kind === 'key') return same
      const text = prompt.kind === 'password' ? 'Password sent.' : 'Answer sent.'
      return {
        state: { ...state, phase: 'working', prompt: null, log: appendLog(state, 'sent', text) },
        send: [{ type: 'answer', id: prompt.id, answers: [...event.answers] }],
        close: false,
      }
    }

    case 'answer_key': {
      const prompt = state.prompt
      if (state.phase !== 'prompt' || !prompt || prompt.kind !== 'key') return same
      return {
        state: { ...state, phase: 'working', prompt: null, log: appendLog(state, 'sent', 'Key sent.') },
        send: [
          {
            type: 'answer',
            id: prompt.id,
            private_key: event.private_key,
            passphrase: event.passphrase,
            remember: event.remember,
          },
        ],
        close: false,
      }
    }

    case 'confirm_host_key': {
      const key = state.hostKey
      if (state.phase !== 'host_key' || !key) return same
      if (event.accept && key.can_confirm) {
        return {
          state: {
            ...state,
            phase: 'working',
            hostKey: null,
            log: appendLog(state, 'sent', `Trusted the host key of ${key.host}:${key.port}.`),
          },
          send: [{ type: 'confirm_host_key', accept: true }],
          close: false,
        }
      }
      return {
        state: {
          ...state,
          phase: 'cancelled',
          hostKey: null,
          finished: true,
          log: appendLog(state, 'error', `Did not trust the host key of ${key.host}:${key.port}.`),
        },
        send: [{ type: 'confirm_host_key', accept: false }, { type: 'cancel' }],
        close: true,
      }
    }

    case 'cancel':
      return {
        state: {
          ...state,
          phase: 'cancelled',
          prompt: null,
          hostKey: null,
          finished: true,
        },
        send: state.phase === 'starting' ? [] : [{ type: 'cancel' }],
        close: true,
      }

    case 'socket_closed': {
      const error = errorFromClose(event.code, event.reason)
      return {
        state: {
          ...state,
          phase: 'failed',
          error,
          prompt: null,
          hostKey: null,
          finished: true,
        },
        send: [],
        close: false,
      }
    }
  }
}
