/**
 * A folder being listed: its entries as they arrive (first page at once, the rest in the
 * background), the error that stopped it, and a way to load another folder (the older
 * load is abandoned).
 */
import { ref, shallowRef } from 'vue'
import { ApiError } from '../../api/client'
import { listFiles, type FileEntry, type RemotePath } from '../../api/files'
import { loadDirectory } from './loader'

export function useDirectory(resourceId: number) {
  const dir = shallowRef<RemotePath | null>(null)
  const entries = shallowRef<FileEntry[]>([])
  const total = ref(0)
  const loading = ref(false)
  const complete = ref(false)
  const error = shallowRef<ApiError | null>(null)
  let controller: AbortController | null = null
  /** The folder being opened, until its first page is shown, and when it is. */
  let opening: RemotePath | null = null
  let openingShown: Promise<boolean> = Promise.resolve(false)

  /** List `path`; resolves once the first page is shown (the rest keeps coming). */
  async function load(path: RemotePath): Promise<boolean> {
    controller?.abort()
    const mine = new AbortController()
    controller = mine
    opening = path
    loading.value = true
    error.value = null
    let first = true
    let settleFirst: (ok: boolean) => void = () => {}
    const shown = new Promise<boolean>((resolve) => (settleFirst = resolve))
    openingShown = shown
    loadDirectory((p, q, signal) => listFiles(resourceId, p, q, undefined).then((l) => (signal.aborted ? Promise.reject(new DOMException('aborted', 'AbortError')) : l)), path, mine.signal, (progress) => {
      if (mine.signal.aborted) return
      if (first) {
        dir.value = 'path' in path ? { path: progress.path } : path
        opening = null
        first = false
      }
      entries.value = progress.entries.slice()
      total.value = progress.total
      complete.value = progress.done
      settleFirst(true)
    })
      .catch((caught: unknown) => {
        if (mine.signal.aborted || (caught instanceof DOMException && caught.name === 'AbortError')) return
        if (controller === mine) opening = null
        error.value = caught instanceof ApiError ? caught : new ApiError(0, 'error', String(caught))
        settleFirst(false)
      })
      .finally(() => {
        if (controller === mine) loading.value = false
        settleFirst(false)
      })
    return shown
  }

  /**
   * List the folder again; while another one is being opened, that one (an operation
   * that ends after the user went elsewhere must not take them back).
   */
  function refresh(): Promise<boolean> {
    const again = (): Promise<boolean> => (dir.value ? load(dir.value) : Promise.resolve(false))
    // Once it is shown (its first page may have been read before the change landed).
    if (opening !== null) return openingShown.then(again)
    return again()
  }

  function stop(): void {
    controller?.abort()
  }

  return { dir, entries, total, loading, complete, error, load, refresh, stop }
}
