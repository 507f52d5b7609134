/**
 * Turning Slack's two error dialects into the ProvisionerError family.
 *
 * Web API: logical errors come back as HTTP 200 `{ ok: false, error: 'users_not_found' }`
 * (https://docs.slack.dev/apis/web-api/#errors); only rate limits (429 + Retry-After) and outages
 * use HTTP status codes. @slack/web-api turns these into WebAPIPlatformError / WebAPIRateLimitedError /
 * WebAPIHTTPError / WebAPIRequestError. The error *string* is the contract, so it is mapped here.
 *
 * SCIM: proper HTTP statuses. v2 bodies follow RFC 7644 with Slack's code in `detail`
 * (`{ schemas: [...Error], detail: 'email_taken', status: 409 }`); v1 bodies are
 * `{ Errors: { description, code } }` (both shapes: https://docs.slack.dev/reference/scim-api#errors).
 * Slack has no "throttled 403": quota errors are always 429.
 */
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
} from '@slack/web-api'
import { readScimError } from '../scim-core/client.ts'
import { SLACK_DIALECT } from '../scim-core/dialect.ts'
import {
  AuthFailedError,
  ConflictError,
  DEFAULT_RETRY_AFTER_MS,
  NotFoundError,
  PermanentError,
  ProvisionerError,
  RateLimitedError,
  TransientError,
  classifyHttpStatus,
  parseRetryAfter,
  type ProvisionerErrorDetails,
} from '../errors.ts'

/** Web API error strings by kind; anything not listed is Permanent (a request Slack will never accept). */
const WEB_AUTH_ERRORS = new Set([
  'not_authed',
  'invalid_auth',
  'token_expired',
  'token_revoked',
  'account_inactive',
  'missing_scope',
  'not_allowed_token_type',
  'no_permission',
  'permission_denied',
  'access_denied',
  'not_an_admin',
  'ekm_access_denied',
  'team_access_not_granted',
  'two_factor_setup_required',
  'restricted_action',
  'accesslimited',
])
const WEB_RATE_LIMIT_ERRORS = new Set(['ratelimited', 'rate_limited'])
const WEB_TRANSIENT_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'team_added_to_org',
  'org_login_required',
  'user_session_reset_failed',
])
const WEB_NOT_FOUND_ERRORS = new Set([
  'channel_not_found',
  'user_not_found',
  'users_not_found',
  'no_such_subteam',
  'subteam_not_found',
])
const WEB_CONFLICT_ERRORS = new Set(['name_taken', 'already_in_channel'])

export interface CallFacts {
  /** HTTP status of the last response, when one arrived. */
  status: number | undefined
  requestId: string | undefined
  /** Retry-After of the last response, in ms. */
  retryAfterMs: number | undefined
}

export function classifyWebApiError(
  err: unknown,
  facts: CallFacts,
  details: ProvisionerErrorDetails & { operation: string },
  timeoutMs: number,
): ProvisionerError {
  if (err instanceof ProvisionerError) return err
  const d = { ...details, requestId: facts.requestId, cause: err }
  const op = details.operation
  if (err instanceof WebAPIRateLimitedError) {
    return new RateLimitedError(`${op}: Slack rate limit, retry after ${err.retryAfter}s`, err.retryAfter * 1000, {
      ...d,
      status: 429,
      vendorCode: 'ratelimited',
    })
  }
  if (err instanceof WebAPIPlatformError) {
    const code = err.data.error
    return classifyWebApiCode(code, `${op}: Slack answered ${code}`, { ...d, status: facts.status, vendorCode: code })
  }
  if (err instanceof WebAPIHTTPError) {
    const requestId = err.headers['x-slack-req-id'] ?? facts.requestId
    const retryAfterMs = parseRetryAfter(err.headers['retry-after']) ?? facts.retryAfterMs
    return classifyHttpStatus(err.statusCode, `${op}: HTTP ${err.statusCode} ${err.statusMessage}`, {
      ...d,
      requestId,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    })
  }
  if (err instanceof WebAPIRequestError) {
    const original = err.original
    const timedOut = original.name === 'TimeoutError'
    const message = timedOut ? `${op}: no answer within ${timeoutMs} ms` : `${op}: request failed (${original.name}: ${original.message})`
    return new TransientError(message, { ...d, status: facts.status })
  }
  // @slack/web-api throws a plain Error for a 429 whose Retry-After it cannot parse.
  if (facts.status === 429) {
    return new RateLimitedError(`${op}: Slack rate limit without a usable Retry-After`, facts.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, {
      ...d,
      status: 429,
      vendorCode: 'ratelimited',
    })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new TransientError(`${op}: ${message}`, { ...d, status: facts.status })
}

export function classifyWebApiCode(code: string, message: string, d: ProvisionerErrorDetails): ProvisionerError {
  if (WEB_RATE_LIMIT_ERRORS.has(code)) return new RateLimitedError(message, DEFAULT_RETRY_AFTER_MS, d)
  if (WEB_AUTH_ERRORS.has(code)) return new AuthFailedError(message, d)
  if (WEB_TRANSIENT_ERRORS.has(code)) return new TransientError(message, d)
  if (WEB_NOT_FOUND_ERRORS.has(code)) return new NotFoundError(message, d)
  if (WEB_CONFLICT_ERRORS.has(code)) return new ConflictError(message, d)
  return new PermanentError(message, d)
}

/** Slack's code from a SCIM error body (`detail` in v2, `Errors.description` in v1), read by the SCIM core. */
export function scimErrorCode(body: unknown): string | undefined {
  return readScimError(SLACK_DIALECT, body).code
}

export function classifyScimResponse(
  status: number,
  body: unknown,
  facts: CallFacts,
  details: ProvisionerErrorDetails & { operation: string },
): ProvisionerError {
  const code = scimErrorCode(body)
  const message = `${details.operation}: HTTP ${status}${code ? ` ${code}` : ''}`
  return classifyHttpStatus(status, message, {
    ...details,
    requestId: facts.requestId,
    ...(code === undefined ? {} : { vendorCode: code }),
    ...(facts.retryAfterMs === undefined ? {} : { retryAfterMs: facts.retryAfterMs }),
  })
}

export function classifyNetworkError(
  err: unknown,
  details: ProvisionerErrorDetails & { operation: string },
  timeoutMs: number,
): ProvisionerError {
  const name = err instanceof Error ? err.name : 'Error'
  const message =
    name === 'TimeoutError'
      ? `${details.operation}: no answer within ${timeoutMs} ms`
      : `${details.operation}: request failed (${name}: ${err instanceof Error ? err.message : String(err)})`
  return new TransientError(message, { ...details, cause: err })
}
