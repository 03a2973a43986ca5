import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/client'
import type { FileContent, WriteOptions } from '../../api/files'
import { decodeText, EDITABLE_MAX_BYTES, EditorDocument, VIEWABLE_MAX_BYTES, type DocumentDeps } from './editorDocument'

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)

function content(text: string, version = 'v1', size?: number): FileContent {
  const bytes = encode(text)
  return { bytes, version, size: size ?? bytes.length }
}

function deps(reads: (FileContent | Error)[], writes: ({ version: string; size: number } | Error)[] = []) {
  const written: { content: string; options: WriteOptions }[] = []
  const d: DocumentDeps = {
    read: vi.fn(async () => {
      const next = reads.shift()
      if (next instanceof Error) throw next
      if (!next) throw new Error('no more reads')
      return next
    }),
    write: vi.fn(async (_r, _p, text: string, options: WriteOptions) => {
      written.push({ content: text, options })
      const next = writes.shift()
      if (next instanceof Error) throw next
      if (!next) throw new Error('no more writes')
      return next
    }),
  }
  return { d, written }
}

describe('decodeText', () => {
  it('tells text from binary', () => {
    expect(decodeText(encode('x = 1\n'))).toEqual({ text: 'x = 1\n', crlf: false })
    expect(decodeText(encode('a\r\nb\r\n'))?.crlf).toBe(true)
    expect(decodeText(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1]))).toBeNull()
    expect(decodeText(new Uint8Array([0x66, 0xff, 0x6f]))).toBeNull()
  })
})

describe('EditorDocument', () => {
  it('saves with the version it read, then with the version it wrote', async () => {
    const { d, written } = deps([content('a\n', 'v1')], [{ version: 'v2', size: 3 }, { version: 'v3', size: 4 }])
    const doc = new EditorDocument(1, { path: '/a.py' }, d)
    expect(await doc.load()).toBe('a\n')
    expect(await doc.save('ab\n')).toEqual({ kind: 'saved', version: 'v2' })
    expect(await doc.save('abc\n')).toEqual({ kind: 'saved', version: 'v3' })
    expect(written.map((w) => w.options.ifVersion)).toEqual(['v1', 'v2'])
  })

  it('stops at a conflict instead of overwriting, and overwrites only when told, over the current version', async () => {
    const conflict = new ApiError(409, 'conflict', 'The file changed.')
    const { d, written } = deps([content('a\n', 'v1'), content('theirs\n', 'v7')], [conflict, { version: 'v8', size: 5 }])
    const doc = new EditorDocument(1, { path: '/a.py' }, d)
    await doc.load()
    expect(await doc.save('mine\n')).toEqual({ kind: 'conflict' })
    expect(await doc.save('mine\n', { force: true })).toEqual({ kind: 'saved', version: 'v8' })
    expect(written[1]?.options).toEqual({ ifVersion: 'v7' })
  })

  it('keeps CRLF line endings', async () => {
    const { d, written } = deps([content('a\r\nb\r\n')], [{ version: 'v2', size: 6 }])
    const doc = new EditorDocument(1, { path: '/w.bat' }, d)
    expect(await doc.load()).toBe('a\nb\n')
    await doc.save('a\nb\nc\n')
    expect(written[0]?.content).toBe('a\r\nb\r\nc\r\n')
  })

  it('refuses binary and huge files, and opens large ones read-only', async () => {
    const binary = new EditorDocument(1, { path: '/x' }, deps([{ bytes: new Uint8Array([1, 0, 2]), version: 'v', size: 3 }]).d)
    expect(await binary.load()).toBeNull()
    expect(binary.phase).toBe('binary')
    const huge = new EditorDocument(1, { path: '/x' }, deps([content('x', 'v', VIEWABLE_MAX_BYTES + 1)]).d)
    expect(await huge.load()).toBeNull()
    expect(huge.phase).toBe('too-large')
    const large = new EditorDocument(1, { path: '/x.log' }, deps([content('x', 'v', EDITABLE_MAX_BYTES + 1)]).d)
    expect(await large.load()).toBe('x')
    expect(large.readOnlyReason).toMatch(/read-only/)
    const refused = await large.save('y')
    expect(refused.kind).toBe('failed')
  })

  it('says when the file is missing or a login is needed, and creates a new file without replacing one', async () => {
    const missing = new EditorDocument(1, { path: '/new.py' }, deps([new ApiError(404, 'not_found', 'No such file.')]).d)
    await missing.load()
    expect(missing.phase).toBe('missing')
    const login = new EditorDocument(1, { path: '/a' }, deps([new ApiError(409, 'login_required', 'Log in.')]).d)
    await login.load()
    expect(login.phase).toBe('login-required')
    const { d, written } = deps([], [new ApiError(409, 'exists', 'There is a file.')])
    const fresh = new EditorDocument(1, { path: '/new.py' }, d)
    fresh.startNew()
    expect(await fresh.save('print(1)\n')).toEqual({ kind: 'conflict' })
    expect(written[0]?.options).toEqual({ createOnly: true })
  })
})
