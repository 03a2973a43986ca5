/**
 * The user's terminals on every connected resource, for the Terminals pane: which there
 * are, and ending one (hang up, wait for it to go, kill it if it does not, forget it).
 */
import { ApiError } from '../../api/client'
import {
  forgetProcess,
  listProcesses,
  signalProcess,
  type ProcessInfo,
  type SignalName,
} from '../../api/processes'
import type { Resource } from '../../api/resources'

export interface TerminalEntry {
  resourceId: number
  resourceName: string
  process: ProcessInfo
}

export interface TerminalListing {
  /** Newest first. */
  entries: TerminalEntry[]
  /** Resources whose list could not be read, by id: why. */
  errors: Record<number, string>
}

export interface TerminalListDeps {
  list(resourceId: number): Promise<ProcessInfo[]>
  signal(resourceId: number, processId: string, signal: SignalName): Promise<void>
  forget(resourceId: number, processId: string): Promise<void>
  sleep(ms: number): Promise<void>
}

export const browserListDeps: TerminalListDeps = {
  list: (resourceId) => listProcesses(resourceId),
  signal: (resourceId, processId, signal) => signalProcess(resourceId, processId, signal),
  forget: (resourceId, processId) => forgetProcess(resourceId, processId),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

/** Only connected resources are asked: listing one that is not would make it connect. */
export function listedResources(resources: readonly Resource[]): Resource[] {
  return resources.filter((resource) => resource.status.state === 'connected')
}

export async function loadTerminals(
  resources: readonly Resource[],
  deps: Pick<TerminalListDeps, 'list'> = browserListDeps,
): Promise<TerminalListing> {
  const errors: Record<number, string> = {}
  const lists = await Promise.all(
    listedResources(resources).map(async (resource) => {
      try {
        const processes = await deps.list(resource.id)
        return processes
          .filter((process) => process.pty)
          .map((process) => ({ resourceId: resource.id, resourceName: resource.name, process }))
      } catch (error) {
        errors[resource.id] = error instanceof Error ? error.message : String(error)
        return []
      }
    }),
  )
  const entries = lists.flat().sort((a, b) => b.process.started_at - a.process.started_at)
  return { entries, errors }
}

/** How long a hung-up shell gets to leave before it is killed, and how often to look. */
export const HANGUP_WAIT_MS = 5000
export const KILL_WAIT_MS = 3000
export const POLL_MS = 250

async function waitUntilEnded(
  resourceId: number,
  processId: string,
  waitMs: number,
  deps: TerminalListDeps,
): Promise<boolean> {
  for (let waited = 0; waited <= waitMs; waited += POLL_MS) {
    const process = (await deps.list(resourceId)).find((p) => p.id === processId)
    if (!process || !process.running) return true
    await deps.sleep(POLL_MS)
  }
  return false
}

function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404
}

/**
 * End a terminal as closing a terminal window does: SIGHUP (the shell passes it on to its
 * jobs), then SIGKILL if it is still there after {@link HANGUP_WAIT_MS}; then forget it
 * and its output. A process that is already gone counts as ended.
 */
export async function endTerminal(
  resourceId: number,
  process: Pick<ProcessInfo, 'id' | 'running'>,
  deps: TerminalListDeps = browserListDeps,
): Promise<void> {
  try {
    if (process.running) {
      await deps.signal(resourceId, process.id, 'HUP')
      if (!(await waitUntilEnded(resourceId, process.id, HANGUP_WAIT_MS, deps))) {
        await deps.signal(resourceId, process.id, 'KILL')
        if (!(await waitUntilEnded(resourceId, process.id, KILL_WAIT_MS, deps))) {
          throw new Error('The terminal did not end, even when killed. Try again in a moment.')
        }
      }
    }
    await deps.forget(resourceId, process.id)
  } catch (error) {
    if (!isNotFound(error)) throw error
  }
}
