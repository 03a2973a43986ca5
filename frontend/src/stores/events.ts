/**
 * The server's live events (WebSocket `/api/v1/events`): one socket per browser tab,
 * shared by every pane that needs it.
 *
 * Panes `acquire()` the socket while they are mounted and call the returned release
 * function when they go; the socket is open while anyone holds it. When it drops, it
 * is opened again after a back-off (1 s, 2 s, 4 s … at most 30 s, with some jitter).
 * A refusal (close code 44xx: the login ended, access withdrawn) stops the retries until
 * the next `acquire()` or `reconnectNow()`; 4401 also ends the app's session.
 */
import { ref, type Ref } from 'vue'
import {
  browserSocket,
  eventsSocketUrl,
  isRefusal,
  parseFrame,
  reportLoginEnded,
  type ResourceStatus,
  type ServerEvent,
  type SocketFactory,
  type SocketLike,
} from '../api/resources'
import type { PersonRef, SessionRole } from '../api/sharing'

export type EventsConnection = 'idle' | 'connecting' | 'open' | 'waiting' | 'refused'

export const BACKOFF_BASE_MS = 1000
export const BACKOFF_MAX_MS = 30_000
/** A socket that stayed open this long was healthy: the next drop retries quickly again. */
export const STABLE_MS = 10_000

/** Delay before retry number `attempt` (0-based): exponential, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const exact = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt))
  return Math.round(exact * (0.8 + 0.4 * random()))
}

export interface EventsDeps {
  socketFactory: SocketFactory
  url: () => string
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  now: () => number
  random: () => number
}

export interface EventsStore {
  readonly connection: Readonly<Ref<EventsConnection>>
  /** Milliseconds until the next attempt while `waiting`, else null. */
  readonly retryInMs: Readonly<Ref<number | null>>
  /** The reason of a refusal (`not_authenticated`, …) while `refused`. */
  readonly refusal: Readonly<Ref<string | null>>
  /** Hold the socket open; call the result to let go. */
  acquire(): () => void
  /** Try at once (after a refusal, or while waiting). */
  reconnectNow(): void
  /** Every event the server sends. Returns an unsubscribe function. */
  onEvent(listener: (event: ServerEvent) => void): () => void
  /** Called when events may have been missed: the socket opened again after a drop, or the
   * server says so (`resync`). */
  onReconnect(listener: () => void): () => void
  /** Holders right now (for tests). */
  holders(): number
}

