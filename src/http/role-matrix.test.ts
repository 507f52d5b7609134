/**
 * The role matrix over real HTTP: every registered route called by every kind of caller, first
 * on the real server (startTenure, the real registry with its real dependencies), then with
 * sample routes of every kind of access and an HR source. It grows with the API: a route added to
 * the registry is walked here without touching this file.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { admittedRoles, ROLES, type Role } from '../auth/roles.ts'
import { startHarness, type CallOptions, type CallResult, type Harness } from '../auth/test-support.ts'
import { createApiToken } from '../auth/tokens.ts'
import { validateConfig } from '../config/load.ts'
import { silentLogger } from '../log.ts'
import { startTenure, type Running } from '../main.ts'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { API_ROUTES } from './api-routes.ts'
import type { RouteDefinition } from './routes.ts'
import { SAMPLE_ROUTES, sampleUpstream } from '../../test/helpers/test-routes.ts'

type Caller = { kind: 'none' } | { kind: 'role'; role: Role; token: string } | { kind: 'hr_source' }

function sampleParam(schema: z.ZodType): string {
  const options = schema instanceof z.ZodEnum ? (schema.options as string[]) : []
  const candidates = [...options, randomUUID(), '1', 'x']
  return candidates.find((c) => schema.safeParse(c).success) ?? 'x'
}

function concretePath(route: RouteDefinition): string {
  const shape = route.request.params.shape as Record<string, z.ZodType>
  return route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => encodeURIComponent(sampleParam(shape[name]!)))
}

/** A layer of express 5's router (the `router` package): a route, or a mounted router with its own stack. */
interface RouterLayer {
  rawPath?: string | RegExp | unknown[]
  slash?: boolean
  route?: { path: string; methods: Record<string, boolean> }
  handle?: { stack?: RouterLayer[] }
}

/** Every method and path the app answers, mounted routers included (their mount path prefixed). */
function mountedRoutes(stack: RouterLayer[], prefix = ''): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = []
  for (const layer of stack) {
    if (layer.route) {
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push({ method, path: `${prefix}${layer.route.path}` })
    } else if (layer.handle?.stack) {
      const mount = layer.slash || typeof layer.rawPath !== 'string' ? '' : layer.rawPath.replace(/\/$/, '')
      out.push(...mountedRoutes(layer.handle.stack, `${prefix}${mount}`))
    }
  }
  return out
}

/**
 * Served by the app but not the API, so not in its document: the orchestrator's probes and the
 * Prometheus scrape (docs/operations.md), and the HR vendors' webhook, whose contract is each
 * vendor's payload and signature (docs/hr-sources.md), not ours.
 */
const NOT_API = new Set(['get /healthz', 'get /readyz', 'get /metrics', 'post /webhooks/hr/:source'])

function expectation(route: RouteDefinition, caller: Caller): 'admitted' | 401 | 403 {
  if (route.roles === 'public') return 'admitted'
  if (caller.kind === 'none') return 401
  if (route.roles === 'hr_source') return caller.kind === 'hr_source' ? 'admitted' : 403
  if (caller.kind === 'hr_source') return 403
  return admittedRoles(route.roles).includes(caller.role) ? 'admitted' : 403
}

/** Calls every route as every caller; returns the answers that contradict the routes' roles. */
async function walk(
  routes: readonly RouteDefinition[],
  callers: Caller[],
  call: (route: RouteDefinition, caller: Caller) => Promise<CallResult>,
  options: { noServerErrors: boolean },
): Promise<{ mismatches: string[]; calls: number }> {
  const mismatches: string[] = []
  let calls = 0
  for (const route of routes) {
    for (const caller of callers) {
      const res = await call(route, caller)
      calls += 1
      const expected = expectation(route, caller)
      const who = caller.kind === 'role' ? caller.role : caller.kind
      const label = `${route.method.toUpperCase()} ${route.path} as ${who}: got ${res.status}`
      if (expected === 'admitted') {
        if (res.status === 401 || res.status === 403) mismatches.push(`${label}, expected admitted (${res.text.slice(0, 200)})`)
        else if (options.noServerErrors && res.status === 500) mismatches.push(`${label}: a bug behind the role check (${res.text.slice(0, 200)})`)
      } else if (res.status !== expected) {
        mismatches.push(`${label}, expected ${expected}`)
      } else if (expected === 401 && !/^Bearer /.test(res.headers.get('www-authenticate') ?? '')) {
        mismatches.push(`${label} without a WWW-Authenticate: Bearer challenge`)
      } else if (expected === 403 && (res.json as { error?: { code?: string } })?.error?.code !== 'forbidden') {
        mismatches.push(`${label} without the forbidden error code`)
      }
    }
  }
  return { mismatches, calls }
}

function request(route: RouteDefinition, caller: Caller): { path: string; options: CallOptions } {
  const headers: Record<string, string> = {}
  if (caller.kind === 'hr_source') headers['x-test-hr-source'] = 'bamboohr'
  return {
    path: concretePath(route),
    options: {
      headers,
      token: caller.kind === 'role' ? caller.token : undefined,
      // An empty object: admitted callers get 400 from validation, so probing changes nothing.
      body: route.request.body ? {} : undefined,
    },
  }
}

