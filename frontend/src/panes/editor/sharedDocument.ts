/**
 * One file open in one or more editor panes (a tab and its split copies, or the same file
 * opened twice): the copies show one text and edit it together, save it through one
 * {@link EditorDocument} (so every copy writes over the version any copy last saved), and
 * agree on whether it is unsaved.
 *
 * "Unsaved" means exactly: the text differs from the text last loaded from or saved to
 * the file. It is worked out on every edit, from any copy, by comparing with that text
 * (CodeMirror's `Text.eq`: the length and line count first, then only the parts that are
 * not shared), so undoing back to the saved text, or saving in another copy, clears it.
 */
import { Annotation, Text, type ChangeSet } from '@codemirror/state'
import { EditorDocument, type DocumentDeps, type SaveResult } from './editorDocument'
import type { RemotePath } from '../../api/files'

/** Marks a change another copy made: passed on once, and not undoable in the copy that follows it. */
export const fromOtherCopy = Annotation.define<boolean>()

/** What a pane showing the document does when the document changes under it. */
export interface DocumentCopy {
  /** Apply an edit made in another copy (its changes start from this copy's text). */
  follow(changes: ChangeSet): void
  /**
   * The document changed as a whole: `text` is a new text to show (the file was loaded,
   * reloaded or started), or null when only its state changed (saved, unsaved, phase).
   */
  refresh(text: Text | null): void
}

export class SharedDocument {
  readonly file: EditorDocument
  /** The text every copy shows now (kept up to date from their edits). */
  private current: Text = Text.empty
  /** The text as last loaded or saved. */
  private saved: Text = Text.empty
  private shown = false
  private unsavedNow = false
  private readonly copies = new Set<DocumentCopy>()
  private loading: Promise<void> | null = null
  private savingNow: Promise<SaveResult> | null = null
  /** When a copy last saved it (for the status bar). */
  savedAt: Date | null = null

  constructor(resourceId: number, path: RemotePath, deps?: DocumentDeps) {
    this.file = new EditorDocument(resourceId, path, deps)
  }

  /** Whether the text differs from the text last loaded or saved. */
  get unsaved(): boolean {
    return this.unsavedNow
  }

  /** Whether a save is under way (from any copy). */
  get saving(): boolean {
    return this.savingNow !== null
  }

  /** The text all copies show. */
  get text(): Text {
    return this.current
  }

  /** How many panes show this document. */
  get size(): number {
    return this.copies.size
  }

  /**
   * A pane starts showing the document: it gets the text the other copies show now, or
   * the file's once loaded (through `refresh`).
   */
  attach(copy: DocumentCopy): Promise<void> {
    this.copies.add(copy)
    if (!this.shown) return this.load()
    copy.refresh(this.current)
    return Promise.resolve()
  }

  detach(copy: DocumentCopy): void {
    this.copies.delete(copy)
  }

  /** Read the file (again) and show it in every copy: nothing is unsaved afterwards. */
  load(): Promise<void> {
    this.loading ??= this.file
      .load()
      .then((text) => {
        if (text === null) {
          this.shown = false
          this.broadcast(null)
        } else {
          this.show(textOf(text))
        }
      })
      .finally(() => {
        this.loading = null
      })
    return this.loading
  }

  /** Start the file that does not exist yet, empty, in every copy. */
  startNew(): void {
    this.show(textOf(this.file.startNew()))
  }

  /** A copy's user edited the text: the other copies follow, and the marker is worked out again. */
  edited(from: DocumentCopy, changes: ChangeSet, text: Text): void {
    this.current = text
    for (const copy of this.copies) if (copy !== from) copy.follow(changes)
    this.setUnsaved(!text.eq(this.saved))
  }

  /**
   * Save the text every copy shows. A save while another is under way waits for it and
   * answers the same (the text cannot differ: edits during a save make it unsaved again).
   */
  save(options: { force?: boolean } = {}): Promise<SaveResult> {
    if (this.savingNow) return this.savingNow
    // Nothing to write (Ctrl+S on a saved text): the file already holds it.
    const version = this.file.version
    if (!this.unsavedNow && !options.force && this.file.phase === 'ready' && version !== null) {
      return Promise.resolve({ kind: 'saved', version })
    }
    const snapshot = this.current
    this.savingNow = this.file
      .save(snapshot.toString(), options)
      .then((result) => {
        if (result.kind === 'saved') {
          this.saved = snapshot
          this.savedAt = new Date()
          this.unsavedNow = !this.current.eq(snapshot)
        }
        return result
      })
      .finally(() => {
        this.savingNow = null
        this.broadcast(null)
      })
    this.broadcast(null)
    return this.savingNow
  }

  /** After a compare: the merged text is based on the version on disk that the user saw. */
  adoptVersion(version: string | null): void {
    this.file.adoptVersion(version)
  }

  private show(text: Text): void {
    this.current = text
    this.saved = text
    this.shown = true
    this.unsavedNow = false
    this.broadcast(text)
  }

  private setUnsaved(value: boolean): void {
    if (value === this.unsavedNow) return
    this.unsavedNow = value
    this.broadcast(null)
  }

  private broadcast(text: Text | null): void {
    for (const copy of [...this.copies]) copy.refresh(text)
  }
}

/** CodeMirror's text of a string, with its line breaks (as `EditorState.create` splits them). */
function textOf(text: string): Text {
  return Text.of(text.split(/\r\n?|\n/))
}

const open = new Map<string, SharedDocument>()

function keyOf(resourceId: number, path: RemotePath): string {
  return JSON.stringify([resourceId, path])
}

/** The document of a file, shared with the panes already showing it; `release` when done. */
export function openDocument(resourceId: number, path: RemotePath, deps?: DocumentDeps): SharedDocument {
  const key = keyOf(resourceId, path)
  let doc = open.get(key)
  if (!doc) {
    doc = new SharedDocument(resourceId, path, deps)
    open.set(key, doc)
  }
  return doc
}

/** A pane stops showing the document; the last one closes it (the next pane reads the file again). */
export function releaseDocument(doc: SharedDocument, copy: DocumentCopy): void {
  doc.detach(copy)
  if (doc.size > 0) return
  for (const [key, value] of open) if (value === doc) open.delete(key)
}
