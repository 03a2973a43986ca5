import { API_PREFIX, api, type ApiClient } from './client'
import type { AuthProvider, LoginStep, ServerInfo, SessionAnswer } from './types'

/** What logging in (or answering a step) gives: a session, or further prompts. */
export type LoginAnswer = SessionAnswer | LoginStep

export function isLoginStep(answer: LoginAnswer): answer is LoginStep {
  return 'step' in answer
}

export function fetchServerInfo(client: ApiClient = api): Promise<ServerInfo> {
  return client.get<ServerInfo>('/info')
}

/** The current session; keeps its CSRF token on the client. Rejects with a 401 ApiError when logged out. */
export async function fetchSession(client: ApiClient = api): Promise<SessionAnswer> {
  const answer = await client.get<SessionAnswer>('/auth/session')
  client.csrfToken = answer.csrf_token
  return answer
}

function kept(answer: LoginAnswer, client: ApiClient): LoginAnswer {
  if (!isLoginStep(answer)) client.csrfToken = answer.csrf_token
  return answer
}

/** Log in with the form; a session, or the further prompts a provider asks (a second factor). */
export async function login(username: string, password: string, client: ApiClient = api): Promise<LoginAnswer> {
  return kept(await client.post<LoginAnswer>('/auth/login', { username, password }), client)
}

/** Answer a step's prompts, in order; a session, or the next prompts. */
export async function answerLoginStep(step: string, answers: string[], client: ApiClient = api): Promise<LoginAnswer> {
  return kept(await client.post<LoginAnswer>('/auth/login/step', { step, answers }), client)
}

/** Why the last sign-in at an identity provider failed in this browser (read once), or null. */
export async function fetchSignInError(client: ApiClient = api): Promise<string | null> {
  return (await client.get<{ error: string | null }>('/auth/sign-in-error')).error
}

/**
 * End the session; where the browser goes to sign out at the identity provider the
 * session began with, or null (none: the server answered 204).
 */
export async function logout(client: ApiClient = api): Promise<string | null> {
  try {
    const answer = await client.post<{ logout_url?: string | null } | undefined>('/auth/logout')
    return answer?.logout_url ?? null
  } finally {
    client.csrfToken = null
  }
}

/** Providers that check the login form: those without a kind are, from older servers. */
export function passwordProviders(providers: readonly AuthProvider[]): AuthProvider[] {
  return providers.filter((p) => p.kind !== 'redirect')
}

/** Providers that are a button: the browser goes to the identity provider. */
export function redirectProviders(providers: readonly AuthProvider[]): AuthProvider[] {
  return providers.filter((p) => p.kind === 'redirect')
}

/** Where a provider's button goes (a full page load), coming back to `next`, a path of labgate's. */
export function providerLoginUrl(name: string, next: string): string {
  return `${API_PREFIX}/auth/providers/${encodeURIComponent(name)}/login?next=${encodeURIComponent(next)}`
}
