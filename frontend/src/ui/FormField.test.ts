import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp, h, nextTick, ref, type App, type Ref, type VNode } from 'vue'
import FormField from './FormField.vue'

let app: App | null = null
let root: HTMLElement | null = null

/** Mount what `render` draws; it re-renders when the refs it reads change. */
function mount(render: () => VNode | VNode[]): HTMLElement {
  root = document.createElement('div')
  document.body.append(root)
  app = createApp({ render })
  app.mount(root)
  return root
}

afterEach(() => {
  app?.unmount()
  root?.remove()
  app = null
  root = null
})

function field(props: { label: string } & Record<string, unknown>, slots?: Record<string, unknown>): VNode {
  return h(FormField, props, slots)
}

function typeInto(el: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  el.value = value
  el.dispatchEvent(new Event('input'))
}

describe('FormField', () => {
  it('labels its input, with ids of its own that differ between fields', () => {
    const el = mount(() => [field({ label: 'Host', 'data-testid': 'host' }), field({ label: 'Port', 'data-testid': 'port' })])
    const [host, port] = ['host', 'port'].map((id) => el.querySelector<HTMLInputElement>(`[data-testid="${id}"]`)!)
    const labels = [...el.querySelectorAll('label')]
    expect(labels.map((l) => l.textContent)).toEqual(['Host', 'Port'])
    expect(host!.id).not.toBe('')
    expect(host!.id).not.toBe(port!.id)
    expect(labels[0]!.htmlFor).toBe(host!.id)
    expect(labels[1]!.htmlFor).toBe(port!.id)
    // What a screen reader says, as the browser computes it from label/for.
    expect(host!.labels?.[0]?.textContent).toBe('Host')
  })

  it('uses the id it is given, and v-model goes both ways', async () => {
    const name = ref('alpha')
    const el = mount(() =>
      field({ id: 'rf-name', label: 'Name', modelValue: name.value, 'onUpdate:modelValue': (v: string) => (name.value = v) }),
    )
    const input = el.querySelector<HTMLInputElement>('#rf-name')!
    expect(el.querySelector('label')!.htmlFor).toBe('rf-name')
    expect(input.value).toBe('alpha')
    typeInto(input, 'beta')
    expect(name.value).toBe('beta')
    name.value = 'gamma'
    await nextTick()
    expect(input.value).toBe('gamma')
  })

  it('shows an error as an alert that describes the input and marks it invalid', async () => {
    const error: Ref<string[] | undefined> = ref(undefined)
    const el = mount(() =>
      field({ id: 'f', label: 'Port', help: 'From 1 to 65535.', error: error.value, errorTestid: 'port-error' }),
    )
    const input = el.querySelector<HTMLInputElement>('#f')!
    const help = el.querySelector('.lg-hint')!
    expect(help.textContent).toBe('From 1 to 65535.')
    expect(input.getAttribute('aria-describedby')).toBe(help.id)
    expect(input.hasAttribute('aria-invalid')).toBe(false)
    expect(el.querySelector('[role="alert"]')).toBeNull()

    error.value = ['Enter a port.', 'Or leave it empty.']
    await nextTick()
    const alert = el.querySelector<HTMLElement>('[role="alert"]')!
    expect(alert.textContent?.trim()).toBe('Enter a port. Or leave it empty.')
    expect(alert.dataset.testid).toBe('port-error')
    expect(input.getAttribute('aria-invalid')).toBe('true')
    expect(input.getAttribute('aria-describedby')?.split(' ')).toEqual([help.id, alert.id])

    error.value = []
    await nextTick()
    expect(el.querySelector('[role="alert"]')).toBeNull()
    expect(input.hasAttribute('aria-invalid')).toBe(false)
    expect(input.getAttribute('aria-describedby')).toBe(help.id)
  })

  it('takes a single message as a string', () => {
    const el = mount(() => field({ label: 'Name', error: 'Give it a name.' }))
    expect(el.querySelector('[role="alert"]')?.textContent?.trim()).toBe('Give it a name.')
  })

  it('gives class to the field and every other attribute and listener to the input', () => {
    const onInput = vi.fn()
    const el = mount(() =>
      field({ label: 'Python', class: 'wide', 'data-testid': 'python', placeholder: 'python3', maxlength: '64', onInput }),
    )
    const wrapper = el.firstElementChild as HTMLElement
    const input = el.querySelector<HTMLInputElement>('input')!
    expect(wrapper.classList).toContain('lg-field')
    expect(wrapper.classList).toContain('wide')
    expect(input.classList).not.toContain('wide')
    expect(input.dataset.testid).toBe('python')
    expect(input.placeholder).toBe('python3')
    expect(input.maxLength).toBe(64)
    typeInto(input, 'python3.12')
    expect(onInput).toHaveBeenCalledTimes(1)
  })

  it('marks a required field with an asterisk that is not read out, and aria-required', () => {
    const el = mount(() => field({ label: 'Command', required: true }))
    const star = el.querySelector('label span')!
    expect(star.textContent).toBe(' *')
    expect(star.getAttribute('aria-hidden')).toBe('true')
    expect(el.querySelector('input')!.getAttribute('aria-required')).toBe('true')
  })

  it('draws a select with its options, keeping numbers numbers', async () => {
    const chosen = ref<number>(2)
    const el = mount(() =>
      field({
        label: 'Resource',
        type: 'select',
        options: [
          { value: 1, label: 'cluster' },
          { value: 2, label: 'laptop' },
        ],
        modelValue: chosen.value,
        'onUpdate:modelValue': (v: number) => (chosen.value = v),
      }),
    )
    const select = el.querySelector('select')!
    expect(el.querySelector('label')!.htmlFor).toBe(select.id)
    expect(select.classList).toContain('lg-select')
    expect([...select.options].map((o) => o.textContent?.trim())).toEqual(['cluster', 'laptop'])
    expect(select.selectedIndex).toBe(1)
    select.selectedIndex = 0
    select.dispatchEvent(new Event('change'))
    expect(chosen.value).toBe(1)
  })

  it('draws a number input that gives numbers', () => {
    const size = ref<number | string>(14)
    const el = mount(() =>
      field({ label: 'Font size', type: 'number', modelValue: size.value, 'onUpdate:modelValue': (v: number) => (size.value = v) }),
    )
    const input = el.querySelector('input')!
    expect(input.type).toBe('number')
    typeInto(input, '16')
    expect(size.value).toBe(16)
  })

  it('draws a checkbox inside its label', () => {
    const on = ref(false)
    const el = mount(() =>
      field({ label: 'Wrap long lines', type: 'checkbox', modelValue: on.value, 'onUpdate:modelValue': (v: boolean) => (on.value = v) }),
    )
    const box = el.querySelector<HTMLInputElement>('input[type="checkbox"]')!
    expect(box.closest('label')?.textContent?.trim()).toBe('Wrap long lines')
    expect(box.labels?.length).toBe(1)
    box.click()
    expect(on.value).toBe(true)
  })

  it('draws a textarea', () => {
    const text = ref('')
    const el = mount(() =>
      field({ label: 'Set-up', type: 'textarea', rows: '3', inputClass: 'lg-input--mono', modelValue: text.value, 'onUpdate:modelValue': (v: string) => (text.value = v) }),
    )
    const area = el.querySelector('textarea')!
    expect(el.querySelector('label')!.htmlFor).toBe(area.id)
    expect(area.rows).toBe(3)
    expect(area.classList).toContain('lg-input--mono')
    typeInto(area, 'module load python')
    expect(text.value).toBe('module load python')
  })

  it('hands its ids to an input of its slot', () => {
    const el = mount(() =>
      field(
        { id: 'key', label: 'Private key', help: 'Or choose a file.', error: 'Paste a key.' },
        {
          default: ({ id, describedby, invalid }: { id: string; describedby?: string; invalid: boolean }) =>
            h('textarea', { id, 'aria-describedby': describedby, 'aria-invalid': invalid || undefined }),
        },
      ),
    )
    const area = el.querySelector('textarea')!
    expect(area.id).toBe('key')
    expect(area.labels?.[0]?.textContent).toBe('Private key')
    expect(area.getAttribute('aria-describedby')).toBe('key-help key-error')
    expect(area.getAttribute('aria-invalid')).toBe('true')
    expect(el.querySelector('#key-error')?.textContent?.trim()).toBe('Paste a key.')
  })

  it('puts the cursor in its input with the text selected', () => {
    const handle = ref<{ focusAndSelect(): void } | null>(null)
    const el = mount(() => field({ ref: handle, label: 'Password', type: 'password', modelValue: 'secret' }))
    const input = el.querySelector('input')!
    handle.value!.focusAndSelect()
    expect(document.activeElement).toBe(input)
    expect([input.selectionStart, input.selectionEnd]).toEqual([0, 'secret'.length])
  })
  it('puts the cursor in a select, which has no text to select', () => {
    const handle = ref<{ focusAndSelect(): void } | null>(null)
    const options = [{ value: 'a', label: 'A' }]
    const el = mount(() => field({ ref: handle, label: 'Method', type: 'select', options, modelValue: 'a' }))
    handle.value!.focusAndSelect()
    expect(document.activeElement).toBe(el.querySelector('select'))
  })
})
