/**
 * A list kept live while some pane holds it: the first holder opens the events socket and
 * reads the list; it is read again on each event of `reloadOn` (on any replica) and after
 * the socket reconnects; the last holder's release stops listening (and `forget` drops
 * what was read, when the list must not outlive its holders). Used by the notification
 * centre, the announcements and the requests for more time.
 */
import type { EventsStore } from './events'

export type LiveEvents = Pick<EventsStore, 'acquire' | 'onEvent' | 'onReconnect'>

/** The `acquire` of such a store: hold the list live; call the result to let go. */
export function heldLive(events: LiveEvents, reloadOn: string, load: () => unknown, forget?: () => void): () => () => void {
  let holders = 0
  let stops: (() => void)[] = []
  return () => {
    holders += 1
    if (holders === 1) {
      stops = [
        events.onEvent((event) => {
          if (event.type === reloadOn) void load()
        }),
        events.onReconnect(() => void load()),
        events.acquire(),
      ]
      void load()
    }
    let released = false
    return () => {
      if (released) return
      released = true
      holders -= 1
      if (holders === 0) {
        for (const stop of stops) stop()
        stops = []
        forget?.()
      }
    }
  }
}
