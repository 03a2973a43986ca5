/**
 * One session's sharing as the Share dialog shows it, kept current: read when opened, again
 * when the events socket says the session changed or someone joined (or after it
 * reconnected), and every few seconds for who left, which no event announces.
 */
import { ref, shallowRef, type Ref } from 'vue'
import { ApiError } from '../../api/client'
import { getSharing, type Sharing } from '../../api/sharing'
import { events as tabEvents, type EventsStore } from '../../stores/events'

/** How often "connected now" is read again while the dialog is open. */
export const CONNECTED_REFRESH_MS = 10_000

export interface SharingViewDeps {
  get: (sessionId: string) => Promise<Sharing>
  events: Pick<EventsStore, 'acquire' | 'onEvent' | 'onReconnect'>
  setInterval: (fn: () => void, ms: number) => unknown
  clearInterval: (handle: unknown) => void
}

export interface SharingView {
  readonly sharing: Readonly<Ref<Sharing | null>>
  readonly error: Readonly<Ref<string | null>>
  /** Read it again now (after a change made here). */
  load(): Promise<void>
  /** Start following it; call the result to stop. */
  follow(): () => void
}

export function createSharingView(sessionId: string, overrides: Partial<SharingViewDeps> = {}): SharingView {
  const deps: SharingViewDeps = {
    get: (id) => getSharing(id),
    events: tabEvents,
    setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
    clearInterval: (handle) => globalThis.clearInterval(handle as ReturnType<typeof setInterval>),
    ...overrides,
  }
  const sharing = shallowRef<Sharing | null>(null)
  const error = ref<string | null>(null)
  // Answers can cross: only the latest read counts.
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    try {
      const answer = await deps.get(sessionId)
      if (mine !== generation) return
      sharing.value = answer
      error.value = null
    } catch (e) {
      if (mine !== generation || (e instanceof ApiError && e.status === 401)) return
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  function follow(): () => void {
    const timer = deps.setInterval(() => void load(), CONNECTED_REFRESH_MS)
    const stops = [
      deps.events.onEvent((event) => {
        if ((event.type === 'session_changed' || event.type === 'session_joined') && event.session_id === sessionId) void load()
      }),
      deps.events.onReconnect(() => void load()),
      deps.events.acquire(),
    ]
    void load()
    return () => {
      deps.clearInterval(timer)
      for (const stop of stops) stop()
    }
  }

  return { sharing, error, load, follow }
}
