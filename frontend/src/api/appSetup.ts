/**
 * The apps environment on a resource (docs/api-contract.md, "Apps environment"): when a
 * launch failed because JupyterLab or TensorBoard is missing there, labgate sets them up
 * in the user's home on that resource, as a process of the user's daemon, and reports
 * its progress.
 */
import { api, type ApiClient } from './client'

export type AppSetupState = 'absent' | 'running' | 'succeeded' | 'failed'

export interface AppSetup {
  state: AppSetupState
  /** The environment's directory on the resource. */
  directory: string
  /** From 0 to 1. */
  fraction: number
  /** The current step in words. */
  step: string
  /** At the end: what happened. */
  message: string
  /** After a failure: pip's decisive error lines. */
  errors: string[]
  /** What the setup printed. */
  log: string
}

const setupPath = (resourceId: number): string => `/resources/${resourceId}/app-setup`

export function getAppSetup(resourceId: number, client: ApiClient = api): Promise<AppSetup> {
  return client.get<AppSetup>(setupPath(resourceId))
}

export function startAppSetup(resourceId: number, client: ApiClient = api): Promise<AppSetup> {
  return client.post<AppSetup>(setupPath(resourceId))
}
