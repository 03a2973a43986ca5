import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import { asksForCode, loginErrorMessage, promptInput, promptLabel, providerNames, returnPath, stepStillHeld } from './loginForm'

describe('the login page wording', () => {
  it('names the password providers for "Log in with your ..."', () => {
    expect(providerNames([])).toBe('labgate account')
    expect(providerNames([{ name: 'local', label: 'labgate account' }])).toBe('labgate account')
    expect(
      providerNames([
        { name: 'ldap', label: 'University account', kind: 'password' },
        { name: 'local', label: 'labgate account', kind: 'password' },
      ]),
    ).toBe('University account or labgate account')
    expect(
      providerNames([
        { name: 'pam', label: 'Cluster account' },
        { name: 'ldap', label: 'University account' },
        { name: 'local', label: 'labgate account' },
        { name: 'other', label: 'labgate account' },
      ]),
    ).toBe('Cluster account, University account or labgate account')
  })

  it('asks a prompt in the provider words, hidden unless it may show, offering received codes', () => {
    expect(promptLabel({ text: 'Verification code: ', echo: false })).toBe('Verification code')
    expect(promptLabel({ text: '  ', echo: false })).toBe('Answer')
    expect(promptInput({ text: 'Verification code:', echo: false })).toEqual({ type: 'password', autocomplete: 'one-time-code' })
    expect(promptInput({ text: 'One-time password (OTP):', echo: true })).toEqual({ type: 'text', autocomplete: 'one-time-code' })
    expect(promptInput({ text: 'New password:', echo: false })).toEqual({ type: 'password', autocomplete: 'off' })
    expect(asksForCode({ text: 'Enter PIN for token', echo: false })).toBe(true)
    expect(asksForCode({ text: 'Password:', echo: false })).toBe(false)
  })

  it('says what went wrong in sentences', () => {
    expect(loginErrorMessage(new ApiError(401, 'invalid_credentials', 'Wrong user name or password.'))).toBe(
      'Wrong user name or password.',
    )
    expect(loginErrorMessage(new ApiError(429, 'rate_limited', 'Too many failed logins.', [], 30))).toBe(
      'Too many failed attempts. Try again in 30 seconds.',
    )
    expect(loginErrorMessage(new ApiError(429, 'rate_limited', 'Too many failed logins.', [], 1))).toBe(
      'Too many failed attempts. Try again in 1 second.',
    )
    expect(loginErrorMessage(new ApiError(429, 'rate_limited', 'Too many failed logins.'))).toBe('Too many failed logins.')
    expect(loginErrorMessage(new Error('boom'))).toBe('Something went wrong while logging in. Please try again.')
  })

  it('keeps a step only when the answers never reached the server', () => {
    expect(stepStillHeld(new ApiError(0, 'network_error', 'Could not reach the labgate server.'))).toBe(true)
    expect(stepStillHeld(new ApiError(401, 'sign_in_refused', 'Wrong code.'))).toBe(false)
    expect(stepStillHeld(new ApiError(409, 'login_step_expired', 'Start again.'))).toBe(false)
  })

  it('comes back to the page it was on, never elsewhere', () => {
    expect(returnPath('/workspace')).toBe('/workspace')
    expect(returnPath('/login')).toBe('/')
    expect(returnPath('//evil.example/x')).toBe('/')
    expect(returnPath('')).toBe('/')
  })
})
