/**
 * Copy, move and rename within one resource without ever replacing a name silently: the
 * operation is tried as it is, and on 409 `exists` the user is asked (replace, keep both
 * under a free name, or skip), once per name or once for all that follow.
 */
import { ApiError } from '../../api/client'
import type { RemotePath } from '../../api/files'
import { keepBothName } from './names'

export type Resolution = 'replace' | 'keep-both' | 'skip'

export interface ConflictQuestion {
  name: string
  /** What "keep both" would call the new one. */
  suggestion: string
  /** More conflicts may follow (offer "do this for all"). */
  more: boolean
}

export interface ConflictAnswer {
  resolution: Resolution
  forAll?: boolean
}

/** One item to put into a folder: the API call that does it, under the name it gets there. */
export interface PlacementItem {
  name: string
  isFolder: boolean
  place: (name: string, overwrite: boolean) => Promise<unknown>
}

export interface PlacementResult {
  done: string[]
  skipped: string[]
  failed: { name: string; error: Error }[]
}

export function isExists(error: unknown): boolean {
  return error instanceof ApiError && error.status === 409 && error.code === 'exists'
}

/**
 * Place every item (in order), asking `ask` about each name that exists. `taken` is what
 * the destination holds (for "keep both" names); it grows as items land.
 */
export async function placeAll(
  items: readonly PlacementItem[],
  taken: Set<string>,
  ask: (question: ConflictQuestion) => Promise<ConflictAnswer>,
): Promise<PlacementResult> {
  const result: PlacementResult = { done: [], skipped: [], failed: [] }
  let standing: Resolution | null = null
  for (const [index, item] of items.entries()) {
    try {
      try {
        await item.place(item.name, false)
        taken.add(item.name)
        result.done.push(item.name)
        continue
      } catch (error) {
        if (!isExists(error)) throw error
      }
      taken.add(item.name)
      const suggestion = keepBothName(item.name, taken, item.isFolder)
      let resolution: Resolution | null = standing
      if (resolution === null) {
        const answer = await ask({ name: item.name, suggestion, more: index < items.length - 1 })
        resolution = answer.resolution
        if (answer.forAll) standing = resolution
      }
      if (resolution === 'skip') {
        result.skipped.push(item.name)
      } else if (resolution === 'replace') {
        await item.place(item.name, true)
        result.done.push(item.name)
      } else {
        await item.place(suggestion, false)
        taken.add(suggestion)
        result.done.push(suggestion)
      }
    } catch (error) {
      result.failed.push({ name: item.name, error: error instanceof Error ? error : new Error(String(error)) })
    }
  }
  return result
}

/** Whether `inner` is `outer` or inside it (text paths; raw ones compare as bytes' base64). */
export function isInside(inner: RemotePath, outer: RemotePath): boolean {
  if ('path' in inner && 'path' in outer) {
    const base = outer.path.replace(/\/+$/, '')
    return inner.path === base || inner.path.startsWith(`${base}/`)
  }
  return JSON.stringify(inner) === JSON.stringify(outer)
}
