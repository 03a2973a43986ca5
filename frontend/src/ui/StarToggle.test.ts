import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, h } from 'vue'
import StarToggle from './StarToggle.vue'

function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let unmount: () => void = () => undefined

afterEach(() => {
  unmount()
  vi.unstubAllGlobals()
})

function mount(): HTMLButtonElement {
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp({ render: () => h(StarToggle, { kind: 'template', target: 'jupyterlab', name: 'JupyterLab' }) })
  app.mount(root)
  unmount = () => {
    app.unmount()
    root.remove()
  }
  return root.querySelector('button')!
}

describe('StarToggle', () => {
  it('shows whether the thing is starred, and stars and unstars it', async () => {
    const calls: string[] = []
    const fetchMock = vi.fn((url: string, init?: RequestInit) => {
      calls.push(`${init?.method ?? 'GET'} ${url}`)
      if (init?.method === 'POST') {
        expect(JSON.parse(String(init.body))).toEqual({ kind: 'template', target: 'jupyterlab', title: 'JupyterLab' })
        return Promise.resolve(json(201, { id: 5, kind: 'template', target: 'jupyterlab', title: 'JupyterLab', preset: null, position: 0 }))
      }
      if (init?.method === 'DELETE') return Promise.resolve(json(204, null))
      return Promise.resolve(json(200, { favourites: [] }))
    })
    vi.stubGlobal('fetch', fetchMock)
    const star = mount()
    await flush()
    expect(star.getAttribute('aria-pressed')).toBe('false')
    expect(star.getAttribute('aria-label')).toBe('Star JupyterLab')

    star.click()
    await flush()
    expect(star.getAttribute('aria-pressed')).toBe('true')
    expect(star.getAttribute('aria-label')).toBe('Unstar JupyterLab')

    star.click()
    await flush()
    expect(star.getAttribute('aria-pressed')).toBe('false')
    expect(calls).toEqual(['GET /api/v1/favourites', 'POST /api/v1/favourites', 'DELETE /api/v1/favourites/5'])
  })
})
