import { describe, expect, it } from 'vitest'
import { entryIcon, kindLabel, modeOctal, modeString } from './entryFormat'

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
