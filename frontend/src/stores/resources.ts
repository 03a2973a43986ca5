/**
 * The user's resources, shared by every Resources pane (and later by file browsers,
 * terminals, ...). Loaded from GET /api/v1/resources; live status from the events
 * socket; system information cached per resource after Details or a connect.
 */
import { ref, shallowRef, type Ref } from 'vue'
import { ApiError } from '../api/client'
import { listResources, type Resource, type ResourceStatus, type SystemInfo } from '../api/resources'
import { events as tabEvents, type EventsStore } from './events'

export interface SystemSnapshot {
  info: SystemInfo
  /** When it was read (ms since the epoch). */
  at: number
}

export interface ResourcesDeps {
  list: () => Promise<Resource[]>
  events: Pick<EventsStore, 'acquire' | 'onEvent' | 'onReconnect'>
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
}

export interface ResourcesStore {
  readonly resources: Readonly<Ref<readonly Resource[]>>
  readonly loaded: Readonly<Ref<boolean>>
  readonly loading: Readonly<Ref<boolean>>
  /** Why the last load failed, or null. */
  readonly error: Readonly<Ref<string | null>>
  readonly systems: Readonly<Ref<Readonly<Record<number, SystemSnapshot>>>>
  /** Load (again); concurrent calls share one request. */
  load(): Promise<void>
  find(id: number): Resource | undefined
  /** Put a created or updated resource into the list (keeps its place, or appends). */
  upsert(resource: Resource): void
  remove(id: number): void
  setStatus(id: number, status: ResourceStatus): void
  setSystem(id: number, info: SystemInfo): void
  /** A pane uses the store: load once, follow live status. Returns the release function. */
  acquire(): () => void
}

/** An unknown resource in an event (shared with you just now): reload, at most this often. */
const RELOAD_DEBOUNCE_MS = 500

export function createResourcesStore(overrides: Partial<ResourcesDeps> = {}): ResourcesStore {
  const deps: ResourcesDeps = {
    list: () => listResources(),
    events: tabEvents,
    now: () => Date.now(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    ...overrides,
  }
  const resources = shallowRef<Resource[]>([])
  const loaded = ref(false)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const systems = shallowRef<Record<number, SystemSnapshot>>({})

  let pending: Promise<void> | null = null
  /** Statuses that arrived while a load was under way: newer than what it will answer. */
  let statusesDuringLoad = new Map<number, ResourceStatus>()
  /** Bumped by reset(): an answer for an older generation is dropped. */
  let generation = 0
  let reloadScheduled = false
  let holders = 0
  let releaseEvents: (() => void) | null = null
  let unsubscribe: (() => void)[] = []

  function load(): Promise<void> {
    if (pending) return pending
    loading.value = true
    const started = generation
    statusesDuringLoad = new Map()
    const request: Promise<void> = (async (): Promise<void> => {
      await Promise.resolve() // let `pending` be set before anything below runs
      try {
        const list = await deps.list()
        if (started !== generation) return
        resources.value = list.map((r) => {
          const status = statusesDuringLoad.get(r.id)
          return status ? { ...r, status } : r
        })
        loaded.value = true
        error.value = null
      } catch (e) {
        if (started !== generation) return
        if (!(e instanceof ApiError && e.status === 401)) error.value = e instanceof Error ? e.message : String(e)
      } finally {
        if (started === generation) {
          pending = null
          loading.value = false
        }
      }
    })()
    pending = request
    return request
  }

  function scheduleReload(): void {
    if (reloadScheduled) return
    reloadScheduled = true
    deps.setTimeout(() => {
      reloadScheduled = false
      void load()
    }, RELOAD_DEBOUNCE_MS)
  }

  function find(id: number): Resource | undefined {
    return resources.value.find((r) => r.id === id)
  }

  function upsert(resource: Resource): void {
    const index = resources.value.findIndex((r) => r.id === resource.id)
    resources.value =
      index === -1
        ? [...resources.value, resource]
        : resources.value.map((r, i) => (i === index ? resource : r))
  }

  function remove(id: number): void {
    resources.value = resources.value.filter((r) => r.id !== id)
    const rest = { ...systems.value }
    delete rest[id]
    systems.value = rest
  }

  function setStatus(id: number, status: ResourceStatus): void {
    if (pending) statusesDuringLoad.set(id, status)
    const current = find(id)
    if (!current) {
      if (loaded.value && !pending) scheduleReload()
      return
    }
    upsert({ ...current, status })
  }

  function setSystem(id: number, info: SystemInfo): void {
    systems.value = { ...systems.value, [id]: { info, at: deps.now() } }
  }

  /** Nobody looks any more (the last pane closed, or the user logged out): forget everything. */
  function reset(): void {
    resources.value = []
    systems.value = {}
    loaded.value = false
    error.value = null
    loading.value = false
    pending = null
    generation += 1
  }

  function acquire(): () => void {
    holders += 1
    if (holders === 1) {
      unsubscribe = [
        deps.events.onEvent((event) => {
          if (event.type === 'resource_status') setStatus(event.resource_id, event.status)
        }),
        deps.events.onReconnect(() => void load()),
      ]
      releaseEvents = deps.events.acquire()
      if (!loaded.value) void load()
    }
    let released = false
    return () => {
      if (released) return
      released = true
      holders -= 1
      if (holders === 0) {
        for (const stop of unsubscribe) stop()
        unsubscribe = []
        releaseEvents?.()
        releaseEvents = null
        reset()
      }
    }
  }

  return {
    resources,
    loaded,
    loading,
    error,
    systems,
    load,
    find,
    upsert,
    remove,
    setStatus,
    setSystem,
    acquire,
  }
}

/** The app's store. */
export const resourcesStore = createResourcesStore()
