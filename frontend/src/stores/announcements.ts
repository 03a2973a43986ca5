/**
 * The announcements shown now (the banner under the top bar), read from
 * GET /api/v1/announcements/current when first held and again whenever the events socket
 * says they changed (one posted, changed or deleted, or one's start or end came) or the
 * socket reconnects. A banner the user dismissed stays hidden in this browser (its id is
 * remembered in localStorage); a new announcement shows again.
 */
import { computed, ref, shallowRef, type ComputedRef, type Ref } from 'vue'
import { currentAnnouncements, type CurrentAnnouncement } from '../api/announcements'
import { events as tabEvents } from './events'
import { heldLive, type LiveEvents } from './heldLive'

export const DISMISSED_KEY = 'labgate.announcements.dismissed'
/** Ids remembered at most (the oldest are forgotten: their announcements have ended). */
const DISMISSED_KEPT = 50

export interface AnnouncementsDeps {
  current: () => Promise<CurrentAnnouncement[]>
  events: LiveEvents
  storage: Pick<Storage, 'getItem' | 'setItem'> | null
}

export interface AnnouncementsStore {
  readonly current: Readonly<Ref<readonly CurrentAnnouncement[]>>
  /** Those not dismissed here: the banner shows the first. */
  readonly shown: ComputedRef<readonly CurrentAnnouncement[]>
  load(): Promise<void>
  dismiss(id: number): void
  acquire(): () => void
}

function readDismissed(storage: AnnouncementsDeps['storage']): number[] {
  try {
    const value: unknown = JSON.parse(storage?.getItem(DISMISSED_KEY) ?? '[]')
    return Array.isArray(value) ? value.filter((id): id is number => typeof id === 'number') : []
  } catch {
    return []
  }
}

export function createAnnouncementsStore(overrides: Partial<AnnouncementsDeps> = {}): AnnouncementsStore {
  const deps: AnnouncementsDeps = {
    current: () => currentAnnouncements(),
    events: tabEvents,
    storage: typeof localStorage !== 'undefined' ? localStorage : null,
    ...overrides,
  }
  const current = shallowRef<CurrentAnnouncement[]>([])
  const dismissed = ref<number[]>(readDismissed(deps.storage))
  const shown = computed(() => current.value.filter((a) => !dismissed.value.includes(a.id)))
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    try {
      const found = await deps.current()
      if (mine === generation) current.value = found
    } catch {
      // Kept as it was: the next event or reconnection reads them again.
    }
  }

  function dismiss(id: number): void {
    dismissed.value = [...dismissed.value.filter((d) => d !== id), id].slice(-DISMISSED_KEPT)
    try {
      deps.storage?.setItem(DISMISSED_KEY, JSON.stringify(dismissed.value))
    } catch {
      // Private mode or full: dismissed for this tab only.
    }
  }

  const acquire = heldLive(deps.events, 'announcements', load)

  return { current, shown, load, dismiss, acquire }
}

export const announcementsStore = createAnnouncementsStore()
