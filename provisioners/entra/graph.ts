/**
 * One place where Tenure talks to Microsoft Graph: the official SDK
 * (@microsoft/microsoft-graph-client 3.0.7) with a middleware chain we build ourselves, plus the
 * per-call discipline every provisioner follows (throttle → call → recordCall → classify).
 *
 * Why a custom chain instead of `Client.initWithMiddleware({ authProvider })`:
 * - The default chain contains RetryHandler (3 retries, honours Retry-After, sleeps inside the
 *   request). Tenure's job layer owns retries and rate-limit waits, so the chain here is
 *   BearerAuthHandler → RedirectHandler → HTTPMessageHandler, with no RetryHandler.
 * - The SDK's AuthenticationHandler only attaches the token when the URL is a Graph host or a
 *   `customHosts` entry, and it recognises both only for `https://` URLs
 *   (GraphRequestUtil.isValidEndpoint strips "https://" and returns false otherwise). The emulator
 *   listens on http://127.0.0.1, so BearerAuthHandler applies the same host gate to https URLs
 *   and, for loopback hosts only, to http URLs. The token still never goes to any other host,
 *   and RedirectHandler drops it on a redirect to another authority.
 */
import { randomUUID } from 'node:crypto'
import {
  Client,
  GraphClientError,
  GraphError,
  type GraphRequest,
  HTTPMessageHandler,
  type Context,
  type Middleware,
  type MiddlewareOptions,
  RedirectHandler,
  RedirectHandlerOptions,
} from '@microsoft/microsoft-graph-client'
import {
  AuthFailedError,
  classifyHttpStatus,
  ConflictError,
  DEFAULT_RETRY_AFTER_MS,
  isProvisionerError,
  parseRetryAfter,
  PermanentError,
  type ProvisionerError,
  TransientError,
} from '../errors.ts'
import { vendorCall } from '../kit/call.ts'
import type { Ctx } from '../types.ts'
import { isLoopbackHost } from './config.ts'
import { graphRequestCost } from './limits.ts'
import type { ClientCredentialsTokenSource } from './token.ts'

export const GRAPH_VERSION = 'v1.0'

/**
 * Microsoft Graph's own hosts (national clouds included), as in the SDK's
 * src/Constants.ts GRAPH_URLS, which the package does not export.
 */
const GRAPH_HOSTS = new Set([
  'graph.microsoft.com',
  'graph.microsoft.us',
  'dod-graph.microsoft.us',
  'graph.microsoft.de',
  'microsoftgraph.chinacloudapi.cn',
  'canary.graph.microsoft.com',
])

/**
 * Per-request state handed to the middleware through the SDK's MiddlewareControl: the token to
 * send and, on the way back, what the response said (status and Graph's `request-id`), which
 * the SDK does not expose for successful calls.
 */
export class GraphCallOptions implements MiddlewareOptions {
  readonly token: string
  readonly clientRequestId: string
  status: number | undefined
  requestId: string | undefined
  /** The response's `Date` header: the vendor's clock, in whole seconds (RFC 9110 §6.6.1). */
  date: string | undefined

  constructor(token: string, clientRequestId: string) {
    this.token = token
    this.clientRequestId = clientRequestId
  }
}

/** True when `url` may receive the bearer token: a Graph or custom host, over TLS unless loopback. */
export function mayCarryToken(url: string, customHosts: Set<string> | undefined): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  const host = parsed.hostname.toLowerCase()
  const known = GRAPH_HOSTS.has(host) || (customHosts?.has(host) ?? false)
  if (!known) return false
  return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(host))
}

type HeaderBag = Record<string, string>

function headerBag(context: Context): HeaderBag {
  context.options ??= {}
  const current = context.options.headers
  if (current instanceof Headers) {
    const bag: HeaderBag = {}
    current.forEach((value, key) => {
      bag[key] = value
    })
    context.options.headers = bag
    return bag
  }
  if (Array.isArray(current)) {
    const bag: HeaderBag = Object.fromEntries(current.map(([k, v]) => [k ?? '', v ?? '']))
    context.options.headers = bag
    return bag
  }
  const bag = (current ?? {}) as HeaderBag
  context.options.headers = bag
  return bag
}

function deleteHeader(bag: HeaderBag, name: string): void {
  for (const key of Object.keys(bag)) if (key.toLowerCase() === name.toLowerCase()) delete bag[key]
}

