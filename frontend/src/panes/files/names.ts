/**
 * Names for new and copied files: checking what a user typed, and the "keep both"
 * name (`report (1).pdf`) that a conflict suggests.
 */

/** Why `name` cannot be a file name, or null when it can. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'Type a name.'
  if (name === '.' || name === '..') return `"${name}" is not a name a file can have.`
  if (name.includes('/')) return 'A name cannot contain "/". To put it in another folder, open that folder first.'
  if (name.includes('\0')) return 'A name cannot contain a NUL character.'
  if (new TextEncoder().encode(name).length > 255) return 'That name is too long (at most 255 bytes).'
  return null
}

/** `stem` and `extension` (with its dot) of a name; dot files and folders have no extension. */
export function splitExtension(name: string, isFolder = false): { stem: string; extension: string } {
  if (isFolder) return { stem: name, extension: '' }
  const compound = /\.tar\.(gz|bz2|xz|zst)$/i.exec(name)
  const dot = compound && compound.index > 0 ? compound.index : name.lastIndexOf('.')
  if (dot <= 0) return { stem: name, extension: '' }
  return { stem: name.slice(0, dot), extension: name.slice(dot) }
}

/**
 * The first of `name (1)`, `name (2)`, ... that is not taken (the extension kept at the
 * end: `run (1).csv`). An existing `(n)` suffix counts on from n.
 */
export function keepBothName(name: string, taken: ReadonlySet<string>, isFolder = false): string {
  const { stem, extension } = splitExtension(name, isFolder)
  const numbered = /^(.*) \((\d+)\)$/.exec(stem)
  const base = numbered ? (numbered[1] as string) : stem
  let n = numbered ? Number(numbered[2]) + 1 : 1
  for (;;) {
    const candidate = `${base} (${n})${extension}`
    if (!taken.has(candidate)) return candidate
    n += 1
  }
}
