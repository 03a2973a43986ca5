/**
 * One file open in an editor: loading it (refusing binary files, opening large ones
 * read-only), and saving it so that nobody's work is lost. A save writes atomically and
 * only if the file on disk is still the version this editor last read or wrote
 * (`If-Match`); otherwise it stops with a conflict, and the user chooses: overwrite,
 * reload, or compare side by side ({@link EditorDocument.readDisk}).
 *
 * The CodeMirror view stays in the component; this holds what can be tested without it.
 */
import { ApiError } from '../../api/client'
import { readFile, writeFile, type FileContent, type RemotePath, type WriteAnswer, type WriteOptions } from '../../api/files'

/** Files larger than this open read-only (the editor would be slow, the save risky). */
export const EDITABLE_MAX_BYTES = 5 * 1024 * 1024
/** Files larger than this are not opened as text at all (use the log viewer or download). */
export const VIEWABLE_MAX_BYTES = 20 * 1024 * 1024
/** How much of a file is checked for NUL bytes to tell binary from text. */
const SNIFF_BYTES = 8192

export type DocumentPhase =
  | 'loading'
  | 'ready'
  /** Not text: NUL bytes, or not valid UTF-8. */
  | 'binary'
  /** Larger than VIEWABLE_MAX_BYTES. */
  | 'too-large'
  | 'missing'
  | 'login-required'
  | 'error'

export interface LoadedText {
  text: string
  /** The file uses CRLF line endings; saving keeps them. */
  crlf: boolean
}

export type SaveResult =
  | { kind: 'saved'; version: string }
  /** The file changed on disk (or vanished) since it was read: ask the user. */
  | { kind: 'conflict' }
  | { kind: 'failed'; error: ApiError }

export interface DocumentDeps {
  read: (resourceId: number, path: RemotePath) => Promise<FileContent>
  write: (resourceId: number, path: RemotePath, content: string, options: WriteOptions) => Promise<WriteAnswer>
}

const defaultDeps: DocumentDeps = {
  read: (resourceId, path) => readFile(resourceId, path),
  write: (resourceId, path, content, options) => writeFile(resourceId, path, content, options),
}

/** Decode a file's bytes as text, or null when they are not text. */
export function decodeText(bytes: Uint8Array): LoadedText | null {
  const head = bytes.subarray(0, SNIFF_BYTES)
  if (head.includes(0)) return null
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    return null
  }
  const firstBreak = text.indexOf('\n')
  return { text, crlf: firstBreak > 0 && text[firstBreak - 1] === '\r' }
}

export class EditorDocument {
  phase: DocumentPhase = 'loading'
  /** Why the file is read-only, or null when it can be saved. */
  readOnlyReason: string | null = null
  /** For `error`: what went wrong. */
  error: string | null = null
  /** The version on disk that the editor's text is based on. */
  version: string | null = null
  size = 0
  crlf = false
  /** The file did not exist when opened: the first save creates it (and refuses to replace one made meanwhile). */
  private creating = false

  constructor(
    readonly resourceId: number,
    readonly path: RemotePath,
    private readonly deps: DocumentDeps = defaultDeps,
  ) {}

  /** Read the file; answers its text when it can be edited or viewed, else null (see `phase`). */
  async load(): Promise<string | null> {
    this.phase = 'loading'
    this.error = null
    let content: FileContent
    try {
      content = await this.deps.read(this.resourceId, this.path)
    } catch (error) {
      this.failed(error)
      return null
    }
    return this.accept(content)
  }

  /** Start a file that does not exist yet (the editor was asked to create it). */
  startNew(): string {
    this.creating = true
    this.version = null
    this.phase = 'ready'
    return ''
  }

  private accept(content: FileContent): string | null {
    this.size = content.size
    if (content.size > VIEWABLE_MAX_BYTES) {
      this.phase = 'too-large'
      return null
    }
    const decoded = decodeText(content.bytes)
    if (decoded === null) {
      this.phase = 'binary'
      return null
    }
    this.version = content.version
    this.crlf = decoded.crlf
    this.creating = false
    this.readOnlyReason =
      content.size > EDITABLE_MAX_BYTES
        ? `This file is larger than ${EDITABLE_MAX_BYTES / 1024 / 1024} MB, so it is open read-only.`
        : null
    this.phase = 'ready'
    return decoded.crlf ? decoded.text.replace(/\r\n/g, '\n') : decoded.text
  }

  private failed(error: unknown): void {
    if (error instanceof ApiError && error.code === 'login_required') {
      this.phase = 'login-required'
    } else if (error instanceof ApiError && error.code === 'not_found') {
      this.phase = 'missing'
    } else {
      this.phase = 'error'
      this.error = error instanceof Error ? error.message : String(error)
    }
  }

  /** The bytes a save writes (CRLF restored where the file had it). */
  private encode(text: string): string {
    return this.crlf ? text.replace(/\n/g, '\r\n') : text
  }

  /**
   * Save if the file is still the version we have. `force` writes over whatever is on
   * disk now (the user chose "Overwrite" after a conflict): it reads the current version
   * first, so a change made after that choice is still caught.
   */
  async save(text: string, options: { force?: boolean } = {}): Promise<SaveResult> {
    if (this.readOnlyReason) {
      return { kind: 'failed', error: new ApiError(0, 'read_only', this.readOnlyReason) }
    }
    let precondition: WriteOptions
    if (options.force) {
      const current = await this.currentVersion()
      precondition = current === null ? { createOnly: true } : { ifVersion: current }
    } else {
      precondition = this.creating || this.version === null ? { createOnly: true } : { ifVersion: this.version }
    }
    try {
      const answer = await this.deps.write(this.resourceId, this.path, this.encode(text), precondition)
      this.version = answer.version
      this.size = answer.size
      this.creating = false
      return { kind: 'saved', version: answer.version }
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'conflict' || error.code === 'exists')) return { kind: 'conflict' }
      if (error instanceof ApiError) return { kind: 'failed', error }
      return { kind: 'failed', error: new ApiError(0, 'failed', String(error)) }
    }
  }

  /** What is on disk now (for "compare"), without adopting it; null when the file is gone or not text. */
  async readDisk(): Promise<{ text: string; version: string } | null> {
    try {
      const content = await this.deps.read(this.resourceId, this.path)
      const decoded = decodeText(content.bytes)
      if (decoded === null) return null
      return { text: decoded.crlf ? decoded.text.replace(/\r\n/g, '\n') : decoded.text, version: content.version }
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') return null
      throw error
    }
  }

  /** After a compare: the user's merged text is based on the disk version they saw. */
  adoptVersion(version: string | null): void {
    this.version = version
    this.creating = version === null
  }

  private async currentVersion(): Promise<string | null> {
    const disk = await this.readDisk().catch(() => null)
    return disk?.version ?? null
  }
}
