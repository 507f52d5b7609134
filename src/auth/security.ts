/**
 * HTTP hardening in front of every route: security headers (helmet), CORS only for configured
 * origins, a body-size guard for every content type, and rate limits per client IP, per
 * credential and per failed authentication. Mounted by the composition root as `before`
 * middleware (src/main.ts), so it runs before the webhooks and the API alike; the /api parts are
 * scoped to /api.
 *
 * Rate limits are in-process fixed windows of one minute (express-rate-limit with our own
 * store, so tests can move the clock). With several replicas each counts alone: the effective
 * limit is the configured one times the replicas, which is what the limits are sized for.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { ipKeyGenerator, rateLimit, type ClientRateLimitInfo, type Options, type RateLimitInfo, type Store } from 'express-rate-limit'
import helmet from 'helmet'
import type { Config } from '../config/index.ts'
import { ApiError } from '../http/errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { principalOf, resolvePrincipal, type Authenticator } from './authenticate.ts'
import type { RateLimitConfig } from './config.ts'

const WINDOW_MS = 60_000

/** A fixed-window counter store with an injectable clock (express-rate-limit's own reads Date.now). */
export class WindowStore implements Store {
  windowMs = WINDOW_MS
  readonly localKeys = true
  readonly #now: () => number
  readonly #clients = new Map<string, ClientRateLimitInfo & { resetTime: Date }>()
  #sweeper: NodeJS.Timeout | undefined

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  init(options: Options): void {
    this.windowMs = options.windowMs
    this.#startSweeper()
  }

  #startSweeper(): void {
    clearInterval(this.#sweeper)
    this.#sweeper = setInterval(() => {
      const t = this.#now()
      for (const [key, client] of this.#clients) if (client.resetTime.getTime() <= t) this.#clients.delete(key)
    }, this.windowMs)
    this.#sweeper.unref()
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const client = this.#clients.get(key)
    return client && client.resetTime.getTime() > this.#now() ? { ...client } : undefined
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const t = this.#now()
    let client = this.#clients.get(key)
    if (!client || client.resetTime.getTime() <= t) {
      client = { totalHits: 0, resetTime: new Date(t + this.windowMs) }
      this.#clients.set(key, client)
    }
    client.totalHits += 1
    return { ...client }
  }

  async decrement(key: string): Promise<void> {
    const client = this.#clients.get(key)
    if (client && client.totalHits > 0) client.totalHits -= 1
  }

  async resetKey(key: string): Promise<void> {
    this.#clients.delete(key)
  }

  async resetAll(): Promise<void> {
    this.#clients.clear()
  }

  shutdown(): void {
    clearInterval(this.#sweeper)
    this.#clients.clear()
  }
}

export interface SecurityOptions {
  config: Pick<Config, 'server' | 'auth'>
  authenticator: Authenticator
  log: Logger
  /** Clock for rate-limit windows, in ms (tests move it instead of sleeping). */
  now?: () => number
}

type Scope = 'ip' | 'credential' | 'webhook_ip'

function limitExceeded(scope: Scope, info: RateLimitInfo | undefined, now: () => number): ApiError {
  const reset = info?.resetTime?.getTime() ?? now() + WINDOW_MS
  const retryAfterSeconds = Math.max(1, Math.ceil((reset - now()) / 1000))
  const who = scope === 'credential' ? 'this credential' : 'this client address'
  return new ApiError(
    429,
    'rate_limited',
    `too many requests from ${who}; retry after ${retryAfterSeconds} s`,
    { scope, limit: info?.limit ?? null, windowSeconds: WINDOW_MS / 1000, retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  )
}

function clientIp(req: Request): string {
  // IPv6 clients are grouped by /56, the smallest prefix an ISP usually hands out; otherwise one
  // client could rotate through its addresses to reset its limit.
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown', 56)
}

function loggerFor(log: Logger): Options['logger'] {
  return {
    error: (error: unknown, message?: string) => log.error({ err: { message: (error as Error)?.message } }, message ?? 'rate limiter error'),
    warn: (error: unknown, message?: string) => log.warn({ err: { message: (error as Error)?.message } }, message ?? 'rate limiter warning'),
  }
}

interface LimiterOptions {
  scope: Scope
  limit: number
  key: (req: Request) => Promise<string | null> | string | null
  now: () => number
  log: Logger
  headers: boolean
}

function limiter(o: LimiterOptions): RequestHandler {
  const property = `rateLimit_${o.scope}`
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: o.limit,
    store: new WindowStore(o.now),
    standardHeaders: o.headers ? 'draft-7' : false,
    legacyHeaders: false,
    requestPropertyName: property,
    keyGenerator: async (req) => (await o.key(req)) ?? '',
    skip: async (req) => (await o.key(req)) === null,
    handler: (req: Request, _res: Response, next: NextFunction) => {
      next(limitExceeded(o.scope, (req as Request & Record<string, RateLimitInfo | undefined>)[property], o.now))
    },
    logger: loggerFor(o.log),
  })
}

