import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest'
import type { SerializedDockview } from 'dockview-core'
import {
  KEEPALIVE_BODY_LIMIT,
  SAVE_DELAY_MS,
  isSerializedLayout,
  persistLayout,
  restoreLayout,
  unknownKinds,
  type LayoutHost,
  type SaveLayout,
} from './layoutPersistence'

function layoutWith(kinds: string[]): SerializedDockview {
  const panels = Object.fromEntries(kinds.map((kind, i) => [`p${i}`, { id: `p${i}`, contentComponent: kind, title: kind }]))
  return {
    grid: {
      root: { type: 'branch', data: [{ type: 'leaf', data: { id: 'g1', views: Object.keys(panels) }, size: 800 }] },
      width: 800,
      height: 600,
      orientation: 'HORIZONTAL',
    },
    panels,
  } as unknown as SerializedDockview
}

/** A dockview stand-in: records calls and lets the test fire layout changes. */
class FakeHost implements LayoutHost {
  listeners = new Set<() => void>()
  current: SerializedDockview = layoutWith(['welcome'])
  fromJSON = vi.fn((data: SerializedDockview) => {
    this.current = data
  })
  clear = vi.fn()
  toJSON = vi.fn(() => this.current)
  onDidLayoutChange(listener: () => void) {
    this.listeners.add(listener)
    return { dispose: () => this.listeners.delete(listener) }
  }
  change(next?: SerializedDockview) {
    if (next) this.current = next
    for (const listener of this.listeners) listener()
  }
}

const known = (kind: string) => kind === 'welcome' || kind === 'terminal'

describe('restoreLayout', () => {
  let warn: ReturnType<typeof vi.spyOn>
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  })

  it('opens the default layout when nothing was saved', () => {
    const host = new FakeHost()
    const openDefault = vi.fn()
    expect(restoreLayout(host, null, known, openDefault)).toBe('default')
    expect(openDefault).toHaveBeenCalledOnce()
    expect(host.fromJSON).not.toHaveBeenCalled()
    expect(warn).not.toHaveBeenCalled()
  })

  it('restores a valid layout', () => {
    const host = new FakeHost()
    const openDefault = vi.fn()
    const saved = layoutWith(['welcome', 'terminal'])
    expect(restoreLayout(host, saved, known, openDefault)).toBe('restored')
    expect(host.fromJSON).toHaveBeenCalledWith(saved)
    expect(openDefault).not.toHaveBeenCalled()
  })

  it('falls back to the default for a corrupt layout, with a warning', () => {
    const host = new FakeHost()
    const openDefault = vi.fn()
    expect(restoreLayout(host, { grid: 'nonsense' }, known, openDefault)).toBe('default')
    expect(host.fromJSON).not.toHaveBeenCalled()
    expect(openDefault).toHaveBeenCalledOnce()
    expect(warn).toHaveBeenCalledOnce()
  })

  it('falls back to the default when a pane kind is unknown, naming it', () => {
    const host = new FakeHost()
    const openDefault = vi.fn()
    expect(restoreLayout(host, layoutWith(['welcome', 'hologram']), known, openDefault)).toBe('default')
    expect(host.fromJSON).not.toHaveBeenCalled()
    expect(openDefault).toHaveBeenCalledOnce()
    expect(String(warn.mock.calls[0]?.[1])).toContain('hologram')
  })

  it('falls back to the default and clears when dockview throws', () => {
    const host = new FakeHost()
    host.fromJSON.mockImplementation(() => {
      throw new Error('dockview: root must be of type branch')
    })
    const openDefault = vi.fn()
    expect(restoreLayout(host, layoutWith(['welcome']), known, openDefault)).toBe('default')
    expect(host.clear).toHaveBeenCalled()
    expect(openDefault).toHaveBeenCalledOnce()
    expect(warn).toHaveBeenCalledOnce()
  })
})

describe('layout shape helpers', () => {
  it('recognises a serialized dockview layout', () => {
    expect(isSerializedLayout(layoutWith(['welcome']))).toBe(true)
    expect(isSerializedLayout([])).toBe(false)
    expect(isSerializedLayout('{}')).toBe(false)
    expect(isSerializedLayout({ grid: {}, panels: {} })).toBe(false)
  })

  it('lists unknown kinds, including the legacy view.content.id form', () => {
    const layout = layoutWith(['welcome'])
    ;(layout.panels as Record<string, unknown>).old = { id: 'old', view: { content: { id: 'gone' } } }
    ;(layout.panels as Record<string, unknown>).broken = { id: 'broken' }
    expect(unknownKinds(layout, known).sort()).toEqual(['gone', 'null'])
  })
})

