/**
 * What labgate gives a plug-in's front-end bundle: its entry module exports
 * `register(api)`, and `api` is a {@link PluginApi}. This is a public interface
 * (docs/plugins.md, "Front-end bundles"): change it only by adding, or raise
 * {@link FRONTEND_API_VERSION} (and the server's, labgate/plugins/bundles.py) when a
 * bundle written for the old one would break.
 */
import * as vue from 'vue'
import type { Component } from 'vue'
import { api as client, type ApiClient } from '../api/client'
import { readFile, type FileContent, type RemotePath } from '../api/files'
import { registerPane, type PaneDefinition } from '../panes/registry'
import { registerViewer } from '../panes/viewer/registry'
import { notify, type NoticeKind } from '../stores/notices'

export const FRONTEND_API_VERSION = 1

/** JSON calls below /api/v1, as labgate's own front end makes them (session cookie, CSRF token, errors as ApiError). */
export type PluginClient = Pick<ApiClient, 'get' | 'post' | 'put' | 'patch' | 'delete'>

export interface PluginApi {
  /** The version of this API ({@link FRONTEND_API_VERSION}). */
  readonly version: number
  /** The bundle's name, as its manifest says. */
  readonly bundle: string
  /** labgate's own Vue: build components with it (or mark `vue` external), so that they run in the one Vue app. */
  readonly vue: typeof vue
  /** Add a kind of pane (its `kind` must be listed in the manifest's `panes`). */
  registerPane(definition: PaneDefinition): void
  /** Add a viewer component under `name` (listed in the manifest's `viewers`). */
  registerViewer(name: string, component: Component): void
  /** JSON calls to labgate's API, the plug-in's own routers among them. */
  readonly client: PluginClient
  /** A file's bytes (optionally a byte range), for viewers. */
  readFile(resourceId: number, path: RemotePath, options?: { range?: { start: number; end?: number } }): Promise<FileContent>
  /** A short message in the corner of the workspace. */
  notify(message: string, kind?: NoticeKind): void
}

/** The API given to bundle `bundle`. */
export function pluginApi(bundle: string): PluginApi {
  return Object.freeze({
    version: FRONTEND_API_VERSION,
    bundle,
    vue,
    registerPane,
    registerViewer,
    client: Object.freeze({
      get: client.get.bind(client),
      post: client.post.bind(client),
      put: client.put.bind(client),
      patch: client.patch.bind(client),
      delete: client.delete.bind(client),
    }) as PluginClient,
    readFile: (resourceId: number, path: RemotePath, options = {}) => readFile(resourceId, path, options),
    notify: (message: string, kind: NoticeKind = 'info') => {
      notify(message, kind)
    },
  })
}
