/**
 * Jira / Atlassian failures → the ProvisionerError family. Decided from jira.js's error types and
 * the HTTP status, never from message text.
 *
 * Jira's error body is an ErrorCollection: `{ "errorMessages": [...], "errors": { field: msg } }`
 * (https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#status-codes). It carries no
 * error codes, so `vendorCode` is the `RateLimit-Reason` of a 429, the first field named in
 * `errors` of a 400, or the SCIM `scimType`.
 */
import { z } from 'zod'
import { isApiError, isNetworkError, isRateLimitError, isSchemaMismatchError } from 'jira.js/core'
import {
  DEFAULT_RETRY_AFTER_MS,
  PermanentError,
  type ProvisionerError,
  RateLimitedError,
  TransientError,
  classifyHttpStatus,
  isProvisionerError,
} from '../errors.ts'
import { ScimHttpError } from './scim.ts'

const errorCollectionSchema = z
  .object({
    errorMessages: z.array(z.string()).optional(),
    errors: z.record(z.string(), z.unknown()).optional(),
    message: z.string().optional(),
  })
  .loose()

/** The human part of a Jira error body, and the first field it names. */
export function readJiraErrorBody(body: unknown): { message: string | undefined; field: string | undefined } {
  if (typeof body === 'string') return { message: body.trim().slice(0, 300) || undefined, field: undefined }
  const parsed = errorCollectionSchema.safeParse(body)
  if (!parsed.success) return { message: undefined, field: undefined }
  const fieldErrors = Object.entries(parsed.data.errors ?? {})
  const parts = [
    ...(parsed.data.errorMessages ?? []),
    ...fieldErrors.map(([field, msg]) => `${field}: ${String(msg)}`),
    ...(parsed.data.message ? [parsed.data.message] : []),
  ]
  return { message: parts.length > 0 ? parts.join('; ') : undefined, field: fieldErrors[0]?.[0] }
}

export interface ClassifyContext {
  system: string
  operation: string
  requestId: string | undefined
  rateLimitReason: string | undefined
  /** Retry-After of the failed response, if it had one (a 503 with it is RateLimited). */
  retryAfterMs?: number | undefined
}

export function classifyJiraError(err: unknown, c: ClassifyContext): ProvisionerError {
  if (isProvisionerError(err)) return err
  const details = { system: c.system, operation: c.operation, requestId: c.requestId, cause: err }

  if (isRateLimitError(err)) {
    // Jira sends Retry-After only with 429s; RateLimit-Reason says which limit (burst, quota, per-issue).
    // https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
    return new RateLimitedError(`${c.operation}: Jira rate limit (${c.rateLimitReason ?? 'no reason given'})`, err.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, {
      ...details,
      status: 429,
      vendorCode: c.rateLimitReason ?? 'rate_limited',
    })
  }
  if (isApiError(err)) {
    const { message, field } = readJiraErrorBody(err.body)
    return classifyHttpStatus(err.status, `${c.operation}: ${err.status} ${message ?? err.statusText}`, {
      ...details,
      ...(field === undefined ? {} : { vendorCode: field }),
      ...(c.retryAfterMs === undefined ? {} : { retryAfterMs: c.retryAfterMs }),
    })
  }
  if (err instanceof ScimHttpError) {
    return classifyHttpStatus(err.status, `${c.operation}: ${err.message}`, {
      ...details,
      ...(err.scimType === undefined ? {} : { vendorCode: err.scimType }),
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    })
  }
  if (isNetworkError(err)) {
    return new TransientError(`${c.operation}: ${err.message}`, { ...details, vendorCode: err.code ?? 'network_error' })
  }
  if (isSchemaMismatchError(err)) {
    return new PermanentError(`${c.operation}: ${err.message}`, { ...details, vendorCode: 'schema_mismatch' })
  }
  // Anything else is a bug on our side; retrying would not change it.
  const message = err instanceof Error ? err.message : String(err)
  return new PermanentError(`${c.operation}: ${message}`, { ...details, vendorCode: 'internal' })
}
