/**
 * Transfers (docs/api-contract.md, "Transfers (issue 4)"): resumable uploads, folders
 * and selections as one streamed archive, and copy/move jobs between resources.
 */
import { api, API_PREFIX, type ApiClient } from './client'
import { bytesToBase64, rawFetch, type RemotePath } from './files'

export interface Upload {
  id: string
  resource_id: number
  path: string
  path_raw?: string
  size: number
  /** How many bytes the resource holds. */
  offset: number
  sha256: string | null
  overwrite: boolean
  if_match: string | null
  created_at: string
  last_activity_at: string
  expires_at: string
}

export interface CompletedUpload {
  path: string
  path_raw?: string
  size: number
  sha256: string
  version: string
}

export interface NewUpload {
  size: number
  sha256?: string
  overwrite?: boolean
  if_match?: string
  /** Create missing directories first (folder uploads). */
  parents?: boolean
}

function uploadsPath(resourceId: number, tail = ''): string {
  return `/resources/${encodeURIComponent(String(resourceId))}/uploads${tail}`
}

export function createUpload(resourceId: number, path: RemotePath, upload: NewUpload, client: ApiClient = api): Promise<Upload> {
  return client.post<Upload>(uploadsPath(resourceId), { ...path, ...upload })
}

export function getUpload(resourceId: number, uploadId: string, client: ApiClient = api): Promise<Upload> {
  return client.get<Upload>(uploadsPath(resourceId, `/${encodeURIComponent(uploadId)}`))
}

export function completeUpload(
  resourceId: number,
  uploadId: string,
  body: { sha256?: string; overwrite?: boolean } = {},
  client: ApiClient = api,
): Promise<CompletedUpload> {
  return client.post<CompletedUpload>(uploadsPath(resourceId, `/${encodeURIComponent(uploadId)}/complete`), body)
}

export function cancelUpload(resourceId: number, uploadId: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(uploadsPath(resourceId, `/${encodeURIComponent(uploadId)}`))
}

/** The caller's unfinished uploads, newest first. */
export async function listUploads(resourceId?: number, client: ApiClient = api): Promise<Upload[]> {
  const query = resourceId === undefined ? '' : `?resource_id=${encodeURIComponent(String(resourceId))}`
  return (await client.get<{ uploads: Upload[] }>(`/uploads${query}`)).uploads
}

/** Send the bytes that follow `offset`; the answer is the resource's new offset. */
export async function putChunk(
  resourceId: number,
  uploadId: string,
  offset: number,
  chunk: Blob,
  options: { signal?: AbortSignal; client?: ApiClient } = {},
): Promise<number> {
  const client = options.client ?? api
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
  if (client.csrfToken) headers['X-CSRF-Token'] = client.csrfToken
  const response = await rawFetch(`${API_PREFIX}${uploadsPath(resourceId, `/${encodeURIComponent(uploadId)}`)}?offset=${offset}`, {
    method: 'PUT',
    headers,
    body: chunk,
    signal: options.signal,
  })
  const answer = (await response.json()) as { offset: number }
  return answer.offset
}

export type ArchiveFormat = 'zip' | 'tar.gz'

/** URL of an archive of `paths` (all in one folder), for a download link. */
export function archiveUrl(resourceId: number, paths: readonly RemotePath[], format: ArchiveFormat = 'zip', name?: string): string {
  const search = new URLSearchParams()
  for (const path of paths) {
    if ('path' in path) search.append('path', path.path)
    else search.append('path_raw', path.path_raw)
  }
  search.set('format', format)
  if (name) search.set('name', name)
  return `${API_PREFIX}/resources/${encodeURIComponent(String(resourceId))}/files/archive?${search.toString()}`
}

export type TransferState = 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled'

export interface Transfer {
  id: string
  state: TransferState
  source_resource: number
  destination_resource: number
  paths: string[]
  paths_raw?: string[]
  destination_dir: string
  destination_dir_raw?: string
  move: boolean
  overwrite: boolean
  bytes_done: number
  bytes_total: number | null
  files_done: number
  files_total: number | null
  current: string | null
  skipped: string[]
  error: { code: string; message: string } | null
  created_at: string
  updated_at: string
  finished_at: string | null
}

export interface NewTransfer {
  sourceResource: number
  paths: RemotePath[]
  destinationResource: number
  destinationDir: RemotePath
  move?: boolean
  overwrite?: boolean
}

/** The request body: text paths as `paths`, any raw one makes them all `paths_raw`. */
export function transferBody(job: NewTransfer): Record<string, unknown> {
  const anyRaw = job.paths.some((p) => 'path_raw' in p)
  const encode = (p: RemotePath): string => ('path_raw' in p ? p.path_raw : bytesToBase64(new TextEncoder().encode(p.path)))
  const body: Record<string, unknown> = {
    source_resource: job.sourceResource,
    destination_resource: job.destinationResource,
    move: job.move ?? false,
    overwrite: job.overwrite ?? false,
  }
  if (anyRaw) body.paths_raw = job.paths.map(encode)
  else body.paths = job.paths.map((p) => ('path' in p ? p.path : ''))
  if ('path' in job.destinationDir) body.destination_dir = job.destinationDir.path
  else body.destination_dir_raw = job.destinationDir.path_raw
  return body
}

export function createTransfer(job: NewTransfer, client: ApiClient = api): Promise<Transfer> {
  return client.post<Transfer>('/transfers', transferBody(job))
}

/** The caller's jobs, newest first (finished ones for a while too). */
export async function listTransfers(client: ApiClient = api): Promise<Transfer[]> {
  return (await client.get<{ transfers: Transfer[] }>('/transfers')).transfers
}

export function getTransfer(id: string, client: ApiClient = api): Promise<Transfer> {
  return client.get<Transfer>(`/transfers/${encodeURIComponent(id)}`)
}

/** Cancel a running job, or forget a finished one. */
export function deleteTransfer(id: string, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`/transfers/${encodeURIComponent(id)}`)
}

export function isFinished(state: TransferState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled'
}
