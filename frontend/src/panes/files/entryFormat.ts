/** How an entry is shown: its permissions as `drwxr-xr-x`, its date, its icon. */
import type { FileEntry } from '../../api/files'
import type { IconName } from '../../ui/icons'
import { isFolder } from './listing'

const TYPE_LETTER: Record<string, string> = {
  directory: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  'char-device': 'c',
  'block-device': 'b',
}

/** `-rw-r--r--`, with setuid/setgid/sticky as `s`/`S`, `t`/`T` like `ls -l`. */
export function modeString(mode: number, kind: string): string {
  const bit = (mask: number, letter: string): string => (mode & mask ? letter : '-')
  const special = (exec: number, flag: number, on: string): string => {
    if (mode & flag) return mode & exec ? on : on.toUpperCase()
    return mode & exec ? 'x' : '-'
  }
  return [
    TYPE_LETTER[kind] ?? '-',
    bit(0o400, 'r'),
    bit(0o200, 'w'),
    special(0o100, 0o4000, 's'),
    bit(0o040, 'r'),
    bit(0o020, 'w'),
    special(0o010, 0o2000, 's'),
    bit(0o004, 'r'),
    bit(0o002, 'w'),
    special(0o001, 0o1000, 't'),
  ].join('')
}

/** The permission bits as four octal digits: `0644`. */
export function modeOctal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

type Owned = Pick<FileEntry, 'uid' | 'gid' | 'user' | 'group'>

/** What the Owner column says: `alice:physics`, a number where the resource has no name. */
export function ownerLabel(entry: Owned): string {
  return `${entry.user ?? entry.uid}:${entry.group ?? entry.gid}`
}

/** The Owner column's tooltip: the names with their numbers, `alice (uid 1000):physics (gid 200)`. */
export function ownerTitle(entry: Owned): string {
  const user = entry.user === undefined ? `uid ${entry.uid}` : `${entry.user} (uid ${entry.uid})`
  const group = entry.group === undefined ? `gid ${entry.gid}` : `${entry.group} (gid ${entry.gid})`
  return `${user}:${group}`
}

/** Seconds since the epoch, as "22 Nov 2026, 10:32". */
export function formatMtime(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—'
  return new Date(seconds * 1000).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  })
}

const ICON_BY_EXTENSION: Record<string, IconName> = {}
for (const ext of 'png jpg jpeg gif svg webp avif bmp ico tif tiff'.split(' ')) ICON_BY_EXTENSION[ext] = 'fileImage'
for (const ext of 'csv tsv xlsx xls parquet feather h5 hdf5 nc npy npz fits'.split(' ')) ICON_BY_EXTENSION[ext] = 'fileTable'
for (const ext of 'zip gz tgz bz2 xz zst 7z tar rar'.split(' ')) ICON_BY_EXTENSION[ext] = 'fileArchive'
for (const ext of 'py ipynb js ts vue c h cpp hpp rs go java jl r sh json yaml yml toml ini cfg html css xml sql'.split(' '))
  ICON_BY_EXTENSION[ext] = 'fileCode'
for (const ext of 'txt log out err md rst pdf tex'.split(' ')) ICON_BY_EXTENSION[ext] = 'fileText'

export function entryIcon(entry: Pick<FileEntry, 'name' | 'kind' | 'target_kind'>): IconName {
  if (isFolder(entry)) return entry.kind === 'symlink' ? 'folderLink' : 'folder'
  if (entry.kind === 'symlink') return 'link'
  if (entry.kind !== 'file') return 'fileSpecial'
  const dot = entry.name.lastIndexOf('.')
  return (dot > 0 && ICON_BY_EXTENSION[entry.name.slice(dot + 1).toLowerCase()]) || 'file'
}

/** What the Kind column says. */
export function kindLabel(entry: Pick<FileEntry, 'kind' | 'target_kind' | 'target'>): string {
  if (entry.kind === 'symlink') return entry.target_kind ? `link to ${entry.target_kind}` : 'broken link'
  return entry.kind === 'directory' ? 'folder' : entry.kind
}
