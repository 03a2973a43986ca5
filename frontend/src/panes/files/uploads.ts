/**
 * Resumable uploads through the transfers API: one upload per file, sent in chunks from
 * the offset the resource holds, hashed (SHA-256) on the way and checked by the resource
 * at the end. A dropped connection waits and continues from the resource's offset; a
 * reloaded page finds its unfinished uploads (GET /uploads) and continues them once the
 * user picks the same file again (same size; the checksum at the end proves the rest).
 */
import { ApiError } from '../../api/client'
import type { RemotePath } from '../../api/files'
import type { CompletedUpload, NewUpload, Upload } from '../../api/transfers'
import { Sha256 } from './sha256'

export const CHUNK_BYTES = 8 * 1024 * 1024

/** The byte range of the next chunk to send, or null when everything is there. */
export function nextChunk(offset: number, size: number, chunkBytes = CHUNK_BYTES): { start: number; end: number } | null {
  if (offset >= size) return null
  return { start: offset, end: Math.min(size, offset + chunkBytes) }
}

export interface RateSample {
  /** Milliseconds (performance.now or Date.now). */
  at: number
  bytes: number
}

const RATE_WINDOW_MS = 8000

/** Bytes per second over the last few seconds of samples, and seconds left (null: unknown). */
export function estimateRate(samples: readonly RateSample[], size: number): { bytesPerSecond: number; secondsLeft: number | null } {
  const last = samples[samples.length - 1]
  if (!last) return { bytesPerSecond: 0, secondsLeft: null }
  const first = samples.find((s) => last.at - s.at <= RATE_WINDOW_MS) ?? last
  const elapsed = (last.at - first.at) / 1000
  if (elapsed <= 0) return { bytesPerSecond: 0, secondsLeft: null }
  const bytesPerSecond = Math.max(0, (last.bytes - first.bytes) / elapsed)
  const secondsLeft = bytesPerSecond > 0 ? Math.max(0, (size - last.bytes) / bytesPerSecond) : null
  return { bytesPerSecond, secondsLeft }
}

/** "3 s", "4 min", "1 h 20 min" */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—'
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  const hours = Math.floor(seconds / 3600)
  return `${hours} h ${Math.round((seconds - hours * 3600) / 60)} min`
}

/** What the uploader needs of the API (the transfers module, or fakes in tests). */
export interface UploadApi {
  create(path: RemotePath, upload: NewUpload): Promise<Upload>
  get(uploadId: string): Promise<Upload>
  put(uploadId: string, offset: number, chunk: Blob, signal: AbortSignal): Promise<number>
  complete(uploadId: string, body: { sha256: string; overwrite?: boolean }): Promise<CompletedUpload>
  cancel(uploadId: string): Promise<void>
}

export type UploadState = 'starting' | 'hashing' | 'sending' | 'waiting' | 'completing' | 'done' | 'failed' | 'cancelled'

export interface UploadProgress {
  state: UploadState
  sent: number
  size: number
  uploadId: string | null
  /** Why it failed, or what it waits for. */
  message: string | null
  code: string | null
}

export interface UploadHooks {
  onProgress(progress: UploadProgress): void
  /** A new upload was created on the server (remember it, to resume after a reload). */
  onCreated?(upload: Upload): void
  /** Resolves when it is worth trying again (the browser is back online, or a delay). */
  waitToRetry?(attempt: number, signal: AbortSignal): Promise<void>
}

/** Errors after which trying again cannot help. */
const FINAL_CODES = new Set([
  'not_found',
  'permission_denied',
  'read_only',
  'no_space',
  'quota_exceeded',
  'checksum_mismatch',
  'payload_too_large',
  'is_a_directory',
  'not_a_directory',
  'bad_request',
  'validation_error',
  'exists',
  'conflict',
  'forbidden',
  'login_required',
])

function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false
  if (error.status === 0) return true
  if (FINAL_CODES.has(error.code)) return false
  return error.status >= 500 || error.code === 'wrong_offset' || error.code === 'busy' || error.code === 'upload_interrupted'
}

function defaultWait(attempt: number, signal: AbortSignal): Promise<void> {
  const delay = Math.min(15000, 1000 * 2 ** Math.min(attempt, 4))
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      window.removeEventListener('online', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, delay)
    window.addEventListener('online', done)
    signal.addEventListener('abort', done)
  })
}

/**
 * One file's upload, from creation (or a known upload id, to resume) to the renamed
 * file. `run` resolves with the completed upload, or rejects with the ApiError that
 * ended it (cancelling rejects with an AbortError).
 */
export class FileUpload {
  private readonly controller = new AbortController()
  private uploadId: string | null
  private progress: UploadProgress

  constructor(
    private readonly api: UploadApi,
    private readonly file: Blob,
    private readonly target: RemotePath,
    private readonly hooks: UploadHooks,
    private readonly options: { resumeId?: string; overwrite?: boolean; parents?: boolean; chunkBytes?: number } = {},
  ) {
    this.uploadId = options.resumeId ?? null
    this.progress = { state: 'starting', sent: 0, size: file.size, uploadId: this.uploadId, message: null, code: null }
  }

  get id(): string | null {
    return this.uploadId
  }

  private report(changes: Partial<UploadProgress>): void {
    this.progress = { ...this.progress, ...changes }
    this.hooks.onProgress(this.progress)
  }

  /** Stop sending and remove what arrived on the resource. */
  async cancel(): Promise<void> {
    this.controller.abort()
    const id = this.uploadId
    // Reported once the resource has removed what arrived.
    if (id !== null) await this.api.cancel(id).catch(() => undefined)
    this.report({ state: 'cancelled', message: null })
  }

