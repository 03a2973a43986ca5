import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/client'
import type { ProcessInfo } from '../../api/processes'
import { makeProcess } from '../../testing/processes'
import { makeResource } from '../../testing/resources'
import { HANGUP_WAIT_MS, POLL_MS, endTerminal, loadTerminals, type TerminalListDeps } from './terminalList'

const connected = { state: 'connected', message: '', error: null, since: null } as const

describe('loadTerminals', () => {
  it('lists the terminals of connected resources only, newest first, and says which failed', async () => {
    const resources = [
      makeResource({ id: 1, name: 'one', status: connected }),
      makeResource({ id: 2, name: 'two' }), // disconnected: not asked
      makeResource({ id: 3, name: 'three', status: connected }),
      makeResource({ id: 4, name: 'four', status: connected }),
    ]
    const lists: Record<number, ProcessInfo[]> = {
      1: [makeProcess({ id: 'a', started_at: 10 }), makeProcess({ id: 'job', pty: false, started_at: 99 })],
      3: [makeProcess({ id: 'b', started_at: 20 })],
    }
    const list = vi.fn((rid: number) =>
      rid === 4 ? Promise.reject(new Error('the agent broke')) : Promise.resolve(lists[rid] ?? []),
    )
    const listing = await loadTerminals(resources, { list })
    expect(list.mock.calls.map(([rid]) => rid)).toEqual([1, 3, 4])
    expect(listing.entries.map((e) => [e.resourceName, e.process.id])).toEqual([
      ['three', 'b'],
      ['one', 'a'],
    ])
    expect(listing.errors).toEqual({ 4: 'the agent broke' })
  })
})

function endDeps(runningForPolls: number, options: { ignoreHangup?: boolean } = {}) {
  const calls: string[] = []
  let polls = 0
  let killed = false
  const deps: TerminalListDeps = {
    list: () => {
      polls += 1
      const running = !killed && (options.ignoreHangup || polls <= runningForPolls)
      return Promise.resolve([makeProcess({ id: 'p1', running })])
    },
    signal: (_rid, _pid, signal) => {
      calls.push(signal)
      if (signal === 'KILL') killed = true
      return Promise.resolve()
    },
    forget: () => {
      calls.push('forget')
      return Promise.resolve()
    },
    sleep: () => Promise.resolve(),
  }
  return { deps, calls, polls: () => polls }
}

describe('endTerminal', () => {
  it('hangs up, waits for the shell to leave, then forgets it', async () => {
    const { deps, calls, polls } = endDeps(2)
    await endTerminal(1, makeProcess(), deps)
    expect(calls).toEqual(['HUP', 'forget'])
    expect(polls()).toBe(3)
  })

  it('kills a shell that ignores the hang-up', async () => {
    const { deps, calls, polls } = endDeps(0, { ignoreHangup: true })
    await endTerminal(1, makeProcess(), deps)
    expect(calls).toEqual(['HUP', 'KILL', 'forget'])
    expect(polls()).toBe(HANGUP_WAIT_MS / POLL_MS + 2)
  })

  it('only forgets one that already ended, and takes a vanished one as ended', async () => {
    const { deps, calls } = endDeps(0)
    await endTerminal(1, makeProcess({ running: false }), deps)
    expect(calls).toEqual(['forget'])

    const gone: TerminalListDeps = {
      ...deps,
      signal: () => Promise.reject(new ApiError(404, 'not_found', 'There is no process')),
    }
    await expect(endTerminal(1, makeProcess(), gone)).resolves.toBeUndefined()
    const broken: TerminalListDeps = { ...deps, forget: () => Promise.reject(new ApiError(502, 'agent_failed', 'x')) }
    await expect(endTerminal(1, makeProcess({ running: false }), broken)).rejects.toThrow('x')
  })
})
