/**
 * Files on a resource (docs/api-contract.md, "Files"): listing, stat, content (read and
 * atomic write with a version precondition) and the operations of a file browser.
 *
 * Paths are text, or for names that are not UTF-8 the base64 of their exact bytes
 * (`path_raw`); {@link RemotePath} carries either, and {@link childPath} joins a
 * directory and an entry without ever turning bytes into text.
 */
import { api, API_PREFIX, errorFromResponse, ApiError, type ApiClient } from './client'

export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'other'

export interface FileEntry {
  name: string
  /** base64 of the name's bytes, present only when they are not UTF-8. */
  raw?: string
  kind: FileKind | (string & {})
  size: number
  mode: number
  /** Seconds since the epoch. */
  mtime: number
  uid: number
  gid: number
  /** The names of `uid` and `gid` on the resource, absent for ids without a name there. */
  user?: string
  group?: string
  /** Symlinks: what they point at, and what that is (absent when dangling). */
  target?: string
  target_kind?: string
}

export interface FileListing {
  /** The directory, absolute (`~` expanded). */
  path: string
  total: number
  offset: number
  entries: FileEntry[]
}

/** A path on a resource: text, or the exact bytes (base64) of one that is not UTF-8. */
export type RemotePath = { path: string } | { path_raw: string }

export function textPath(path: string): RemotePath {
  return { path }
}

/** A human-readable form of a path (bytes that are not UTF-8 shown as U+FFFD). */
export function displayPath(path: RemotePath): string {
  if ('path' in path) return path.path
  return new TextDecoder('utf-8', { fatal: false }).decode(base64ToBytes(path.path_raw))
}

export function base64ToBytes(value: string): Uint8Array {
  const binary = atob(value)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i)
  return bytes
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

function pathBytes(path: RemotePath): Uint8Array {
  return 'path' in path ? new TextEncoder().encode(path.path) : base64ToBytes(path.path_raw)
}

/** `dir/entry`, text when both are text, else raw bytes. */
export function childPath(dir: RemotePath, entry: Pick<FileEntry, 'name' | 'raw'>): RemotePath {
  if ('path' in dir && entry.raw === undefined) {
    return { path: dir.path.endsWith('/') ? dir.path + entry.name : `${dir.path}/${entry.name}` }
  }
  const head = pathBytes(dir)
  const name = entry.raw !== undefined ? base64ToBytes(entry.raw) : new TextEncoder().encode(entry.name)
  const slash = head.length > 0 && head[head.length - 1] === 0x2f ? 0 : 1
  const joined = new Uint8Array(head.length + slash + name.length)
  joined.set(head)
  if (slash) joined[head.length] = 0x2f
  joined.set(name, head.length + slash)
  return { path_raw: bytesToBase64(joined) }
}

/** The directory that holds `path` (`/` for `/x`); text paths only, raw ones stay raw. */
export function parentPath(path: RemotePath): RemotePath {
  if ('path' in path) {
    const trimmed = path.path.replace(/\/+$/, '')
    const cut = trimmed.lastIndexOf('/')
    return { path: cut <= 0 ? '/' : trimmed.slice(0, cut) }
  }
  const bytes = pathBytes(path)
  let end = bytes.length
  while (end > 1 && bytes[end - 1] === 0x2f) end -= 1
  let cut = end - 1
  while (cut > 0 && bytes[cut] !== 0x2f) cut -= 1
  const head = bytes.slice(0, Math.max(cut, 1))
  const text = new TextDecoder('utf-8', { fatal: true })
  try {
    return { path: text.decode(head) }
  } catch {
    return { path_raw: bytesToBase64(head) }
  }
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value))
  const text = search.toString()
  return text ? `?${text}` : ''
}

function filesPath(resourceId: number, tail = ''): string {
  return `/resources/${encodeURIComponent(String(resourceId))}/files${tail}`
}

/** `path=` or `path_raw=` for a query string. */
function pathQuery(path: RemotePath): Record<string, string> {
  return 'path' in path ? { path: path.path } : { path_raw: path.path_raw }
}

/** `to=` or `to_raw=` in a JSON body. */
function toBody(to: RemotePath): Record<string, string> {
  return 'path' in to ? { to: to.path } : { to_raw: to.path_raw }
}

export interface ListQuery {
  offset?: number
  /** At most 5000 (the server's limit). */
  limit?: number
  hidden?: boolean
}

export function listFiles(
  resourceId: number,
  path: RemotePath = { path: '~' },
  options: ListQuery = {},
  client: ApiClient = api,
): Promise<FileListing> {
  return client.get<FileListing>(filesPath(resourceId, query({ ...pathQuery(path), ...options })))
}

/** The entry itself (a symlink, not its target). */
export function statFile(resourceId: number, path: RemotePath, client: ApiClient = api): Promise<FileEntry> {
  return client.get<FileEntry>(filesPath(resourceId, `/stat${query(pathQuery(path))}`))
}

/** URL of a file's bytes, for `<img src>`, `<iframe>` and downloads (`download` adds Content-Disposition: attachment). */
export function contentUrl(resourceId: number, path: RemotePath, options: { download?: boolean } = {}): string {
  return API_PREFIX + filesPath(resourceId, `/content${query({ ...pathQuery(path), download: options.download ? 1 : undefined })}`)
}

