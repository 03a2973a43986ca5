import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp, h, nextTick, ref, type App } from 'vue'
import CopyableKey from './CopyableKey.vue'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6w labgate:alice'

let app: App | null = null
let root: HTMLElement | null = null
const value = ref(KEY)

function mount(props: Record<string, unknown> = {}): HTMLElement {
  root = document.createElement('div')
  document.body.append(root)
  app = createApp({
    render: () =>
      h(CopyableKey, { value: value.value, label: 'Your labgate public key', noun: 'key', testid: 'box', copyTestid: 'copy', ...props }),
  })
  app.mount(root)
  return root
}

/** Let the copy's promise settle and Vue redraw. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0))
  await nextTick()
}

function useClipboard(writeText: ((text: string) => Promise<void>) | null, secure: boolean): void {
  Object.defineProperty(window, 'isSecureContext', { value: secure, configurable: true })
  Object.defineProperty(navigator, 'clipboard', { value: writeText ? { writeText } : undefined, configurable: true })
}

function useExecCommand(result: boolean): ReturnType<typeof vi.fn> {
  const execCommand = vi.fn(() => result)
  Object.defineProperty(document, 'execCommand', { value: execCommand, configurable: true })
  return execCommand
}

const box = (el: HTMLElement) => el.querySelector<HTMLInputElement | HTMLTextAreaElement>('[data-testid="box"]')!
const button = (el: HTMLElement) => el.querySelector<HTMLButtonElement>('[data-testid="copy"]')!
// role="status": a polite live region, read out when the reader is idle.
const status = (el: HTMLElement) => el.querySelector<HTMLElement>('[role="status"]')!

beforeEach(() => {
  value.value = KEY
})

afterEach(() => {
  app?.unmount()
  root?.remove()
  app = null
  root = null
  // Back to jsdom's own (the stubs are set on the objects, over their prototypes).
  for (const [target, name] of [
    [window, 'isSecureContext'],
    [navigator, 'clipboard'],
    [document, 'execCommand'],
  ] as const) {
    Reflect.deleteProperty(target, name)
  }
})

describe('CopyableKey', () => {
  it('shows the value read-only in a monospace box named for screen readers', () => {
    useClipboard(null, false)
    const el = mount({ multiline: true })
    expect(box(el).tagName).toBe('TEXTAREA')
    expect(box(el).value).toBe(KEY)
    expect(box(el).readOnly).toBe(true)
    expect(box(el).classList).toContain('lg-input--mono')
    expect(box(el).getAttribute('aria-label')).toBe('Your labgate public key')
    expect(button(el).textContent?.trim()).toBe('Copy')
    expect(status(el).textContent).toBe('')
  })

  it('copies through the clipboard API, says Copied and announces it politely', async () => {
    const writeText = vi.fn(async () => undefined)
    useClipboard(writeText, true)
    const el = mount()
    expect(box(el).tagName).toBe('INPUT')
    button(el).click()
    await settle()
    expect(writeText).toHaveBeenCalledWith(KEY)
    expect(button(el).textContent?.trim()).toBe('Copied')
    expect(status(el).textContent).toBe('Copied.')
  })

  it('falls back to selecting the value and copying it the old way', async () => {
    useClipboard(null, false)
    const execCommand = useExecCommand(true)
    const el = mount()
    button(el).click()
    await settle()
    expect(execCommand).toHaveBeenCalledWith('copy')
    expect(document.activeElement).toBe(box(el))
    expect([box(el).selectionStart, box(el).selectionEnd]).toEqual([0, KEY.length])
    expect(button(el).textContent?.trim()).toBe('Copied')
  })

  it('says how to copy by hand when the browser refuses, with the value selected', async () => {
    useClipboard(
      vi.fn(async () => {
        throw new Error('denied')
      }),
      true,
    )
    useExecCommand(false)
    const el = mount({ noun: 'token' })
    button(el).click()
    await settle()
    const told = 'The browser did not allow copying. The token is selected: press Ctrl+C (⌘C on a Mac).'
    expect(button(el).textContent?.trim()).toBe('Copy')
    expect(el.querySelector('.lg-hint')?.textContent?.trim()).toBe(told)
    expect(status(el).textContent).toBe(told)
    expect(document.activeElement).toBe(box(el))
  })

  it('forgets that it copied when the value changes', async () => {
    useClipboard(vi.fn(async () => undefined), true)
    const el = mount()
    button(el).click()
    await settle()
    expect(button(el).textContent?.trim()).toBe('Copied')
    value.value = 'ssh-ed25519 AAAAnew labgate:alice'
    await nextTick()
    expect(box(el).value).toBe('ssh-ed25519 AAAAnew labgate:alice')
    expect(button(el).textContent?.trim()).toBe('Copy')
    expect(status(el).textContent).toBe('')
  })
})
