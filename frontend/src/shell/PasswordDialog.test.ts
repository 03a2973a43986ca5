import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, defineComponent, h, nextTick, ref } from 'vue'
import { api } from '../api/client'
import { notices } from '../stores/notices'
import PasswordDialog from './PasswordDialog.vue'

const SUCCESS = 'Password changed. Other devices have been logged out.'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

/** Mount the dialog the way WorkspaceView does: with v-if, closed by its `close` event. */
function mountDialog() {
  const open = ref(true)
  const Host = defineComponent({
    setup: () => () => (open.value ? h(PasswordDialog, { username: 'alice', onClose: () => (open.value = false) }) : null),
  })
  const root = document.createElement('div')
  document.body.append(root)
  const app = createApp(Host)
  app.mount(root)
  const byId = <T extends HTMLElement>(id: string) => root.querySelector<T>(`[data-testid="${id}"]`)
  const input = (id: string) => byId<HTMLInputElement>(id) as HTMLInputElement
  async function type(id: string, value: string): Promise<void> {
    const el = input(id)
    el.value = value
    el.dispatchEvent(new Event('input'))
    await nextTick()
  }
  async function submit(): Promise<void> {
    byId<HTMLButtonElement>('password-save')?.click()
    await flush()
  }
  return { app, root, open, byId, input, type, submit }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

let mounted: ReturnType<typeof mountDialog> | null = null

beforeEach(() => {
  notices.value = []
  api.csrfToken = 'csrf-1'
  mounted = mountDialog()
})

afterEach(() => {
  mounted?.app.unmount()
  mounted?.root.remove()
  mounted = null
  api.csrfToken = null
})

async function fillIn(current: string, next: string, repeat: string): Promise<void> {
  await mounted!.type('password-current', current)
  await mounted!.type('password-new', next)
  await mounted!.type('password-repeat', repeat)
}

describe('PasswordDialog', () => {
  it('offers password fields with the right autocomplete hints', () => {
    const m = mounted!
    expect(m.byId('password-dialog')).not.toBeNull()
    expect(m.input('password-current').type).toBe('password')
    expect(m.input('password-current').autocomplete).toBe('current-password')
    expect(m.input('password-new').autocomplete).toBe('new-password')
    expect(m.input('password-repeat').autocomplete).toBe('new-password')
  })

  it('does not call the server when the new passwords differ', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    await fillIn('old password 1', 'new password 2', 'new password 3')
    await mounted!.submit()
    expect(mounted!.byId('password-mismatch')?.textContent).toMatch(/do not match/)
    expect(mounted!.input('password-repeat').getAttribute('aria-invalid')).toBe('true')
    expect(fetchMock).not.toHaveBeenCalled()

    await mounted!.type('password-repeat', 'new password 2')
    expect(mounted!.byId('password-mismatch')).toBeNull()
  })

  it('changes the password, closes and says so', async () => {
    const fetchMock = vi.fn(async () => new Response(null, { status: 204 }))
    vi.stubGlobal('fetch', fetchMock)
    await fillIn('old password 1', 'new password 2', 'new password 2')
    const inputs = ['password-current', 'password-new', 'password-repeat'].map(mounted!.input)
    await mounted!.submit()

    expect(fetchMock).toHaveBeenCalledTimes(1)
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/users/me/password')
    expect(init.method).toBe('POST')
    expect(JSON.parse(String(init.body))).toEqual({ current_password: 'old password 1', new_password: 'new password 2' })
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('csrf-1')

    expect(mounted!.open.value).toBe(false)
    expect(mounted!.byId('password-dialog')).toBeNull()
    expect(notices.value.map((n) => [n.kind, n.message])).toEqual([['info', SUCCESS]])
    expect(inputs.map((el) => el.value)).toEqual(['', '', ''])
  })

  it('disables the button while the change is on its way', async () => {
    let answer: (response: Response) => void = () => {}
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))))
    await fillIn('old password 1', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId<HTMLButtonElement>('password-save')?.disabled).toBe(true)
    answer(json(422, { error: { code: 'validation_error', message: 'No.' } }))
    await flush()
    expect(mounted!.byId<HTMLButtonElement>('password-save')?.disabled).toBe(false)
  })

  it('shows a wrong current password next to that field and stays open', async () => {
    const message = 'The current password is wrong.'
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(422, {
          error: { code: 'validation_error', message, details: [{ field: 'body.current_password', message }] },
        }),
      ),
    )
    await fillIn('wrong password', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId('password-current-error')?.textContent?.trim()).toBe(message)
    expect(mounted!.byId('password-new-error')).toBeNull()
    expect(mounted!.byId('password-error')).toBeNull()
    expect(mounted!.open.value).toBe(true)
    expect(notices.value).toEqual([])
  })

  it('shows a refused new password next to the new field', async () => {
    const message = 'Passwords need at least 10 characters.'
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(422, { error: { code: 'validation_error', message, details: [{ field: 'body.new_password', message }] } }),
      ),
    )
    await fillIn('old password 1', 'short', 'short')
    await mounted!.submit()
    expect(mounted!.byId('password-new-error')?.textContent?.trim()).toBe(message)
    expect(mounted!.byId('password-current-error')).toBeNull()
  })

  it('shows other failures above the form', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(500, { error: { code: 'internal_error', message: 'Oops.' } })))
    await fillIn('old password 1', 'new password 2', 'new password 2')
    await mounted!.submit()
    expect(mounted!.byId('password-error')?.textContent?.trim()).toBe('Oops.')
  })

  it('closes on Esc and clears the fields', async () => {
    await fillIn('old password 1', 'new password 2', 'new password 2')
    const inputs = ['password-current', 'password-new', 'password-repeat'].map(mounted!.input)
    mounted!.byId('password-dialog')?.dispatchEvent(new Event('cancel', { cancelable: true }))
    await nextTick()
    expect(mounted!.open.value).toBe(false)
    expect(inputs.map((el) => el.value)).toEqual(['', '', ''])
  })
})