describe('role matrix on the running server (the real registry, real dependencies)', () => {
  let db: TestDatabase
  let running: Running
  const callers: Caller[] = [{ kind: 'none' }]
  before(async () => {
    db = await createTestDatabase('matrix')
    const config = validateConfig({
      server: { port: 0 },
      database: { url: db.url },
      workers: { enabled: false },
      log: { level: 'silent' },
      auth: { rateLimit: { enabled: false } },
    })
    running = await startTenure({ config, mode: 'serve', log: silentLogger })
    for (const role of ROLES) {
      const created = await createApiToken(running.pool, { name: `matrix-${role}`, role, createdBy: { type: 'system', id: 'test' }, now: new Date() })
      callers.push({ kind: 'role', role, token: created.token })
    }
  })
  after(async () => {
    await running.stop()
    await db.drop()
  })

  test('when every role calls every registered endpoint, then it is admitted exactly where the registry says, 403 elsewhere, 401 without a credential', async () => {
    const { mismatches, calls } = await walk(API_ROUTES, callers, async (route, caller) => {
      const { path, options } = request(route, caller)
      const headers: Record<string, string> = { ...options.headers }
      if (options.token) headers.authorization = `Bearer ${options.token}`
      if (options.body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(`${running.url}${path}`, {
        method: route.method.toUpperCase(),
        headers,
        body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      })
      const text = await res.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: res.status, headers: res.headers, text, json }
    }, { noServerErrors: true })
    assert.deepEqual(mismatches, [])
    assert.equal(calls, API_ROUTES.length * (ROLES.length + 1))
  })

  test('when the running app\'s router stack is walked, then every mounted route is an operation of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${running.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const mounted = mountedRoutes((running.app as unknown as { router: { stack: RouterLayer[] } }).router.stack)
    // Sanity: the walk sees the registry's routes and the plain routers (the webhook), or it proves nothing.
    assert.ok(mounted.length > API_ROUTES.length, `walked ${mounted.length} routes`)
    assert.ok(mounted.some((r) => r.path === '/api/v1/audit/events'))
    const undocumented = mounted
      .filter((r) => !NOT_API.has(`${r.method} ${r.path}`))
      .filter((r) => !doc.paths[r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')]?.[r.method])
      .map((r) => `${r.method.toUpperCase()} ${r.path}`)
    assert.deepEqual(undocumented, [], 'mounted but missing from /api/v1/openapi.json: define them with defineRoute() and add them to API_ROUTES')
  })

  test('when the server runs, then the registry is served behind the security middleware and documented', async () => {
    const doc = (await (await fetch(`${running.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    for (const route of API_ROUTES) assert.ok(doc.paths[route.openApiPath]?.[route.method], `${route.method} ${route.path} is documented`)
    const anonymous = await fetch(`${running.url}/api/v1/whoami`)
    assert.equal(anonymous.status, 401)
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="tenure"')
    assert.equal(anonymous.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(anonymous.headers.get('cache-control'), 'no-store')
  })
})

describe('role matrix with sample routes and an HR source', () => {
  const routes = [...API_ROUTES, ...SAMPLE_ROUTES]
  let h: Harness
  const callers: Caller[] = [{ kind: 'none' }, { kind: 'hr_source' }]
  before(async () => {
    h = await startHarness({ routes, upstream: [sampleUpstream], config: { auth: { rateLimit: { enabled: false } } } })
    for (const role of ROLES) callers.push({ kind: 'role', role, token: (await h.token(role, { name: `matrix-${role}` })).token })
  })
  after(async () => {
    await h.close()
  })

  test('when every caller, an HR source included, calls every endpoint, then each is admitted exactly where its roles say', async () => {
    // This harness runs without the lifecycle engine or the queue, so admitted calls to routes
    // that need them may answer 503/500: only the role decisions are checked here.
    const { mismatches, calls } = await walk(routes, callers, (route, caller) => {
      const { path, options } = request(route, caller)
      return h.call(route.method, path, options)
    }, { noServerErrors: false })
    assert.deepEqual(mismatches, [])
    assert.equal(calls, routes.length * (ROLES.length + 2))
  })

  test('when the registry is walked, then it holds every real route and a route for each kind of access', () => {
    assert.ok(API_ROUTES.every((r) => routes.includes(r)))
    const kinds = new Set(routes.map((r) => (typeof r.roles === 'string' ? r.roles : r.roles.join('+'))))
    for (const kind of ['public', 'hr_source', 'admin', 'auditor', 'approver', 'operator', 'operator+auditor']) assert.ok(kinds.has(kind), kind)
  })

  test('when an HR source delivers with a valid signature, then it is admitted; a bad signature is 401; an admin token is 403', async () => {
    const ok = await h.call('post', '/webhooks/samples/workday', { headers: { 'x-sample-signature': 'valid' } })
    assert.equal(ok.status, 202)
    assert.deepEqual(ok.json, { source: 'workday' })
    const bad = await h.call('post', '/webhooks/samples/workday', { headers: { 'x-sample-signature': 'forged' } })
    assert.equal(bad.status, 401)
    assert.equal((bad.json as { error: { code: string } }).error.code, 'invalid_signature')
    const admin = callers.find((c) => c.kind === 'role' && c.role === 'admin') as { token: string }
    const asAdmin = await h.call('post', '/webhooks/samples/workday', { token: admin.token })
    assert.equal(asAdmin.status, 403)
  })

  test('when a public route is called with a refused credential, then it still serves, as anonymous', async () => {
    const res = await h.call('get', '/api/v1/samples/ping', { token: 'tnr_adm_not-a-real-token' })
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, { pong: true, caller: null })
  })
})
