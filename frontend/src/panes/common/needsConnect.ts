/**
 * Errors that the Connect dialog answers: a login to type (409 `login_required`) or a
 * host key to confirm first (`host_key_unknown`). A pane shows {@link LoginRequired} for
 * these instead of an error.
 */
import { ApiError } from '../../api/client'

const CONNECT_CODES = new Set(['login_required', 'host_key_unknown'])

export function needsConnect(error: unknown): boolean {
  return error instanceof ApiError && CONNECT_CODES.has(error.code)
}

/** The sentence for LoginRequired: the server's own for a host key, the default otherwise. */
export function connectMessage(error: ApiError): string | undefined {
  return error.code === 'host_key_unknown' ? error.message : undefined
}
