import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, h } from 'vue'
import { api } from '../../api/client'
import type { AppSetup } from '../../api/appSetup'
import type { AppSession } from '../../api/sessions'
import AppSetupOffer from './AppSetupOffer.vue'

const OFFER = 'Set up JupyterLab and TensorBoard for me'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function failed(actions: AppSession['actions']): AppSession {
  return {
    id: 's1',
    title: 'JupyterLab on box',
    template: 'jupyterlab',
    view: 'web',
    launcher: 'direct',
    resource_id: 7,
    owner_id: 1,
    state: 'failed',
    message: 'jupyter-lab was not found on the resource.',
    progress: [],
    url: '/s/s1/lab',
    created_at: '',
    ready_at: null,
    ended_at: null,
    last_activity_at: '',
    idle_minutes: 120,
    idle_stop_at: null,
    ends_at: null,
    warned_at: null,
    form: { workdir: '~' },
    extension: null,
    actions,
  }
}

function setup(state: AppSetup['state'], extra: Partial<AppSetup> = {}): AppSetup {
  return { state, directory: '~/.local/share/labgate/apps/abc', fraction: 0, step: '', message: '', errors: [], log: '', ...extra }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let root: HTMLElement
let unmount: () => void = () => undefined

function mount(session: AppSession, onRelaunched: (s: AppSession) => void = () => undefined): void {
  root = document.createElement('div')
  document.body.append(root)
  const app = createApp({ render: () => h(AppSetupOffer, { session, onRelaunched }) })
  app.mount(root)
  unmount = () => {
    app.unmount()
    root.remove()
  }
}

const byId = (id: string): HTMLElement | null => root.querySelector(`[data-testid="${id}"]`)

beforeEach(() => {
  api.csrfToken = 'csrf-1'
})

afterEach(() => {
  unmount()
  vi.unstubAllGlobals()
  api.csrfToken = null
})

describe('AppSetupOffer', () => {
  it('shows nothing for a failure it cannot help with', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    mount(failed([]))
    await flush()
    expect(byId('app-setup')).toBeNull()
    expect(fetchMock).not.toHaveBeenCalled()
  })

  it('starts the setup, shows its progress, then launches the app again', async () => {
    const answers = [
      json(200, setup('absent')),
      json(202, setup('running', { fraction: 0.4, step: 'Installing 101 packages from the package index' })),
      json(200, setup('succeeded', { fraction: 1 })),
      json(201, { ...failed([]), id: 's2', state: 'pending' }),
    ]
    const fetchMock = vi.fn(() => Promise.resolve(answers.shift()!))
    vi.stubGlobal('fetch', fetchMock)
    const relaunched = vi.fn()
    mount(failed([{ kind: 'setup_apps', label: OFFER, resource_id: 7 }]), relaunched)
    await flush()
    expect(byId('app-setup-start')?.textContent?.trim()).toBe(OFFER)

    vi.useFakeTimers()
    byId('app-setup-start')!.click()
    await vi.advanceTimersByTimeAsync(0)
    expect(byId('app-setup')?.dataset.state).toBe('running')
    expect(byId('app-setup-step')?.textContent).toContain('Installing 101 packages')
    expect(byId('app-setup-progress')?.getAttribute('aria-valuenow')).toBe('40')
    await vi.advanceTimersByTimeAsync(1000)
    vi.useRealTimers()
    await flush()
    expect(byId('app-setup')?.dataset.state).toBe('succeeded')

    byId('app-setup-relaunch')!.click()
    await flush()
    const [url, init] = fetchMock.mock.calls.at(-1) as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/sessions')
    expect(JSON.parse(init.body as string)).toEqual({
      template: 'jupyterlab',
      resource_id: 7,
      launcher: 'direct',
      title: 'JupyterLab on box',
      form: { workdir: '~' },
    })
    expect(relaunched).toHaveBeenCalledWith(expect.objectContaining({ id: 's2' }))
  })

  it("shows a failed setup's error lines and its log, and offers to try again", async () => {
    const errors = ['ERROR: No matching distribution found for six==1.17.0']
    vi.stubGlobal(
      'fetch',
      vi.fn(() => Promise.resolve(json(200, setup('failed', { message: 'pip could not install the apps', errors, log: 'the whole log' })))),
    )
    mount(failed([{ kind: 'setup_apps', label: OFFER, resource_id: 7 }]))
    await flush()
    expect(byId('app-setup-failure')?.textContent).toContain('pip could not install the apps')
    expect(byId('app-setup-errors')?.textContent).toBe(errors[0])
    expect(byId('app-setup-log')?.textContent).toBe('the whole log')
    expect(byId('app-setup-start')?.textContent?.trim()).toBe('Try the setup again')
  })
})
