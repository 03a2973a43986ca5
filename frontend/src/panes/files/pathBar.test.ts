import { describe, expect, it } from 'vitest'
import { bytesToBase64 } from '../../api/files'
import { breadcrumbs, EMPTY_HISTORY, goBack, goForward, normalisePath, parseTypedPath, visit } from './pathBar'

describe('parseTypedPath', () => {
  it('takes absolute paths, collapsing . .. and slashes', () => {
    expect(parseTypedPath('/data//run1/./x/../', '/home/a')).toEqual({ ok: true, path: '/data/run1' })
    expect(parseTypedPath('/..', '/')).toEqual({ ok: true, path: '/' })
  })
  it('keeps ~ for the server, and resolves ~/ paths under it', () => {
    expect(parseTypedPath('~', '/x')).toEqual({ ok: true, path: '~' })
    expect(parseTypedPath(' ~/data/../runs ', '/x')).toEqual({ ok: true, path: '~/runs' })
    expect(parseTypedPath('~/', '/x')).toEqual({ ok: true, path: '~' })
    expect(parseTypedPath('~bob', '/x').ok).toBe(false)
  })
  it('resolves relative paths from the folder shown', () => {
    expect(parseTypedPath('sub/dir', '/home/a')).toEqual({ ok: true, path: '/home/a/sub/dir' })
    expect(parseTypedPath('..', '/home/a')).toEqual({ ok: true, path: '/home' })
    expect(parseTypedPath('-rf', '/home/a')).toEqual({ ok: true, path: '/home/a/-rf' })
  })
  it('refuses empty input and NUL', () => {
    expect(parseTypedPath('  ', '/').ok).toBe(false)
    expect(parseTypedPath('/a\0b', '/').ok).toBe(false)
  })
  it('normalises', () => {
    expect(normalisePath('')).toBe('/')
    expect(normalisePath('a/b/../../..')).toBe('/')
  })
})

describe('breadcrumbs', () => {
  it('lists / and each folder down to the path', () => {
    const crumbs = breadcrumbs({ path: '/home/alice/data' })
    expect(crumbs.map((c) => c.label)).toEqual(['/', 'home', 'alice', 'data'])
    expect(crumbs[2]?.path).toEqual({ path: '/home/alice' })
  })
  it('is just / for the root', () => {
    expect(breadcrumbs({ path: '/' }).map((c) => c.label)).toEqual(['/'])
  })
  it('keeps raw bytes of a folder that is not UTF-8', () => {
    const raw = bytesToBase64(new Uint8Array([0x2f, 0x74, 0x2f, 0xff, 0x2f, 0x78])) // /t/\xff/x
    const crumbs = breadcrumbs({ path_raw: raw })
    expect(crumbs.map((c) => c.label)).toEqual(['/', 't', '\ufffd', 'x'])
    expect(crumbs[3]?.path).toEqual({ path_raw: raw })
    expect(crumbs[1]?.path).toEqual({ path: '/t' })
  })
})

describe('history', () => {
  it('goes back and forward, and a new visit forgets forward', () => {
    const a = { path: '/a' }
    const b = { path: '/b' }
    const c = { path: '/c' }
    let h = visit(EMPTY_HISTORY, a, b)
    h = visit(h, b, c)
    const back = goBack(h, c)
    expect(back?.to).toEqual(b)
    const fwd = goForward(back!.history, b)
    expect(fwd?.to).toEqual(c)
    const fresh = visit(back!.history, b, a)
    expect(fresh.forward).toEqual([])
    expect(goBack(EMPTY_HISTORY, a)).toBeNull()
    expect(visit(EMPTY_HISTORY, a, { path: '/a' })).toBe(EMPTY_HISTORY)
  })
})
