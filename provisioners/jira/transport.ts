/**
 * The transport under jira.js's endpoint functions.
 *
 * jira.js 6 composes a client from two parts: endpoint functions (`getUser(client, params)`, loaded
 * from jira.js's endpoint modules by ./endpoints.ts; they build the path, query and body and carry
 * the response schema) and a `Client` whose `sendRequest` moves bytes. Its own `createClient`
 * cannot take an AbortSignal or expose response headers (it calls the global fetch with neither; see
 * node_modules/jira.js/src/core/createClient.ts), and Tenure needs both: every call must stop when
 * the job is cancelled or the configured timeout passes, and every call's Atlassian request id and
 * `RateLimit-Reason` belong in the audit trail. So this module implements the SDK's public
 * `Client` interface with fetch plus a signal, and raises the SDK's own error classes
 * (`RateLimitError` with `retryAfterMs`, `AuthError`, `ForbiddenError`, `NotFoundError`,
 * `ServerError`, `ApiError` with `status` and the parsed `body`, `NetworkError`), so the
 * classifier is written against jira.js's error contract exactly as with its built-in transport.
 *
 * There is no retry loop here at all (the SDK's is opt-in and off by default, `maxAttempts: 1`):
 * the job layer owns retries.
 */
import {
  ApiError,
  AuthError,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  RateLimitError,
  ServerError,
  type Client,
  type SendRequestOptions,
} from 'jira.js/core'
import type { Logger } from '../../src/log.ts'
import type { Secret } from '../../src/config/secret.ts'
import { parseRetryAfter } from '../errors.ts'

/** What one request looked like on the wire; filled in as the request goes out and comes back. */
export interface CallMeta {
  method: string
  /** Path without the query string (the query may carry account ids and emails). */
  path: string
  status: number | undefined
  /** Atlassian's request id: X-AREQUESTID on Jira, falling back to ATL-Request-Id / ATL-TraceId. */
  requestId: string | undefined
  /** `RateLimit-Reason` on a 429: jira-burst-based, jira-quota-tenant-based, ... */
  rateLimitReason: string | undefined
  /** Retry-After of the response in ms (jira.js keeps it only on 429s; a 503 may carry one too). */
  retryAfterMs?: number | undefined
}

export function emptyMeta(): CallMeta {
  return { method: '', path: '', status: undefined, requestId: undefined, rateLimitReason: undefined }
}

export function atlassianRequestId(headers: Headers): string | undefined {
  return headers.get('x-arequestid') ?? headers.get('atl-request-id') ?? headers.get('atl-traceid') ?? undefined
}

export interface JiraTransportOptions {
  /** Bare site URL, e.g. https://acme.atlassian.net. */
  host: string
  email: string
  apiToken: Secret
  timeoutMs: number
}

export interface JiraTransport {
  /** A jira.js `Client` bound to one call: its signal, and the record to fill. */
  client(signal: AbortSignal, meta: CallMeta, log: Logger): Client
}

