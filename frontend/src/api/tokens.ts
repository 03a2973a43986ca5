import { api, type ApiClient } from './client'
import type { CreatedToken, Token, TokenScope } from './types'

export interface NewToken {
  name: string
  scopes: TokenScope[]
  /** Days until it expires, or null for a token that does not expire. */
  expires_in_days: number | null
}

export async function listTokens(client: ApiClient = api): Promise<Token[]> {
  const answer = await client.get<{ tokens: Token[] }>('/tokens')
  return answer.tokens
}

export function createToken(request: NewToken, client: ApiClient = api): Promise<CreatedToken> {
  return client.post<CreatedToken>('/tokens', request)
}

export function revokeToken(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`/tokens/${encodeURIComponent(String(id))}`)
}
