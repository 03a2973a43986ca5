/**
 * Favourites and presets (docs/api-contract.md, "Favourites"): what the user starred
 * (a resource, an app template, a folder, an experiment) and their presets, launches
 * kept to be relaunched with one click.
 */
import { api, type ApiClient } from './client'
import type { AppSession, LaunchRequest } from './sessions'

export type FavouriteKind = 'resource' | 'template' | 'folder' | 'experiment' | 'preset'

/** A launch as a preset keeps it: `POST /sessions`'s body, with the experiment if any. */
export interface PresetLaunch extends LaunchRequest {
  launcher: string
  experiment_id?: number | null
}

export interface Favourite {
  id: number
  kind: FavouriteKind
  /** A resource's or experiment's id, a template's id, a folder's `<resource id>:<path>`; a preset's own key. */
  target: string
  title: string
  /** A preset's launch (null for the other kinds). */
  preset: PresetLaunch | null
  position: number
}

export interface NewFavourite {
  kind: FavouriteKind
  target?: string
  title?: string
  preset?: PresetLaunch
}

/** A folder's target: `<resource id>:<path>`. */
export function folderTarget(resourceId: number, path: string): string {
  return `${resourceId}:${path}`
}

export async function listFavourites(client: ApiClient = api): Promise<Favourite[]> {
  return (await client.get<{ favourites: Favourite[] }>('/favourites')).favourites
}

export function addFavourite(body: NewFavourite, client: ApiClient = api): Promise<Favourite> {
  return client.post<Favourite>('/favourites', body)
}

export function changeFavourite(id: number, changes: { title?: string; position?: number }, client: ApiClient = api): Promise<Favourite> {
  return client.patch<Favourite>(`/favourites/${id}`, changes)
}

export function removeFavourite(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`/favourites/${id}`)
}

/** A new session as the preset says (answered as `POST /sessions` is). */
export function launchPreset(id: number, client: ApiClient = api): Promise<AppSession> {
  return client.post<AppSession>(`/favourites/${id}/launch`)
}
