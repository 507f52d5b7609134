/**
 * Shared machinery for the local twins of vendor APIs (one per system folder). The kit decides
 * *whether* a request is admitted (latency, injected faults, rate limits, bearer tokens); each
 * emulator renders the outcome the way its vendor does (Google's 403 userRateLimitExceeded,
 * Graph's 429 JSON, Slack's `{ok:false}`, SCIM's Error schema).
 *
 * Every emulator also mounts the same control surface under `/_emulator/` so tests, the sandbox
 * and the benchmarks can steer it over HTTP: stats, faults, latency and limits.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import express, { type Express, type Request, type Response, type NextFunction } from 'express'
import type { RateLimitSpec } from '../../provisioners/types.ts'

export interface LatencySpec {
  /** Median of the log-normal distribution, in ms. */
  medianMs: number
  /** Shape (standard deviation of ln). 0.5 gives a realistic tail. */
  sigma?: number
  /**
   * Draw from a seeded generator instead of Math.random: after each `setLatency` with the same seed,
   * the n-th request admitted waits the same time. The single-leaver benchmark gives Tenure's
   * leaver and the oracle's the same draws, so their difference is Tenure's overhead alone.
   */
  seed?: number
}

export interface Fault {
  /** Only requests whose method matches (default: any). */
  method?: string
  /** Only requests whose path contains this string (default: any). */
  pathIncludes?: string
  /** Answer with this HTTP status and the vendor's error body for it. */
  status?: number
  /** Vendor-specific error code to render (`userRateLimitExceeded`, `quotaExceeded`, ...). */
  code?: string
  /** Retry-After seconds to send with 429/503 faults. */
  retryAfterSeconds?: number
  /** Hold the request this long and then drop the connection (a timeout for the client). */
  hangMs?: number
  /**
   * Hold the request this long, then handle it as usual: a slow answer, not a lost one (a vendor
   * under load; the job that made the call is slow, not dead).
   */
  delayMs?: number
  /**
   * Handle the request at once (its write takes effect, with the vendor's timestamps of now), then
   * hold the answer this long: a response slow in transit, or a client too busy to read it. The
   * caller learns of the write seconds after the vendor made it.
   */
  answerDelayMs?: number
  /** Treat the caller's token as expired (401 in the vendor's format). */
  expireToken?: boolean
  /**
   * Apply the request as usual, then drop the connection instead of answering: the write took
   * effect at the vendor but the caller never learns it (a response lost in transit). The retry
   * must find the work done, never do it twice.
   */
  loseResponse?: boolean
  /** How many requests this fault applies to; default 1. Infinity keeps it until cleared. */
  times?: number
}

/**
 * One account as an emulator holds it, read from its own store: the access invariant's view of a
 * target (test/invariants/), never derived from what Tenure recorded.
 */
export interface InventoryAccount {
  accountId: string
  /** The id Tenure stamps on the account to find it again (externalId, employeeId …), if any. */
  key?: string
  /** Login or primary email. */
  email?: string
  /** The account exists and can sign in. */
  active: boolean
  /** Access still attached, by kind: groups, licences, roles, channels, userGroups, products, tokens. */
  access: Record<string, string[]>
}

export type Admission =
  | { kind: 'ok' }
  | { kind: 'rate_limited'; bucket: string; retryAfterSeconds: number }
  | { kind: 'fault'; fault: Fault }
  | { kind: 'dropped' }

export interface EmulatorStats {
  requests: number
  byStatus: Record<string, number>
  byBucket: Record<string, number>
  rateLimited: number
  faultsInjected: number
  writes: number
  /** TCP connections accepted (requests / connections: how well clients reuse them). */
  connections: number
}

export interface EmulatorOptions {
  latency?: LatencySpec | null
  /** Override or disable (null) the vendor's published limits per bucket. */
  rateLimits?: Record<string, RateLimitSpec | null>
  /** Lifetime of issued OAuth tokens. */
  tokenTtlSeconds?: number
  /** Clock for token expiry and buckets; tests may pass a controllable one. */
  now?: () => number
}

/** A vendor's rate limit as an emulator enforces it: `take` answers 0 when admitted, else the seconds until it would be. */
export interface RateLimitModel {
  readonly spec: RateLimitSpec
  take(cost?: number): number
}

export class TokenBucket implements RateLimitModel {
  private tokens: number
  private last: number
  readonly spec: RateLimitSpec
  private readonly now: () => number

  constructor(spec: RateLimitSpec, now: () => number = Date.now) {
    this.spec = spec
    this.now = now
    this.tokens = spec.burst
    this.last = now()
  }

  private refill(): void {
    const t = this.now()
    const ratePerMs = this.spec.perMinute / 60_000
    this.tokens = Math.min(this.spec.burst, this.tokens + (t - this.last) * ratePerMs)
    this.last = t
  }

