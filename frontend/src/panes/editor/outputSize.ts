/**
 * The height of the Run output under the editor: kept between bounds (the server's
 * `editor.output_height` preference has the same), and changed from the keyboard on the
 * handle above it (the WAI-ARIA window splitter pattern).
 */

export const OUTPUT_MIN_HEIGHT = 60
export const OUTPUT_MAX_HEIGHT = 2000
export const OUTPUT_DEFAULT_HEIGHT = 220
/** One arrow key press; with Shift, or Page Up/Down, a bigger step. */
export const KEY_STEP = 16
export const BIG_KEY_STEP = 80

/** A height within the bounds (a stored value that is not a number gives the default). */
export function clampHeight(height: unknown): number {
  if (typeof height !== 'number' || !Number.isFinite(height)) return OUTPUT_DEFAULT_HEIGHT
  return Math.round(Math.min(Math.max(height, OUTPUT_MIN_HEIGHT), OUTPUT_MAX_HEIGHT))
}

/**
 * The height after a key on the handle, or null when the key does not resize. The handle
 * is above the output: Up makes the output taller, Down smaller; Home and End go to the
 * smallest and the largest (`largest`: what fits in the pane).
 */
export function heightAfterKey(key: string, height: number, options: { shift?: boolean; largest?: number } = {}): number | null {
  const step = options.shift ? BIG_KEY_STEP : KEY_STEP
  const largest = Math.max(OUTPUT_MIN_HEIGHT, Math.min(options.largest ?? OUTPUT_MAX_HEIGHT, OUTPUT_MAX_HEIGHT))
  let next: number
  switch (key) {
    case 'ArrowUp':
      next = height + step
      break
    case 'ArrowDown':
      next = height - step
      break
    case 'PageUp':
      next = height + BIG_KEY_STEP
      break
    case 'PageDown':
      next = height - BIG_KEY_STEP
      break
    case 'Home':
      next = OUTPUT_MIN_HEIGHT
      break
    case 'End':
      next = largest
      break
    default:
      return null
  }
  return Math.min(clampHeight(next), largest)
}