function browserDeps(): EventsDeps {
  return {
    socketFactory: browserSocket,
    url: () => eventsSocketUrl(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    now: () => Date.now(),
    random: Math.random,
  }
}

function isStatus(value: unknown): value is ResourceStatus {
  return typeof value === 'object' && value !== null && typeof (value as { state?: unknown }).state === 'string'
}

const SESSION_ROLES: readonly string[] = ['owner', 'user', 'guest', 'support', 'admin']

function isJoined(frame: Record<string, unknown>): frame is { user: PersonRef; role: SessionRole } {
  const user = frame.user as Partial<PersonRef> | null | undefined
  return (
    typeof user === 'object' &&
    user !== null &&
    typeof user.username === 'string' &&
    typeof frame.role === 'string' &&
    SESSION_ROLES.includes(frame.role)
  )
}

function isHelpAsked(frame: Record<string, unknown>): frame is { title: string; owner: Pick<PersonRef, 'username' | 'display_name'>; message: string } {
  const owner = frame.owner as Partial<PersonRef> | null | undefined
  return (
    typeof owner === 'object' &&
    owner !== null &&
    typeof owner.username === 'string' &&
    typeof frame.title === 'string' &&
    typeof frame.message === 'string'
  )
}

export function createEventsStore(overrides: Partial<EventsDeps> = {}): EventsStore {
  const deps: EventsDeps = { ...browserDeps(), ...overrides }
  const connection = ref<EventsConnection>('idle')
  const retryInMs = ref<number | null>(null)
  const refusal = ref<string | null>(null)
  const eventListeners = new Set<(event: ServerEvent) => void>()
  const reconnectListeners = new Set<() => void>()

  let holders = 0
  let socket: SocketLike | null = null
  let timer: unknown = null
  let attempt = 0
  let openedAt: number | null = null
  let heardSinceOpen = false
  let everOpened = false

  function clearTimer(): void {
    if (timer !== null) deps.clearTimeout(timer)
    timer = null
    retryInMs.value = null
  }

  function detach(s: SocketLike): void {
    s.onopen = s.onmessage = s.onerror = s.onclose = null
  }

  function open(): void {
    clearTimer()
    connection.value = 'connecting'
    refusal.value = null
    let s: SocketLike
    try {
      s = deps.socketFactory(deps.url())
    } catch {
      scheduleRetry()
      return
    }
    socket = s
    s.onopen = () => {
      openedAt = deps.now()
      heardSinceOpen = false
      connection.value = 'open'
      if (everOpened) for (const listener of [...reconnectListeners]) listener()
      everOpened = true
    }
    s.onmessage = (event) => {
      heardSinceOpen = true
      attempt = 0
      const frame = parseFrame(event.data)
      if (frame?.type === 'resource_status' && typeof frame.resource_id === 'number' && isStatus(frame.status)) {
        const ev: ServerEvent = { type: 'resource_status', resource_id: frame.resource_id, status: frame.status }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'session_changed' && typeof frame.session_id === 'string') {
        const ev: ServerEvent = { type: 'session_changed', session_id: frame.session_id }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'session_joined' && typeof frame.session_id === 'string' && isJoined(frame)) {
        const ev: ServerEvent = { type: 'session_joined', session_id: frame.session_id, user: frame.user, role: frame.role }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'help_asked' && typeof frame.session_id === 'string' && isHelpAsked(frame)) {
        const ev: ServerEvent = { type: 'help_asked', session_id: frame.session_id, title: frame.title, owner: frame.owner, message: frame.message }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'extension_requests') {
        const ev: ServerEvent = { type: 'extension_requests' }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'notification' && typeof frame.id === 'number') {
        const ev: ServerEvent = { type: 'notification', id: frame.id }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'announcements') {
        const ev: ServerEvent = { type: 'announcements' }
        for (const listener of [...eventListeners]) listener(ev)
      } else if (frame?.type === 'resync') {
        // The server may have missed news from its other replicas: read everything again.
        for (const listener of [...reconnectListeners]) listener()
      }
    }
    s.onerror = () => {} // a close event follows, with the code
    s.onclose = (event) => {
      detach(s)
      socket = null
      const stable = openedAt !== null && (heardSinceOpen || deps.now() - openedAt >= STABLE_MS)
      openedAt = null
      if (stable) attempt = 0
      if (holders === 0) {
        connection.value = 'idle'
        return
      }
      if (isRefusal(event.code)) {
        // No retries: a login that ended or access withdrawn stays so (4401 also takes
        // the app to the login page).
        connection.value = 'refused'
        refusal.value = event.reason || 'refused'
        reportLoginEnded(event.code, event.reason)
        return
      }
      scheduleRetry()
    }
  }

  function scheduleRetry(): void {
    const delay = backoffDelay(attempt, deps.random)
    attempt += 1
    connection.value = 'waiting'
    retryInMs.value = delay
    timer = deps.setTimeout(() => {
      timer = null
      if (holders > 0) open()
    }, delay)
  }

  function close(): void {
    clearTimer()
    const s = socket
    socket = null
    if (s) {
      detach(s)
      try {
        s.close(1000)
      } catch {
        // already closed
      }
    }
    connection.value = 'idle'
    attempt = 0
    everOpened = false
  }

  function acquire(): () => void {
    holders += 1
    if (holders === 1 || connection.value === 'refused') {
      if (!socket && timer === null) open()
    }
    let released = false
    return () => {
      if (released) return
      released = true
      holders -= 1
      if (holders === 0) close()
    }
  }

  function reconnectNow(): void {
    if (holders === 0 || socket) return
    attempt = 0
    open()
  }

  return {
    connection,
    retryInMs,
    refusal,
    acquire,
    reconnectNow,
    onEvent(listener) {
      eventListeners.add(listener)
      return () => eventListeners.delete(listener)
    },
    onReconnect(listener) {
      reconnectListeners.add(listener)
      return () => reconnectListeners.delete(listener)
    },
    holders: () => holders,
  }
}

/** The tab's events. */
export const events = createEventsStore()

// Coming back online, or back to the tab, is a good moment not to wait for the back-off.
if (typeof window !== 'undefined') {
  window.addEventListener('online', () => events.reconnectNow())
}