export class BearerAuthHandler implements Middleware {
  #next: Middleware | undefined

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url
    const call = context.middlewareControl?.getMiddlewareOptions(GraphCallOptions) as GraphCallOptions | undefined
    const headers = headerBag(context)
    deleteHeader(headers, 'authorization')
    if (call && mayCarryToken(url, context.customHosts)) {
      headers.Authorization = `Bearer ${call.token}`
      // Graph echoes client-request-id and logs it; Microsoft support asks for it with request-id.
      headers['client-request-id'] = call.clientRequestId
    }
    if (!this.#next) throw new GraphClientError('BearerAuthHandler has no next middleware')
    await this.#next.execute(context)
    if (call && context.response) {
      call.status = context.response.status
      call.requestId = context.response.headers.get('request-id') ?? undefined
      call.date = context.response.headers.get('date') ?? undefined
    }
  }

  setNext(next: Middleware): void {
    this.#next = next
  }
}

export interface GraphClientOptions {
  system: string
  baseUrl: string
  timeoutMs: number
  tokens: ClientCredentialsTokenSource
}

export type GraphMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export interface GraphCallSpec {
  method: GraphMethod
  /** Path under the version segment, e.g. `/users/{id}`; query options go in `query`. */
  path: string
  /** Operation name for audit rows, e.g. `PATCH /users/{id}`. */
  operation: string
  /** OData / query options; values are URL-encoded here. */
  query?: Record<string, string | number | undefined>
  /** Extra request headers, e.g. `ConsistencyLevel: eventual` for advanced queries. */
  headers?: Record<string, string>
  body?: unknown
}

export interface GraphResult {
  body: unknown
  status: number | undefined
  requestId: string | undefined
  /** The response's `Date` header (the vendor's clock), when it sent one. */
  date?: string
  /** This host's clock (ms) when the call was sent and when its answer arrived: brackets `date`. */
  sentAt?: number
  receivedAt?: number
}

/**
 * Wraps the SDK client: every call is throttled, recorded, classified, and refreshed once when
 * Graph says the token expired (401 InvalidAuthenticationToken).
 */
export class GraphApi {
  readonly client: Client
  readonly #opts: GraphClientOptions
  readonly #root: string

  constructor(opts: GraphClientOptions) {
    this.#opts = opts
    const base = new URL(opts.baseUrl)
    this.#root = `${opts.baseUrl.replace(/\/+$/, '')}/${GRAPH_VERSION}`
    this.client = Client.initWithMiddleware({
      baseUrl: opts.baseUrl,
      defaultVersion: GRAPH_VERSION,
      customHosts: new Set([base.hostname.toLowerCase()]),
      middleware: [new BearerAuthHandler(), new RedirectHandler(new RedirectHandlerOptions()), new HTTPMessageHandler()],
    })
  }

