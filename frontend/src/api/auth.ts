import { api, type ApiClient } from './client'
import type { ServerInfo, SessionAnswer } from './types'

export function fetchServerInfo(client: ApiClient = api): Promise<ServerInfo> {
  return client.get<ServerInfo>('/info')
}

/** The current session; keeps its CSRF token on the client. Rejects with a 401 ApiError when logged out. */
export async function fetchSession(client: ApiClient = api): Promise<SessionAnswer> {
  const answer = await client.get<SessionAnswer>('/auth/session')
  client.csrfToken = answer.csrf_token
  return answer
}

export async function login(username: string, password: string, client: ApiClient = api): Promise<SessionAnswer> {
  const answer = await client.post<SessionAnswer>('/auth/login', { username, password })
  client.csrfToken = answer.csrf_token
  return answer
}

export async function logout(client: ApiClient = api): Promise<void> {
  try {
    await client.post<void>('/auth/logout')
  } finally {
    client.csrfToken = null
  }
}