  async run(): Promise<CompletedUpload> {
    const signal = this.controller.signal
    const chunkBytes = this.options.chunkBytes ?? CHUNK_BYTES
    const wait = this.hooks.waitToRetry ?? defaultWait
    try {
      let offset: number
      if (this.uploadId === null) {
        const created = await this.api.create(this.target, {
          size: this.file.size,
          ...(this.options.overwrite ? { overwrite: true } : {}),
          ...(this.options.parents ? { parents: true } : {}),
        })
        this.uploadId = created.id
        this.hooks.onCreated?.(created)
        offset = created.offset
      } else {
        offset = (await this.api.get(this.uploadId)).offset
      }
      const id = this.uploadId
      const hash = new Sha256()
      let hashed = 0
      const hashTo = async (end: number): Promise<void> => {
        while (hashed < end) {
          const stop = Math.min(end, hashed + chunkBytes)
          hash.update(new Uint8Array(await this.file.slice(hashed, stop).arrayBuffer()))
          hashed = stop
        }
      }
      if (offset > 0) {
        // Resuming: what the resource holds must be hashed too (read here, not sent).
        this.report({ state: 'hashing', sent: offset, uploadId: id })
        await hashTo(offset)
      }
      this.report({ state: 'sending', sent: offset, uploadId: id, message: null, code: null })
      let attempt = 0
      for (let chunk = nextChunk(offset, this.file.size, chunkBytes); chunk; chunk = nextChunk(offset, this.file.size, chunkBytes)) {
        if (signal.aborted) throw new DOMException('Cancelled', 'AbortError')
        await hashTo(chunk.end)
        try {
          offset = await this.api.put(id, chunk.start, this.file.slice(chunk.start, chunk.end), signal)
          attempt = 0
          this.report({ state: 'sending', sent: offset, message: null, code: null })
        } catch (error) {
          if (signal.aborted) throw new DOMException('Cancelled', 'AbortError')
          if (!isRetryable(error)) throw error
          this.report({ state: 'waiting', message: 'Connection lost: waiting to continue…', code: (error as ApiError).code })
          await wait(attempt, signal)
          attempt += 1
          // Whatever arrived is kept: continue from what the resource holds.
          offset = await this.retrying(() => this.api.get(id), wait, signal).then((u) => u.offset)
          this.report({ state: 'sending', sent: offset })
        }
      }
      await hashTo(this.file.size)
      this.report({ state: 'completing', sent: this.file.size })
      const done = await this.api.complete(id, { sha256: hash.hex(), ...(this.options.overwrite ? { overwrite: true } : {}) })
      this.report({ state: 'done', sent: this.file.size, message: null, code: null })
      return done
    } catch (error) {
      if (signal.aborted || (error instanceof DOMException && error.name === 'AbortError')) {
        this.report({ state: 'cancelled' })
        throw new DOMException('Cancelled', 'AbortError')
      }
      const message = error instanceof Error ? error.message : String(error)
      this.report({ state: 'failed', message, code: error instanceof ApiError ? error.code : null })
      throw error
    }
  }

  private async retrying<T>(call: () => Promise<T>, wait: (attempt: number, signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call()
      } catch (error) {
        if (signal.aborted) throw new DOMException('Cancelled', 'AbortError')
        if (!isRetryable(error)) throw error
        await wait(attempt, signal)
      }
    }
  }
}

/** What this browser remembers of an upload it started, to offer it again after a reload. */
export interface RememberedUpload {
  id: string
  resourceId: number
  name: string
  size: number
  /** The folder it goes to, shown to the user. */
  target: string
}

const STORAGE_KEY = 'labgate.uploads'

function storage(): Storage | null {
  try {
    return window.localStorage
  } catch {
    return null
  }
}

export function rememberedUploads(): RememberedUpload[] {
  try {
    const parsed = JSON.parse(storage()?.getItem(STORAGE_KEY) ?? '[]') as unknown
    return Array.isArray(parsed) ? (parsed as RememberedUpload[]) : []
  } catch {
    return []
  }
}

export function rememberUpload(upload: RememberedUpload): void {
  const all = rememberedUploads().filter((u) => u.id !== upload.id)
  storage()?.setItem(STORAGE_KEY, JSON.stringify([...all, upload].slice(-200)))
}

export function forgetUpload(id: string): void {
  storage()?.setItem(STORAGE_KEY, JSON.stringify(rememberedUploads().filter((u) => u.id !== id)))
}

/** The file a folder drop or a folder picker gave, with its path below the chosen folder. */
export interface PickedFile {
  file: File
  /** `a/b/c.txt` (the dropped folder's own name first). */
  relativePath: string
}

/** Files of a folder picker (`<input webkitdirectory>`): their `webkitRelativePath`. */
export function filesFromInput(files: FileList | readonly File[]): PickedFile[] {
  return [...files].map((file) => ({ file, relativePath: file.webkitRelativePath || file.name }))
}

/** Every file under dropped items, folders walked (DataTransferItem.webkitGetAsEntry). */
export async function filesFromDrop(items: DataTransferItemList): Promise<PickedFile[]> {
  const found: PickedFile[] = []
  const entries: FileSystemEntry[] = []
  // Entries and files must be taken now: the list is emptied once the drop event ends.
  for (const item of [...items]) {
    if (item.kind !== 'file') continue
    const entry = item.webkitGetAsEntry?.() ?? null
    const file = item.getAsFile()
    if (entry) entries.push(entry)
    else if (file) found.push({ file, relativePath: file.name })
  }
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject))
      found.push({ file, relativePath: prefix + entry.name })
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader()
      for (;;) {
        // readEntries answers in batches (100 in Chromium) until an empty one.
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject))
        if (batch.length === 0) break
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`)
      }
    }
  }
  for (const entry of entries) await walk(entry, '')
  return found
}
