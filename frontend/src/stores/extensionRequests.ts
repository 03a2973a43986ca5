/**
 * Requests for more time, for administrators: those waiting (the top bar's badge counts
 * them) and those decided in the last week, shared by the Administration menu and the
 * Requests pane. Read from GET /api/v1/session-extensions when first held, again each
 * time the events socket says one started to wait or was decided (by anyone, on any
 * replica), after the socket reconnects, and after this tab decides one.
 */
import { ref, shallowRef, type Ref } from 'vue'
import { ApiError } from '../api/client'
import { listExtensionRequests, type ExtensionRequest } from '../api/sessions'
import { events as tabEvents } from './events'
import { heldLive, type LiveEvents } from './heldLive'

export interface ExtensionRequestsDeps {
  list: (status: 'pending' | 'decided') => Promise<ExtensionRequest[]>
  events: LiveEvents
}

export interface ExtensionRequestsStore {
  /** Waiting for a decision, newest first. */
  readonly pending: Readonly<Ref<readonly ExtensionRequest[]>>
  /** Decided by an administrator in the last week, the latest decision first. */
  readonly decided: Readonly<Ref<readonly ExtensionRequest[]>>
  readonly loaded: Readonly<Ref<boolean>>
  readonly error: Readonly<Ref<string | null>>
  load(): Promise<void>
  /** Hold the lists live (an administrator's tab only); call the result to let go. */
  acquire(): () => void
}

export function createExtensionRequestsStore(overrides: Partial<ExtensionRequestsDeps> = {}): ExtensionRequestsStore {
  const deps: ExtensionRequestsDeps = { list: (status) => listExtensionRequests(status), events: tabEvents, ...overrides }
  const pending = shallowRef<ExtensionRequest[]>([])
  const decided = shallowRef<ExtensionRequest[]>([])
  const loaded = ref(false)
  const error = ref<string | null>(null)
  // Reads overlap when events come quickly: only the newest read's answer is kept.
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    try {
      const [waiting, done] = await Promise.all([deps.list('pending'), deps.list('decided')])
      if (mine !== generation) return
      pending.value = waiting
      decided.value = done
      loaded.value = true
      error.value = null
    } catch (e) {
      if (mine !== generation) return
      // A 401 ends the login (the app shows the login page); a 403: no longer an administrator.
      if (e instanceof ApiError && e.status === 403) {
        pending.value = []
        decided.value = []
      }
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  const acquire = heldLive(deps.events, 'extension_requests', load, () => {
    generation += 1
    pending.value = []
    decided.value = []
    loaded.value = false
  })

  return { pending, decided, loaded, error, load, acquire }
}

export const extensionRequestsStore = createExtensionRequestsStore()
