import { describe, expect, it } from 'vitest'
import { entryIcon, kindLabel, modeOctal, modeString, ownerLabel, ownerTitle } from './entryFormat'

describe('modeString', () => {
  it('reads like ls -l', () => {
    expect(modeString(0o644, 'file')).toBe('-rw-r--r--')
    expect(modeString(0o755, 'directory')).toBe('drwxr-xr-x')
    expect(modeString(0o777, 'symlink')).toBe('lrwxrwxrwx')
    expect(modeString(0o4755, 'file')).toBe('-rwsr-xr-x')
    expect(modeString(0o1777, 'directory')).toBe('drwxrwxrwt')
    expect(modeString(0o2644, 'file')).toBe('-rw-r-Sr--')
    expect(modeOctal(0o100644)).toBe('0644')
  })
})

describe('entryIcon and kindLabel', () => {
  it('choose by kind and extension', () => {
    expect(entryIcon({ name: 'x', kind: 'directory' })).toBe('folder')
    expect(entryIcon({ name: 'x', kind: 'symlink', target_kind: 'directory' })).toBe('folderLink')
    expect(entryIcon({ name: 'a.PNG', kind: 'file' })).toBe('fileImage')
    expect(entryIcon({ name: 'a.py', kind: 'file' })).toBe('fileCode')
    expect(entryIcon({ name: 'a', kind: 'fifo' })).toBe('fileSpecial')
    expect(kindLabel({ kind: 'symlink' })).toBe('broken link')
  })
})

describe('ownerLabel and ownerTitle', () => {
  it('name the owners, with the numbers in the tooltip', () => {
    const entry = { uid: 1000, gid: 200, user: 'alice', group: 'physics' }
    expect(ownerLabel(entry)).toBe('alice:physics')
    expect(ownerTitle(entry)).toBe('alice (uid 1000):physics (gid 200)')
  })

  it('fall back to the number where the resource has no name', () => {
    const entry = { uid: 54321, gid: 0, group: 'root' }
    expect(ownerLabel(entry)).toBe('54321:root')
    expect(ownerTitle(entry)).toBe('uid 54321:root (gid 0)')
  })
})
