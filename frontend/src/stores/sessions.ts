/**
 * The user's sessions, shared by the Sessions pane, the launcher and the app panes:
 * loaded from GET /api/v1/sessions, each one read again when the events socket says it
 * changed (and all of them after the socket reconnects, which may have missed some).
 */
import { shallowRef, ref, type Ref } from 'vue'
import { ApiError } from '../api/client'
import { getSession, listSessions, type AppSession } from '../api/sessions'
import { events as tabEvents, type EventsStore } from './events'

export interface SessionsDeps {
  list: () => Promise<AppSession[]>
  get: (id: string) => Promise<AppSession>
  events: Pick<EventsStore, 'acquire' | 'onEvent' | 'onReconnect'>
}

export interface SessionsStore {
  readonly sessions: Readonly<Ref<readonly AppSession[]>>
  readonly loaded: Readonly<Ref<boolean>>
  readonly error: Readonly<Ref<string | null>>
  load(): Promise<void>
  find(id: string): AppSession | undefined
  /** Read one session again (after an event, or after acting on it). */
  refresh(id: string): Promise<AppSession | null>
  upsert(session: AppSession): void
  remove(id: string): void
  acquire(): () => void
}

export function createSessionsStore(overrides: Partial<SessionsDeps> = {}): SessionsStore {
  const deps: SessionsDeps = {
    list: () => listSessions(),
    get: (id) => getSession(id),
    events: tabEvents,
    ...overrides,
  }
  const sessions = shallowRef<AppSession[]>([])
  const loaded = ref(false)
  const error = ref<string | null>(null)
  let holders = 0
  let stops: (() => void)[] = []

  function upsert(session: AppSession): void {
    const list = [...sessions.value]
    const index = list.findIndex((s) => s.id === session.id)
    if (index >= 0) list[index] = session
    else list.unshift(session)
    sessions.value = list
  }

  function remove(id: string): void {
    sessions.value = sessions.value.filter((s) => s.id !== id)
  }

  async function load(): Promise<void> {
    try {
      sessions.value = await deps.list()
      loaded.value = true
      error.value = null
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  async function refresh(id: string): Promise<AppSession | null> {
    try {
      const session = await deps.get(id)
      upsert(session)
      return session
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) remove(id)
      return null
    }
  }

  function acquire(): () => void {
    holders += 1
    if (holders === 1) {
      stops = [
        deps.events.onEvent((event) => {
          if (event.type === 'session_changed') void refresh(event.session_id)
        }),
        deps.events.onReconnect(() => void load()),
        deps.events.acquire(),
      ]
      if (!loaded.value) void load()
    }
    let released = false
    return () => {
      if (released) return
      released = true
      holders -= 1
      if (holders === 0) {
        for (const stop of stops) stop()
        stops = []
        sessions.value = []
        loaded.value = false
      }
    }
  }

  return {
    sessions,
    loaded,
    error,
    load,
    find: (id) => sessions.value.find((s) => s.id === id),
    refresh,
    upsert,
    remove,
    acquire,
  }
}

export const sessionsStore = createSessionsStore()
