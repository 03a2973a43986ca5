/**
 * A scrolling box of text that grows at its end (a log): it opens scrolled to the end,
 * and stays there while the text grows, unless the user has scrolled up to read.
 */
import { nextTick, watch, type Ref, type WatchSource } from 'vue'

/** How far from the end (pixels) still counts as at the end. */
const SLACK = 8

export function isAtEnd(box: Pick<HTMLElement, 'scrollTop' | 'clientHeight' | 'scrollHeight'>): boolean {
  return box.scrollTop + box.clientHeight >= box.scrollHeight - SLACK
}

/** Keep `box` at its end whenever `text` changes, if it was at the end before (or
 * shows its first text). */
export function stickToEnd(box: Ref<HTMLElement | null | undefined>, text: WatchSource<unknown>): void {
  let shown = false
  watch(
    text,
    async () => {
      const element = box.value
      const follow = !shown || !element || isAtEnd(element)
      await nextTick()
      const after = box.value
      if (!after) return
      shown = true
      if (follow) after.scrollTop = after.scrollHeight
    },
    { immediate: true },
  )
}