/**
 * Answers 429 to an IP once it collected `limit` 401 answers in the window: the cheap way to make
 * guessing credentials (and the lookups it costs) stop early. Counted when the 401 is sent, so
 * requests in flight never count against a well-behaved client.
 */
function failedAuthLimiter(limit: number, now: () => number): RequestHandler {
  const store = new WindowStore(now)
  store.init({ windowMs: WINDOW_MS } as Options)
  return (req, res, next) => {
    const key = clientIp(req)
    void store.get(key).then((info) => {
      if (info && info.totalHits >= limit) {
        next(limitExceeded('ip', { limit, used: info.totalHits, remaining: 0, resetTime: info.resetTime, key }, now))
        return
      }
      res.on('finish', () => {
        if (res.statusCode === 401) void store.increment(key)
      })
      next()
    }, next)
  }
}

function cors(origins: readonly string[], maxAgeSeconds: number): RequestHandler {
  const allowed = new Set(origins)
  return (req, res, next) => {
    res.vary('Origin')
    const origin = req.get('origin')
    if (!origin || !allowed.has(origin)) {
      next()
      return
    }
    // Bearer tokens only, never cookies: no Access-Control-Allow-Credentials.
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, WWW-Authenticate')
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE')
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Request-Id')
      res.setHeader('Access-Control-Max-Age', String(maxAgeSeconds))
      res.status(204).end()
      return
    }
    next()
  }
}

/**
 * Refuses a declared body larger than the limit whatever its content type: express.json and
 * express.urlencoded enforce the limit on what they parse, this covers everything else before a
 * byte is read.
 */
export function bodyLimitGuard(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    const length = Number(req.get('content-length') ?? 0)
    if (Number.isFinite(length) && length > limitBytes) {
      next(new ApiError(413, 'body_too_large', `request body is larger than the limit of ${limitBytes} bytes`))
      return
    }
    next()
  }
}

/** API responses hold personal data and, once, new tokens: never stored by browsers or proxies. */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store')
  next()
}

/** The `before` middleware for createApp(): headers everywhere, the rest on /api. */
export function securityMiddleware(options: SecurityOptions): RequestHandler[] {
  const { config, authenticator, log } = options
  const now = options.now ?? Date.now
  const limits: RateLimitConfig = config.auth.rateLimit
  const router = express.Router()
  router.use(helmet())
  const api: RequestHandler[] = [
    bodyLimitGuard(config.server.bodyLimitBytes),
    noStore,
    // JSON never loads anything: the strictest policy there is.
    helmet.contentSecurityPolicy({ useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } }),
  ]
  if (config.server.cors.origins.length > 0) api.push(cors(config.server.cors.origins, config.server.cors.maxAgeSeconds))
  if (limits.enabled) {
    api.push(failedAuthLimiter(limits.failedAuthPerIpPerMinute, now))
    api.push(limiter({ scope: 'ip', limit: limits.perIpPerMinute, key: clientIp, now, log, headers: true }))
  }
  // Authenticate once, early, so the per-credential limit knows who is calling. A refused
  // credential is not answered here: the route decides (a public route ignores credentials).
  api.push((req, _res, next) => {
    resolvePrincipal(req, authenticator).then(
      () => next(),
      () => next(),
    )
  })
  if (limits.enabled) {
    api.push(
      limiter({
        scope: 'credential',
        limit: limits.perCredentialPerMinute,
        key: async (req) => {
          const principal = await principalOf(req)
          return principal ? `${principal.kind}:${principal.id}` : null
        },
        now,
        log,
        headers: true,
      }),
    )
  }
  router.use('/api', ...api)
  return [router]
}

/** Per-IP limit for the HR webhooks; mount it in front of /webhooks. A pass-through when rate limiting is off. */
export function webhookRateLimiter(config: Pick<Config, 'auth'>, options: { now?: () => number; log?: Logger } = {}): RequestHandler {
  const limits = config.auth.rateLimit
  if (!limits.enabled) return (_req, _res, next) => next()
  return limiter({
    scope: 'webhook_ip',
    limit: limits.webhooksPerIpPerMinute,
    key: clientIp,
    now: options.now ?? Date.now,
    log: options.log ?? silentLogger,
    headers: true,
  })
}