describe('persistLayout', () => {
  let host: FakeHost
  let save: Mock<SaveLayout>
  let target: EventTarget
  let visibility: EventTarget & { visibilityState: DocumentVisibilityState }

  beforeEach(() => {
    vi.useFakeTimers()
    host = new FakeHost()
    save = vi.fn<SaveLayout>(async () => undefined)
    target = new EventTarget()
    visibility = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState })
  })

  afterEach(() => {
    vi.useRealTimers()
  })

  function start() {
    return persistLayout(host, save, { target: target as Window, visibilityTarget: visibility })
  }

  it('coalesces a burst of changes into one save of the latest layout', async () => {
    start()
    host.change(layoutWith(['welcome']))
    await vi.advanceTimersByTimeAsync(200)
    host.change(layoutWith(['welcome', 'terminal']))
    await vi.advanceTimersByTimeAsync(200)
    const last = layoutWith(['terminal'])
    host.change(last)
    expect(save).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS - 1)
    expect(save).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(save).toHaveBeenCalledOnce()
    expect(save).toHaveBeenCalledWith(last, { keepalive: false })
  })

  it('saves again for changes after a save', async () => {
    start()
    host.change()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    host.change()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    expect(save).toHaveBeenCalledTimes(2)
  })

  it('does not save when nothing changed', async () => {
    const persistence = start()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS * 3)
    target.dispatchEvent(new Event('pagehide'))
    await persistence.flush()
    expect(save).not.toHaveBeenCalled()
  })

  it('flushes a pending save with keepalive on pagehide, and only once', async () => {
    start()
    host.change()
    target.dispatchEvent(new Event('pagehide'))
    expect(save).toHaveBeenCalledOnce()
    expect(save).toHaveBeenCalledWith(host.current, { keepalive: true })
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS * 2)
    target.dispatchEvent(new Event('beforeunload'))
    expect(save).toHaveBeenCalledOnce()
  })

  it('flushes on beforeunload and when the page becomes hidden', () => {
    start()
    host.change()
    target.dispatchEvent(new Event('beforeunload'))
    expect(save).toHaveBeenCalledTimes(1)
    host.change()
    visibility.dispatchEvent(new Event('visibilitychange')) // still visible: nothing
    expect(save).toHaveBeenCalledTimes(1)
    visibility.visibilityState = 'hidden'
    visibility.dispatchEvent(new Event('visibilitychange'))
    expect(save).toHaveBeenCalledTimes(2)
    expect(save).toHaveBeenLastCalledWith(host.current, { keepalive: true })
  })

  it('sends a layout too big for keepalive as an ordinary request', () => {
    start()
    const huge = layoutWith(['welcome'])
    ;(huge.panels.p0 as unknown as Record<string, unknown>).params = { blob: 'x'.repeat(KEEPALIVE_BODY_LIMIT) }
    host.change(huge)
    target.dispatchEvent(new Event('pagehide'))
    expect(save).toHaveBeenCalledWith(huge, { keepalive: false })
  })

  it('flush() saves at once and cancels the timer', async () => {
    const persistence = start()
    host.change()
    expect(persistence.pending).toBe(true)
    await persistence.flush()
    expect(save).toHaveBeenCalledOnce()
    expect(persistence.pending).toBe(false)
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS * 2)
    expect(save).toHaveBeenCalledOnce()
  })

  it('keeps ordinary saves in order', async () => {
    const order: string[] = []
    let release: () => void = () => {}
    save.mockImplementationOnce(
      (layout: SerializedDockview) =>
        new Promise<void>((resolve) => {
          release = () => {
            order.push(Object.keys(layout.panels).join())
            resolve()
          }
        }),
    )
    save.mockImplementation(async (layout: SerializedDockview) => {
      order.push(Object.keys(layout.panels).join())
    })
    start()
    host.change(layoutWith(['welcome']))
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    host.change(layoutWith(['welcome', 'terminal']))
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    expect(save).toHaveBeenCalledTimes(1) // the second waits for the first
    release()
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['p0', 'p0,p1'])
  })

  it('logs a failed save and keeps going', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    save.mockRejectedValueOnce(new Error('offline'))
    start()
    host.change()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    expect(warn).toHaveBeenCalledOnce()
    host.change()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS)
    expect(save).toHaveBeenCalledTimes(2)
  })

  it('stops saving after dispose', async () => {
    const persistence = start()
    host.change()
    persistence.dispose()
    await vi.advanceTimersByTimeAsync(SAVE_DELAY_MS * 2)
    host.change()
    target.dispatchEvent(new Event('pagehide'))
    expect(save).not.toHaveBeenCalled()
    expect(host.listeners.size).toBe(0)
  })
})