/** A file's bytes and the version to give back when saving. */
export interface FileContent {
  bytes: Uint8Array
  /** From the `ETag`: changes whenever the content may have. */
  version: string
  size: number
}

function versionOf(response: Response): string {
  const tag = response.headers.get('ETag') ?? ''
  return tag.replace(/^W\//, '').replace(/^"|"$/g, '')
}

/** Read a whole file (for the editor and the text viewers; large files: read a range). */
export async function readFile(
  resourceId: number,
  path: RemotePath,
  options: { range?: { start: number; end?: number }; signal?: AbortSignal } = {},
): Promise<FileContent> {
  const headers: Record<string, string> = {}
  if (options.range) headers.Range = `bytes=${options.range.start}-${options.range.end ?? ''}`
  const response = await rawFetch(contentUrl(resourceId, path), { headers, signal: options.signal })
  const bytes = new Uint8Array(await response.arrayBuffer())
  const total = /\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '')?.[1]
  return { bytes, version: versionOf(response), size: total !== undefined ? Number(total) : bytes.length }
}

export interface WriteOptions {
  /** Save only if the file is still at this version (else 409 `conflict`). */
  ifVersion?: string
  /** Save only if there is no file yet (else 409 `exists`). */
  createOnly?: boolean
  signal?: AbortSignal
}

export interface WriteAnswer {
  version: string
  size: number
}

/** Write a whole file atomically: readers see the old or the new content, never half. */
export async function writeFile(
  resourceId: number,
  path: RemotePath,
  content: BodyInit,
  options: WriteOptions = {},
  client: ApiClient = api,
): Promise<WriteAnswer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
  if (options.ifVersion !== undefined) headers['If-Match'] = `"${options.ifVersion}"`
  if (options.createOnly) headers['If-None-Match'] = '*'
  if (client.csrfToken) headers['X-CSRF-Token'] = client.csrfToken
  const response = await rawFetch(API_PREFIX + filesPath(resourceId, `/content${query(pathQuery(path))}`), {
    method: 'PUT',
    headers,
    body: content,
    signal: options.signal,
  })
  return (await response.json()) as WriteAnswer
}

/** fetch for non-JSON bodies, with the client's error handling (also used by transfers.ts). */
export async function rawFetch(url: string, init: RequestInit): Promise<Response> {
  let response: Response
  try {
    response = await globalThis.fetch(url, { credentials: 'same-origin', ...init })
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause
    throw new ApiError(0, 'network_error', 'Could not reach the labgate server. Check your connection and try again.')
  }
  if (!response.ok) {
    const error = await errorFromResponse(response)
    if (error.status === 401) api.onUnauthorized?.(error)
    throw error
  }
  return response
}

export function makeDirectory(
  resourceId: number,
  path: RemotePath,
  options: { parents?: boolean } = {},
  client: ApiClient = api,
): Promise<FileEntry> {
  return client.post<FileEntry>(filesPath(resourceId, '/mkdir'), { ...path, ...options })
}

export function renamePath(
  resourceId: number,
  path: RemotePath,
  to: RemotePath,
  options: { overwrite?: boolean } = {},
  client: ApiClient = api,
): Promise<FileEntry> {
  return client.post<FileEntry>(filesPath(resourceId, '/rename'), { ...path, ...toBody(to), ...options })
}

export interface CopyAnswer extends FileEntry {
  /** Paths not copied: fifos, sockets, devices. */
  skipped: string[]
}

export function copyPath(
  resourceId: number,
  path: RemotePath,
  to: RemotePath,
  options: { overwrite?: boolean } = {},
  client: ApiClient = api,
): Promise<CopyAnswer> {
  return client.post<CopyAnswer>(filesPath(resourceId, '/copy'), { ...path, ...toBody(to), ...options })
}

/** Delete a file, a symlink (never its target) or, with `recursive`, a tree. */
export function deletePath(
  resourceId: number,
  path: RemotePath,
  options: { recursive?: boolean } = {},
  client: ApiClient = api,
): Promise<void> {
  return client.post<void>(filesPath(resourceId, '/delete'), { ...path, ...options })
}

export function changeMode(resourceId: number, path: RemotePath, mode: number, client: ApiClient = api): Promise<FileEntry> {
  return client.post<FileEntry>(filesPath(resourceId, '/chmod'), { ...path, mode })
}

export interface DiskUsage {
  bytes: number
  disk_bytes: number
  files: number
  directories: number
  unreadable: number
}

export function diskUsage(resourceId: number, path: RemotePath, client: ApiClient = api): Promise<DiskUsage> {
  return client.get<DiskUsage>(filesPath(resourceId, `/du${query(pathQuery(path))}`))
}

export interface SearchMatch extends FileEntry {
  path: string
  path_raw?: string
}

export interface SearchAnswer {
  matches: SearchMatch[]
  truncated: boolean
}

/** Names under `path` matching `pattern` (a glob with `*?[`, else part of the name; case ignored). */
export function searchFiles(
  resourceId: number,
  path: RemotePath,
  pattern: string,
  options: { limit?: number } = {},
  client: ApiClient = api,
): Promise<SearchAnswer> {
  return client.get<SearchAnswer>(filesPath(resourceId, `/search${query({ ...pathQuery(path), pattern, ...options })}`))
}
