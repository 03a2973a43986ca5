import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import type { BundleInfo, ViewerInfo } from '../api/types'
import { clearPaneRegistry, getPane, hasPane, registerPane } from '../panes/registry'
import { clearViewerRegistry, getViewer, registerViewer } from '../panes/viewer/registry'
import { notices } from '../stores/notices'
import { FRONTEND_API_VERSION, type PluginApi } from './api'
import { loadBundles, reportMissingViewers, type ImportModule } from './loader'

const bundle = (name: string): BundleInfo => ({ name, version: '1.0.0', entry: `/plugins/${name}/${name}.js` })

/** Modules by URL, as the browser's import() would give them. */
function modules(byUrl: Record<string, unknown>): ImportModule {
  return (url) => (url in byUrl ? Promise.resolve(byUrl[url]) : Promise.reject(new TypeError(`Failed to fetch dynamically imported module: ${url}`)))
}

/** A bundle's module as a plug-in writes it: components made with the host's Vue. */
const sampleModule = {
  register(api: PluginApi) {
    const { defineComponent: define, h: render } = api.vue
    api.registerPane({ kind: 'sample', title: 'Sample', component: define({ render: () => render('p', 'sample pane') }) })
    api.registerViewer('SampleViewer', define({ props: ['name'], render: () => render('pre', 'sample viewer') }))
  },
}

beforeEach(() => {
  notices.value = []
  vi.spyOn(console, 'error').mockImplementation(() => {})
})

afterEach(() => {
  clearPaneRegistry()
  clearViewerRegistry()
  vi.useRealTimers()
})

describe('loadBundles', () => {
  it('imports each entry and lets it register a pane and a viewer with the host API', async () => {
    const seen: PluginApi[] = []
    const failures = await loadBundles([bundle('sample')], {
      importModule: modules({
        '/plugins/sample/sample.js': {
          register(api: PluginApi) {
            seen.push(api)
            sampleModule.register(api)
          },
        },
      }),
    })
    expect(failures).toEqual([])
    expect(notices.value).toEqual([])
    expect(getPane('sample')?.title).toBe('Sample')
    expect(getPane('sample')?.inMenu).toBe(true)
    expect(getViewer('SampleViewer')).toBeDefined()
    expect(seen[0]?.version).toBe(FRONTEND_API_VERSION)
    expect(seen[0]?.bundle).toBe('sample')
    expect(seen[0]?.vue.h).toBe(h) // the one Vue of the page
    expect(seen[0]?.vue.defineComponent).toBe(defineComponent)
    expect(Object.isFrozen(seen[0])).toBe(true)
  })

  it('names a bundle that cannot be imported, and loads the others', async () => {
    const failures = await loadBundles([bundle('broken'), bundle('sample')], {
      importModule: modules({ '/plugins/sample/sample.js': sampleModule }),
    })
    expect(failures.map((f) => f.bundle)).toEqual(['broken'])
    expect(failures[0]?.reason).toMatch(/Failed to fetch dynamically imported module/)
    expect(notices.value).toHaveLength(1)
    expect(notices.value[0]?.message).toMatch(/^The plug-in "broken" could not be loaded \(.*\); .*the rest of labgate works\.$/)
    expect(notices.value[0]?.kind).toBe('error')
    expect(hasPane('sample')).toBe(true)
  })

  it('names a bundle without register(api), one whose register throws, and one taking a built-in name', async () => {
    registerPane({ kind: 'welcome', title: 'Welcome', component: defineComponent({ render: () => h('div') }) })
    const failures = await loadBundles([bundle('empty'), bundle('throws'), bundle('clash'), bundle('sample')], {
      importModule: modules({
        '/plugins/empty/empty.js': { default: {} },
        '/plugins/throws/throws.js': {
          register() {
            throw new Error('no canvas here')
          },
        },
        '/plugins/clash/clash.js': {
          register(api: PluginApi) {
            api.registerPane({ kind: 'welcome', title: 'Mine', component: {} })
          },
        },
        '/plugins/sample/sample.js': sampleModule,
      }),
    })
    expect(failures).toEqual([
      { bundle: 'empty', reason: 'its entry /plugins/empty/empty.js exports no register(api) function' },
      { bundle: 'throws', reason: 'no canvas here' },
      { bundle: 'clash', reason: 'Pane kind "welcome" is already registered' },
    ])
    expect(notices.value.map((n) => n.message)).toEqual([
      expect.stringMatching(/^The plug-in "empty" could not be loaded/),
      expect.stringMatching(/^The plug-in "throws" could not be loaded \(no canvas here\)/),
      expect.stringMatching(/^The plug-in "clash" could not be loaded/),
    ])
    expect(getPane('welcome')?.title).toBe('Welcome')
    expect(hasPane('sample')).toBe(true)
  })

  it('waits for an asynchronous register, and gives up on a bundle that never finishes', async () => {
    vi.useFakeTimers()
    const done = loadBundles([bundle('slow'), bundle('sample')], {
      importModule: modules({
        '/plugins/slow/slow.js': { register: () => new Promise(() => {}) },
        '/plugins/sample/sample.js': { register: async (api: PluginApi) => sampleModule.register(api) },
      }),
      timeoutMs: 5000,
    })
    await vi.advanceTimersByTimeAsync(5000)
    const failures = await done
    expect(failures).toEqual([{ bundle: 'slow', reason: 'it did not load within 5 s' }])
    expect(hasPane('sample')).toBe(true)
  })

  it('does nothing without bundles', async () => {
    expect(await loadBundles([], { importModule: () => Promise.reject(new Error('not called')) })).toEqual([])
    expect(notices.value).toEqual([])
  })
})

describe('reportMissingViewers', () => {
  const viewer = (id: string, component: string, bundle: string): ViewerInfo => ({
    id,
    title: id,
    component,
    extensions: [id],
    names: [],
    priority: 0,
    bundle,
  })

  it('names a listed viewer whose bundle loaded without registering its component', () => {
    registerViewer('SampleViewer', defineComponent({ render: () => h('pre') }))
    const missing = reportMissingViewers(
      [viewer('image', 'ImageViewer', ''), viewer('lgsample', 'SampleViewer', 'sample'), viewer('plot', 'PlotViewer', 'plots'), viewer('sky', 'SkyViewer', 'broken')],
      [{ bundle: 'broken', reason: 'no canvas here' }],
    )
    // labgate's own are not a plug-in's to register; a failed bundle was told of already.
    expect(missing).toEqual(['plot'])
    expect(notices.value.map((n) => [n.kind, n.message])).toEqual([
      ['error', 'The plug-in "plots" registered no viewer component "PlotViewer"; the files of its viewer "plot" open as if it were not installed.'],
    ])
  })
})
