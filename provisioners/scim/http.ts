/**
 * The HTTP side of a generic SCIM app: the transport the SCIM core client
 * (provisioners/scim-core/client.ts) sends through. There is no official SCIM SDK for Node, so
 * this is a thin fetch wrapper that does what an SDK would: authenticate (static bearer or OAuth
 * client credentials with a cached token), pace (`ctx.throttle`), record every call
 * (`ctx.recordCall`), enforce the timeout together with `ctx.signal`, and classify every failure
 * into the ProvisionerError family. It never sleeps and never retries on its own, with one
 * exception: a 401 answered to a cached OAuth token is replayed once with a fresh token, which is
 * what the vendor SDKs' auth middlewares do and costs the job layer nothing to reason about.
 * Requests, bodies and reading answers are the core's; this file only moves bytes.
 */
import {
  AuthFailedError,
  classifyHttpStatus,
  DEFAULT_RETRY_AFTER_MS,
  PermanentError,
  type ProvisionerError,
  RateLimitedError,
  TransientError,
  parseRetryAfter,
  type ProvisionerErrorDetails,
} from '../errors.ts'
import { vendorCall } from '../kit/call.ts'
import type { Ctx } from '../types.ts'
import type { ScimAppConfig } from './config.ts'
import { readScimError, type ScimHttpRequest, type ScimHttpResponse } from '../scim-core/client.ts'
import { canonicalKeys } from '../scim-core/schemas.ts'
import { z } from 'zod'

export type ScimBucket = 'read' | 'write' | 'requests' | 'token'

/** RFC 7644 servers put the code in scimType and read keys case-insensitively (RFC 7643 §2.1). */
const RFC_ERRORS = { errorCode: 'scimType', caseInsensitiveKeys: true } as const

const tokenResponseSchema = z
  .object({
    access_token: z.string().min(1),
    token_type: z.string().optional(),
    expires_in: z.coerce.number().positive().optional(),
  })
  .loose()

const oauthErrorSchema = z.object({ error: z.string().optional(), error_description: z.string().optional() }).loose()

/** Refresh this long before the server says the token expires, so a request never races expiry. */
const TOKEN_EXPIRY_SKEW_MS = 60_000

export class ScimHttp {
  readonly system: string
  private readonly config: ScimAppConfig
  private readonly now: () => number
  private token: { value: string; expiresAt: number } | undefined
  private tokenInFlight: Promise<string> | undefined

  constructor(config: ScimAppConfig, system: string, now: () => number = Date.now) {
    this.config = config
    this.system = system
    this.now = now
  }

