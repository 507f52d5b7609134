/**
 * App-only access tokens for Microsoft Graph: the OAuth 2.0 client-credentials grant against
 * `{authorityHost}/{tenantId}/oauth2/v2.0/token`
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
 *
 * One token is cached per provisioner and shared by every job until shortly before it expires:
 * Entra throttles apps that ask for a token per call (429, Retry-After: 60), and MSAL's guidance
 * is to reuse a token while more than 5 minutes remain. Concurrent callers share one in-flight
 * request. No retries here: a failed token request is classified and the job layer retries.
 */
import { performance } from 'node:perf_hooks'
import { z } from 'zod'
import type { Secret } from '../../src/config/secret.ts'
import {
  AuthFailedError,
  parseRetryAfter,
  PermanentError,
  type ProvisionerError,
  RateLimitedError,
  TransientError,
} from '../errors.ts'
import type { Ctx } from '../types.ts'
import { abortError, raceSignal } from '../abort.ts'

/** Refresh this long before expiry (MSAL refreshes client-credential tokens with < 5 min left). */
const REFRESH_MARGIN_MS = 5 * 60_000
/** Entra answers a throttled token request with Retry-After: 60; assume that when it is missing. */
const TOKEN_RETRY_AFTER_MS = 60_000

const tokenResponseSchema = z.object({
  token_type: z.string(),
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
})

/** The identity platform's error body (AADSTS codes live in error_codes / error_description). */
const tokenErrorSchema = z.object({
  error: z.string(),
  error_description: z.string().optional(),
  error_codes: z.array(z.number()).optional(),
  trace_id: z.string().optional(),
  correlation_id: z.string().optional(),
})

export interface TokenSourceOptions {
  system: string
  authorityHost: string
  tenantId: string
  clientId: string
  clientSecret: Secret
  scope: string
  timeoutMs: number
  now?: () => number
}

export class ClientCredentialsTokenSource {
  readonly #opts: TokenSourceOptions
  readonly #now: () => number
  #cached: { token: string; refreshAt: number } | undefined
  #inflight: Promise<string> | undefined

  constructor(opts: TokenSourceOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
  }

  get tokenPath(): string {
    return `/${encodeURIComponent(this.#opts.tenantId)}/oauth2/v2.0/token`
  }

  /** A valid token, from the cache when it has enough life left. */
  async get(ctx: Ctx): Promise<string> {
    const cached = this.#cached
    if (cached && cached.refreshAt > this.#now()) return cached.token
    if (ctx.signal.aborted) throw abortError(ctx.signal)
    if (!this.#inflight) {
      const inflight = this.#request(ctx).finally(() => {
        this.#inflight = undefined
      })
      // Waiters that gave up (their job was cancelled) no longer listen; the outcome is still
      // delivered to those that do, so an unobserved rejection here is not an error.
      inflight.catch(() => {})
      this.#inflight = inflight
    }
    return raceSignal(this.#inflight, ctx.signal)
  }

  /** Drop `token` after Graph rejected it (expired or revoked early), so the next get() fetches anew. */
  invalidate(token: string): void {
    if (this.#cached?.token === token) this.#cached = undefined
  }

  async #request(ctx: Ctx): Promise<string> {
    const opts = this.#opts
    const operation = 'POST /oauth2/v2.0/token'
    const path = this.tokenPath
    await ctx.throttle('token')
    const started = performance.now()
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: opts.clientId,
      client_secret: opts.clientSecret.reveal(),
      scope: opts.scope,
    })
    let response: Response
    try {
      // Only the timeout aborts this request: it is shared by every waiting job, so one job's
      // cancellation must not fail the others (each caller races its own signal in get()).
      response = await fetch(new URL(path, ensureTrailingSlash(opts.authorityHost)), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'error',
      })
    } catch (err) {
      const error = new TransientError(
        isTimeout(err) ? `token request timed out after ${opts.timeoutMs} ms` : `token request failed: ${errMessage(err)}`,
        { system: opts.system, operation, cause: err },
      )
      ctx.recordCall(record(operation, path, undefined, undefined, started, error))
      throw error
    }
    const requestId = response.headers.get('x-ms-request-id') ?? undefined
    let json: unknown
    try {
      json = await response.json()
    } catch (err) {
      json = undefined
      if (response.ok) {
        const error = new TransientError(`token response was not JSON: ${errMessage(err)}`, {
          system: opts.system,
          operation,
          status: response.status,
          requestId,
          cause: err,
        })
        ctx.recordCall(record(operation, path, response.status, requestId, started, error))
        throw error
      }
    }
    if (!response.ok) {
      const error = classifyTokenError(response, json, requestId, opts.system, operation)
      ctx.recordCall(record(operation, path, response.status, requestId, started, error))
      throw error
    }
    const parsed = tokenResponseSchema.safeParse(json)
    if (!parsed.success) {
      const error = new PermanentError(`token response has an unexpected shape: ${parsed.error.message}`, {
        system: opts.system,
        operation,
        status: response.status,
        requestId,
      })
      ctx.recordCall(record(operation, path, response.status, requestId, started, error))
      throw error
    }
    ctx.recordCall(record(operation, path, response.status, requestId, started))
    const lifetimeMs = parsed.data.expires_in * 1000
    const margin = Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2)
    this.#cached = { token: parsed.data.access_token, refreshAt: this.#now() + lifetimeMs - margin }
    ctx.log.debug({ system: opts.system, expiresInS: parsed.data.expires_in }, 'entra: access token acquired')
    return parsed.data.access_token
  }
}

function classifyTokenError(
  response: Response,
  json: unknown,
  requestId: string | undefined,
  system: string,
  operation: string,
): ProvisionerError {
  const parsed = tokenErrorSchema.safeParse(json)
  const vendorCode = parsed.success ? parsed.data.error : undefined
  // error_description repeats trace/correlation ids and a timestamp on further lines; the first
  // line ("AADSTS7000215: Invalid client secret provided. ...") is the useful part.
  const description = parsed.success ? (parsed.data.error_description ?? '').split(/\r?\n/)[0] : ''
  const message = `token request failed with ${response.status}${vendorCode ? ` ${vendorCode}` : ''}${description ? `: ${description}` : ''}`
  const details = {
    system,
    operation,
    status: response.status,
    vendorCode,
    requestId: requestId ?? (parsed.success ? parsed.data.trace_id : undefined),
  }
  if (response.status === 429) {
    return new RateLimitedError(message, parseRetryAfter(response.headers.get('retry-after')) ?? TOKEN_RETRY_AFTER_MS, details)
  }
  // A 503 that says when to come back is a wait, like a 429 (provisioners/errors.ts classifyHttpStatus).
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'))
  if (response.status === 503 && retryAfterMs !== undefined) return new RateLimitedError(message, retryAfterMs, details)
  if (response.status >= 500 || response.status === 408) return new TransientError(message, details)
  // invalid_client (wrong or expired secret), unauthorized_client (unknown app), invalid_request
  // (unknown tenant), invalid_scope: all mean the credentials or config need a human.
  return new AuthFailedError(message, details)
}

function record(
  operation: string,
  path: string,
  status: number | undefined,
  requestId: string | undefined,
  started: number,
  error?: ProvisionerError,
) {
  return {
    operation,
    method: 'POST',
    path,
    status,
    requestId,
    durationMs: Math.round(performance.now() - started),
    ...(error ? { errorKind: error.kind } : {}),
  }
}

function ensureTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
}

function errMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message
  }
  return String(err)
}
