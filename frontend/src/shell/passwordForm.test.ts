import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import { MISMATCH_MESSAGE, checkPasswordForm, hasErrors, passwordErrorsFrom } from './passwordForm'

describe('checkPasswordForm', () => {
  it('accepts a filled form whose new passwords match', () => {
    const errors = checkPasswordForm({ current: 'old one', next: 'new one here', repeat: 'new one here' })
    expect(errors).toEqual({})
    expect(hasErrors(errors)).toBe(false)
  })

  it('reports new passwords that differ under the repeat field', () => {
    const errors = checkPasswordForm({ current: 'old one', next: 'new one here', repeat: 'new one her' })
    expect(errors).toEqual({ repeat: MISMATCH_MESSAGE })
    expect(hasErrors(errors)).toBe(true)
  })

  it('compares exactly: case and surrounding spaces count', () => {
    expect(checkPasswordForm({ current: 'x', next: 'Secret pass', repeat: 'secret pass' }).repeat).toBe(MISMATCH_MESSAGE)
    expect(checkPasswordForm({ current: 'x', next: 'secret pass ', repeat: 'secret pass' }).repeat).toBe(MISMATCH_MESSAGE)
  })

  it('asks for missing passwords instead of sending them', () => {
    expect(checkPasswordForm({ current: '', next: '', repeat: '' })).toEqual({
      current: 'Enter your current password.',
      next: 'Enter a new password.',
    })
    expect(checkPasswordForm({ current: 'old', next: '', repeat: 'typed here only' })).toEqual({
      next: 'Enter a new password.',
    })
  })

  it('does not ask for a current password the form does not show', () => {
    expect(checkPasswordForm({ current: '', next: 'new one here', repeat: 'new one here' }, false)).toEqual({})
    expect(checkPasswordForm({ current: '', next: '', repeat: '' }, false)).toEqual({ next: 'Enter a new password.' })
  })

  it('leaves length and strength to the server', () => {
    expect(checkPasswordForm({ current: 'a', next: 'b', repeat: 'b' })).toEqual({})
  })
})

describe('passwordErrorsFrom', () => {
  const invalid = (field: string, message: string, details = [{ field, message }]) =>
    new ApiError(422, 'validation_error', message, details)

  it('puts a wrong current password next to the current field', () => {
    const error = invalid('body.current_password', 'The current password is wrong.')
    expect(passwordErrorsFrom(error)).toEqual({ current: 'The current password is wrong.' })
  })

  it('puts a refused new password next to the new field', () => {
    const error = invalid('body.new_password', 'Passwords need at least 10 characters.')
    expect(passwordErrorsFrom(error)).toEqual({ next: 'Passwords need at least 10 characters.' })
  })

  it('uses the first detail only', () => {
    const error = new ApiError(422, 'validation_error', 'The request is not valid.', [
      { field: 'body.new_password', message: 'too short' },
      { field: 'body.current_password', message: 'missing' },
    ])
    expect(passwordErrorsFrom(error)).toEqual({ next: 'too short' })
  })

  it('falls back to the envelope message when the detail has none', () => {
    const error = new ApiError(422, 'validation_error', 'The current password is wrong.', [
      { field: 'body.current_password', message: '' },
    ])
    expect(passwordErrorsFrom(error)).toEqual({ current: 'The current password is wrong.' })
  })

  it('shows a 422 about another field, or without details, above the form', () => {
    expect(passwordErrorsFrom(invalid('body', 'Unknown field "x".'))).toEqual({ form: 'Unknown field "x".' })
    expect(passwordErrorsFrom(invalid('', 'The request is not valid.', []))).toEqual({
      form: 'The request is not valid.',
    })
  })

  it('shows other failures above the form', () => {
    expect(passwordErrorsFrom(new ApiError(403, 'csrf_failed', 'Reload the page.'))).toEqual({ form: 'Reload the page.' })
    expect(passwordErrorsFrom(new ApiError(0, 'network_error', 'Could not reach the server.'))).toEqual({
      form: 'Could not reach the server.',
    })
    expect(passwordErrorsFrom(new TypeError('boom'))).toEqual({ form: 'boom' })
  })

  it('shows nothing for a 401: the app is already going back to the login page', () => {
    expect(passwordErrorsFrom(new ApiError(401, 'not_authenticated', 'Log in first.'))).toBeNull()
  })
})
