/**
 * The one HTTP path every HR API client uses: fetch with a timeout, credentials, zod-validated
 * responses, and failures classified into the ProvisionerError family so the job layer's single
 * retry policy covers HR reads too (`system` = `hr:<source>`). Clients never sleep or retry.
 */
import { z } from 'zod'
import {
  AuthFailedError,
  classifyHttpStatus,
  parseRetryAfter,
  PermanentError,
  TransientError,
} from '../../provisioners/errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { HrCredentials, HrSource } from './types.ts'

export interface RequestOptions<S extends z.ZodType> {
  /** Names the call in errors and logs, e.g. `employees.get`. */
  operation: string
  method?: 'GET' | 'POST'
  /** Absolute URL, or a path appended to the base URL. */
  path: string
  query?: Record<string, string | number | boolean | undefined>
  json?: unknown
  headers?: Record<string, string>
  schema: S
  /** Return undefined instead of throwing NotFound on 404. */
  allowNotFound?: boolean
  signal?: AbortSignal
}

export interface HttpResponse<T> {
  data: T
  headers: Headers
}

/** Supplies the Authorization header; OAuth variants fetch and cache tokens. */
export interface AuthProvider {
  header(http: VendorHttp, signal?: AbortSignal): Promise<string>
  /** Forget a cached token after the API rejected it. */
  invalidate(): void
}

export interface VendorHttpOptions {
  source: HrSource
  baseUrl: string
  auth: AuthProvider
  timeoutMs: number
  headers?: Record<string, string>
  fetch?: typeof fetch
  log?: Logger
  now?: () => number
}

export class VendorHttp {
  readonly source: HrSource
  readonly baseUrl: string
  readonly system: string
  readonly now: () => number
  private readonly auth: AuthProvider
  private readonly timeoutMs: number
  private readonly defaultHeaders: Record<string, string>
  private readonly fetchImpl: typeof fetch
  private readonly log: Logger

  constructor(options: VendorHttpOptions) {
    this.source = options.source
    this.system = `hr:${options.source}`
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.auth = options.auth
    this.timeoutMs = options.timeoutMs
    this.defaultHeaders = options.headers ?? {}
    this.fetchImpl = options.fetch ?? fetch
    this.log = options.log ?? silentLogger
    this.now = options.now ?? Date.now
  }

  url(path: string, query?: RequestOptions<z.ZodType>['query']): URL {
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(this.baseUrl + (path.startsWith('/') ? path : `/${path}`))
    // Absolute URLs come from vendor responses (Personio's next links): never follow one to
    // another host with our credentials attached.
    if (url.origin !== new URL(this.baseUrl).origin)
      throw new PermanentError(`${this.system}: refusing to call ${url.origin}, which is not the configured API origin`, {
        system: this.system,
        vendorCode: 'foreign_origin',
      })
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    return url
  }

  async request<S extends z.ZodType>(opts: RequestOptions<S> & { allowNotFound: true }): Promise<HttpResponse<z.output<S>> | undefined>
  async request<S extends z.ZodType>(opts: RequestOptions<S>): Promise<HttpResponse<z.output<S>>>
  async request<S extends z.ZodType>(opts: RequestOptions<S>): Promise<HttpResponse<z.output<S>> | undefined> {
    const url = this.url(opts.path, opts.query)
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...this.defaultHeaders,
      ...opts.headers,
      authorization: await this.auth.header(this, opts.signal),
    }
    let body: string | undefined
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.json)
    }
    const res = await this.send(opts.operation, url, { method: opts.method ?? 'GET', headers, body }, opts.signal)
    if (res.status === 404 && opts.allowNotFound) {
      await res.body?.cancel()
      return undefined
    }
    if (!res.ok) {
      if (res.status === 401) this.auth.invalidate()
      throw await this.httpError(opts.operation, res)
    }
    return { data: await this.decode(opts.operation, res, opts.schema), headers: res.headers }
  }

  /** A raw POST used by the OAuth providers (form body, no Authorization from this.auth). */
  async postForm<S extends z.ZodType>(
    operation: string,
    url: string,
    form: Record<string, string>,
    schema: S,
    extraHeaders: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    const res = await this.send(
      operation,
      new URL(url),
      {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', ...extraHeaders },
        body: new URLSearchParams(form).toString(),
      },
      signal,
    )
    if (!res.ok) {
      // A token endpoint answers 400 invalid_client / invalid_grant for bad credentials (RFC 6749 §5.2).
      if (res.status === 400 || res.status === 401) {
        const text = await safeText(res)
        throw new AuthFailedError(`${this.system} ${operation}: token request rejected (${res.status})`, {
          system: this.system,
          operation,
          status: res.status,
          vendorCode: vendorCode(text),
        })
      }
      throw await this.httpError(operation, res)
    }
    return this.decode(operation, res, schema)
  }

  private async send(operation: string, url: URL, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
    const started = this.now()
    try {
      const res = await this.fetchImpl(url, { ...init, signal: combined, redirect: 'error' })
      this.log.debug({ system: this.system, operation, status: res.status, durationMs: this.now() - started }, 'hr api call')
      return res
    } catch (err) {
      const timedOut = timeout.aborted && !(signal?.aborted ?? false)
      this.log.debug({ system: this.system, operation, durationMs: this.now() - started, timedOut }, 'hr api call failed')
      throw new TransientError(
        `${this.system} ${operation}: ${timedOut ? `no response within ${this.timeoutMs} ms` : (err as Error).message}`,
        { system: this.system, operation, cause: err },
      )
    }
  }

  private async httpError(operation: string, res: Response): Promise<Error> {
    const text = await safeText(res)
    return classifyHttpStatus(res.status, `${this.system} ${operation}: HTTP ${res.status}`, {
      system: this.system,
      operation,
      vendorCode: vendorCode(text),
      requestId: res.headers.get('x-request-id') ?? res.headers.get('request-id') ?? undefined,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), this.now()),
    })
  }

  private async decode<S extends z.ZodType>(operation: string, res: Response, schema: S): Promise<z.output<S>> {
    let json: unknown
    try {
      json = await res.json()
    } catch (err) {
      throw new PermanentError(`${this.system} ${operation}: response is not JSON`, { system: this.system, operation, status: res.status, cause: err })
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      // A vendor response we cannot read will not become readable on retry: Permanent, and the
      // path says which field changed shape.
      throw new PermanentError(
        `${this.system} ${operation}: unexpected response shape at ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? ''}`,
        { system: this.system, operation, status: res.status, vendorCode: 'invalid_response', cause: parsed.error },
      )
    }
    return parsed.data
  }
}

