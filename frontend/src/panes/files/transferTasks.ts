/**
 * Uploads and copy/move jobs of this tab, shown under every file browser: progress,
 * speed and time left, cancel. Module state, so that a job started in one pane shows
 * in all of them and outlives the pane that started it.
 */
import { shallowRef, triggerRef } from 'vue'
import { ApiError } from '../../api/client'
import { childPath, displayPath, type RemotePath } from '../../api/files'
import {
  cancelUpload,
  completeUpload,
  createTransfer,
  createUpload,
  deleteTransfer,
  getTransfer,
  getUpload,
  isFinished,
  listTransfers,
  listUploads,
  putChunk,
  type NewTransfer,
  type Transfer,
  type Upload,
} from '../../api/transfers'
import { estimateRate, FileUpload, forgetUpload, rememberedUploads, rememberUpload, type RateSample, type UploadApi, type UploadProgress } from './uploads'

export interface UploadTask {
  kind: 'upload'
  key: string
  resourceId: number
  name: string
  /** The folder it goes to. */
  folder: string
  progress: UploadProgress
  samples: RateSample[]
  upload: FileUpload | null
}

export interface JobTask {
  kind: 'job'
  key: string
  transfer: Transfer
  label: string
}

/** An upload this browser started before the page was reloaded: resumable once the file is picked again. */
export interface ResumableTask {
  kind: 'resumable'
  key: string
  upload: Upload
  name: string
}

export type Task = UploadTask | JobTask | ResumableTask

export const tasks = shallowRef<Task[]>([])

type LandedListener = (resourceId: number, folder: string) => void
const landedListeners = new Set<LandedListener>()

/** Be told when something arrived in a folder (an upload done, a job finished), to list it again. Returns the unsubscribe. */
export function onLanded(listener: LandedListener): () => void {
  landedListeners.add(listener)
  return () => landedListeners.delete(listener)
}

function land(resourceId: number, folder: string): void {
  for (const listener of landedListeners) listener(resourceId, folder)
}
let counter = 0

function changed(): void {
  triggerRef(tasks)
}

function add(task: Task): void {
  tasks.value = [...tasks.value, task]
}

export function dismissTask(key: string): void {
  tasks.value = tasks.value.filter((t) => t.key !== key)
}

