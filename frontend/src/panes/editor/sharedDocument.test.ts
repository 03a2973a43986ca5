import { history, undo } from '@codemirror/commands'
import { EditorState, Transaction, type ChangeSet, type Text, type TransactionSpec } from '@codemirror/state'
import { describe, expect, it, vi } from 'vitest'
import type { FileContent, WriteOptions } from '../../api/files'
import type { DocumentDeps } from './editorDocument'
import { fromOtherCopy, openDocument, releaseDocument, SharedDocument, type DocumentCopy } from './sharedDocument'

function content(text: string, version: string): FileContent {
  const bytes = new TextEncoder().encode(text)
  return { bytes, version, size: bytes.length }
}

/** A file on a fake resource: reads answer its text, writes replace it with a new version. */
function fakeFile(initial: string) {
  let text = initial
  let version = 1
  const writes: { text: string; options: WriteOptions }[] = []
  const deps: DocumentDeps = {
    read: vi.fn(async () => content(text, `v${version}`)),
    write: vi.fn(async (_r, _p, written: string, options: WriteOptions) => {
      writes.push({ text: written, options })
      text = written
      version += 1
      return { version: `v${version}`, size: written.length }
    }),
  }
  return {
    deps,
    writes,
    replace(next: string) {
      text = next
      version += 1
    },
  }
}

/** An editor pane without a view: its own state (with undo history), passing its edits on. */
class FakeCopy implements DocumentCopy {
  state = EditorState.create({ extensions: history() })
  refreshes = 0

  constructor(readonly doc: SharedDocument) {}

  get text(): string {
    return this.state.doc.toString()
  }

  follow(changes: ChangeSet): void {
    this.state = this.state.update({
      changes,
      annotations: [fromOtherCopy.of(true), Transaction.addToHistory.of(false)],
    }).state
  }

  refresh(text: Text | null): void {
    this.refreshes += 1
    if (text !== null) this.state = EditorState.create({ doc: text, extensions: history() })
  }

  private apply(transaction: Transaction): void {
    this.state = transaction.state
    if (transaction.docChanged) this.doc.edited(this, transaction.changes, this.state.doc)
  }

  edit(spec: TransactionSpec): void {
    this.apply(this.state.update(spec))
  }

  type(text: string): void {
    this.edit({ changes: { from: this.state.doc.length, insert: text } })
  }

  undo(): void {
    undo({ state: this.state, dispatch: (transaction) => this.apply(transaction) })
  }
}

async function opened(initial: string) {
  const file = fakeFile(initial)
  const doc = new SharedDocument(1, { path: '/a.py' }, file.deps)
  const first = new FakeCopy(doc)
  await doc.attach(first)
  return { file, doc, first }
}

describe('SharedDocument', () => {
  it('is unsaved exactly while the text differs from the loaded one, undo included', async () => {
    const { doc, first } = await opened('x = 1\n')
    expect(first.text).toBe('x = 1\n')
    expect(doc.unsaved).toBe(false)
    first.type('y')
    expect(doc.unsaved).toBe(true)
    first.undo()
    expect(first.text).toBe('x = 1\n')
    expect(doc.unsaved).toBe(false)
    // Same length, other text: still unsaved.
    first.edit({ changes: { from: 0, to: 1, insert: 'z' } })
    expect(doc.unsaved).toBe(true)
    // Typed back by hand rather than undone: saved again.
    first.edit({ changes: { from: 0, to: 1, insert: 'x' } })
    expect(doc.unsaved).toBe(false)
  })

  it('keeps copies in one text, and a save from either makes both clean', async () => {
    const { file, doc, first } = await opened('a\n')
    first.type('b')
    const second = new FakeCopy(doc)
    await doc.attach(second)
    expect(second.text).toBe('a\nb') // the text the first copy shows, not the file's
    expect(doc.unsaved).toBe(true)
    second.type('c')
    expect(first.text).toBe('a\nbc')

    expect(await doc.save()).toEqual({ kind: 'saved', version: 'v2' })
    expect(file.writes.map((w) => w.text)).toEqual(['a\nbc'])
    expect(doc.unsaved).toBe(false)
    expect(second.refreshes).toBeGreaterThan(1) // told, so its marker changes too

    // The other copy saves next over the version the first one wrote.
    first.type('d')
    expect(await doc.save()).toEqual({ kind: 'saved', version: 'v3' })
    expect(file.writes[1]?.options).toEqual({ ifVersion: 'v2' })
    expect(doc.unsaved).toBe(false)

    // Undo in the copy that typed goes back to the text before its edit: unsaved again.
    second.undo()
    expect(first.text).toBe('a\nbd')
    expect(doc.unsaved).toBe(true)
  })

  it('writes nothing when the text is saved already (Ctrl+S on a clean document)', async () => {
    const { file, doc, first } = await opened('a\n')
    expect(await doc.save()).toEqual({ kind: 'saved', version: 'v1' })
    first.type('b')
    first.undo()
    expect(await doc.save()).toEqual({ kind: 'saved', version: 'v1' })
    expect(file.writes).toEqual([])
  })

  it('is clean after a reload from disk in every copy', async () => {
    const { file, doc, first } = await opened('a\n')
    const second = new FakeCopy(doc)
    await doc.attach(second)
    first.type('mine')
    file.replace('theirs\n')
    await doc.load()
    expect(first.text).toBe('theirs\n')
    expect(second.text).toBe('theirs\n')
    expect(doc.unsaved).toBe(false)
  })

  it('stays unsaved when the text changed while it was being saved', async () => {
    const { file, doc, first } = await opened('a')
    first.type('b')
    const saving = doc.save()
    expect(doc.saving).toBe(true)
    first.type('c')
    await saving
    expect(file.writes.map((w) => w.text)).toEqual(['ab'])
    expect(doc.unsaved).toBe(true)
    expect(doc.saving).toBe(false)
  })

  it('is shared by the panes of one file until the last one lets go', async () => {
    const file = fakeFile('a')
    const doc = openDocument(7, { path: '/shared.py' }, file.deps)
    expect(openDocument(7, { path: '/shared.py' })).toBe(doc)
    expect(openDocument(7, { path: '/other.py' })).not.toBe(doc)
    expect(openDocument(8, { path: '/shared.py' })).not.toBe(doc)
    const one = new FakeCopy(doc)
    const two = new FakeCopy(doc)
    await doc.attach(one)
    await doc.attach(two)
    expect(file.deps.read).toHaveBeenCalledTimes(1)
    releaseDocument(doc, one)
    expect(openDocument(7, { path: '/shared.py' })).toBe(doc)
    releaseDocument(doc, two)
    expect(openDocument(7, { path: '/shared.py' })).not.toBe(doc)
  })
})