async function safeText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 2000)
  } catch {
    return ''
  }
}

/** The vendor's error code, when the body is JSON with a conventional code field. */
function vendorCode(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Record<string, unknown>
    for (const key of ['error', 'code', 'error_code', 'errorCode', 'type']) {
      const v = body[key]
      if (typeof v === 'string' && v.length <= 100) return v
    }
  } catch {}
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Credentials

export function basicAuth(username: string, password: string): AuthProvider {
  const value = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  return { header: async () => value, invalidate: () => {} }
}

export function bearerAuth(token: string): AuthProvider {
  const value = `Bearer ${token}`
  return { header: async () => value, invalidate: () => {} }
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
})

/**
 * OAuth access tokens fetched on demand and cached until shortly before expiry. Concurrent
 * callers share one in-flight token request.
 */
export function oauthAuth(grant: {
  tokenUrl: string
  form: Record<string, string>
  /** Client authentication in a Basic header (RFC 6749 §2.3.1) rather than in the form. */
  basicClient?: { id: string; secret: string }
}): AuthProvider {
  let cached: { token: string; expiresAt: number } | undefined
  let inflight: Promise<string> | undefined
  return {
    async header(http, signal) {
      if (cached && cached.expiresAt > http.now()) return `Bearer ${cached.token}`
      inflight ??= (async () => {
        try {
          const extra: Record<string, string> = grant.basicClient
            ? { authorization: `Basic ${Buffer.from(`${grant.basicClient.id}:${grant.basicClient.secret}`).toString('base64')}` }
            : {}
          const body = await http.postForm('oauth.token', grant.tokenUrl, grant.form, tokenResponseSchema, extra, signal)
          // Refresh a minute early so a token never expires between the check and the call.
          const lifetimeMs = Math.max(0, ((body.expires_in ?? 3600) - 60) * 1000)
          cached = { token: body.access_token, expiresAt: http.now() + lifetimeMs }
          return body.access_token
        } finally {
          inflight = undefined
        }
      })()
      return `Bearer ${await inflight}`
    },
    invalidate() {
      cached = undefined
    },
  }
}

/** Build the AuthProvider for configured credentials; `defaultTokenUrl` for vendors with a fixed endpoint. */
export function authFromCredentials(credentials: HrCredentials, defaultTokenUrl?: string): AuthProvider {
  switch (credentials.type) {
    case 'api_key':
      // BambooHR: "the API key is the username and any random string (e.g. x) the password".
      return basicAuth(credentials.apiKey.reveal(), 'x')
    case 'basic':
      return basicAuth(credentials.username, credentials.password.reveal())
    case 'bearer':
      return bearerAuth(credentials.token.reveal())
    case 'oauth_client_credentials': {
      const tokenUrl = credentials.tokenUrl ?? defaultTokenUrl
      if (!tokenUrl) throw new Error('oauth_client_credentials needs a tokenUrl for this source')
      return oauthAuth({
        tokenUrl,
        form: {
          grant_type: 'client_credentials',
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret.reveal(),
          ...(credentials.scope ? { scope: credentials.scope } : {}),
        },
      })
    }
    case 'oauth_refresh_token':
      return oauthAuth({
        tokenUrl: credentials.tokenUrl,
        form: { grant_type: 'refresh_token', refresh_token: credentials.refreshToken.reveal() },
        basicClient: { id: credentials.clientId, secret: credentials.clientSecret.reveal() },
      })
  }
}