/** Same query encoding as jira.js's own transport: arrays repeat the key, null/undefined are left out. */
function buildUrl(host: string, path: string, searchParams: Record<string, unknown> | undefined): URL {
  const url = new URL(host.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`))
  for (const [key, value] of Object.entries(searchParams ?? {})) {
    if (value === undefined || value === null) continue
    if (Array.isArray(value)) {
      for (const item of value) if (item !== undefined && item !== null) url.searchParams.append(key, String(item))
    } else if (typeof value === 'object') {
      url.searchParams.set(key, JSON.stringify(value))
    } else {
      url.searchParams.set(key, String(value as string | number | boolean))
    }
  }
  return url
}

/** Abort when the caller's signal does, or when the timeout passes; remembers which one it was. */
export function deadline(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean } {
  const timeout = AbortSignal.timeout(timeoutMs)
  return { signal: AbortSignal.any([signal, timeout]), timedOut: () => timeout.aborted && !signal.aborted }
}

/** Wrap what fetch rejected with into jira.js's NetworkError (always retryable for the job layer). */
export function networkError(err: unknown, what: string, timedOut: boolean, timeoutMs: number): NetworkError {
  if (timedOut) {
    return new NetworkError(`${what} timed out after ${timeoutMs} ms`, { cause: err, code: 'ETIMEDOUT', transient: true })
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new NetworkError(`${what} was cancelled`, { cause: err, code: 'ABORT_ERR', transient: true })
  }
  let code: string | undefined
  let cursor: unknown = err
  for (let depth = 0; cursor instanceof Error && depth < 5 && code === undefined; depth += 1) {
    code = (cursor as Error & { code?: string }).code
    cursor = cursor.cause
  }
  const reason = err instanceof Error ? err.message : String(err)
  return new NetworkError(`${what} failed: ${reason}${code ? ` (${code})` : ''}`, {
    cause: err,
    ...(code === undefined ? {} : { code }),
    transient: true,
  })
}

/** The error class jira.js's own transport raises for this status (src/core/errors/fromResponse.ts). */
function apiError(status: number, statusText: string, text: string, body: unknown, headers: Headers): ApiError {
  const message = `Request failed: ${status} ${statusText}${text ? ` - ${text.slice(0, 500)}` : ''}`
  if (status === 401) return new AuthError(message, statusText, body)
  if (status === 403) return new ForbiddenError(message, statusText, body)
  if (status === 404) return new NotFoundError(message, statusText, body)
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'))
    return new RateLimitError(message, statusText, body, retryAfterMs === undefined ? {} : { retryAfterMs })
  }
  if (status >= 500) return new ServerError(message, status, statusText, body)
  return new ApiError(message, status, statusText, body)
}

export function createJiraTransport(options: JiraTransportOptions): JiraTransport {
  const { host, timeoutMs } = options
  // Basic auth with email:API-token, UTF-8 before base64 like jira.js (a credential may hold non-ASCII).
  // https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/
  const basic = () => `Basic ${Buffer.from(`${options.email}:${options.apiToken.reveal()}`, 'utf8').toString('base64')}`

  async function send<T>(request: SendRequestOptions<T>, signal: AbortSignal, meta: CallMeta, log: Logger): Promise<T> {
    const method = request.method ?? 'GET'
    const url = buildUrl(host, request.url, request.searchParams)
    meta.method = method
    meta.path = url.pathname
    const hasBody = request.body !== undefined && request.body !== null
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: basic() }
    // jira.js declares JSON on every method that may carry a body, even an empty DELETE: some Jira
    // endpoints answer a body-less DELETE without it with 415.
    if (hasBody || (method !== 'GET' && method !== 'HEAD')) headers['Content-Type'] = 'application/json'

    const limit = deadline(signal, timeoutMs)
    let response: Response
    let text: string
    try {
      response = await fetch(url, {
        method,
        headers,
        body: hasBody ? JSON.stringify(request.body) : undefined,
        signal: limit.signal,
      })
      meta.status = response.status
      meta.requestId = atlassianRequestId(response.headers)
      meta.rateLimitReason = response.headers.get('ratelimit-reason') ?? undefined
      meta.retryAfterMs = parseRetryAfter(response.headers.get('retry-after'))
      text = await response.text()
    } catch (err) {
      throw networkError(err, `${method} ${url.pathname}`, limit.timedOut(), timeoutMs)
    }

    const isJson = (response.headers.get('content-type') ?? '').includes('json')
    let body: unknown = text === '' ? undefined : text
    if (isJson && text !== '') {
      try {
        body = JSON.parse(text) as unknown
      } catch {
        body = text
      }
    }
    if (!response.ok) throw apiError(response.status, response.statusText, text, body, response.headers)
    if (response.status === 204 || body === undefined) return undefined as T

    if (request.schema) {
      const parsed = request.schema.safeParse(body)
      if (parsed.success) return parsed.data
      // Like jira.js's default 'warn': a schema that lags behind Jira must not fail a revocation.
      // Field paths only, never values (they can be personal data).
      log.warn(
        { endpoint: `${method} ${url.pathname}`, issues: parsed.error.issues.map((i) => i.path.join('.')).slice(0, 10) },
        'jira response did not match the jira.js schema; using it unvalidated',
      )
    }
    return body as T
  }

  return {
    client(signal, meta, log) {
      return { sendRequest: <T>(request: SendRequestOptions<T>) => send(request, signal, meta, log) }
    },
  }
}
