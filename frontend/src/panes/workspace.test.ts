import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import type { DockviewApi, DockviewGroupPanel } from 'dockview-core'
import { clearPaneRegistry, registerPane } from './registry'
import { DEFAULT_PANE_KIND, focusOrOpenPane, newPanelId, openPane, splitGroup } from './workspace'

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
