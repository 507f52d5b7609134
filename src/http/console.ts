/**
 * Serves the web console (web/, built by Vite into web/dist) from the API's own process, at `/`:
 * hashed assets cached for a year, index.html never cached (so a new build is picked up at once),
 * and every other GET that is not the API or a webhook answered with index.html, so the console's
 * own paths (/employees/…, /auth/callback) survive a reload. The console is a client of the public
 * API like any other: it has no route of its own here.
 *
 * Its Content-Security-Policy is strict: scripts, styles and connections from this origin only
 * (plus the OpenID Connect issuer, whose token endpoint the browser calls for the PKCE exchange),
 * no inline script, no framing.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import type { Config } from '../config/index.ts'
import type { Logger } from '../log.ts'
import { ApiError } from './errors.ts'
import { rootPath } from '../paths.ts'

export const CONSOLE_DIST = `${rootPath('web', 'dist')}${path.sep}`

/** Paths the console never answers: the API, the webhooks and the probes keep their own 404s. */
const NOT_CONSOLE = /^\/(?:api|webhooks)(?:\/|$)|^\/(?:healthz|readyz|metrics)$/

export function consoleCsp(config: Pick<Config, 'auth'>): string {
  const connect = ["'self'"]
  if (config.auth.oidc) connect.push(new URL(config.auth.oidc.issuer).origin)
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
  ].join('; ')
}

export interface ConsoleOptions {
  config: Pick<Config, 'auth'> & { console?: Pick<Config['console'], 'sourceMaps'> }
  log: Logger
  /** Default: web/dist of this checkout. */
  distDir?: string
}

export function consoleRouter(options: ConsoleOptions): Router {
  const dist = options.distDir ?? CONSOLE_DIST
  const index = path.join(dist, 'index.html')
  const csp = consoleCsp(options.config)
  const router = express.Router()
  const built = existsSync(index)
  if (!built) options.log.warn({ dist }, 'the web console is not built: run `npm run build` (npm install does it) to serve it at /')

  router.use((req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_CONSOLE.test(req.path)) return next()
    res.setHeader('Content-Security-Policy', csp)
    next()
  })
  // Source maps are built (`sourcemap: 'hidden'`: no sourceMappingURL in the scripts) but served
  // only when console.sourceMaps says so: in production they would publish the console's source.
  if (!options.config.console?.sourceMaps) {
    router.use('/assets', (req: Request, _res: Response, next: NextFunction) =>
      next(req.path.endsWith('.map') ? new ApiError(404, 'not_found', `no console asset ${req.path}`) : undefined),
    )
  }
  // Vite names assets by content hash: a changed file gets a new name, so they never go stale.
  router.use(
    '/assets',
    express.static(path.join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false, redirect: false }),
    // A stale asset name (an old tab after a deploy) is a plain 404, never the page in its place.
    (req: Request, _res: Response, next: NextFunction) => next(new ApiError(404, 'not_found', `no console asset ${req.path}`)),
  )
  router.use(
    express.static(dist, {
      index: false,
      redirect: false,
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  )
  router.use((req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_CONSOLE.test(req.path)) return next()
    if (!built && !existsSync(index)) {
      res.status(503).type('text/plain').send('The Tenure console is not built. Run `npm run build` (npm install does it), then reload.\n')
      return
    }
    res.setHeader('Cache-Control', 'no-cache')
    res.sendFile(index)
  })
  return router
}
