/**
 * The login page's wording and rules, apart from the page: what its subtitle says, how
 * a provider's further prompt is asked, and what a failure tells the person.
 */
import { ApiError } from '../api/client'
import type { AuthProvider, LoginPrompt } from '../api/types'

/** "University account or labgate account", for "Log in with your ...". */
export function providerNames(providers: readonly AuthProvider[]): string {
  const labels = [...new Set(providers.map((p) => p.label.trim()).filter(Boolean))]
  if (labels.length === 0) return 'labgate account'
  if (labels.length === 1) return labels[0]!
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`
}

/** A prompt as a field's label: the provider's words, without PAM's trailing colon. */
export function promptLabel(prompt: LoginPrompt): string {
  const text = prompt.text.trim().replace(/\s*:$/, '')
  return text === '' ? 'Answer' : text
}

const CODE_WORDS = /\b(code|otp|one[- ]?time|token|verification|verify|2fa|two[- ]factor|second factor|pin|passcode)\b/i

/** A prompt that asks for a one-time code (browsers offer the code they received). */
export function asksForCode(prompt: LoginPrompt): boolean {
  return CODE_WORDS.test(prompt.text)
}

/** The input for a prompt: hidden unless the provider says it may show, and its autocomplete hint. */
export function promptInput(prompt: LoginPrompt): { type: 'text' | 'password'; autocomplete: string } {
  return {
    type: prompt.echo ? 'text' : 'password',
    autocomplete: asksForCode(prompt) ? 'one-time-code' : 'off',
  }
}

/** The step was held too long, or on another server: the person starts again. */
export const STEP_EXPIRED = 'login_step_expired'

/** What to tell the person for a failed login, a failed step or a failed provider sign-in. */
export function loginErrorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 429) {
      const wait = err.retryAfter
      if (wait === null) return err.message
      return `Too many failed attempts. Try again in ${wait} ${wait === 1 ? 'second' : 'seconds'}.`
    }
    return err.message
  }
  return 'Something went wrong while logging in. Please try again.'
}

/** Whether answering a step failed in a way that leaves the step usable (nothing reached the server). */
export function stepStillHeld(err: unknown): boolean {
  return err instanceof ApiError && err.status === 0
}

/** The labgate path to come back to after signing in at an identity provider. */
export function returnPath(pathname: string): string {
  if (pathname === '/login' || !pathname.startsWith('/') || pathname.startsWith('//')) return '/'
  return pathname
}
