import { describe, expect, it } from 'vitest'
import type { ExtensionRequest } from '../../api/sessions'
import { decisionSummary, grantHours, ranFor, timeLeft } from './requestFacts'

const NOW = Date.parse('2030-01-01T12:00:00Z')

function request(overrides: Partial<ExtensionRequest> = {}, session: Partial<ExtensionRequest['session']> = {}): ExtensionRequest {
  return {
    id: 7,
    session_id: 'k3x9',
    hours: 48,
    reason: 'the fit needs the weekend',
    state: 'pending',
    requested_at: '2030-01-01T11:00:00Z',
    decided_at: null,
    granted_hours: null,
    answer: '',
    username: 'alice',
    display_name: 'Alice',
    decided_by: null,
    session: {
      title: 'Fit',
      template: 'jupyterlab',
      template_title: 'JupyterLab',
      launcher: 'direct',
      resource_id: 1,
      resource_name: 'local',
      state: 'running',
      created_at: '2030-01-01T08:00:00Z',
      ready_at: '2030-01-01T08:30:00Z',
      ends_at: '2030-01-01T14:00:00Z',
      idle_stop_at: null,
      ...session,
    },
    ...overrides,
  }
}

describe('request facts', () => {
  it('says how long a session has left, and why it would stop', () => {
    expect(timeLeft(request(), NOW)).toBe('2 h 00 min left')
    expect(timeLeft(request({}, { idle_stop_at: '2030-01-01T12:30:00Z' }), NOW)).toBe('30 min left if idle')
    expect(timeLeft(request({}, { ends_at: null }), NOW)).toBe('no limit')
    expect(timeLeft(request({}, { ends_at: null, state: 'stopped' }), NOW)).toBe('ended')
  })

  it('counts the run from when the app was ready, else from its launch', () => {
    expect(ranFor(request(), NOW)).toBe('3 h 30 min')
    expect(ranFor(request({}, { ready_at: null }), NOW)).toBe('4 h 00 min')
  })

  it('takes whole hours within the API\'s limit for a grant', () => {
    expect(grantHours('12')).toEqual({ hours: 12 })
    expect(grantHours(' 720 ')).toEqual({ hours: 720 })
    expect(grantHours('0')).toEqual({ error: 'Give between 1 and 720 hours.' })
    expect(grantHours('721')).toEqual({ error: 'Give between 1 and 720 hours.' })
    expect(grantHours('1.5')).toEqual({ error: 'Give a whole number of hours.' })
    expect(grantHours('')).toEqual({ error: 'Give a whole number of hours.' })
  })

  it('sums a decision up with what was given against what was asked', () => {
    expect(decisionSummary(request({ state: 'granted', granted_hours: 48, decided_by: 'root' }))).toBe('Granted 48 h by root')
    expect(decisionSummary(request({ state: 'granted', granted_hours: 10, decided_by: 'root' }))).toBe('Granted 10 h of 48 by root')
    expect(decisionSummary(request({ state: 'refused', decided_by: null }))).toBe('Refused')
  })
})
