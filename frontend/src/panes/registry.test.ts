import { afterEach, describe, expect, it } from 'vitest'
import { defineComponent, h, isReactive } from 'vue'
import { adminPanes, clearPaneRegistry, getPane, hasPane, listPanes, menuPanes, paneComponents, registerPane } from './registry'

const Dummy = defineComponent({ render: () => h('div') })
const Other = defineComponent({ render: () => h('span') })

afterEach(() => clearPaneRegistry())

describe('pane registry', () => {
  it('registers a pane and finds it by kind', () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: Dummy, icon: 'M0 0' })
    expect(hasPane('welcome')).toBe(true)
    const pane = getPane('welcome')
    expect(pane?.title).toBe('Welcome')
    expect(pane?.icon).toBe('M0 0')
    expect(pane?.component).toBe(Dummy)
    expect(pane?.inMenu).toBe(true)
  })

  it('does not know unregistered kinds', () => {
    expect(hasPane('terminal')).toBe(false)
    expect(getPane('terminal')).toBeUndefined()
  })

  it('refuses to register a kind twice', () => {
    registerPane({ kind: 'editor', title: 'Editor', component: Dummy })
    expect(() => registerPane({ kind: 'editor', title: 'Another editor', component: Other })).toThrow(
      /already registered/,
    )
    expect(getPane('editor')?.component).toBe(Dummy)
  })

  it.each(['', 'Editor', 'has space', '1st', 'a/b'])('refuses the kind %j', (kind) => {
    expect(() => registerPane({ kind, title: 'X', component: Dummy })).toThrow(/must match/)
  })

  it('accepts dotted and dashed kinds', () => {
    registerPane({ kind: 'app.tensorboard', title: 'TensorBoard', component: Dummy })
    registerPane({ kind: 'file-browser', title: 'Files', component: Dummy })
    expect(listPanes().map((p) => p.kind)).toEqual(['app.tensorboard', 'file-browser'])
  })

  it('lists panes in registration order and maps kinds to components for dockview', () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: Dummy })
    registerPane({ kind: 'terminal', title: 'Terminal', component: Other, inMenu: false })
    expect(listPanes().map((p) => [p.kind, p.inMenu])).toEqual([
      ['welcome', true],
      ['terminal', false],
    ])
    expect(paneComponents()).toEqual({ welcome: Dummy, terminal: Other })
  })

  it('keeps components out of Vue reactivity', () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: Dummy })
    expect(isReactive(getPane('welcome')?.component)).toBe(false)
  })

  it('offers in the Panes menu what the server lists for it, or every registered pane without a list', () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: Dummy })
    registerPane({ kind: 'viewer', title: 'Viewer', component: Dummy, inMenu: false })
    registerPane({ kind: 'sample', title: 'Sample', component: Other })
    registerPane({ kind: 'gone', title: 'Uninstalled', component: Other })
    const kinds = (listed?: { kind: string; in_menu: boolean }[]) => menuPanes(listed).map((p) => p.kind)
    expect(kinds()).toEqual(['welcome', 'sample', 'gone'])
    expect(kinds([])).toEqual(['welcome', 'sample', 'gone'])
    const listed = [
      { kind: 'welcome', in_menu: true },
      { kind: 'viewer', in_menu: true },
      { kind: 'sample', in_menu: true },
      { kind: 'gone', in_menu: false },
      { kind: 'not-loaded', in_menu: true },
    ]
    expect(kinds(listed)).toEqual(['welcome', 'sample'])
  })

  it('offers administrators\' panes in the Administration menu only', () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: Dummy })
    registerPane({ kind: 'users', title: 'Users', component: Other, adminOnly: true })
    registerPane({ kind: 'audit', title: 'Audit', component: Other, adminOnly: true })
    expect(menuPanes().map((p) => p.kind)).toEqual(['welcome'])
    expect(adminPanes().map((p) => p.kind)).toEqual(['users', 'audit'])
    // The server's word counts: a pane it does not list as an administrator's is not offered as one.
    const listed = [
      { kind: 'welcome', in_menu: true, admin_only: false },
      { kind: 'users', in_menu: true, admin_only: true },
      { kind: 'audit', in_menu: true },
    ]
    expect(menuPanes(listed).map((p) => p.kind)).toEqual(['welcome'])
    expect(adminPanes(listed).map((p) => p.kind)).toEqual(['users'])
  })
})
