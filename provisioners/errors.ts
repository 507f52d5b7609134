/**
 * One error family for every target system. A provisioner *classifies* what the vendor said;
 * it never sleeps or retries. The job layer (src/jobs/) owns retries, backoff and rate-limit
 * waits, and decides from `kind` alone, never from message strings.
 */
export type ProvisionerErrorKind =
  | 'RateLimited'
  | 'NotFound'
  | 'Conflict'
  | 'AuthFailed'
  | 'Permanent'
  | 'Transient'

export interface ProvisionerErrorDetails {
  system: string
  /** What the provisioner was doing, e.g. `users.insert` or `PATCH /users/{id}`. */
  operation?: string
  /** HTTP status of the vendor response, when there was one. */
  status?: number
  /** The vendor's own error code (`userRateLimitExceeded`, `Request_ResourceNotFound`, `users_not_found`). */
  vendorCode?: string
  /** The vendor's request id, kept as evidence (`request-id`, `x-request-id`, `x-slack-req-id`). */
  requestId?: string
  cause?: unknown
}

export class ProvisionerError extends Error {
  readonly kind: ProvisionerErrorKind
  readonly system: string
  readonly operation: string | undefined
  readonly status: number | undefined
  readonly vendorCode: string | undefined
  readonly requestId: string | undefined

  constructor(kind: ProvisionerErrorKind, message: string, details: ProvisionerErrorDetails) {
    super(message, { cause: details.cause })
    this.name = `${kind}Error`
    this.kind = kind
    this.system = details.system
    this.operation = details.operation
    this.status = details.status
    this.vendorCode = details.vendorCode
    this.requestId = details.requestId
  }

  /** A safe, secret-free summary for logs, audit rows and API responses. */
  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      message: this.message,
      system: this.system,
      operation: this.operation,
      status: this.status,
      vendorCode: this.vendorCode,
      requestId: this.requestId,
    }
  }
}

export class RateLimitedError extends ProvisionerError {
  /** How long the vendor asked us to wait (Retry-After), or our estimate when it sent none. */
  readonly retryAfterMs: number
  constructor(message: string, retryAfterMs: number, details: ProvisionerErrorDetails) {
    super('RateLimited', message, details)
    this.retryAfterMs = retryAfterMs
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs }
  }
}

export class NotFoundError extends ProvisionerError {
  constructor(message: string, details: ProvisionerErrorDetails) {
    super('NotFound', message, details)
  }
}

export class ConflictError extends ProvisionerError {
  constructor(message: string, details: ProvisionerErrorDetails) {
    super('Conflict', message, details)
  }
}

export class AuthFailedError extends ProvisionerError {
  constructor(message: string, details: ProvisionerErrorDetails) {
    super('AuthFailed', message, details)
  }
}

export class PermanentError extends ProvisionerError {
  constructor(message: string, details: ProvisionerErrorDetails) {
    super('Permanent', message, details)
  }
}

export class TransientError extends ProvisionerError {
  constructor(message: string, details: ProvisionerErrorDetails) {
    super('Transient', message, details)
  }
}

export function isProvisionerError(err: unknown): err is ProvisionerError {
  return err instanceof ProvisionerError
}

/** Default wait when a vendor throttles without a Retry-After header. */
export const DEFAULT_RETRY_AFTER_MS = 5_000

/**
 * Parse an HTTP Retry-After value (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) into
 * milliseconds. Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value === '') return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/**
 * Classify by HTTP status where the vendor gives nothing more specific. Provisioners call this
 * after handling their vendor's special cases (Google's throttled 403, Slack's `ok: false`), and
 * pass `retryAfterMs` whenever the response carried a Retry-After, whatever the status: a 429 or
 * a 503 with one becomes RateLimited with that wait.
 */
export function classifyHttpStatus(
  status: number | undefined,
  message: string,
  details: ProvisionerErrorDetails & { retryAfterMs?: number },
): ProvisionerError {
  const d = { ...details, status }
  if (status === undefined) return new TransientError(message, d) // network error, timeout, reset
  if (status === 429) return new RateLimitedError(message, details.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, d)
  // A 503 with Retry-After is the server saying when to come back (RFC 9110 §15.6.4, §10.2.3):
  // a rate limit in all but name. RateLimited lets the job layer re-queue after that wait without
  // burning an attempt; a 503 without Retry-After stays Transient (backoff, counted attempts).
  if (status === 503 && details.retryAfterMs !== undefined) return new RateLimitedError(message, details.retryAfterMs, d)
  if (status === 401) return new AuthFailedError(message, d)
  if (status === 403) return new AuthFailedError(message, d)
  if (status === 404 || status === 410) return new NotFoundError(message, d)
  if (status === 409 || status === 412) return new ConflictError(message, d)
  // 501 Not Implemented will not change on retry (the server lacks the feature).
  if (status === 501) return new PermanentError(message, d)
  if (status === 408 || status >= 500) return new TransientError(message, d)
  return new PermanentError(message, d)
}

/**
 * A cross-process lock (TargetLock) that stayed taken by other jobs for longer than the holder
 * may wait: the job should come back later rather than hold its run (and its pg-boss attempt,
 * which expires) while it queues.
 */
export class TargetLockBusyError extends Error {
  readonly waitedMs: number
  /** When to come back: about as long again as it waited. */
  readonly retryAfterMs: number
  constructor(key: string, waitedMs: number, retryAfterMs: number) {
    super(`lock ${key} stayed taken for ${Math.round(waitedMs / 1000)} s`)
    this.name = 'TargetLockBusyError'
    this.waitedMs = waitedMs
    this.retryAfterMs = retryAfterMs
  }
}

/**
 * The error for a TargetLock that could not be held. Busy (other jobs hold it): RateLimited, so
 * the job layer hands the job back after a wait without spending an attempt, as for a vendor's
 * rate limit. Anything else (the database unreachable): Transient, nothing was read or written.
 */
export function lockFailure(err: unknown, what: string, details: ProvisionerErrorDetails): ProvisionerError {
  if (err instanceof TargetLockBusyError) return new RateLimitedError(`${what}: busy in other jobs (${err.message})`, err.retryAfterMs, { ...details, cause: err })
  return new TransientError(`${what}: the cross-process lock could not be taken or released`, { ...details, cause: err })
}