function uploadApi(resourceId: number): UploadApi {
  return {
    create: (path, upload) => createUpload(resourceId, path, upload),
    get: (id) => getUpload(resourceId, id),
    put: (id, offset, chunk, signal) => putChunk(resourceId, id, offset, chunk, { signal }),
    complete: (id, body) => completeUpload(resourceId, id, body),
    cancel: (id) => cancelUpload(resourceId, id),
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/**
 * Upload one file to `dir/relativePath` (creating folders on the way); resolves when it
 * is in place, rejects with the error that stopped it (409 `exists` before any byte is sent).
 */
export function uploadFile(
  resourceId: number,
  dir: RemotePath,
  relativePath: string,
  file: File,
  options: { overwrite?: boolean; resumeId?: string; existing?: string } = {},
): Promise<unknown> {
  const target = relativePath.split('/').reduce<RemotePath>((path, name) => childPath(path, { name }), dir)
  const folder = displayPath(dir)
  const task: UploadTask = {
    kind: 'upload',
    key: options.existing ?? `upload-${++counter}`,
    resourceId,
    name: relativePath,
    folder,
    progress: { state: 'starting', sent: 0, size: file.size, uploadId: options.resumeId ?? null, message: null, code: null },
    samples: [],
    upload: null,
  }
  const upload = new FileUpload(
    uploadApi(resourceId),
    file,
    target,
    {
      onProgress: (progress) => {
        task.progress = progress
        const now = performance.now()
        if (progress.state === 'sending') task.samples = [...task.samples.filter((s) => now - s.at < 10_000), { at: now, bytes: progress.sent }]
        changed()
      },
      onCreated: (created) => rememberUpload({ id: created.id, resourceId, name: file.name, size: file.size, target: displayPath(target) }),
    },
    { overwrite: options.overwrite, parents: relativePath.includes('/'), resumeId: options.resumeId },
  )
  task.upload = upload
  if (options.existing) tasks.value = tasks.value.map((t) => (t.key === options.existing ? task : t))
  else add(task)
  return upload.run().then(
    (done) => {
      if (upload.id) forgetUpload(upload.id)
      const path = done.path
      land(resourceId, path.slice(0, Math.max(path.lastIndexOf('/'), 1)))
      return done
    },
    (error: unknown) => {
      if (upload.id && !(error instanceof ApiError && error.code === 'exists')) forgetUpload(upload.id)
      // A name that exists is asked about by the caller: this attempt leaves no row.
      if (error instanceof ApiError && error.code === 'exists' && !upload.id) dismissTask(task.key)
      throw error
    },
  )
}

export function rateOf(task: UploadTask): ReturnType<typeof estimateRate> {
  return estimateRate(task.samples, task.progress.size)
}

/** Offer this browser's unfinished uploads to `resourceId` again (after a reload). */
export async function findResumable(resourceId: number): Promise<void> {
  const remembered = new Map(rememberedUploads().map((u) => [u.id, u]))
  if (remembered.size === 0) return
  let uploads: Upload[]
  try {
    uploads = await listUploads(resourceId)
  } catch {
    return // the transfers API missing or the resource away: nothing to offer
  }
  const known = new Set(tasks.value.map((t) => (t.kind === 'upload' ? t.progress.uploadId : t.kind === 'resumable' ? t.upload.id : null)))
  for (const upload of uploads) {
    const mine = remembered.get(upload.id)
    if (!mine || known.has(upload.id)) continue
    add({ kind: 'resumable', key: `resume-${upload.id}`, upload, name: mine.name || baseName(upload.path) })
  }
}

/** Continue a resumable upload with the file the user picked again; refuses another file. */
export function resumeUpload(task: ResumableTask, file: File): string | null {
  if (file.size !== task.upload.size) {
    return `That is not the same file: ${task.name} has ${task.upload.size} bytes, the one picked has ${file.size}.`
  }
  const slash = task.upload.path.lastIndexOf('/')
  const dir: RemotePath = { path: task.upload.path.slice(0, Math.max(slash, 1)) }
  uploadFile(task.upload.resource_id, dir, baseName(task.upload.path), file, {
    resumeId: task.upload.id,
    existing: task.key,
    overwrite: task.upload.overwrite,
  }).catch(() => undefined)
  return null
}

export async function discardResumable(task: ResumableTask): Promise<void> {
  forgetUpload(task.upload.id)
  dismissTask(task.key)
  await cancelUpload(task.upload.resource_id, task.upload.id).catch(() => undefined)
}

const POLL_MS = 1000

/** Start a copy or move job and follow it until it ends. Rejects like the API (409 `exists` with details). */
export async function startJob(job: NewTransfer, label: string, onFinished: (transfer: Transfer) => void): Promise<void> {
  follow(await createTransfer(job), label, onFinished)
}

function jobLabel(transfer: Transfer): string {
  const what = transfer.paths.length === 1 ? (transfer.paths[0] ?? '') : `${transfer.paths.length} items`
  return `${transfer.move ? 'Move' : 'Copy'} ${what} to ${transfer.destination_dir}`
}

let runningFound = false

/** Jobs still running from before a reload (they run in the server): shown and followed again, once per tab. */
export async function findRunningJobs(): Promise<void> {
  if (runningFound) return
  runningFound = true
  let transfers: Transfer[]
  try {
    transfers = await listTransfers()
  } catch {
    return
  }
  const known = new Set(tasks.value.map((t) => t.key))
  for (const transfer of transfers) {
    if (!isFinished(transfer.state) && !known.has(`job-${transfer.id}`)) follow(transfer, jobLabel(transfer), () => {})
  }
}

function follow(transfer: Transfer, label: string, onFinished: (transfer: Transfer) => void): void {
  const task: JobTask = { kind: 'job', key: `job-${transfer.id}`, transfer, label }
  add(task)
  const poll = async (): Promise<void> => {
    while (!isFinished(task.transfer.state)) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
      try {
        task.transfer = await getTransfer(transfer.id)
        tasks.value = tasks.value.map((t) => (t.key === task.key ? { ...task } : t))
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return
      }
    }
    land(task.transfer.destination_resource, task.transfer.destination_dir)
    if (task.transfer.move) land(task.transfer.source_resource, sourceFolder(task.transfer))
    onFinished(task.transfer)
  }
  void poll()
}

function sourceFolder(transfer: Transfer): string {
  const first = transfer.paths[0] ?? '/'
  return first.slice(0, Math.max(first.lastIndexOf('/'), 1))
}

export async function cancelJob(task: JobTask): Promise<void> {
  await deleteTransfer(task.transfer.id)
}
