/** The checks and error mapping behind the "Change password" dialog, kept free of Vue. */
import { ApiError } from '../api/client'

export interface PasswordFormValues {
  current: string
  next: string
  repeat: string
}

/** One message per place in the form; `form` is the general one above the fields. */
export interface PasswordFormErrors {
  current?: string
  next?: string
  repeat?: string
  form?: string
}

export const MISMATCH_MESSAGE = 'The two new passwords do not match.'

/** Which form field a server field name (`body.current_password`, …) belongs to. */
const SERVER_FIELDS = new Map<string, 'current' | 'next'>([
  ['current_password', 'current'],
  ['new_password', 'next'],
])

/**
 * Checks made before anything is sent. Lengths and strength are the server's policy, so
 * only emptiness and the repeat are checked here. Empty object: fine to send.
 * `askCurrent: false`: the form has no current password (right after a one-time login).
 */
export function checkPasswordForm(values: PasswordFormValues, askCurrent = true): PasswordFormErrors {
  const errors: PasswordFormErrors = {}
  if (askCurrent && values.current === '') errors.current = 'Enter your current password.'
  if (values.next === '') errors.next = 'Enter a new password.'
  else if (values.repeat !== values.next) errors.repeat = MISMATCH_MESSAGE
  return errors
}

/**
 * Where to show a failed change. A 422 goes next to the field its first detail names
 * (`details[0].field`), anything else above the form. A 401 gives null: the session has
 * ended and the app is already on its way back to the login page.
 */
export function passwordErrorsFrom(error: unknown): PasswordFormErrors | null {
  if (!(error instanceof ApiError)) return { form: error instanceof Error ? error.message : String(error) }
  if (error.status === 401) return null
  if (error.status === 422) {
    const detail = error.details[0]
    const name = detail?.field.split('.').pop() ?? ''
    const field = SERVER_FIELDS.get(name)
    if (detail && field) return { [field]: detail.message || error.message }
  }
  return { form: error.message }
}

export function hasErrors(errors: PasswordFormErrors): boolean {
  return Object.values(errors).some((message) => Boolean(message))
}