  /** Take one token; returns 0 when admitted, else the seconds until a token is available. */
  take(cost = 1): number {
    this.refill()
    if (this.tokens >= cost) {
      this.tokens -= cost
      return 0
    }
    const ratePerMs = this.spec.perMinute / 60_000
    return Math.max(1, Math.ceil((cost - this.tokens) / ratePerMs / 1000))
  }
}

/**
 * "N per minute" read literally: at most `perMinute` requests in any 60-second interval (a sliding
 * window over the admitted requests' arrival times), so a client may spend a whole minute's quota
 * at once and then nothing until the first of those leave the window. Google publishes its
 * Directory API quota this way ("2,400 queries per minute per user per Google Cloud project",
 * https://developers.google.com/workspace/admin/directory/v1/limits) without saying how its
 * minutes are aligned; Google Cloud documents per-minute rate quotas as counted per 60-second
 * interval (https://docs.cloud.google.com/compute/api-quota: "reaches the maximum number of API
 * requests within 60 seconds, you must wait for that rate quota to refill"). A sliding window is
 * the strictest reading: a client it admits is within quota whichever way the vendor aligns its
 * minutes. A refused request is not counted (it used no quota).
 */
export class SlidingMinute implements RateLimitModel {
  readonly spec: RateLimitSpec
  private readonly now: () => number
  /** Arrival times (ms) of the admitted requests still in the window, oldest first, from `head` on. */
  private times: number[] = []
  private head = 0

  constructor(spec: RateLimitSpec, now: () => number = Date.now) {
    this.spec = spec
    this.now = now
  }

  /** Admit `cost` requests now, or answer the seconds until the oldest ones in the window leave it. */
  take(cost = 1): number {
    const t = this.now()
    // A request at t0 is in every interval [a, a + 60 s) with a <= t0 < a + 60 s: it leaves at t0 + 60 s.
    while (this.head < this.times.length && this.times[this.head]! <= t - 60_000) this.head += 1
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head)
      this.head = 0
    }
    const inWindow = this.times.length - this.head
    const limit = Math.floor(this.spec.perMinute)
    if (inWindow + cost <= limit) {
      for (let i = 0; i < cost; i++) this.times.push(t)
      return 0
    }
    if (cost > limit) return 60
    // Room for `cost` once the (inWindow + cost − limit) oldest have left.
    const leaving = this.times[this.head + inWindow + cost - limit - 1]!
    return Math.max(1, Math.ceil((leaving + 60_000 - t) / 1000))
  }
}

/** The model a spec names: a sliding minute or (the default) a token bucket. */
export function rateLimitModel(spec: RateLimitSpec, now: () => number = Date.now): RateLimitModel {
  return spec.window === 'sliding-minute' ? new SlidingMinute(spec, now) : new TokenBucket(spec, now)
}

/** A sample from a log-normal distribution with the given median (Box-Muller). */
export function logNormalMs(spec: LatencySpec, random: () => number = Math.random): number {
  const sigma = spec.sigma ?? 0.5
  const u1 = random() || Number.MIN_VALUE
  const u2 = random()
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  return spec.medianMs * Math.exp(sigma * z)
}

/** mulberry32: a small, fast 32-bit seeded generator, uniform in [0, 1). Not for secrets. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** How long an emulator keeps an idle client connection open (see listen()). */
export const EMULATOR_KEEP_ALIVE_MS = 60_000

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Wait `ms`, or less if the caller hangs up first (its process was killed): holding a request
 * nobody waits for would only keep the emulator's process alive.
 */
function hold(req: Request, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      req.socket.off('close', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    req.socket.once('close', done)
  })
}

/** Let the handler run (and apply its write), then destroy the socket instead of sending its answer. */
function loseResponseOf(req: Request): void {
  const res = req.res
  if (!res) return
  const drop = () => {
    req.socket.destroy()
    return res
  }
  res.send = drop as typeof res.send
  res.json = drop as typeof res.json
  res.end = drop as typeof res.end
}

/** Let the handler run (and apply its write), then hold its answer `ms` before it goes out. */
function delayAnswerOf(req: Request, ms: number): void {
  const res = req.res
  if (!res) return
  // Every answer ends in res.end (res.json and res.send call it); only the last step is held.
  const end = res.end.bind(res) as (...args: unknown[]) => Response
  res.end = ((...args: unknown[]) => {
    setTimeout(() => end(...args), ms)
    return res
  }) as typeof res.end
}

