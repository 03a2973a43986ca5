/**
 * What the Welcome pane's buttons work on, kept free of Vue: the computer they use, the
 * sentence that names the apps, and the new script the editor button creates.
 */
import { ApiError } from '../../api/client'
import { textPath, type RemotePath } from '../../api/files'
import type { Resource } from '../../api/resources'
import { keepBothName } from '../files/names'

/** How ready a resource is for work, best first. */
const READINESS: Record<string, number> = { connected: 0, reconnecting: 1, connecting: 1 }

/**
 * The computer the buttons use until the user picks another: one connected already,
 * else the server's own machine (`local`, no login to type), else the first listed.
 */
export function firstUsableResource(resources: readonly Resource[]): Resource | undefined {
  const rank = (r: Resource): number => (READINESS[r.status?.state ?? ''] ?? 2) * 2 + (r.kind === 'local' ? 0 : 1)
  return [...resources].sort((a, b) => rank(a) - rank(b))[0]
}

/** `JupyterLab, TensorBoard and Web app`, or null when the server offers none. */
export function listedTitles(titles: readonly string[]): string | null {
  if (titles.length === 0) return null
  if (titles.length === 1) return titles[0]!
  return `${titles.slice(0, -1).join(', ')} and ${titles[titles.length - 1]}`
}

/** The name the editor button starts with; `untitled (1).py` and so on when taken. */
export const NEW_SCRIPT_NAME = 'untitled.py'
const NEW_SCRIPT_TRIES = 50

/**
 * Create an empty script in `home` under the first free name and answer its path.
 * `create` writes a file only if there is none (else it throws 409 `exists`), so a
 * file of the user's is never replaced.
 */
export async function createNewScript(home: string, create: (path: RemotePath) => Promise<unknown>): Promise<RemotePath> {
  const taken = new Set<string>()
  let name = NEW_SCRIPT_NAME
  for (let attempt = 0; attempt < NEW_SCRIPT_TRIES; attempt++) {
    const path = textPath(`${home.replace(/\/+$/, '')}/${name}`)
    try {
      await create(path)
      return path
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'exists')) throw error
      taken.add(name)
      name = keepBothName(NEW_SCRIPT_NAME, taken)
    }
  }
  throw new Error(`Your home folder has ${NEW_SCRIPT_TRIES} untitled scripts already: rename some, or create one from the file browser.`)
}
