import { vi } from 'vitest'
import type { ServerEvent } from '../api/resources'

/** An events store for tests of the stores that follow it: `emit` and `reconnect` play the server. */
export function fakeEvents() {
  const listeners = new Set<(event: ServerEvent) => void>()
  const reconnectListeners = new Set<() => void>()
  const release = vi.fn()
  return {
    events: {
      acquire: vi.fn(() => release),
      onEvent: (l: (event: ServerEvent) => void) => {
        listeners.add(l)
        return () => listeners.delete(l)
      },
      onReconnect: (l: () => void) => {
        reconnectListeners.add(l)
        return () => reconnectListeners.delete(l)
      },
    },
    emit: (event: ServerEvent) => listeners.forEach((l) => l(event)),
    reconnect: () => reconnectListeners.forEach((l) => l()),
    release,
    listenerCount: () => listeners.size,
  }
}