export class EmulatorKit {
  readonly app: Express
  readonly stats: EmulatorStats = emptyStats()
  private latency: LatencySpec | null = null
  private random: () => number = Math.random
  private readonly defaults: Record<string, RateLimitSpec>
  private buckets = new Map<string, RateLimitModel | null>()
  private faults: Fault[] = []
  private tokens = new Map<string, number>() // token -> expiresAt ms
  private readonly tokenTtlMs: number
  readonly now: () => number
  private server: Server | undefined
  /** `METHOD path?query` of every request since `recordRequests(true)`, for a benchmark that compares two sides' calls. */
  private requestLog: string[] | undefined

  /**
   * @param defaults the vendor's published limits per bucket name
   * @param options  overrides from the test or the sandbox
   */
  constructor(defaults: Record<string, RateLimitSpec>, options: EmulatorOptions = {}) {
    this.defaults = defaults
    this.setLatency(options.latency ?? null)
    this.now = options.now ?? Date.now
    this.tokenTtlMs = (options.tokenTtlSeconds ?? 3600) * 1000
    this.configureLimits(options.rateLimits ?? {})
    this.app = express()
    this.app.disable('x-powered-by')
    // Vendors' ETags are the emulator's business (SCIM meta.version); express's automatic weak
    // ETag and 304 answers would fake a behaviour the real APIs do not have.
    this.app.set('etag', false)
    this.mountControl()
    this.app.use((req: Request, res: Response, next: NextFunction) => {
      if (req.path.startsWith('/_emulator/')) return next()
      this.stats.requests += 1
      this.requestLog?.push(`${req.method} ${req.originalUrl}`)
      if (req.method !== 'GET' && req.method !== 'HEAD') this.stats.writes += 1
      res.on('finish', () => {
        const key = String(res.statusCode)
        this.stats.byStatus[key] = (this.stats.byStatus[key] ?? 0) + 1
        if (res.statusCode === 429) this.stats.rateLimited += 1
      })
      next()
    })
  }

  configureLimits(overrides: Record<string, RateLimitSpec | null>): void {
    this.buckets.clear()
    for (const [name, spec] of Object.entries({ ...this.defaults, ...overrides })) {
      this.buckets.set(name, spec ? rateLimitModel(spec, this.now) : null)
    }
  }

  setLatency(latency: LatencySpec | null): void {
    this.latency = latency
    this.random = latency?.seed === undefined ? Math.random : seededRandom(latency.seed)
  }

  /** The simulated latency of the next request admitted (undefined: none configured). */
  nextLatencyMs(): number | undefined {
    return this.latency ? logNormalMs(this.latency, this.random) : undefined
  }

  injectFault(fault: Fault): void {
    this.faults.push({ times: 1, ...fault })
  }

  clearFaults(): void {
    this.faults = []
  }

  resetStats(): void {
    Object.assign(this.stats, emptyStats())
  }

  /** Start (or stop, and forget) keeping each request's method and URL; `requests()` reads them. Off by default: a layoff would keep millions. */
  recordRequests(on: boolean): void {
    this.requestLog = on ? [] : undefined
  }

  /** The requests recorded since `recordRequests(true)` (empty when not recording). */
  requests(): readonly string[] {
    return this.requestLog ?? []
  }

  /** Issue an OAuth access token (client-credentials or JWT-bearer grant). */
  issueToken(): { accessToken: string; expiresIn: number } {
    const accessToken = `emu_${randomBytes(18).toString('base64url')}`
    this.tokens.set(accessToken, this.now() + this.tokenTtlMs)
    return { accessToken, expiresIn: Math.floor(this.tokenTtlMs / 1000) }
  }

  /** Register a long-lived static token (Slack bot tokens, Jira API tokens, SCIM bearer tokens). */
  addStaticToken(token: string): void {
    this.tokens.set(token, Number.POSITIVE_INFINITY)
  }

  expireAllTokens(): void {
    for (const [token, expiresAt] of this.tokens) if (expiresAt !== Number.POSITIVE_INFINITY) this.tokens.set(token, 0)
  }

  /** Check an `Authorization: Bearer` (or `Basic`, passed whole) credential. */
  checkToken(authorization: string | undefined): 'ok' | 'missing' | 'invalid' | 'expired' {
    if (!authorization) return 'missing'
    const match = /^Bearer\s+(.+)$/i.exec(authorization)
    const token = match?.[1] ?? authorization
    const expiresAt = this.tokens.get(token)
    if (expiresAt === undefined) return 'invalid'
    return expiresAt > this.now() ? 'ok' : 'expired'
  }