  /** Turn an `@odata.nextLink` into a path for `call()`, refusing links to any other host. */
  relativeFromNextLink(nextLink: string): string {
    if (!nextLink.startsWith(`${this.#root}/`)) {
      throw new PermanentError(`page token is not a Graph nextLink for ${this.#root}`, {
        system: this.#opts.system,
        operation: 'nextLink',
      })
    }
    return nextLink.slice(this.#root.length)
  }

  /**
   * One Graph call through the shared wrapper (../kit/call.ts). Graph says the token is no longer
   * valid (expired early, key rollover, revoked app) with 401 InvalidAuthenticationToken: that
   * token is dropped and the call sent once more with a fresh one; a second 401 is AuthFailed.
   */
  async call(ctx: Ctx, spec: GraphCallSpec): Promise<GraphResult> {
    const { system, timeoutMs } = this.#opts
    const queryText = Object.fromEntries(
      Object.entries(spec.query ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
    ) as Record<string, string>
    const { bucket, cost } = graphRequestCost(spec.method, spec.path.split('?')[0] ?? spec.path, {
      ...queryText,
      ...queryFromPath(spec.path),
    })
    const qs = Object.entries(queryText)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&')
    const target = qs ? `${spec.path}${spec.path.includes('?') ? '&' : '?'}${qs}` : spec.path
    let probe: GraphCallOptions | undefined
    return vendorCall(ctx, {
      operation: spec.operation,
      method: spec.method,
      path: `/${GRAPH_VERSION}${spec.path.split('?')[0] ?? ''}`,
      buckets: [{ bucket, cost }],
      timeoutMs,
      credential: async () => {
        try {
          return await this.#opts.tokens.get(ctx)
        } catch (err) {
          if (isProvisionerError(err)) throw err
          throw new TransientError(`token acquisition aborted: ${err instanceof Error ? err.message : String(err)}`, {
            system,
            operation: spec.operation,
            cause: err,
          })
        }
      },
      send: async ({ signal, facts, credential: token }) => {
        const call = new GraphCallOptions(token, randomUUID())
        probe = call
        const sentAt = Date.now()
        let request: GraphRequest = this.client.api(target).middlewareOptions([call]).option('signal', signal)
        if (spec.headers) request = request.headers(spec.headers)
        let body: unknown
        switch (spec.method) {
          case 'GET':
            body = await request.get()
            break
          case 'POST':
            body = await request.post(spec.body ?? {})
            break
          case 'PATCH':
            body = await request.patch(spec.body ?? {})
            break
          case 'DELETE':
            body = await request.delete()
            break
        }
        const receivedAt = Date.now()
        facts.status = call.status
        facts.requestId = call.requestId
        return { body, status: call.status, requestId: call.requestId, ...(call.date ? { date: call.date } : {}), sentAt, receivedAt }
      },
      classify: (err) =>
        classifyGraphError(err, { system, operation: spec.operation, timeoutMs, callerAborted: ctx.signal.aborted, probe: probe ?? new GraphCallOptions('', '') }),
      refused: (err, token) => {
        if (err.status !== 401 || err.vendorCode !== 'InvalidAuthenticationToken') return false
        this.#opts.tokens.invalidate(token)
        return true
      },
    })
  }
}

function queryFromPath(path: string): Record<string, string> {
  const index = path.indexOf('?')
  if (index < 0) return {}
  return Object.fromEntries(new URLSearchParams(path.slice(index + 1)))
}

interface ClassifyContext {
  system: string
  operation: string
  timeoutMs: number
  callerAborted: boolean
  probe: GraphCallOptions
}

/**
 * Map what the SDK threw onto the ProvisionerError family. Graph's error body is
 * `{ error: { code, message, innerError: { date, request-id, client-request-id } } }`
 * (https://learn.microsoft.com/graph/errors); the SDK turns it into a GraphError with
 * statusCode/code/message/headers. Transport failures arrive as a GraphError with statusCode -1
 * and the original error's name as code (TimeoutError, AbortError, TypeError).
 */
export function classifyGraphError(err: unknown, c: ClassifyContext): ProvisionerError {
  if (isProvisionerError(err)) return err
  const base = { system: c.system, operation: c.operation }
  if (err instanceof GraphClientError) {
    return new PermanentError(`Graph client rejected the request: ${err.message}`, { ...base, cause: err })
  }
  if (!(err instanceof GraphError)) {
    return new TransientError(`Graph call failed: ${err instanceof Error ? err.message : String(err)}`, {
      ...base,
      status: c.probe.status,
      requestId: c.probe.requestId,
      cause: err,
    })
  }
  const status = err.statusCode > 0 ? err.statusCode : c.probe.status
  const requestId = err.headers?.get('request-id') ?? err.requestId ?? c.probe.requestId ?? undefined
  const code = err.code ?? undefined
  const details = { ...base, status, vendorCode: code, requestId, cause: err }
  if (code === 'TimeoutError' || code === 'AbortError' || err.statusCode <= 0 || (status !== undefined && status < 300)) {
    // No response, or the body stalled / was unreadable after a 2xx: nothing was decided.
    const why = c.callerAborted
      ? 'aborted by the caller'
      : code === 'TimeoutError' || code === 'AbortError'
        ? `timed out after ${c.timeoutMs} ms`
        : `failed without a usable response (${err.message || code || 'network error'})`
    return new TransientError(`${c.operation} ${why}`, { ...details, status: err.statusCode > 0 ? status : undefined })
  }
  const message = `${c.operation} → ${status}${code ? ` ${code}` : ''}: ${err.message || 'no message'}`
  // Graph sends Retry-After with 429 and with 503 Service Unavailable
  // (https://learn.microsoft.com/en-us/graph/throttling); both are waits, not failures.
  const retryAfterMs = parseRetryAfter(err.headers?.get('retry-after'))
  if (status === 429) return classifyHttpStatus(429, message, { ...details, retryAfterMs: retryAfterMs ?? DEFAULT_RETRY_AFTER_MS })
  if (status === 503 && retryAfterMs !== undefined) return classifyHttpStatus(503, message, { ...details, retryAfterMs })
  if (status === 401) return new AuthFailedError(message, details)
  // Graph reports uniqueness clashes as 400 Request_BadRequest with a sentence, not a 409:
  // "Another object with the same value for property userPrincipalName already exists.",
  // "One or more added object references already exist for the following modified properties: 'members'.",
  // "A conflicting object with one or more of the specified property values is present in the directory."
  if (status === 400 && /already exist|conflicting object/i.test(err.message)) return new ConflictError(message, details)
  return classifyHttpStatus(status, message, details)
}
