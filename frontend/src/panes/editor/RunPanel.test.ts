import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, h, nextTick } from 'vue'
import { preferences } from '../../stores/preferences'
import { clampHeight, heightAfterKey, OUTPUT_DEFAULT_HEIGHT, OUTPUT_MAX_HEIGHT, OUTPUT_MIN_HEIGHT } from './outputSize'
import RunPanel from './RunPanel.vue'
import type { RunSnapshot } from './runSession'

describe('the output height', () => {
  it('stays within its bounds', () => {
    expect(clampHeight(300)).toBe(300)
    expect(clampHeight(10)).toBe(OUTPUT_MIN_HEIGHT)
    expect(clampHeight(99_999)).toBe(OUTPUT_MAX_HEIGHT)
    expect(clampHeight('tall')).toBe(OUTPUT_DEFAULT_HEIGHT)
    expect(clampHeight(Number.NaN)).toBe(OUTPUT_DEFAULT_HEIGHT)
  })

  it('follows the keys on the handle above the output', () => {
    expect(heightAfterKey('ArrowUp', 200)).toBe(216)
    expect(heightAfterKey('ArrowDown', 200)).toBe(184)
    expect(heightAfterKey('ArrowUp', 200, { shift: true })).toBe(280)
    expect(heightAfterKey('PageDown', 200)).toBe(120)
    expect(heightAfterKey('Home', 200)).toBe(OUTPUT_MIN_HEIGHT)
    expect(heightAfterKey('End', 200, { largest: 500 })).toBe(500)
    expect(heightAfterKey('ArrowUp', 495, { largest: 500 })).toBe(500)
    expect(heightAfterKey('ArrowDown', OUTPUT_MIN_HEIGHT)).toBe(OUTPUT_MIN_HEIGHT)
    expect(heightAfterKey('a', 200)).toBeNull()
  })
})

const run: RunSnapshot = {
  phase: 'exited',
  command: 'python3 -u fit.py',
  processId: 'p1',
  startedAt: 1_000,
  endedAt: 3_100,
  exit: { exit_status: 0, signal: null } as RunSnapshot['exit'],
  pieces: [{ stream: 'stdout', text: 'done\n' }],
  truncated: false,
  reconnecting: false,
  error: null,
}

function mountPanel() {
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp({ render: () => h(RunPanel, { run }) })
  app.mount(root)
  const byId = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`)
  return { app, root, byId }
}

/** Let the preferences store PATCH the server: answer with what was sent. */
function acceptPatches() {
  const sent: Record<string, unknown>[] = []
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_url: string, init?: RequestInit) => {
      const body = JSON.parse(String(init?.body)) as { preferences: Record<string, unknown> }
      sent.push(body.preferences)
      return new Response(JSON.stringify({ preferences: body.preferences }), {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
      })
    }),
  )
  return sent
}

describe('RunPanel', () => {
  afterEach(() => {
    vi.useRealTimers()
    preferences.reset()
    document.body.innerHTML = ''
  })

  it('folds to one line with the run state, and opens again, remembering it', async () => {
    const sent = acceptPatches()
    const { app, byId } = mountPanel()
    expect(byId('run-panel')?.dataset.collapsed).toBe('false')
    expect(byId('run-body')?.style.display).toBe('')
    expect(byId('run-status')?.textContent).toContain('exit status 0')

    byId('run-toggle')?.click()
    await nextTick()
    expect(byId('run-panel')?.dataset.collapsed).toBe('true')
    expect(byId('run-body')?.style.display).toBe('none')
    expect(byId('run-resize')).toBeNull()
    expect(byId('run-status')?.textContent).toContain('exit status 0') // the one line says how it ended
    expect(byId('run-toggle')?.getAttribute('aria-expanded')).toBe('false')
    await vi.waitFor(() => expect(sent).toEqual([{ 'editor.output_collapsed': true }]))

    byId('run-toggle')?.click()
    await nextTick()
    expect(byId('run-panel')?.dataset.collapsed).toBe('false')
    expect(byId('run-body')?.style.display).toBe('')
    await vi.waitFor(() => expect(sent).toHaveLength(2))
    expect(sent[1]).toEqual({ 'editor.output_collapsed': false })
    app.unmount()
  })

  it('is resized from the keyboard on its handle, and the height is stored once the keys rest', async () => {
    const sent = acceptPatches()
    vi.useFakeTimers()
    const { app, byId } = mountPanel()
    const handle = byId('run-resize') as HTMLElement
    const body = byId('run-panel-body') as HTMLElement
    expect(handle.getAttribute('role')).toBe('separator')
    expect(handle.tabIndex).toBe(0)
    expect(body.style.height).toBe(`${OUTPUT_DEFAULT_HEIGHT}px`)

    handle.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowUp', bubbles: true }))
    handle.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowUp', bubbles: true }))
    await nextTick()
    expect(body.style.height).toBe(`${OUTPUT_DEFAULT_HEIGHT + 32}px`)
    expect(handle.getAttribute('aria-valuenow')).toBe(String(OUTPUT_DEFAULT_HEIGHT + 32))
    expect(sent).toEqual([]) // not on every key
    await vi.advanceTimersByTimeAsync(1000)
    expect(sent).toEqual([{ 'editor.output_height': OUTPUT_DEFAULT_HEIGHT + 32 }])

    // Enter on the handle folds the output.
    handle.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }))
    await nextTick()
    expect(byId('run-panel')?.dataset.collapsed).toBe('true')
    app.unmount()
  })

  it('opens at the height and fold the user chose before', async () => {
    acceptPatches()
    await preferences.update({ 'editor.output_height': 333 })
    const first = mountPanel()
    expect(first.byId('run-panel-body')?.style.height).toBe('333px')
    first.app.unmount()
    await preferences.update({ 'editor.output_collapsed': true })
    const second = mountPanel()
    expect(second.byId('run-panel')?.dataset.collapsed).toBe('true')
    second.app.unmount()
  })
})
