/**
 * The user's favourites and presets, shared by every pane that shows a star (the
 * launcher, the launch dialog, the resources pane, the file browser, the experiments):
 * read from GET /api/v1/favourites when the first holder takes them (`acquire`), kept
 * in step with what this tab changes, and forgotten when the last lets go (a logout
 * closes every pane, so the next user never sees them). A star is a (kind, target) pair (api/favourites.ts says what a
 * target is); `starredFirst` puts the starred ones of a list first, in the list's order.
 */
import { computed, ref, shallowRef, type ComputedRef, type Ref } from 'vue'
import { ApiError } from '../api/client'
import {
  addFavourite,
  changeFavourite,
  launchPreset as launchPresetCall,
  listFavourites,
  removeFavourite,
  type Favourite,
  type FavouriteKind,
  type NewFavourite,
  type PresetLaunch,
} from '../api/favourites'
import type { AppSession } from '../api/sessions'

export interface FavouritesDeps {
  list: () => Promise<Favourite[]>
  add: (body: NewFavourite) => Promise<Favourite>
  change: (id: number, changes: { title?: string; position?: number }) => Promise<Favourite>
  remove: (id: number) => Promise<void>
  launch: (id: number) => Promise<AppSession>
}

export interface FavouritesStore {
  /** Every favourite, in the user's order. */
  readonly favourites: Readonly<Ref<readonly Favourite[]>>
  /** The presets alone, in the user's order. */
  readonly presets: ComputedRef<readonly Favourite[]>
  readonly loaded: Readonly<Ref<boolean>>
  readonly error: Readonly<Ref<string | null>>
  load(): Promise<void>
  /** Hold them (read when the first holder takes them); call the result to let go. */
  acquire(): () => void
  find(kind: FavouriteKind, target: string): Favourite | undefined
  isStarred(kind: FavouriteKind, target: string): boolean
  /** Star it (with `title`, else the server's name for it), or unstar it if starred. */
  toggle(kind: FavouriteKind, target: string, title?: string): Promise<void>
  savePreset(title: string, launch: PresetLaunch): Promise<Favourite>
  rename(id: number, title: string): Promise<void>
  remove(id: number): Promise<void>
  /** A new session as the preset says; the caller follows it (sessions store). */
  launchPreset(id: number): Promise<AppSession>
}

/** `items` with those `starred` says first, each part in its own order. */
export function starredFirst<T>(items: readonly T[], starred: (item: T) => boolean): T[] {
  return [...items.filter(starred), ...items.filter((item) => !starred(item))]
}

const keyOf = (kind: FavouriteKind, target: string): string => `${kind}\u0000${target}`

export function createFavouritesStore(overrides: Partial<FavouritesDeps> = {}): FavouritesStore {
  const deps: FavouritesDeps = {
    list: () => listFavourites(),
    add: (body) => addFavourite(body),
    change: (id, changes) => changeFavourite(id, changes),
    remove: (id) => removeFavourite(id),
    launch: (id) => launchPresetCall(id),
    ...overrides,
  }
  const favourites = shallowRef<Favourite[]>([])
  const loaded = ref(false)
  const error = ref<string | null>(null)
  const byKey = computed(() => new Map(favourites.value.map((f) => [keyOf(f.kind, f.target), f])))
  const presets = computed(() => favourites.value.filter((f) => f.kind === 'preset'))
  // A star clicked again before the server answered is not sent twice.
  const toggling = new Set<string>()
  let holders = 0
  // A read answered after the last holder let go is not kept.
  let generation = 0

  function sorted(list: Favourite[]): Favourite[] {
    return [...list].sort((a, b) => a.position - b.position || a.id - b.id)
  }

  function put(favourite: Favourite): void {
    favourites.value = sorted([...favourites.value.filter((f) => f.id !== favourite.id), favourite])
  }

  function drop(id: number): void {
    favourites.value = favourites.value.filter((f) => f.id !== id)
  }

  async function load(): Promise<void> {
    const mine = generation
    try {
      const found = await deps.list()
      if (mine !== generation) return
      favourites.value = sorted(found)
      loaded.value = true
      error.value = null
    } catch (e) {
      if (mine === generation) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  function acquire(): () => void {
    holders += 1
    if (holders === 1) void load()
    let released = false
    return () => {
      if (released) return
      released = true
      holders -= 1
      if (holders === 0) {
        generation += 1
        favourites.value = []
        loaded.value = false
        error.value = null
      }
    }
  }

  const find = (kind: FavouriteKind, target: string): Favourite | undefined => byKey.value.get(keyOf(kind, target))

  async function toggle(kind: FavouriteKind, target: string, title?: string): Promise<void> {
    const key = keyOf(kind, target)
    if (toggling.has(key)) return
    toggling.add(key)
    try {
      const starred = find(kind, target)
      if (starred) await remove(starred.id)
      else put(await deps.add(title ? { kind, target, title } : { kind, target }))
    } catch (e) {
      // Starred or unstarred meanwhile (another tab): what the server has is what counts.
      if (e instanceof ApiError && (e.status === 409 || e.status === 404)) await load()
      else throw e
    } finally {
      toggling.delete(key)
    }
  }

  async function savePreset(title: string, launch: PresetLaunch): Promise<Favourite> {
    const saved = await deps.add({ kind: 'preset', title, preset: launch })
    put(saved)
    return saved
  }

  async function rename(id: number, title: string): Promise<void> {
    put(await deps.change(id, { title }))
  }

  async function remove(id: number): Promise<void> {
    try {
      await deps.remove(id)
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e
    }
    drop(id)
  }

  return {
    favourites,
    presets,
    loaded,
    error,
    load,
    acquire,
    find,
    isStarred: (kind, target) => find(kind, target) !== undefined,
    toggle,
    savePreset,
    rename,
    remove,
    launchPreset: (id) => deps.launch(id),
  }
}

export const favouritesStore = createFavouritesStore()
