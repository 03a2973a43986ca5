import { describe, expect, it, vi } from 'vitest'
import type { ServerEvent } from '../../api/resources'
import { helpMessage, joinMessage, watchHelpRequests, watchJoins } from './joinNotices'

const alice = { id: 2, username: 'alice', display_name: null }

async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve()
}

describe('joinNotices', () => {
  it('words a join with who, which session and the role', () => {
    expect(joinMessage(alice, 'Desktop on box', 'guest')).toBe('alice joined “Desktop on box” (can view)')
    expect(joinMessage({ username: 'bob', display_name: 'Bob B.' }, 'Lab', 'support')).toBe('Bob B. joined “Lab” (support staff)')
  })

  it('shows a notice for each join and nothing for other events, until stopped', async () => {
    let listener: ((event: ServerEvent) => void) | null = null
    const notify = vi.fn()
    const stop = watchJoins({
      onEvent: (l) => {
        listener = l
        return () => (listener = null)
      },
      title: async (id) => (id === 's1' ? 'TensorBoard on box' : null),
      notify,
    })
    listener!({ type: 'session_changed', session_id: 's1' })
    listener!({ type: 'session_joined', session_id: 's1', user: alice, role: 'user' })
    listener!({ type: 'session_joined', session_id: 'gone', user: alice, role: 'guest' })
    await flush()
    expect(notify.mock.calls).toEqual([['alice joined “TensorBoard on box” (can use)'], ['alice joined “your session” (can view)']])
    stop()
    expect(listener).toBeNull()
  })

  it('words a request for help with who asks, for which session and what they said', () => {
    expect(helpMessage({ owner: { username: 'alice', display_name: 'Alice A.' }, title: 'Desktop on box', message: 'The plot window is empty.' })).toBe(
      'Alice A. asks for help with “Desktop on box”: “The plot window is empty.”',
    )
    expect(helpMessage({ owner: { username: 'alice', display_name: null }, title: 'Lab', message: '' })).toBe('alice asks for help with “Lab”')
  })

  it('shows support staff a notice for each request for help whose button opens the session', () => {
    let listener: ((event: ServerEvent) => void) | null = null
    const shown: [string, () => void][] = []
    const open = vi.fn()
    const stop = watchHelpRequests({
      onEvent: (l) => {
        listener = l
        return () => (listener = null)
      },
      notify: (message, run) => shown.push([message, run]),
      open,
    })
    listener!({ type: 'session_joined', session_id: 's1', user: alice, role: 'user' })
    listener!({ type: 'help_asked', session_id: 's2', title: 'Desktop on box', owner: alice, message: 'Stuck.' })
    expect(shown.map(([message]) => message)).toEqual(['alice asks for help with “Desktop on box”: “Stuck.”'])
    expect(open).not.toHaveBeenCalled()
    shown[0]![1]()
    expect(open).toHaveBeenCalledExactlyOnceWith('s2')
    stop()
    expect(listener).toBeNull()
  })
})
