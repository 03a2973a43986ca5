/**
 * Which viewer opens a file. The server says which viewer claims which extensions and
 * names (/api/v1/info `viewers`: labgate's own and plug-ins', the highest priority
 * winning); what no viewer claims is decided here: code and configuration go to the
 * editor, which can change them, known binary formats to the offer to download, and a
 * name that says nothing is looked at (its first KiB: a NUL byte means binary).
 */

/** A viewer's id (image, pdf, text, ..., or a plug-in's), or `binary` / `sniff`. */
export type ViewerId = string

/** What a double click does: a viewer, or the editor. */
export type FileChoice = { kind: 'viewer'; viewer: ViewerId } | { kind: 'editor' }

/** What the choice needs of a viewer's description (ViewerInfo). */
export interface ViewerRule {
  id: string
  extensions: readonly string[]
  names: readonly string[]
  priority: number
}

/** Extension and whole name → viewer id, each the claim of the highest priority. */
export interface ViewerTable {
  byExtension: ReadonlyMap<string, ViewerId>
  byName: ReadonlyMap<string, ViewerId>
}

/** The table of `viewers`: for each extension and name, the claim of the highest priority (the first listed among equals). */
export function viewerTable(viewers: readonly ViewerRule[]): ViewerTable {
  const byExtension = new Map<string, ViewerRule>()
  const byName = new Map<string, ViewerRule>()
  const claim = (table: Map<string, ViewerRule>, key: string, viewer: ViewerRule): void => {
    const held = table.get(key)
    if (!held || viewer.priority > held.priority) table.set(key, viewer)
  }
  for (const viewer of viewers) {
    for (const extension of viewer.extensions) claim(byExtension, extension.toLowerCase(), viewer)
    for (const name of viewer.names) claim(byName, name.toLowerCase(), viewer)
  }
  const ids = (table: Map<string, ViewerRule>) => new Map([...table].map(([key, viewer]) => [key, viewer.id]))
  return { byExtension: ids(byExtension), byName: ids(byName) }
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
 * code then opens in the text viewer. `table` is the server's (see {@link viewerTable});
 * a viewer claiming a whole name or an extension wins over the editor and binary rules.
 */
export function chooseViewer(name: string, editorAvailable: boolean, table: ViewerTable): FileChoice {
  const lower = name.toLowerCase()
  const extension = extensionOf(lower)
  const editor: FileChoice = editorAvailable ? { kind: 'editor' } : { kind: 'viewer', viewer: 'text' }
  const named = table.byName.get(lower)
  if (named) return { kind: 'viewer', viewer: named }
  if (EDITOR_NAMES.has(lower)) return editor
  const viewer = extension ? table.byExtension.get(extension) : undefined
  if (viewer) return { kind: 'viewer', viewer }
  if (EDITOR_EXTENSIONS.has(extension)) return editor
  if (BINARY_EXTENSIONS.has(extension)) return { kind: 'viewer', viewer: 'binary' }
  return { kind: 'viewer', viewer: 'sniff' }
}

/**
 * The table for the server's `viewers` (none yet: nothing is claimed), of those whose
 * component is `registered`: a plug-in's viewer whose bundle failed to load claims
 * nothing, so its files open as if it were not installed.
 */
export function tableFor(
  viewers: readonly (ViewerRule & { component: string })[] | undefined,
  registered: (component: string) => boolean,
): ViewerTable {
  return viewerTable((viewers ?? []).filter((viewer) => registered(viewer.component)))
}

/**
 * The viewer a pane opens with: one whose component is not `registered` (its plug-in
 * removed, or its bundle failed to load, since the pane was saved) leaves the file to be
 * looked at rather than called binary.
 */
export function openingViewer(requested: ViewerId, registered: (id: ViewerId) => boolean): ViewerId {
  return requested === 'binary' || requested === 'sniff' || registered(requested) ? requested : 'sniff'
}

/** The name of the registered component showing viewer `id`, as the server's `viewers` say. */
export function componentNameOf(id: ViewerId, viewers: readonly { id: string; component: string }[] | undefined): string | undefined {
  return (viewers ?? []).find((viewer) => viewer.id === id)?.component
}

export const SNIFF_BYTES = 1024

/** Binary when the first KiB holds a NUL byte (as git and grep decide). */
export function looksBinary(head: Uint8Array): boolean {
  return head.subarray(0, SNIFF_BYTES).includes(0)
}
