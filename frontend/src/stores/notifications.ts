/**
 * The user's notification centre (the top bar's bell): the newest notifications and how
 * many are unread. Read from GET /api/v1/notifications when first held, again each time
 * the events socket says one was added (on any replica), after the socket reconnects, and
 * after this tab marks some read or deletes one.
 */
import { ref, shallowRef, type Ref } from 'vue'
import {
  deleteNotification,
  listNotifications,
  markNotificationsRead,
  type AppNotification,
  type NotificationList,
} from '../api/notifications'
import { events as tabEvents } from './events'
import { heldLive, type LiveEvents } from './heldLive'

export interface NotificationsDeps {
  list: () => Promise<NotificationList>
  markRead: (ids: number[] | 'all') => Promise<number>
  remove: (id: number) => Promise<void>
  events: LiveEvents
}

export interface NotificationsStore {
  readonly items: Readonly<Ref<readonly AppNotification[]>>
  readonly unread: Readonly<Ref<number>>
  readonly error: Readonly<Ref<string | null>>
  load(): Promise<void>
  markRead(ids: number[] | 'all'): Promise<void>
  remove(id: number): Promise<void>
  /** Hold the list live; call the result to let go. */
  acquire(): () => void
}

export function createNotificationsStore(overrides: Partial<NotificationsDeps> = {}): NotificationsStore {
  const deps: NotificationsDeps = {
    list: () => listNotifications(),
    markRead: (ids) => markNotificationsRead(ids),
    remove: (id) => deleteNotification(id),
    events: tabEvents,
    ...overrides,
  }
  const items = shallowRef<AppNotification[]>([])
  const unread = ref(0)
  const error = ref<string | null>(null)
  // Reads overlap when notifications come quickly: only the newest read's answer is kept.
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    try {
      const answer = await deps.list()
      if (mine !== generation) return
      items.value = answer.notifications
      unread.value = answer.unread
      error.value = null
    } catch (e) {
      if (mine !== generation) return
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  async function markRead(ids: number[] | 'all'): Promise<void> {
    const now = new Date().toISOString()
    const marked = ids === 'all' ? null : new Set(ids)
    // At once in this tab; the answer's count then stands.
    items.value = items.value.map((n) => (n.read_at === null && (marked === null || marked.has(n.id)) ? { ...n, read_at: now } : n))
    generation++
    unread.value = await deps.markRead(ids)
  }

  async function remove(id: number): Promise<void> {
    await deps.remove(id)
    await load()
  }

  const acquire = heldLive(deps.events, 'notification', load)

  return { items, unread, error, load, markRead, remove, acquire }
}

export const notificationsStore = createNotificationsStore()
