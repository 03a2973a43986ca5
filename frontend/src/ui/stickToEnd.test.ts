import { describe, expect, it } from 'vitest'
import { nextTick, ref, watch } from 'vue'
import { isAtEnd, stickToEnd } from './stickToEnd'

/** A box whose content height follows its text (10 pixels a line), 100 pixels high;
 * its scrollTop is clamped as a browser does. */
function box(): HTMLElement & { lines: number } {
  const element = { clientHeight: 100, lines: 0 } as HTMLElement & { lines: number }
  let top = 0
  Object.defineProperty(element, 'scrollHeight', { get: () => Math.max(100, element.lines * 10) })
  Object.defineProperty(element, 'scrollTop', {
    get: () => top,
    set: (value: number) => (top = Math.max(0, Math.min(value, element.scrollHeight - element.clientHeight))),
  })
  return element
}

async function settle(): Promise<void> {
  await nextTick()
  await nextTick()
}

describe('stickToEnd', () => {
  it('opens at the end, follows the text, and stays where the user scrolled up to', async () => {
    const element = box()
    const target = ref<HTMLElement | null>(element)
    const text = ref('')
    // The box's content follows the text once it is drawn, as the DOM does.
    watch(text, (now) => (element.lines = now.split('\n').length - 1), { flush: 'post' })
    stickToEnd(target, text)
    text.value = 'x\n'.repeat(50)
    await settle()
    expect(element.scrollTop).toBe(400) // opened at the end
    expect(isAtEnd(element)).toBe(true)

    text.value = 'x\n'.repeat(60)
    await settle()
    expect(element.scrollTop).toBe(500) // followed

    element.scrollTop = 100 // the user scrolls up to read
    text.value = 'x\n'.repeat(70)
    await settle()
    expect(element.scrollTop).toBe(100)
    expect(isAtEnd(element)).toBe(false)
  })
})
