/**
 * The express application: request ids, structured access logs, metrics, health endpoints,
 * the capability routers, and the one error handler. Routers are mounted by the composition
 * root (src/main.ts) so this file stays the same as capabilities are added.
 */
import { randomUUID } from 'node:crypto'
import compression from 'compression'
import express, { type Express, type Request, type Response, type NextFunction, type RequestHandler, type Router } from 'express'
import { pinoHttp } from 'pino-http'
import type { Logger } from '../log.ts'
import type { Metrics } from './metrics.ts'
import { ApiError, errorHandler } from './errors.ts'

export interface ReadinessCheck {
  name: string
  /** Throws when not ready; may say how it is (shown as `detail`). */
  check(): Promise<void | string>
}

export interface Mount {
  path: string
  router: Router | RequestHandler
}

export interface AppOptions {
  log: Logger
  metrics: Metrics
  readiness: ReadinessCheck[]
  /** Mounted before the JSON body parser: routes that need the raw bytes (signed webhooks). */
  rawMounts?: Mount[]
  mounts?: Mount[]
  /** Middleware that runs before any route (security headers, CORS, rate limits). */
  before?: RequestHandler[]
  bodyLimitBytes: number
  trustProxy?: boolean | number | string
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const NOT_COMPRESSED = /^\/webhooks(?:\/|$)|^\/metrics$/

export function createApp(options: AppOptions): Express {
  const { log, metrics } = options
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', options.trustProxy ?? false)
  app.set('query parser', 'simple')

  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.get('x-request-id')
    req.id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    res.setHeader('X-Request-Id', String(req.id))
    const end = metrics.httpDuration.startTimer()
    res.on('finish', () => {
      const route = routeLabel(req)
      end({ method: req.method, route })
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) })
    })
    next()
  })
  app.use(
    pinoHttp({
      logger: log,
      genReqId: (req) => req.id as string,
      customProps: (req) => ({ correlationId: req.id }),
      // Probes and scrapes are not worth a log line each.
      autoLogging: { ignore: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') },
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, url: stripQuery(req.url) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'info'),
    }),
  )

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      options.readiness.map(async (c) => {
        try {
          const detail = await withTimeout(c.check(), 2000)
          return { name: c.name, ok: true as const, ...(typeof detail === 'string' ? { detail } : {}) }
        } catch (err) {
          return { name: c.name, ok: false as const, error: (err as Error).message }
        }
      }),
    )
    const ok = results.every((r) => r.ok)
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', checks: results })
  })
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType)
    res.send(await (metrics.render ? metrics.render() : metrics.registry.metrics()))
  })

  // Responses compressed (gzip, deflate or brotli, as the client accepts) above 1 KB of a
  // compressible type; webhook acknowledgements (tiny, latency-bound) and metrics scrapes are left alone.
  app.use(compression({ filter: (req, res) => !NOT_COMPRESSED.test(req.path) && compression.filter(req, res) }))
  for (const mw of options.before ?? []) app.use(mw)
  for (const m of options.rawMounts ?? []) app.use(m.path, m.router)
  app.use(express.json({ limit: options.bodyLimitBytes, type: ['application/json', 'application/*+json'] }))
  app.use(express.urlencoded({ extended: false, limit: options.bodyLimitBytes }))
  for (const m of options.mounts ?? []) app.use(m.path, m.router)

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'route_not_found', `no route for ${req.method} ${stripQuery(req.originalUrl)}`))
  })
  app.use(errorHandler(log))
  return app
}

function routeLabel(req: Request): string {
  const route = (req.route as { path?: string } | undefined)?.path
  if (!route) return 'unmatched'
  return `${req.baseUrl}${route}`
}

function stripQuery(url: string): string {
  const i = url.indexOf('?')
  return i < 0 ? url : url.slice(0, i)
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