  /**
   * Send one SCIM request through the shared wrapper (../kit/call.ts); throws a ProvisionerError
   * for anything but 2xx. A cached OAuth token the server no longer accepts (revoked, server
   * restarted, clock skew) is dropped and the request replayed once with a new one; a fresh token
   * that is refused is a real AuthFailed.
   */
  async request(ctx: Ctx, req: ScimHttpRequest): Promise<ScimHttpResponse> {
    const url = new URL(this.config.baseUrl.replace(/\/+$/, '') + req.path)
    for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value))
    const details: ProvisionerErrorDetails = { system: this.system, operation: req.operation }
    const bucket: ScimBucket = req.method === 'GET' ? 'read' : 'write'
    return vendorCall(ctx, {
      operation: req.operation,
      method: req.method,
      path: new URL(this.config.baseUrl).pathname.replace(/\/+$/, '') + req.path,
      // The kind's own bucket (paces only when configured), then the app-wide one (provisioner.ts rateLimitBuckets).
      buckets: [bucket, 'requests'],
      timeoutMs: this.config.timeoutMs,
      credential: async () => {
        const cached = this.config.auth.type === 'oauth_client_credentials' && this.token !== undefined
        return { authorization: await this.authorization(ctx), cached }
      },
      send: async ({ signal, facts, credential }) => {
        const response = await fetch(url, {
          method: req.method,
          headers: { ...req.headers, authorization: credential.authorization },
          body: req.body === undefined ? undefined : JSON.stringify(req.body),
          signal,
          redirect: 'error',
        })
        const requestId = this.requestId(response.headers)
        facts.status = response.status
        facts.requestId = requestId
        let text: string
        try {
          text = await response.text()
        } catch (cause) {
          throw networkError(cause, { ...details, requestId, status: response.status }, this.config.timeoutMs)
        }
        if (!response.ok) throw this.classify(response, text, { ...details, requestId })
        let raw: unknown
        if (text.trim() !== '') {
          try {
            raw = JSON.parse(text)
          } catch (cause) {
            throw new PermanentError(`${req.operation}: the app answered ${response.status} with a body that is not JSON`, {
              ...details,
              status: response.status,
              requestId,
              cause,
            })
          }
        }
        const etag = response.headers.get('etag') ?? undefined
        return { status: response.status, body: raw, etag, requestId }
      },
      classify: (cause) => networkError(cause, details, this.config.timeoutMs),
      refused: (err, credential) => {
        if (!credential.cached || !(err instanceof AuthFailedError) || err.status !== 401) return false
        this.token = undefined
        return true
      },
    })
  }

  private signal(ctx: Ctx): AbortSignal {
    return AbortSignal.any([ctx.signal, AbortSignal.timeout(this.config.timeoutMs)])
  }

  private requestId(headers: Headers): string | undefined {
    for (const name of this.config.requestIdHeaders) {
      const value = headers.get(name)
      if (value) return value
    }
    return undefined
  }

  /** RFC 7644 §3.12 error body: `{ schemas, status: "409", scimType, detail }`. */
  private classify(response: Response, text: string, details: ProvisionerErrorDetails): ProvisionerError {
    let parsedBody: unknown
    try {
      parsedBody = JSON.parse(text)
    } catch {
      parsedBody = undefined
    }
    const { scimType, detail } = readScimError(RFC_ERRORS, parsedBody)
    const status = response.status
    const message = `${details.operation}: ${status}${scimType ? ` ${scimType}` : ''}${detail ? `: ${detail}` : ''}`
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.now())
    const d = { ...details, status, vendorCode: scimType, cause: parsedBody === undefined ? text.slice(0, 500) : canonicalKeys(parsedBody) }
    if (status === 429) return new RateLimitedError(message, retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, d)
    // 501 (RFC 7644 §3.12: "does not support the request operation, e.g., PATCH") and 405 mean
    // the quirks do not match the app; retrying cannot help, unlike other 5xx.
    if (status === 501 || status === 405) {
      return new PermanentError(`${message} (the app does not support this operation; check quirks.updateMethod / groupMembership)`, d)
    }
    if (status === 400 && scimType === 'invalidFilter') {
      return new PermanentError(`${message} (set quirks.filterSupported=false if the app has no filter support)`, d)
    }
    // A 503 with Retry-After (RFC 7644 §3.12 lists 503 among the errors; RFC 9110 §10.2.3 lets it
    // say when to come back) becomes RateLimited with that wait.
    return classifyHttpStatus(status, message, { ...d, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })
  }

  private async authorization(ctx: Ctx): Promise<string> {
    const auth = this.config.auth
    if (auth.type === 'bearer') return `Bearer ${auth.token.reveal()}`
    if (this.token && this.token.expiresAt > this.now()) return `Bearer ${this.token.value}`
    // Concurrent jobs share one token request instead of stampeding the token endpoint.
    this.tokenInFlight ??= this.fetchToken(ctx).finally(() => {
      this.tokenInFlight = undefined
    })
    return `Bearer ${await this.tokenInFlight}`
  }

  private async fetchToken(ctx: Ctx): Promise<string> {
    const auth = this.config.auth
    if (auth.type !== 'oauth_client_credentials') throw new Error('fetchToken without OAuth config')
    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (auth.scope) form.set('scope', auth.scope)
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    }
    if (auth.clientAuth === 'client_secret_basic') {
      // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
      const basic = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret.reveal())}`
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`
    } else {
      form.set('client_id', auth.clientId)
      form.set('client_secret', auth.clientSecret.reveal())
    }
    const operation = 'oauth.token'
    const path = new URL(auth.tokenUrl).pathname
    const details: ProvisionerErrorDetails = { system: this.system, operation }
    await ctx.throttle('token')
    const started = performance.now()
    const record = (status: number | undefined, requestId: string | undefined, errorKind?: string) =>
      ctx.recordCall({
        operation,
        method: 'POST',
        path,
        status,
        requestId,
        durationMs: Math.round(performance.now() - started),
        ...(errorKind ? { errorKind } : {}),
      })
    let response: Response
    let text: string
    try {
      response = await fetch(auth.tokenUrl, {
        method: 'POST',
        headers,
        body: form.toString(),
        signal: this.signal(ctx),
        redirect: 'error',
      })
      text = await response.text()
    } catch (cause) {
      const err = networkError(cause, details, this.config.timeoutMs)
      record(undefined, undefined, err.kind)
      throw err
    }
    const requestId = this.requestId(response.headers)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!response.ok) {
      const oauthError = oauthErrorSchema.safeParse(json)
      const code = oauthError.success ? oauthError.data.error : undefined
      const message = `${operation}: ${response.status}${code ? ` ${code}` : ''}`
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.now())
      const d = { ...details, requestId, status: response.status, vendorCode: code, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }
      // RFC 6749 §5.2: invalid_client / unauthorized_client / invalid_grant / invalid_scope are
      // credential or registration problems: AuthFailed, whatever status the server chose.
      const err =
        response.status === 429
          ? new RateLimitedError(message, retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, d)
          : code && ['invalid_client', 'unauthorized_client', 'invalid_grant', 'invalid_scope'].includes(code)
            ? new AuthFailedError(message, d)
            : classifyHttpStatus(response.status, message, d)
      record(response.status, requestId, err.kind)
      throw err
    }
    const token = tokenResponseSchema.safeParse(json)
    if (!token.success) {
      const err = new PermanentError(`${operation}: the token endpoint answered without an access_token`, {
        ...details,
        requestId,
        status: response.status,
      })
      record(response.status, requestId, err.kind)
      throw err
    }
    record(response.status, requestId)
    const lifetimeMs = (token.data.expires_in ?? 3600) * 1000
    this.token = {
      value: token.data.access_token,
      expiresAt: this.now() + Math.max(lifetimeMs - TOKEN_EXPIRY_SKEW_MS, lifetimeMs / 2),
    }
    return token.data.access_token
  }
}

function networkError(cause: unknown, details: ProvisionerErrorDetails, timeoutMs: number): ProvisionerError {
  const name = cause instanceof Error ? cause.name : ''
  const message =
    name === 'TimeoutError'
      ? `${details.operation}: no answer within ${timeoutMs} ms`
      : name === 'AbortError'
        ? `${details.operation}: cancelled`
        : `${details.operation}: network error: ${cause instanceof Error ? cause.message : String(cause)}`
  return new TransientError(message, { ...details, cause })
}
