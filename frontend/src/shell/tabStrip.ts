/**
 * Which tabs of a group's tab strip the user cannot see (scrolled away, or past its
 * end): the group's "⋯ N more" button counts them and lists every tab.
 */

export interface Span {
  left: number
  right: number
}

/** How many of `tabs` are not entirely inside `strip` (a pixel of rounding is forgiven). */
export function hiddenCount(strip: Span, tabs: readonly Span[]): number {
  return tabs.filter((tab) => tab.left < strip.left - 1 || tab.right > strip.right + 1).length
}

/** The tab strip of the group header that holds `element` (a header action). */
export function tabStripOf(element: Element): HTMLElement | null {
  return element.closest('.dv-tabs-and-actions-container')?.querySelector<HTMLElement>('.dv-tabs-container') ?? null
}

/** The strip's tabs now, as spans. */
export function tabSpans(strip: HTMLElement): Span[] {
  return [...strip.querySelectorAll<HTMLElement>(':scope > .dv-tab')].map((tab) => {
    const rect = tab.getBoundingClientRect()
    return { left: rect.left, right: rect.right }
  })
}

/**
 * Call `changed` whenever what is visible of `strip` may have changed: it was resized,
 * scrolled, or its tabs came, went or were renamed. Answers the function that stops.
 */
export function watchTabStrip(strip: HTMLElement, changed: () => void): () => void {
  let frame: number | null = null
  const soon = (): void => {
    if (frame !== null) return
    frame = requestAnimationFrame(() => {
      frame = null
      changed()
    })
  }
  const resized = new ResizeObserver(soon)
  resized.observe(strip)
  const mutated = new MutationObserver(soon)
  mutated.observe(strip, { childList: true, subtree: true, characterData: true })
  strip.addEventListener('scroll', soon, { passive: true })
  return () => {
    if (frame !== null) cancelAnimationFrame(frame)
    resized.disconnect()
    mutated.disconnect()
    strip.removeEventListener('scroll', soon)
  }
}
