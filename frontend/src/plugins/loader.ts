/**
 * Loading plug-ins' front-end bundles at start: each bundle /api/v1/info lists is
 * imported from its entry URL (same origin, below /plugins/<name>/) and its `register(api)`
 * called. A bundle that fails (cannot be imported, has no `register`, throws, or takes
 * too long) is named in a notice and left out; labgate and the other bundles work on.
 */
import type { BundleInfo, ViewerInfo } from '../api/types'
import { getViewer } from '../panes/viewer/registry'
import { notify } from '../stores/notices'
import { pluginApi, type PluginApi } from './api'

/** How long a bundle may take to load and register before it counts as failed. */
export const BUNDLE_TIMEOUT_MS = 15_000

export type ImportModule = (url: string) => Promise<unknown>

export interface LoadOptions {
  /** How a module is imported (tests give their own). */
  importModule?: ImportModule
  /** The API given to a bundle (tests give their own). */
  apiFor?: (bundle: string) => PluginApi
  timeoutMs?: number
}

export interface BundleFailure {
  bundle: string
  reason: string
}

const nativeImport: ImportModule = (url) => import(/* @vite-ignore */ url)

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`it did not load within ${ms / 1000} s`)), ms)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  })
}

async function loadOne(bundle: BundleInfo, importModule: ImportModule, apiFor: (name: string) => PluginApi): Promise<void> {
  const module = await importModule(bundle.entry)
  const register = (module as { register?: unknown } | null)?.register
  if (typeof register !== 'function') throw new Error(`its entry ${bundle.entry} exports no register(api) function`)
  await (register as (api: PluginApi) => unknown)(apiFor(bundle.name))
}

/** Load every bundle, all at once; resolves (never rejects) with the ones that failed, each already told to the user. */
export async function loadBundles(bundles: readonly BundleInfo[], options: LoadOptions = {}): Promise<BundleFailure[]> {
  const importModule = options.importModule ?? nativeImport
  const apiFor = options.apiFor ?? pluginApi
  const timeoutMs = options.timeoutMs ?? BUNDLE_TIMEOUT_MS
  const outcomes = await Promise.allSettled(bundles.map((b) => withTimeout(loadOne(b, importModule, apiFor), timeoutMs)))
  const failures: BundleFailure[] = []
  bundles.forEach(({ name: bundle }, index) => {
    const outcome = outcomes[index]
    if (!outcome || outcome.status === 'fulfilled') return
    const reason = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)
    console.error(`labgate: the plug-in bundle "${bundle}" failed to load`, outcome.reason)
    notify(`The plug-in "${bundle}" could not be loaded (${reason}); its panes and viewers are missing, the rest of labgate works.`, 'error', 0)
    failures.push({ bundle, reason })
  })
  return failures
}

/**
 * Tell of each plug-in viewer the server lists whose bundle loaded but registered no such
 * component (a bundle that failed is told of already): its files open as if it were not
 * installed. Returns the ids of those viewers.
 */
export function reportMissingViewers(viewers: readonly ViewerInfo[], failures: readonly BundleFailure[]): string[] {
  const failed = new Set(failures.map((failure) => failure.bundle))
  const missing = viewers.filter((viewer) => viewer.bundle !== '' && !failed.has(viewer.bundle) && getViewer(viewer.component) === undefined)
  for (const viewer of missing) {
    notify(
      `The plug-in "${viewer.bundle}" registered no viewer component "${viewer.component}"; the files of its viewer "${viewer.title}" open as if it were not installed.`,
      'error',
      0,
    )
  }
  return missing.map((viewer) => viewer.id)
}
