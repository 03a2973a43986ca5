/**
 * Which viewer opens a file: by its name's extension first; a name that says nothing is
 * looked at (its first KiB: a NUL byte means binary). Code and configuration go to the
 * editor, which can change them; logs and notes open read-only in the text viewer.
 */

export type ViewerId = 'image' | 'pdf' | 'text' | 'table' | 'json' | 'markdown' | 'html' | 'binary' | 'sniff'

/** What a double click does: a viewer, or the editor. */
export type FileChoice = { kind: 'viewer'; viewer: ViewerId } | { kind: 'editor' }

const BY_EXTENSION: Record<string, ViewerId> = {
  png: 'image',
  jpg: 'image',
  jpeg: 'image',
  gif: 'image',
  svg: 'image',
  webp: 'image',
  avif: 'image',
  bmp: 'image',
  ico: 'image',
  pdf: 'pdf',
  csv: 'table',
  tsv: 'table',
  tab: 'table',
  json: 'json',
  geojson: 'json',
  ipynb: 'json',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  log: 'text',
  txt: 'text',
  out: 'text',
  err: 'text',
  text: 'text',
}

/** Opened in the editor: source code and configuration. */
const EDITOR_EXTENSIONS = new Set(
  (
    'py pyi pyx ipy r jl m c h cc cpp cxx hpp hh cu f f90 f95 for rs go java kt scala js mjs cjs ts tsx jsx vue ' +
    'css scss less sh bash zsh fish ksh csh tcsh pl pm rb php lua sql tex bib sty cls cmake mk ' +
    'yaml yml toml ini cfg conf properties env xml slurm sbatch pbs job dockerfile gitignore'
  ).split(' '),
)

/** Binary formats no viewer shows: offered for download at once. */
const BINARY_EXTENSIONS = new Set(
  'zip gz tgz bz2 xz zst 7z tar rar h5 hdf5 nc npy npz pkl pickle root so o a exe bin dat mat fits parquet feather sqlite db'.split(' '),
)

const EDITOR_NAMES = new Set(['makefile', 'dockerfile', 'jenkinsfile', 'vagrantfile', 'cmakelists.txt', '.bashrc', '.profile', '.zshrc'])

/** The lower-case extension of a name (`''` for none; dot files have none). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : ''
}

/**
 * The choice for `name`. `editorAvailable` is false while no editor pane is registered:
 * code then opens in the text viewer.
 */
export function chooseViewer(name: string, editorAvailable: boolean): FileChoice {
  const lower = name.toLowerCase()
  const extension = extensionOf(lower)
  const editor: FileChoice = editorAvailable ? { kind: 'editor' } : { kind: 'viewer', viewer: 'text' }
  if (EDITOR_NAMES.has(lower)) return editor
  const viewer = BY_EXTENSION[extension]
  if (viewer) return { kind: 'viewer', viewer }
  if (EDITOR_EXTENSIONS.has(extension)) return editor
  if (BINARY_EXTENSIONS.has(extension)) return { kind: 'viewer', viewer: 'binary' }
  return { kind: 'viewer', viewer: 'sniff' }
}

export const SNIFF_BYTES = 1024

/** Binary when the first KiB holds a NUL byte (as git and grep decide). */
export function looksBinary(head: Uint8Array): boolean {
  return head.subarray(0, SNIFF_BYTES).includes(0)
}
