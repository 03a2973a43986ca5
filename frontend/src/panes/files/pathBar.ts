/**
 * The path bar: the folder as breadcrumbs, and what the user types into it turned into
 * a path to list (`~`, `~/x`, absolute, or relative to the folder shown; `.` and `..`
 * resolved; repeated and trailing slashes dropped).
 */
import { displayPath, parentPath, type RemotePath } from '../../api/files'

export interface Crumb {
  label: string
  path: RemotePath
}

/** `/`, then one crumb per folder down to `path` (which must be absolute). */
export function breadcrumbs(path: RemotePath): Crumb[] {
  const crumbs: Crumb[] = []
  let current = path
  // Walk up with parentPath so that raw (non-UTF-8) paths stay exact bytes.
  for (let guard = 0; guard < 4096; guard += 1) {
    const text = displayPath(current)
    if (text === '/' || text === '') {
      crumbs.push({ label: '/', path: { path: '/' } })
      break
    }
    const label = text.replace(/\/+$/, '')
    crumbs.push({ label: label.slice(label.lastIndexOf('/') + 1), path: current })
    const up = parentPath(current)
    if (displayPath(up) === text) break
    current = up
  }
  return crumbs.reverse()
}

/** Collapse `.`/`..` and repeated slashes of an absolute text path. */
export function normalisePath(path: string): string {
  const parts: string[] = []
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') parts.pop()
    else parts.push(part)
  }
  return `/${parts.join('/')}`
}

export type ParsedPath = { ok: true; path: string } | { ok: false; message: string }

/**
 * What to list for `typed`, seen from the folder `current` (absolute). `~` stays for the
 * server to expand (the home directory is the resource's to know).
 */
export function parseTypedPath(typed: string, current: string): ParsedPath {
  const text = typed.trim()
  if (text.includes('\0')) return { ok: false, message: 'A path cannot contain a NUL character.' }
  if (text === '') return { ok: false, message: 'Type a folder, e.g. ~/data or /scratch.' }
  if (text === '~') return { ok: true, path: '~' }
  if (text.startsWith('~/')) {
    const rest = normalisePath(text.slice(1))
    return { ok: true, path: rest === '/' ? '~' : `~${rest}` }
  }
  if (text.startsWith('~')) return { ok: false, message: 'Only your own home directory (~) can be named with a tilde.' }
  if (text.startsWith('/')) return { ok: true, path: normalisePath(text) }
  return { ok: true, path: normalisePath(`${current}/${text}`) }
}

/** Back and forward through the folders visited, like a web browser's history. */
export interface History {
  back: RemotePath[]
  forward: RemotePath[]
}

export const EMPTY_HISTORY: History = { back: [], forward: [] }
const HISTORY_LIMIT = 100

function same(a: RemotePath, b: RemotePath): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Going to `to` from `from`: `from` is remembered for Back, Forward is forgotten. */
export function visit(history: History, from: RemotePath | null, to: RemotePath): History {
  if (from === null || same(from, to)) return history
  return { back: [...history.back, from].slice(-HISTORY_LIMIT), forward: [] }
}

export function goBack(history: History, current: RemotePath): { history: History; to: RemotePath } | null {
  const to = history.back[history.back.length - 1]
  if (to === undefined) return null
  return { history: { back: history.back.slice(0, -1), forward: [current, ...history.forward] }, to }
}

export function goForward(history: History, current: RemotePath): { history: History; to: RemotePath } | null {
  const to = history.forward[0]
  if (to === undefined) return null
  return { history: { back: [...history.back, current], forward: history.forward.slice(1) }, to }
}
