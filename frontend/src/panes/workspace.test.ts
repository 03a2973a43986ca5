import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import type { DockviewApi, DockviewGroupPanel, IDockviewPanel } from 'dockview-core'
import { clearPaneRegistry, registerPane } from './registry'
import {
  closeGroup,
  closePanel,
  DEFAULT_PANE_KIND,
  focusOrOpenPane,
  GUARDED_TAB,
  hasGuardedPanes,
  newPanelId,
  openPane,
  setCloseGuard,
  splitGroup,
} from './workspace'

const Dummy = defineComponent({ render: () => h('div') })

function fakeDockview() {
  const addPanel = vi.fn((options: unknown) => options)
  return { api: { addPanel } as unknown as DockviewApi, addPanel }
}

function fakeGroup(active?: { component: string; params?: Record<string, unknown>; title?: string }) {
  return {
    activePanel: active && { api: { component: active.component }, params: active.params, title: active.title },
  } as unknown as DockviewGroupPanel
}

beforeEach(() => {
  registerPane({ kind: DEFAULT_PANE_KIND, title: 'Welcome', component: Dummy })
  registerPane({ kind: 'editor', title: 'Editor', component: Dummy })
})
afterEach(() => clearPaneRegistry())

describe('openPane', () => {
  it('adds a panel of the kind with its default title and a fresh id', () => {
    const { api, addPanel } = fakeDockview()
    openPane(api, 'editor', { params: { path: '/a.py' } })
    const options = addPanel.mock.calls[0]?.[0] as Record<string, unknown>
    expect(options).toMatchObject({ component: 'editor', title: 'Editor', params: { path: '/a.py' } })
    expect(String(options.id)).toMatch(/^editor-/)
    expect(options).not.toHaveProperty('position')
  })

  it('refuses an unknown kind', () => {
    const { api } = fakeDockview()
    expect(() => openPane(api, 'hologram')).toThrow(/Unknown pane kind/)
  })
})

describe('splitGroup', () => {
  it('opens a copy of the active pane in a new group to the right', () => {
    const { api, addPanel } = fakeDockview()
    const group = fakeGroup({ component: 'editor', params: { path: '/a.py' }, title: 'a.py' })
    splitGroup(api, group, 'right')
    expect(addPanel.mock.calls[0]?.[0]).toMatchObject({
      component: 'editor',
      title: 'a.py',
      params: { path: '/a.py' },
      position: { referenceGroup: group, direction: 'right' },
    })
  })

  it('gives the copy the params its pane kind chooses', () => {
    registerPane({
      kind: 'shell',
      title: 'Shell',
      component: Dummy,
      splitParams: ({ shown: _shown, ...rest }) => rest,
    })
    const { api, addPanel } = fakeDockview()
    splitGroup(api, fakeGroup({ component: 'shell', params: { host: 1, shown: 'p1' } }), 'right')
    expect((addPanel.mock.calls[0]?.[0] as { params: unknown }).params).toEqual({ host: 1 })
  })

  it('splits an empty group, or one whose pane kind is gone, into the default pane below', () => {
    const { api, addPanel } = fakeDockview()
    splitGroup(api, fakeGroup(), 'below')
    splitGroup(api, fakeGroup({ component: 'vanished' }), 'below')
    for (const call of addPanel.mock.calls) {
      expect(call[0]).toMatchObject({ component: DEFAULT_PANE_KIND, position: { direction: 'below' } })
    }
  })
})

describe('newPanelId', () => {
  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newPanelId('welcome')))
    expect(ids.size).toBe(200)
  })
})

describe('focusOrOpenPane', () => {
  it('brings an open pane of the kind to the front', () => {
    const setActive = vi.fn()
    const existing = { api: { component: 'editor', setActive } }
    const addPanel = vi.fn()
    const api = { panels: [{ api: { component: 'welcome', setActive: vi.fn() } }, existing], addPanel } as unknown as DockviewApi
    expect(focusOrOpenPane(api, 'editor')).toBe(existing)
    expect(setActive).toHaveBeenCalledOnce()
    expect(addPanel).not.toHaveBeenCalled()
  })

  it('opens one when there is none', () => {
    const addPanel = vi.fn((options: unknown) => options)
    const api = { panels: [], addPanel } as unknown as DockviewApi
    focusOrOpenPane(api, 'editor')
    expect(addPanel.mock.calls[0]?.[0]).toMatchObject({ component: 'editor' })
  })
})

describe('close guards', () => {
  function fakePanel(id: string) {
    const close = vi.fn()
    return { panel: { id, api: { close } } as unknown as IDockviewPanel, close }
  }

  it('gives guarded panes the guarded tab', () => {
    registerPane({ kind: 'careful', title: 'Careful', component: Dummy, guardedClose: true })
    const { api, addPanel } = fakeDockview()
    openPane(api, 'careful')
    openPane(api, 'editor')
    expect(addPanel.mock.calls[0]?.[0]).toMatchObject({ tabComponent: GUARDED_TAB })
    expect(addPanel.mock.calls[1]?.[0]).not.toHaveProperty('tabComponent')
  })

  it('closes only when the guard agrees, and a group stops at the first refusal', async () => {
    const a = fakePanel('a')
    const b = fakePanel('b')
    const release = setCloseGuard('a', () => false)
    expect(hasGuardedPanes()).toBe(true)
    expect(await closePanel(a.panel)).toBe(false)
    expect(a.close).not.toHaveBeenCalled()
    await closeGroup({ panels: [a.panel, b.panel] } as unknown as DockviewGroupPanel)
    expect(b.close).not.toHaveBeenCalled()
    release()
    expect(hasGuardedPanes()).toBe(false)
    await closeGroup({ panels: [a.panel, b.panel] } as unknown as DockviewGroupPanel)
    expect(a.close).toHaveBeenCalled()
    expect(b.close).toHaveBeenCalled()
  })

  it('waits for an asking guard', async () => {
    const a = fakePanel('a')
    let answer: (value: boolean) => void = () => undefined
    setCloseGuard('a', () => new Promise<boolean>((resolve) => (answer = resolve)))
    const closing = closePanel(a.panel)
    answer(true)
    expect(await closing).toBe(true)
    expect(a.close).toHaveBeenCalled()
    expect(hasGuardedPanes()).toBe(false)
  })
})
