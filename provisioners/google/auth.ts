/**
 * Service-account authentication with domain-wide delegation: the OAuth 2.0 JWT bearer grant
 * (RFC 7523, `urn:ietf:params:oauth:grant-type:jwt-bearer`) against a configurable token URL,
 * plugged into googleapis through its `auth` option.
 *
 * Why not google-auth-library's `JWT` client: its token request goes through gtoken, which
 * hard-codes `https://oauth2.googleapis.com/token` both as the URL it posts to and as the JWT
 * `aud` claim (google-auth-library 11.x, build/src/gtoken/getToken.js and jwsSign.js), so it
 * cannot be pointed at the emulator without rewriting URLs in an interceptor. gtoken also turns
 * on gaxios retries for the token POST (`retryConfig.httpMethodsToRetry: ['POST']`), and the
 * job layer owns retries. Instead this module performs the grant itself and feeds the result to a
 * plain `OAuth2Client` through its documented `refreshHandler` hook (called whenever the client
 * has no token or its token is within the eager-refresh window). An `OAuth2Client` is what
 * googleapis' `auth` option is typed for, and it never re-sends a failed request on its own
 * while the credentials carry an `expiry_date` (oauth2client.js `requestAsync`), so a 401 or a
 * throttled 403 comes back to the provisioner untouched.
 *
 * The assertion follows https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests:
 * RS256, `iss` = service account, `sub` = impersonated admin, `scope` space-separated,
 * `aud` = token URL, `exp` ≤ `iat` + 1 h.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { OAuth2Client, type Credentials } from 'google-auth-library'
import { z } from 'zod'
import type { Secret } from '../../src/config/secret.ts'

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

/** Refresh this long before expiry, like google-auth-library's eager refresh (5 min). */
const EAGER_REFRESH_MS = 5 * 60_000

/** What one token request did, for the caller's audit record. Never holds the token. */
export interface TokenCallRecord {
  status: number | undefined
  durationMs: number
  /** OAuth error code (`invalid_grant`, `unauthorized_client`) when the grant failed. */
  error?: string
}

/** The token endpoint refused or did not answer. `status` undefined: no response arrived. */
export class TokenGrantError extends Error {
  readonly status: number | undefined
  readonly oauthError: string | undefined
  readonly retryAfter: string | undefined
  constructor(message: string, status: number | undefined, oauthError?: string, retryAfter?: string) {
    super(message)
    this.name = 'TokenGrantError'
    this.status = status
    this.oauthError = oauthError
    this.retryAfter = retryAfter
  }
}

export interface JwtBearerOptions {
  clientEmail: string
  privateKey: Secret
  privateKeyId?: string
  /** The admin to impersonate (`sub`). */
  subject: string
  scopes: string[]
  tokenUrl: string
  timeoutMs: number
  now?: () => number
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  token_type: z.string().optional(),
})
const tokenErrorSchema = z.object({ error: z.string(), error_description: z.string().optional() })

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url')
}

/** Read a PEM from config; keys pasted into env vars often carry literal `\n` sequences. */
export function loadPrivateKey(secret: Secret): KeyObject {
  const pem = secret.reveal().replace(/\\n/g, '\n')
  try {
    return createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    // The parser's message can quote key material; say only what is wrong.
    throw new Error(`google.serviceAccount.privateKey (${secret.source}) is not a PEM private key`)
  }
}

export class JwtBearerClient {
  /** Pass this to googleapis as `auth`. */
  readonly client: OAuth2Client
  readonly #key: KeyObject
  readonly #opts: JwtBearerOptions
  readonly #now: () => number
  #inflight: Promise<Credentials> | undefined

