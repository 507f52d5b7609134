/**
 * For tests of the API layer: the real app (createApp + createApi) on 127.0.0.1:0 over a fresh
 * migrated database, a movable clock, and a helper to call it. Not used by production code.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { RequestHandler } from 'express'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import type { Config } from '../config/index.ts'
import { validateConfig } from '../config/load.ts'
import { migrate } from '../db/migrate.ts'
import { createPool, type Pool } from '../db/pool.ts'
import { createApi, type Api } from '../http/api-routes.ts'
import { createApp } from '../http/app.ts'
import { createMetrics } from '../http/metrics.ts'
import type { RouteDefinition } from '../http/routes.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { Role } from './roles.ts'
import { parseDuration } from './token-format.ts'
import { createApiToken } from './tokens.ts'

export interface FakeClock {
  now: () => Date
  advance(ms: number): void
}

/** Starts at `start` (default: now) and moves only when told. */
export function fakeClock(start: Date = new Date()): FakeClock {
  let t = start.getTime()
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms
    },
  }
}

/** The wall clock, for tests whose tokens are signed with real time (JWTs from the test issuer). */
export function realClock(): FakeClock {
  return {
    now: () => new Date(),
    advance: () => {
      throw new Error('realClock cannot be moved: use fakeClock()')
    },
  }
}

export interface HarnessOptions {
  routes?: readonly RouteDefinition[]
  /** Configuration input (validated like a config file). */
  config?: Record<string, unknown>
  clock?: FakeClock
  log?: Logger
  /** Middleware placed before the security middleware (stands in for an upstream signature check). */
  upstream?: RequestHandler[]
  validateResponses?: boolean
  /** Reuse a database (and pool) instead of creating one. */
  pool?: Pool
}

export interface CallOptions {
  token?: string
  body?: unknown
  /** Sent as-is (with its own content type header). */
  rawBody?: string | Buffer
  headers?: Record<string, string>
}

export interface CallResult {
  status: number
  headers: Headers
  text: string
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: unknown
}

export interface Harness {
  url: string
  pool: Pool
  clock: FakeClock
  config: Config
  api: Api
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>
  token(role: Role, options?: { name?: string; expiresIn?: string }): Promise<{ token: string; id: string }>
  close(): Promise<void>
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const log = options.log ?? silentLogger
  const clock = options.clock ?? fakeClock()
  const config = validateConfig({ server: { port: 0 }, log: { level: 'silent' }, ...options.config })
  let db: TestDatabase | undefined
  let pool = options.pool
  if (!pool) {
    db = await createTestDatabase('auth')
    pool = createPool({ url: db.url, max: 5, statementTimeoutMs: 10_000, log })
    await migrate(pool, log)
  }
  const ownPool = !options.pool
  const api = createApi({ config, pool, log, now: clock.now, routes: options.routes, validateResponses: options.validateResponses ?? true })
  const app = createApp({
    log,
    metrics: createMetrics(),
    readiness: [],
    bodyLimitBytes: config.server.bodyLimitBytes,
    before: [...(options.upstream ?? []), ...api.before],
    mounts: [api.mount],
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const usedPool = pool
  return {
    url,
    pool: usedPool,
    clock,
    config,
    api,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers }
      if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
      let body: string | Buffer | undefined
      if (o.rawBody !== undefined) body = o.rawBody
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body)
        headers['content-type'] ??= 'application/json'
      }
      const res = await fetch(`${url}${path}`, { method: method.toUpperCase(), headers, body })
      const text = await res.text()
      let json: unknown
      try {
        json = text === '' ? undefined : JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: res.status, headers: res.headers, text, json }
    },
    async token(role, o = {}) {
      const now = clock.now()
      const created = await createApiToken(usedPool, {
        name: o.name ?? `test-${role}`,
        role,
        expiresAt: o.expiresIn ? new Date(now.getTime() + parseDuration(o.expiresIn)) : null,
        createdBy: { type: 'system', id: 'test' },
        now,
      })
      return { token: created.token, id: created.apiToken.id }
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      if (ownPool) {
        await usedPool.end()
        await db?.drop()
      }
    },
  }
}
