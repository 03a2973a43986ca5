import { describe, expect, it } from 'vitest'
import { LOGIN_ENDED_MESSAGE } from '../../api/resources'
import { judgeClose, reconnectDelay } from './closeCodes'

describe('judgeClose', () => {
  it('gives up with a clear message on each of the server refusals', () => {
    expect(judgeClose(4401, 'login_ended')).toEqual({ retry: false, message: LOGIN_ENDED_MESSAGE })
    expect(judgeClose(4403, 'forbidden').message).toBe('You are not allowed to see this desktop.')
    expect(judgeClose(4403, 'access_withdrawn').message).toBe('Your access to this desktop was withdrawn.')
    expect(judgeClose(4404, '').message).toMatch(/no such desktop/)
    expect(judgeClose(4410, '').message).toMatch(/session ended/)
    for (const code of [4401, 4403, 4404, 4410, 4499, 1008]) expect(judgeClose(code, '').retry).toBe(false)
    expect(judgeClose(4499, 'odd').message).toBe('The server ended the desktop (4499: odd).')
  })

  it('tries again after drops, restarts and a desktop not ready yet', () => {
    for (const code of [1000, 1001, 1006, 1011, 1012, 1013, 4503]) expect(judgeClose(code, '').retry).toBe(true)
    expect(judgeClose(4503, '').message).toMatch(/cannot be reached/)
    expect(judgeClose(1006, '').message).toMatch(/dropped/)
  })

  it('tries again when the desktop closed the connection, not when it refused labgate', () => {
    expect(judgeClose(4502, 'desktop_closed')).toEqual({ retry: true, message: 'The desktop closed the connection.' })
    expect(judgeClose(4502, 'desktop_auth_failed')).toEqual({
      retry: false,
      message: 'The desktop refused the connection (desktop_auth_failed).',
    })
  })
})

describe('reconnectDelay', () => {
  it('doubles from half a second up to fifteen', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((n) => reconnectDelay(n, 0.5))).toEqual([
      500, 1000, 2000, 4000, 8000, 15000, 15000, 15000,
    ])
  })

  it('spreads the waits by a fifth either way', () => {
    expect(reconnectDelay(1, 0)).toBe(800)
    expect(reconnectDelay(1, 0.999999)).toBe(1200)
  })
})
