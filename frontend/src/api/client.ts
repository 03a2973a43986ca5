/**
 * A typed wrapper around `fetch` for labgate's JSON API (see docs/api-contract.md).
 *
 * - JSON in and out, cookies sent with `credentials: 'same-origin'`.
 * - `X-CSRF-Token` on every unsafe method, once a token is known.
 * - Every failure becomes an {@link ApiError} built from the error envelope.
 * - A 401 from any call but login reports "session ended" through `onUnauthorized`.
 * - A 403 `password_change_required` (the user still has a one-time password) is
 *   reported through `onPasswordChangeRequired`.
 */

export const API_PREFIX = '/api/v1'

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Paths whose 401 means "wrong password" (or code), not "your session ended". */
const PATHS_WITHOUT_SESSION = new Set(['/auth/login', '/auth/login/step'])

/** The 403 code for "replace your one-time password first". */
export const PASSWORD_CHANGE_REQUIRED = 'password_change_required'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface ErrorDetail {
  field: string
  message: string
}

/** A failed API call: the HTTP status plus the server's error envelope. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: ErrorDetail[]
  /** Seconds to wait before retrying (from `Retry-After`), or null. */
  readonly retryAfter: number | null

  constructor(
    status: number,
    code: string,
    message: string,
    details: ErrorDetail[] = [],
    retryAfter: number | null = null,
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
    this.retryAfter = retryAfter
  }

  /** The server's message per body field (`{title: '...'}` for `body.title`), for a form. */
  fieldProblems(): Record<string, string> {
    return Object.fromEntries(this.details.map((d) => [d.field.replace(/^body\./, ''), d.message]))
  }

  /** The messages the server gave for one field, e.g. `detailsFor('editor.font_size')`. */
  detailsFor(fieldSuffix: string): string[] {
    return this.details
      .filter((d) => d.field === fieldSuffix || d.field.endsWith(`.${fieldSuffix}`))
      .map((d) => d.message)
  }
}

export interface RequestOptions {
  /** JSON-serialisable body. */
  body?: unknown
  /** Let the request outlive the page (used to flush state on `pagehide`). */
  keepalive?: boolean
  signal?: AbortSignal
}

export interface ApiClientOptions {
  baseUrl?: string
  fetch?: typeof fetch
}

/**
 * Parse a `Retry-After` header: either delay-seconds or an HTTP date.
 * Returns whole seconds (at least 0), or null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return null
  return Math.max(0, Math.ceil((at - now) / 1000))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseDetails(value: unknown): ErrorDetail[] {
  if (!Array.isArray(value)) return []
  return value.filter(isRecord).map((d) => ({
    field: typeof d.field === 'string' ? d.field : '',
    message: typeof d.message === 'string' ? d.message : String(d.message ?? ''),
  }))
}

/** Build an {@link ApiError} from a non-2xx response, whatever its body holds. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'))
  let payload: unknown = null
  try {
    payload = await response.json()
  } catch {
    // Not JSON (a proxy's HTML error page, an empty body): fall through to a generic error.
  }
  const envelope = isRecord(payload) ? payload.error : undefined
  if (isRecord(envelope) && typeof envelope.code === 'string') {
    const message =
      typeof envelope.message === 'string' && envelope.message !== ''
        ? envelope.message
        : genericMessage(response.status)
    return new ApiError(response.status, envelope.code, message, parseDetails(envelope.details), retryAfter)
  }
  return new ApiError(response.status, `http_${response.status}`, genericMessage(response.status), [], retryAfter)
}

function genericMessage(status: number): string {
  if (status >= 500) return `The server had a problem (HTTP ${status}). Try again in a moment.`
  return `The request failed (HTTP ${status}).`
}

export class ApiClient {
  /** The CSRF token from login or the session answer; sent on unsafe methods. */
  csrfToken: string | null = null
  /** Called for a 401 on any call except login: the session has ended. */
  onUnauthorized: ((error: ApiError) => void) | null = null
  /** Called for a 403 `password_change_required`: the user must replace a one-time password. */
  onPasswordChangeRequired: ((error: ApiError) => void) | null = null

  private readonly baseUrl: string
  private readonly fetchImpl: typeof fetch | undefined

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? API_PREFIX
    this.fetchImpl = options.fetch
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, options)
  }

  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...options, body })
  }

  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...options, body })
  }

  patch<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...options, body })
  }

  delete<T = void>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, options)
  }

  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const init: RequestInit = { method, headers, credentials: 'same-origin' }
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      init.body = JSON.stringify(options.body)
    }
    if (UNSAFE_METHODS.has(method) && this.csrfToken) {
      headers['X-CSRF-Token'] = this.csrfToken
    }
    if (options.keepalive) init.keepalive = true
    if (options.signal) init.signal = options.signal

    // Resolve fetch at call time so tests (and polyfills) can replace the global.
    const doFetch = this.fetchImpl ?? globalThis.fetch.bind(globalThis)
    let response: Response
    try {
      response = await doFetch(this.baseUrl + path, init)
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause
      throw new ApiError(
        0,
        'network_error',
        'Could not reach the labgate server. Check your connection and try again.',
      )
    }

    if (!response.ok) {
      const error = await errorFromResponse(response)
      if (error.status === 401 && !PATHS_WITHOUT_SESSION.has(path)) {
        this.onUnauthorized?.(error)
      } else if (error.status === 403 && error.code === PASSWORD_CHANGE_REQUIRED) {
        this.onPasswordChangeRequired?.(error)
      }
      throw error
    }
    if (response.status === 204 || response.status === 205) return undefined as T
    const text = await response.text()
    return (text === '' ? undefined : JSON.parse(text)) as T
  }
}

/** The client the app uses. Tests build their own. */
export const api = new ApiClient()