  constructor(opts: JwtBearerOptions) {
    this.#opts = opts
    this.#key = loadPrivateKey(opts.privateKey)
    this.#now = opts.now ?? Date.now
    // useAuthRequestParameters:false drops AuthClient's default interceptors, whose debug
    // logging (GOOGLE_SDK_NODE_LOGGING) prints request headers, bearer token included.
    // Node's own fetch for API calls made through this client (see provisioner.ts: node-fetch's abort).
    this.client = new OAuth2Client({
      useAuthRequestParameters: false,
      eagerRefreshThresholdMillis: EAGER_REFRESH_MS,
      transporterOptions: { fetchImplementation: fetch },
    })
    this.client.refreshHandler = async () => {
      const credentials = await this.#shared()
      return { access_token: credentials.access_token ?? '', expiry_date: credentials.expiry_date ?? 0 }
    }
  }

  /** The signed assertion for one grant. */
  assertion(): string {
    const iat = Math.floor(this.#now() / 1000)
    const header: Record<string, string> = { alg: 'RS256', typ: 'JWT' }
    if (this.#opts.privateKeyId) header.kid = this.#opts.privateKeyId
    const claims = {
      iss: this.#opts.clientEmail,
      sub: this.#opts.subject,
      scope: this.#opts.scopes.join(' '),
      aud: this.#opts.tokenUrl,
      iat,
      exp: iat + 3600,
    }
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
    return `${input}.${base64url(sign('sha256', Buffer.from(input), this.#key))}`
  }

  /** True when a token is cached and not inside the eager-refresh window. */
  hasFreshToken(): boolean {
    const { access_token: token, expiry_date: expiry } = this.client.credentials
    return Boolean(token) && typeof expiry === 'number' && expiry - EAGER_REFRESH_MS > this.#now()
  }

  /** The cached token, to invalidate exactly that one after a 401. */
  currentToken(): string | undefined {
    return this.client.credentials.access_token ?? undefined
  }

  /** Forget a token the API rejected, so the next call fetches a new one. */
  invalidate(token?: string): void {
    if (token === undefined || this.client.credentials.access_token === token) this.client.setCredentials({})
  }

  /**
   * Make sure a fresh token is cached before a call. Concurrent callers share one grant; only
   * the caller that started it gets `observe` (one HTTP call, one audit record).
   */
  async ensureToken(observe?: (record: TokenCallRecord) => void): Promise<void> {
    if (this.hasFreshToken()) return
    this.client.setCredentials(await this.#shared(observe))
  }

  #shared(observe?: (record: TokenCallRecord) => void): Promise<Credentials> {
    if (!this.#inflight) {
      this.#inflight = this.#grant(observe).finally(() => {
        this.#inflight = undefined
      })
    }
    return this.#inflight
  }

  async #grant(observe?: (record: TokenCallRecord) => void): Promise<Credentials> {
    const started = performance.now()
    const body = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion: this.assertion() })
    let res: Response
    try {
      // Not tied to one job's AbortSignal: the grant is shared by every concurrent caller.
      res = await fetch(this.#opts.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      })
    } catch (err) {
      observe?.({ status: undefined, durationMs: performance.now() - started, error: 'no_response' })
      const reason = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'failed'
      throw new TokenGrantError(`token request ${reason}`, undefined)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    const durationMs = performance.now() - started
    if (!res.ok) {
      const parsed = tokenErrorSchema.safeParse(json)
      const error = parsed.success ? parsed.data.error : undefined
      observe?.({ status: res.status, durationMs, error: error ?? `http_${res.status}` })
      const description = parsed.success ? (parsed.data.error_description ?? parsed.data.error) : `HTTP ${res.status}`
      throw new TokenGrantError(
        `token endpoint refused the grant: ${description}`,
        res.status,
        error,
        res.headers.get('retry-after') ?? undefined,
      )
    }
    const parsed = tokenResponseSchema.safeParse(json)
    if (!parsed.success) {
      observe?.({ status: res.status, durationMs, error: 'invalid_response' })
      throw new TokenGrantError('token endpoint answered without an access_token', res.status, 'invalid_response')
    }
    observe?.({ status: res.status, durationMs })
    return {
      access_token: parsed.data.access_token,
      token_type: 'Bearer',
      expiry_date: this.#now() + parsed.data.expires_in * 1000,
    }
  }
}