  /**
   * Decide what happens to a request: wait the simulated latency, then apply the first matching
   * injected fault, then the rate limit of `bucket`. The emulator renders the result.
   */
  async admit(req: Request, bucket: string | undefined, cost = 1): Promise<Admission> {
    const latencyMs = this.nextLatencyMs()
    if (latencyMs !== undefined) await sleep(latencyMs)
    const fault = this.takeFault(req)
    if (fault) {
      this.stats.faultsInjected += 1
      if (fault.hangMs !== undefined) {
        await hold(req, fault.hangMs)
        req.socket.destroy()
        return { kind: 'dropped' }
      }
      if (fault.delayMs !== undefined) {
        await hold(req, fault.delayMs)
        return this.admitRate(req, bucket, cost)
      }
      if (fault.answerDelayMs !== undefined) {
        delayAnswerOf(req, fault.answerDelayMs)
        return this.admitRate(req, bucket, cost)
      }
      if (fault.loseResponse) {
        loseResponseOf(req)
        return this.admitRate(req, bucket, cost)
      }
      if (fault.expireToken) this.expireAllTokens()
      return { kind: 'fault', fault }
    }
    return this.admitRate(req, bucket, cost)
  }

  private admitRate(_req: Request, bucket: string | undefined, cost: number): Admission {
    if (bucket) {
      this.stats.byBucket[bucket] = (this.stats.byBucket[bucket] ?? 0) + 1
      const limiter = this.buckets.get(bucket)
      if (limiter) {
        const wait = limiter.take(cost)
        if (wait > 0) return { kind: 'rate_limited', bucket, retryAfterSeconds: wait }
      }
    }
    return { kind: 'ok' }
  }

  private takeFault(req: Request): Fault | undefined {
    const index = this.faults.findIndex(
      (f) =>
        (!f.method || f.method.toUpperCase() === req.method) &&
        (!f.pathIncludes || req.originalUrl.includes(f.pathIncludes)),
    )
    if (index < 0) return undefined
    const fault = this.faults[index]!
    const left = (fault.times ?? 1) - 1
    if (left <= 0) this.faults.splice(index, 1)
    else fault.times = left
    return fault
  }

  private mountControl(): void {
    const control = express.Router()
    control.use(express.json())
    control.get('/stats', (_req, res) => {
      res.json(this.stats)
    })
    control.post('/stats/reset', (_req, res) => {
      this.resetStats()
      res.status(204).end()
    })
    control.post('/faults', (req, res) => {
      const body = req.body as Fault | Fault[]
      for (const f of Array.isArray(body) ? body : [body]) this.injectFault(f)
      res.status(204).end()
    })
    control.delete('/faults', (_req, res) => {
      this.clearFaults()
      res.status(204).end()
    })
    control.put('/latency', (req, res) => {
      this.setLatency((req.body as LatencySpec | null) ?? null)
      res.status(204).end()
    })
    control.put('/rate-limits', (req, res) => {
      this.configureLimits(req.body as Record<string, RateLimitSpec | null>)
      res.status(204).end()
    })
    this.app.use('/_emulator', control)
  }

  /** Listen on 127.0.0.1 (never another interface). Port 0 picks a free port. */
  async listen(port = 0): Promise<string> {
    const server = this.app.listen(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
    // A kept connection does not keep a process alive by itself (a test that forgot close()).
    server.on('connection', (socket) => {
      this.stats.connections += 1
      socket.unref()
    })
    // Vendors' front ends keep an idle connection open for minutes (Google's global external
    // Application Load Balancer: 610 s by default, "httpKeepAliveTimeoutSec",
    // https://cloud.google.com/load-balancing/docs/https#http_keepalive_timeout), and clients reuse
    // it. Node's default of 5 s, and the 1 s this had, answer `Keep-Alive: timeout=1`, which fetch
    // (undici) takes as "do not reuse" (it keeps a connection only for the hint less its 2 s
    // margin): every vendor call paid a new TCP connection, in Tenure and the oracle alike.
    // close() still ends kept connections at once (closeAllConnections).
    server.keepAliveTimeout = EMULATOR_KEEP_ALIVE_MS
    this.server = server
    const { port: bound } = server.address() as AddressInfo
    return `http://127.0.0.1:${bound}`
  }

  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

function emptyStats(): EmulatorStats {
  return { requests: 0, byStatus: {}, byBucket: {}, rateLimited: 0, faultsInjected: 0, writes: 0, connections: 0 }
}

/** A random id in the vendor's usual style where one is needed. */
export function newId(prefix = ''): string {
  return prefix + randomUUID().replaceAll('-', '').slice(0, 20)
}

/** Opaque page token: the offset, base64url-encoded so clients must treat it as opaque. */
export function encodePageToken(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url')
}

export function decodePageToken(token: unknown): number {
  if (typeof token !== 'string' || token === '') return 0
  const text = Buffer.from(token, 'base64url').toString()
  const offset = Number(text.slice(2))
  return text.startsWith('o:') && Number.isInteger(offset) && offset >= 0 ? offset : 0
}
