/**
 * The file browser's places: the folders the user starred on this resource first (in
 * their order), then the usual ones (home, the root) and any others a caller adds (an
 * experiment's data locations), each once. A folder is starred as the favourite
 * `<resource id>:<path>` (api/favourites.ts).
 */
import { folderTarget, type Favourite } from '../../api/favourites'

export interface Place {
  label: string
  path: string
  starred: boolean
}

export const STANDARD_PLACES: readonly Place[] = [
  { label: 'Home folder', path: '~', starred: false },
  { label: 'Root (/)', path: '/', starred: false },
]

/** The starred folders' paths on `resourceId`, with their titles, in the user's order. */
export function starredFolders(resourceId: number, favourites: readonly Favourite[]): Place[] {
  const prefix = folderTarget(resourceId, '')
  return favourites
    .filter((f) => f.kind === 'folder' && f.target.startsWith(prefix))
    .map((f) => ({ label: f.title || f.target.slice(prefix.length), path: f.target.slice(prefix.length), starred: true }))
}

export function placesOf(resourceId: number, favourites: readonly Favourite[], others: readonly Place[] = STANDARD_PLACES): Place[] {
  const starred = starredFolders(resourceId, favourites)
  const seen = new Set(starred.map((p) => p.path))
  return [...starred, ...others.filter((p) => !seen.has(p.path))]
}
