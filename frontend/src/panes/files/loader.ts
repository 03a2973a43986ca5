/**
 * Listing a directory in pages: the first page small so that it shows at once, the rest
 * in the background in pages of up to 5000 (the server's limit) until `total` is reached.
 * Entries already seen (a name listed twice because the folder changed between pages)
 * are kept once.
 */
import type { FileEntry, FileListing, ListQuery, RemotePath } from '../../api/files'
import { entryKey } from './listing'

export const FIRST_PAGE = 500
export const PAGE_SIZE = 5000

export type ListPage = (path: RemotePath, query: ListQuery, signal: AbortSignal) => Promise<FileListing>

export interface ListingProgress {
  /** The directory as the server names it (absolute, `~` expanded). */
  path: string
  total: number
  entries: FileEntry[]
  done: boolean
}

/**
 * Fetch every page of `path`, calling `onPage` after each with everything so far. Stops
 * early (without calling onPage again) when `signal` aborts; errors of any page reject.
 */
export async function loadDirectory(
  list: ListPage,
  path: RemotePath,
  signal: AbortSignal,
  onPage: (progress: ListingProgress) => void,
  sizes: { first?: number; page?: number } = {},
): Promise<ListingProgress> {
  const first = sizes.first ?? FIRST_PAGE
  const page = Math.min(sizes.page ?? PAGE_SIZE, PAGE_SIZE)
  const seen = new Set<string>()
  const entries: FileEntry[] = []
  const take = (listing: FileListing): number => {
    for (const entry of listing.entries) {
      const key = entryKey(entry)
      if (!seen.has(key)) {
        seen.add(key)
        entries.push(entry)
      }
    }
    return listing.entries.length
  }
  const head = await list(path, { offset: 0, limit: first, hidden: true }, signal)
  let offset = take(head)
  let total = head.total
  // Later pages are asked by the expanded path, so that `~` cannot change meaning.
  const absolute: RemotePath = 'path' in path ? { path: head.path } : path
  let progress: ListingProgress = { path: head.path, total, entries, done: offset >= total }
  onPage(progress)
  while (offset < total && !signal.aborted) {
    const next = await list(absolute, { offset, limit: page, hidden: true }, signal)
    if (signal.aborted) break
    const got = take(next)
    total = next.total
    offset += got
    progress = { path: head.path, total, entries, done: got === 0 || offset >= total }
    onPage(progress)
    if (got === 0) break
  }
  return progress
}
