/**
 * A large text file read a page of bytes at a time (HTTP ranges), and `tail -f`: what
 * to ask for next, and how much of the followed text to keep on screen.
 */

export const PAGE_BYTES = 256 * 1024
/** While following, at most this much text is kept (the oldest lines go). */
export const FOLLOW_KEEP_CHARS = 2 * 1024 * 1024

export function pageCount(size: number, pageBytes = PAGE_BYTES): number {
  return Math.max(1, Math.ceil(size / pageBytes))
}

/** The inclusive byte range of page `index` (0-based) of a file of `size` bytes. */
export function pageRange(index: number, size: number, pageBytes = PAGE_BYTES): { start: number; end: number } {
  const last = pageCount(size, pageBytes) - 1
  const page = Math.max(0, Math.min(index, last))
  const start = page * pageBytes
  return { start, end: Math.max(start, Math.min(size, start + pageBytes) - 1) }
}

/** Append what the file grew by; drop whole lines from the start past `keep` characters. */
export function appendFollowed(text: string, more: string, keep = FOLLOW_KEEP_CHARS): { text: string; dropped: boolean } {
  const joined = text + more
  if (joined.length <= keep) return { text: joined, dropped: false }
  const cut = joined.length - keep
  const lineStart = joined.indexOf('\n', cut)
  return { text: joined.slice(lineStart >= 0 ? lineStart + 1 : cut), dropped: true }
}

/** What a poll found: new bytes from `offset`, nothing new, or a file that shrank (truncated or replaced). */
export type Growth = 'grew' | 'same' | 'shrank'

export function growthOf(knownSize: number, newSize: number): Growth {
  if (newSize > knownSize) return 'grew'
  if (newSize === knownSize) return 'same'
  return 'shrank'
}
