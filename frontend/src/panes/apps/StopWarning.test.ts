/**
 * The warning before labgate stops a session: said once the owner was warned, with "Keep
 * it running" for the owner only, floating over a desktop.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createApp, nextTick, type App } from 'vue'
import type { AppSession } from '../../api/sessions'
import StopWarning from './StopWarning.vue'

function session(extra: Partial<AppSession>): AppSession {
  return {
    id: 's1', title: 'Desktop on box', template: 'desktop', view: 'desktop', launcher: 'direct', resource_id: 7,
    owner_id: 1, state: 'running', message: '', progress: [], url: '/s/s1/', created_at: '', ready_at: null,
    ended_at: null, last_activity_at: '', idle_minutes: 120, idle_stop_at: null, ends_at: null, warned_at: null,
    form: {}, extension: null, actions: [], ...extra,
  }
}

let app: App | null = null
let root: HTMLElement

async function mount(props: { session: AppSession; floating?: boolean }): Promise<void> {
  root = document.createElement('div')
  document.body.append(root)
  app = createApp(StopWarning, props)
  app.mount(root)
  await nextTick()
}

const byId = (id: string): HTMLElement | null => root.querySelector(`[data-testid="${id}"]`)
const soon = new Date(Date.now() + 40 * 60_000).toISOString()

afterEach(() => {
  app?.unmount()
  app = null
  root.remove()
})

describe('StopWarning', () => {
  it('says nothing before the owner was warned', async () => {
    await mount({ session: session({ idle_stop_at: soon }) })
    expect(byId('app-warning')).toBeNull()
  })

  it('says when an idle session stops, and offers its owner more time, floating over a desktop', async () => {
    await mount({ session: session({ my_role: 'owner', warned_at: soon, idle_stop_at: soon }), floating: true })
    const warning = byId('app-warning')
    expect(warning?.textContent).toMatch(/will be stopped in 3\d min.* without activity/)
    expect(warning?.classList.contains('stop-warning--floating')).toBe(true)
    expect(byId('app-extend')?.textContent).toContain('Keep it running')
  })

  it('tells someone it is shared with, without offering them more time', async () => {
    await mount({ session: session({ my_role: 'user', warned_at: soon, ends_at: soon }) })
    expect(byId('app-warning')?.textContent).toContain("This session's time ends in")
    expect(byId('app-extend')).toBeNull()
  })
})
