import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/client'
import type { InvitationPreview } from '../../api/sharing'
import { acceptInviteFromAddress, invitationErrorMessage, inviteToken, joinQuestion, withoutInvite, type AcceptDeps } from './invitationAccept'

const PREVIEW: InvitationPreview = {
  session_id: 's1',
  title: 'Quarterly report',
  app: 'Web app',
  view: 'web',
  owner: { id: 7, username: 'mallory', display_name: 'Mallory' },
  role: 'guest',
}

function deps(href: string, overrides: Partial<AcceptDeps> = {}) {
  return {
    href: () => href,
    replace: vi.fn<AcceptDeps['replace']>(),
    preview: vi.fn<AcceptDeps['preview']>(async () => PREVIEW),
    ask: vi.fn<AcceptDeps['ask']>(async () => true),
    accept: vi.fn<AcceptDeps['accept']>(async () => ({ session_id: 's1', role: 'guest' })),
    open: vi.fn<AcceptDeps['open']>(async () => undefined),
    notify: vi.fn<AcceptDeps['notify']>(),
    ...overrides,
  }
}

describe('invitationAccept', () => {
  it('finds the token in the query string', () => {
    expect(inviteToken('?invite=abc')).toBe('abc')
    expect(inviteToken('?x=1&invite=a%2Bb')).toBe('a+b')
    expect(inviteToken('?invite=')).toBeNull()
    expect(inviteToken('')).toBeNull()
  })

  it('takes only the invitation out of the address', () => {
    expect(withoutInvite('https://lab.example/?invite=abc')).toBe('/')
    expect(withoutInvite('https://lab.example/app/?a=1&invite=abc&b=2#top')).toBe('/app/?a=1&b=2#top')
  })

  it('clears the address bar first, asks, then accepts and opens the session', async () => {
    const order: string[] = []
    const d = deps('https://lab.example/?invite=tok', {
      replace: vi.fn(() => void order.push('replace')),
      preview: vi.fn(async () => {
        order.push('preview')
        return PREVIEW
      }),
      ask: vi.fn(async () => {
        order.push('ask')
        return true
      }),
      accept: vi.fn(async () => {
        order.push('accept')
        return { session_id: 's1', role: 'guest' as const }
      }),
    })
    await expect(acceptInviteFromAddress(d)).resolves.toEqual({ session_id: 's1', role: 'guest' })
    expect(order).toEqual(['replace', 'preview', 'ask', 'accept'])
    expect(d.preview).toHaveBeenCalledWith('tok')
    expect(d.ask).toHaveBeenCalledWith(PREVIEW)
    expect(d.replace).toHaveBeenCalledWith('/')
    expect(d.accept).toHaveBeenCalledWith('tok')
    expect(d.open).toHaveBeenCalledWith({ session_id: 's1', role: 'guest' })
    expect(d.notify).not.toHaveBeenCalled()
  })

  it('accepts and opens nothing when the user says no', async () => {
    const d = deps('https://lab.example/?invite=tok', { ask: vi.fn(async () => false) })
    await expect(acceptInviteFromAddress(d)).resolves.toBeNull()
    expect(d.replace).toHaveBeenCalledWith('/')
    expect(d.accept).not.toHaveBeenCalled()
    expect(d.open).not.toHaveBeenCalled()
  })

  it('asks whose session, which, and in what role', () => {
    expect(joinQuestion(PREVIEW)).toBe("Join mallory's session “Quarterly report” (Web app) as a viewer (you can watch, not change anything)?")
    expect(joinQuestion({ ...PREVIEW, role: 'user' })).toMatch(/as a user \(you can work in it\)\?$/)
  })

  it('does nothing without an invitation', async () => {
    const d = deps('https://lab.example/?x=1')
    await expect(acceptInviteFromAddress(d)).resolves.toBeNull()
    expect(d.replace).not.toHaveBeenCalled()
    expect(d.accept).not.toHaveBeenCalled()
  })

  it.each([
    [new ApiError(404, 'invitation_unknown', 'No such invitation.'), /not valid/],
    [new ApiError(410, 'invitation_expired', 'Expired.'), /has expired/],
    [new ApiError(410, 'invitation_used_up', 'Used up.'), /used as often as it allows/],
    [new ApiError(410, 'session_ended', 'Ended.'), /session this invitation was for has ended/],
    [new ApiError(422, 'invalid_request', 'This is your own session.'), /cannot accept this invitation: This is your own session/],
    [new ApiError(0, 'network_error', 'Could not reach the labgate server.'), /could not be accepted: Could not reach/],
  ])('says why an invitation was refused (%s)', async (error, message) => {
    for (const failing of ['preview', 'accept'] as const) {
      const d = deps('https://lab.example/?invite=tok', { [failing]: vi.fn(async () => Promise.reject(error)) })
      await expect(acceptInviteFromAddress(d)).resolves.toBeNull()
      expect(d.replace).toHaveBeenCalledWith('/')
      expect(d.open).not.toHaveBeenCalled()
      if (failing === 'preview') {
        expect(d.ask).not.toHaveBeenCalled()
        expect(d.accept).not.toHaveBeenCalled()
      }
      expect(d.notify).toHaveBeenCalledExactlyOnceWith(expect.stringMatching(message), 'error')
    }
  })

  it('leaves a 401 to the login page', async () => {
    const d = deps('https://lab.example/?invite=tok', { accept: vi.fn(async () => Promise.reject(new ApiError(401, 'not_authenticated', 'Log in.'))) })
    await acceptInviteFromAddress(d)
    expect(d.notify).not.toHaveBeenCalled()
  })

  it('says so when the session joined cannot be opened', async () => {
    const d = deps('https://lab.example/?invite=tok', { open: vi.fn(async () => Promise.reject(new Error('The workspace is not ready'))) })
    await expect(acceptInviteFromAddress(d)).resolves.not.toBeNull()
    expect(d.notify).toHaveBeenCalledWith(expect.stringMatching(/joined the session, but it could not be opened/), 'error')
  })

  it('words an unknown failure too', () => {
    expect(invitationErrorMessage(new Error('boom'))).toMatch(/boom/)
  })
})
