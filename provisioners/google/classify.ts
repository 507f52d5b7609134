/**
 * Google's failures → the ProvisionerError family. The Admin SDK answers errors as
 * `{ error: { code, message, errors: [{ domain, reason, message }], status } }`
 * (https://developers.google.com/workspace/admin/directory/v1/limits); the `reason` decides,
 * because Google throttles with a 403 that must not be read as "forbidden".
 */
import { z } from 'zod'
import {
  AuthFailedError,
  DEFAULT_RETRY_AFTER_MS,
  PermanentError,
  RateLimitedError,
  TransientError,
  classifyHttpStatus,
  isProvisionerError,
  parseRetryAfter,
  type ProvisionerError,
  type ProvisionerErrorDetails,
} from '../errors.ts'
import { TokenGrantError } from './auth.ts'

/**
 * Reasons that mean "slow down": 403 userRateLimitExceeded (per-user QPM), 403 quotaExceeded
 * (concurrent requests for an operation), 429 rateLimitExceeded (per customer).
 */
export const RATE_LIMIT_REASONS: ReadonlySet<string> = new Set(['userRateLimitExceeded', 'quotaExceeded', 'rateLimitExceeded'])

export const googleErrorBodySchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    errors: z
      .array(z.object({ domain: z.string().optional(), reason: z.string().optional(), message: z.string().optional() }))
      .optional(),
  }),
})

export interface GoogleErrorInfo {
  status: number | undefined
  reason: string | undefined
  message: string
  retryAfter: string | undefined
  requestId: string | undefined
}

const responseSchema = z.object({
  status: z.number(),
  data: z.unknown().optional(),
  headers: z.unknown().optional(),
})

/**
 * Read a header from a fetch `Headers` (gaxios errors; possibly from another realm, so no
 * instanceof) or the plain record googleapis hands back on success.
 */
export function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined
  if ('get' in headers && typeof headers.get === 'function') {
    const value: unknown = headers.get(name)
    return typeof value === 'string' ? value : undefined
  }
  const value = (headers as Record<string, unknown>)[name.toLowerCase()]
  return typeof value === 'string' ? value : undefined
}

/**
 * Google does not document a request-id response header for the Admin SDK; record one when a
 * front end or proxy adds it (the emulator sends `x-goog-request-id`).
 */
export function requestIdOf(headers: unknown): string | undefined {
  return headerValue(headers, 'x-goog-request-id') ?? headerValue(headers, 'x-request-id')
}

/** Pull status, reason and message out of whatever gaxios threw. */
export function googleErrorInfo(err: unknown): GoogleErrorInfo {
  const response = err && typeof err === 'object' && 'response' in err ? responseSchema.safeParse(err.response) : undefined
  if (!response?.success) {
    const name = err instanceof Error ? err.name : 'Error'
    const timedOut = err instanceof Error && (name === 'TimeoutError' || /timeout|timed out/i.test(err.message))
    return {
      status: undefined,
      reason: timedOut ? 'timeout' : undefined,
      message: timedOut ? 'request timed out' : `no response (${name})`,
      retryAfter: undefined,
      requestId: undefined,
    }
  }
  const { status, data, headers } = response.data
  let body: unknown = data
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data)
    } catch {
      body = undefined
    }
  }
  const parsed = googleErrorBodySchema.safeParse(body)
  const first = parsed.success ? parsed.data.error.errors?.[0] : undefined
  return {
    status,
    reason: first?.reason ?? (parsed.success ? parsed.data.error.status : undefined),
    message: (parsed.success ? parsed.data.error.message : undefined) ?? first?.message ?? `HTTP ${status}`,
    retryAfter: headerValue(headers, 'retry-after'),
    requestId: requestIdOf(headers),
  }
}

/**
 * Classify one failure. The cause kept on the error is a plain summary, never the gaxios error:
 * that one carries the request config, and with it the bearer token.
 */
export function classifyGoogleError(err: unknown, details: { system: string; operation: string }): ProvisionerError {
  if (isProvisionerError(err)) return err
  if (err instanceof TokenGrantError) return classifyTokenError(err, details)
  const info = googleErrorInfo(err)
  const d: ProvisionerErrorDetails = {
    ...details,
    status: info.status,
    vendorCode: info.reason,
    requestId: info.requestId,
    cause: new Error(`${info.status ?? 'no response'} ${info.reason ?? ''}`.trim()),
  }
  const message = `${details.operation}: ${info.message}`
  if (info.status === undefined) return new TransientError(message, d)
  const retryAfterMs = parseRetryAfter(info.retryAfter)
  if (info.status === 429 || (info.status === 403 && info.reason !== undefined && RATE_LIMIT_REASONS.has(info.reason))) {
    return new RateLimitedError(message, retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, d)
  }
  // Only a Retry-After the server actually sent: a 503 with one is RateLimited, without one Transient.
  return classifyHttpStatus(info.status, message, { ...d, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })
}

/**
 * Token endpoint: 400 invalid_grant (bad signature, unknown subject, clock skew) and 401
 * unauthorized_client (scopes not delegated in the Admin console) are configuration problems
 * a retry will not fix; 429/5xx and no response are transient.
 */
function classifyTokenError(err: TokenGrantError, details: { system: string; operation: string }): ProvisionerError {
  const d: ProvisionerErrorDetails = {
    system: details.system,
    operation: 'oauth2.token',
    status: err.status,
    vendorCode: err.oauthError,
    cause: new Error(err.message),
  }
  const message = `${details.operation}: ${err.message}`
  if (err.status === undefined) return new TransientError(message, d)
  if (err.status === 429) return new RateLimitedError(message, parseRetryAfter(err.retryAfter) ?? DEFAULT_RETRY_AFTER_MS, d)
  // A 503 with Retry-After is a wait, like a 429 (provisioners/errors.ts classifyHttpStatus).
  const retryAfterMs = parseRetryAfter(err.retryAfter)
  if (err.status === 503 && retryAfterMs !== undefined) return new RateLimitedError(message, retryAfterMs, d)
  if (err.status >= 500) return new TransientError(message, d)
  if (err.status === 400 || err.status === 401 || err.status === 403) return new AuthFailedError(message, d)
  return new PermanentError(message, d)
}
