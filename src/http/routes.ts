/**
 * The route registry: every API endpoint is one `defineRoute({...})` value. The same definition
 * mounts the express route, checks who may call it, validates the request, serialises the
 * response, generates the OpenAPI document (src/http/openapi.ts) and the role matrix in
 * docs/security.md. Nothing about an endpoint is written twice, so none of it can drift.
 *
 *   export const getEmployee = defineRoute({
 *     method: 'get',
 *     path: '/api/v1/employees/:id',               // express style; becomes {id} in OpenAPI
 *     summary: 'One employee with their accounts',
 *     tags: ['employees'],
 *     roles: ['operator', 'auditor'],              // admin is always admitted; 'public' | 'hr_source'
 *     request: {
 *       params: z.object({ id: z.uuid() }),        // keys must be the path's :params
 *       query: pageQuery(),                        // a z.object; use z.coerce for numbers
 *       // body: z.object({...})                   // JSON only (415 otherwise); not on GET/DELETE
 *     },
 *     responses: {
 *       200: { description: 'The employee', schema: employeeSchema },
 *       404: { description: 'No such employee' }, // error statuses the handler throws must be listed
 *     },
 *     handler: async ({ params, principal, deps, log }) => {
 *       const employee = await findEmployee(deps.pool, params.id)
 *       if (!employee) throw notFound(`employee ${params.id}`)
 *       return employee                            // typed by the 200 schema (its input side)
 *     },
 *   })
 *
 * Then add it to API_ROUTES (src/http/api-routes.ts). In order, a request is: authenticated
 * (401 with `WWW-Authenticate: Bearer`), authorised (403), validated (400 naming `params.id`,
 * `query.limit`, `body.name`…), handled, and its result parsed through the declared response
 * schema, which strips any field the schema does not list (a response schema is an allow-list:
 * a database row with a secret column cannot leak by accident).
 *
 * - The returned value is sent with the route's lowest declared 2xx status. To choose the status
 *   or add headers: `return reply(201, body, { Location: url })`. A 204 returns `undefined`.
 * - A handler that streams (NDJSON exports) writes to `ctx.res` itself; nothing more is sent.
 * - Errors: throw ApiError (src/http/errors.ts); `notFound()`, `parseOr400()` help.
 * - Pagination: `?limit=&cursor=` → `{ items, nextCursor }` with pageQuery(), pageOf(),
 *   encodeCursor() and decodeCursor() below.
 * - Audit: `ctx.actor` is `{ type, id }` of the caller (the API token id, the SSO `sub`), the
 *   shape appendAudit() takes.
 * - A plain express router that is not a route definition yet can still be guarded with
 *   requireRoles() (src/auth/require-roles.ts), but only definitions are documented and tested.
 * - Under test (`validateResponses`, on when TENURE_TEST=1) every response is also checked after
 *   its JSON round trip, and an error status the route does not declare is turned into a 500,
 *   so a test of the route fails when its documentation would be wrong.
 */
import express, { type Request, type Response, type Router } from 'express'
import { z } from 'zod'
import { requirePrincipal, resolvePrincipal, setPrincipal, type Authenticator } from '../auth/authenticate.ts'
import { forbidden } from '../auth/errors.ts'
import { actorOf, isAllowed, isRole, type Actor, type Principal, type RouteAccess } from '../auth/roles.ts'
import type { Config } from '../config/index.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import type { EngineDeps } from '../lifecycle/engine.ts'
import type { NotifyConfig } from '../notify/config.ts'
import type { Boss } from '../jobs/boss.ts'
import type { SystemCatalog } from '../../provisioners/registry.ts'
import type { HrSourcesConfig } from '../hr/index.ts'
import type { SandboxMailbox } from '../sandbox/mailbox.ts'
import { ApiError, validationError } from './errors.ts'

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete'
const METHODS: readonly HttpMethod[] = ['get', 'post', 'put', 'patch', 'delete']

export interface ResponseSpec {
  description: string
  /** The body as sent (JSON unless contentType says otherwise). Error statuses default to the error shape. */
  schema?: z.ZodType
  /** Default application/json. */
  contentType?: string
}

export type ResponseMap = { readonly [status: number]: ResponseSpec }

/** What every handler can reach. The composition root builds it once; extend it as capabilities need more. */
export interface ApiDeps {
  pool: Pool
  config: Config
  log: Logger
  now: () => Date
  /** The lifecycle engine (routes that move an employee's machine, e.g. exceptions); absent in API-only harnesses. */
  engine?: EngineDeps
  boss?: Boss
  /** The notification config in effect (the sandbox fills in its Slack emulator). */
  notify?: () => NotifyConfig
  /** The target systems in effect (the sandbox's emulators, or the configured ones). */
  registry?: SystemCatalog
  /** The HR sources in effect (the sandbox points them at its HR emulators): the sandbox's sample deliveries sign with them. */
  hrSources?: HrSourcesConfig
  /** The sandbox's SMTP sink (npm start without notify.email): GET /api/v1/sandbox/mail reads it. */
  sandboxMail?: SandboxMailbox
}

export interface RouteContext<P, Q, B, Pr extends Principal | null> {
  req: Request
  res: Response
  params: P
  query: Q
  body: B
  /** Who is calling; null only on public routes called without a credential. */
  principal: Pr
  /** The caller as the audit trail records it. */
  actor: Pr extends Principal ? Actor : Actor | null
  /** The request's logger (request id bound), with the actor bound. */
  log: Logger
  deps: ApiDeps
  /** The registry this route was mounted with (the OpenAPI route documents it). */
  routes: readonly RouteDefinition[]
}

const REPLY = Symbol('tenure.reply')

export interface Reply<S extends number = number, B = unknown> {
  readonly [REPLY]: true
  status: S
  body: B
  headers: Record<string, string>
}

/** Answer with a chosen status (one the route declares) and optional headers. */
export function reply<S extends number, B>(status: S, body: B, headers: Record<string, string> = {}): Reply<S, B> {
  return { [REPLY]: true, status, body, headers }
}

function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && REPLY in value
}

type SuccessStatus = 200 | 201 | 202 | 203 | 204 | 206
type BodyOf<Spec> = Spec extends { schema: infer S extends z.ZodType } ? z.input<S> : undefined | void
type HandlerResult<R> =
  | { [K in keyof R]: K extends SuccessStatus ? BodyOf<R[K]> : never }[keyof R]
  | { [K in keyof R & number]: Reply<K, BodyOf<R[K]>> }[keyof R & number]

/** `'/api/v1/a/:aId/b/:bId'` → `'aId' | 'bId'`: undeclared path parameters are typed from the path. */
export type PathParams<Path extends string> = Path extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParams<`/${Rest}`>
  : Path extends `${string}:${infer Name}`
    ? Name
    : never
type Maybe = z.ZodType | undefined
type ParamsOf<Path extends string, P extends Maybe> = P extends z.ZodType ? z.output<P> : { [K in PathParams<Path>]: string }
type QueryOf<Q extends Maybe> = Q extends z.ZodType ? z.output<Q> : Record<string, never>
type BodyIn<B extends Maybe> = B extends z.ZodType ? z.output<B> : undefined

export interface RouteSpec<Path extends string, A extends RouteAccess, R extends ResponseMap, P extends Maybe, Q extends Maybe, B extends Maybe> {
  method: HttpMethod
  /** Express style: `/api/v1/employees/:id`. Literal segments and `:name` parameters only. */
  path: Path
  summary: string
  description?: string
  tags: readonly string[]
  /** Default: derived from method and path (`getEmployeesById`). */
  operationId?: string
  deprecated?: boolean
  roles: A
  request?: { params?: P; query?: Q; body?: B }
  responses: R
  /**
   * For routes whose caller proves who it is some other way than a bearer credential (an HR
   * webhook's vendor signature): return the principal, or null to fall back to the bearer
   * credential. Throw ApiError(401) for a bad signature.
   */
  authenticate?: (req: Request) => Promise<Principal | null>
  handler: (ctx: RouteContext<ParamsOf<Path, P>, QueryOf<Q>, BodyIn<B>, A extends 'public' ? Principal | null : Principal>) => Promise<HandlerResult<R>>
}

/** A route with its types erased, as the registry holds it. */
export interface RouteDefinition {
  method: HttpMethod
  path: string
  /** The path in OpenAPI form: `/api/v1/employees/{id}`. */
  openApiPath: string
  pathParams: readonly string[]
  summary: string
  description?: string
  tags: readonly string[]
  operationId: string
  deprecated: boolean
  roles: RouteAccess
  request: { params: z.ZodObject; query?: z.ZodObject; body?: z.ZodType }
  responses: ResponseMap
  /** The status a plain (non-reply) result is sent with. */
  successStatus: number
  authenticate?: (req: Request) => Promise<Principal | null>
  handler: (ctx: RouteContext<unknown, unknown, unknown, Principal | null>) => Promise<unknown>
}

export class RouteDefinitionError extends Error {
  constructor(route: { method: string; path: string }, message: string) {
    super(`${route.method.toUpperCase()} ${route.path}: ${message}`)
    this.name = 'RouteDefinitionError'
  }
}

const SEGMENT = /^(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)$/

function pathParamsOf(route: { method: string; path: string }): string[] {
  if (!route.path.startsWith('/') || route.path.length < 2) throw new RouteDefinitionError(route, 'the path must start with / and name a resource')
  const segments = route.path.slice(1).split('/')
  const params: string[] = []
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      throw new RouteDefinitionError(route, `path segment "${segment}" is not a literal or a :param (no optional parts, wildcards or regexes)`)
    }
    if (segment.startsWith(':')) {
      const name = segment.slice(1)
      if (params.includes(name)) throw new RouteDefinitionError(route, `path parameter :${name} appears twice`)
      params.push(name)
    }
  }
  return params
}

function defaultOperationId(method: HttpMethod, path: string): string {
  const segments = path.split('/').filter(Boolean)
  const rest = segments[0] === 'api' && /^v\d+$/.test(segments[1] ?? '') ? segments.slice(2) : segments
  const words = rest.map((s) => (s.startsWith(':') ? `By_${s.slice(1)}` : s))
  const pascal = words
    .flatMap((w) => w.split(/[^A-Za-z0-9]+/))
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')
  return `${method}${pascal}`
}

/** Define an endpoint. Checks the definition at once (module load), so a mistake fails every test. */
export function defineRoute<
  const Path extends string,
  const A extends RouteAccess,
  R extends ResponseMap,
  P extends Maybe = undefined,
  Q extends Maybe = undefined,
  B extends Maybe = undefined,
>(spec: RouteSpec<Path, A, R, P, Q, B>): RouteDefinition {
  if (!METHODS.includes(spec.method)) throw new RouteDefinitionError(spec, `unknown method ${spec.method}`)
  const pathParams = pathParamsOf(spec)
  if (spec.roles !== 'public' && spec.roles !== 'hr_source') {
    if (!Array.isArray(spec.roles) || spec.roles.length === 0) {
      throw new RouteDefinitionError(spec, "roles must list at least one role (['admin'] for admin-only), or be 'public' or 'hr_source'")
    }
    for (const role of spec.roles) if (!isRole(role)) throw new RouteDefinitionError(spec, `unknown role ${String(role)}`)
  }
  if (spec.authenticate && spec.roles !== 'hr_source') throw new RouteDefinitionError(spec, "authenticate is for roles: 'hr_source' routes")

  let params: z.ZodObject
  const declared = spec.request?.params
  if (declared === undefined) {
    params = z.object(Object.fromEntries(pathParams.map((p) => [p, z.string().min(1)])))
  } else {
    if (!(declared instanceof z.ZodObject)) throw new RouteDefinitionError(spec, 'request.params must be a z.object')
    params = declared
    const keys = Object.keys(params.shape).sort()
    if (keys.join() !== [...pathParams].sort().join()) {
      throw new RouteDefinitionError(spec, `request.params declares {${keys.join(', ')}} but the path has {${pathParams.join(', ')}}`)
    }
  }
  const query = spec.request?.query
  if (query !== undefined && !(query instanceof z.ZodObject)) throw new RouteDefinitionError(spec, 'request.query must be a z.object')
  const body = spec.request?.body
  if (body !== undefined && (spec.method === 'get' || spec.method === 'delete')) {
    throw new RouteDefinitionError(spec, `${spec.method.toUpperCase()} requests carry no body`)
  }

  const statuses = Object.keys(spec.responses).map(Number)
  for (const status of statuses) {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RouteDefinitionError(spec, `response status ${status} is not an HTTP status`)
  }
  const successes = statuses.filter((s) => s >= 200 && s < 300).sort((a, b) => a - b)
  if (successes.length === 0) throw new RouteDefinitionError(spec, 'declare at least one 2xx response')
  const noContent = (spec.responses as Record<number, ResponseSpec>)[204]
  if (noContent?.schema) throw new RouteDefinitionError(spec, '204 responses have no body: remove its schema')

  return {
    method: spec.method,
    path: spec.path,
    openApiPath: spec.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}'),
    pathParams,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags,
    operationId: spec.operationId ?? defaultOperationId(spec.method, spec.path),
    deprecated: spec.deprecated ?? false,
    roles: spec.roles,
    request: { params, query: query as z.ZodObject | undefined, body },
    responses: spec.responses,
    successStatus: successes[0]!,
    authenticate: spec.authenticate,
    handler: spec.handler as unknown as RouteDefinition['handler'],
  }
}

/**
 * Statuses any route may answer without declaring them, because the machinery around the
 * handler produces them. The OpenAPI document lists them per operation too.
 */
export function implicitResponses(route: RouteDefinition): Record<number, string> {
  const out: Record<number, string> = {}
  const validates = route.pathParams.length > 0 || route.request.query !== undefined || route.request.body !== undefined
  if (validates) out[400] = 'The request is invalid; `details.issues` names each field (`body.name`, `query.limit`).'
  if (route.roles !== 'public') {
    out[401] = 'No credential, or the credential was refused (unknown, expired, revoked, bad signature). Comes with `WWW-Authenticate: Bearer`.'
    out[403] = 'The credential is valid but holds none of the roles this endpoint admits.'
  }
  if (route.request.body !== undefined) {
    out[413] = 'The body is larger than `server.bodyLimitBytes`.'
    out[415] = 'The body is not JSON.'
  }
  out[429] = 'Rate limit reached; retry after `Retry-After` seconds.'
  out[500] = 'Tenure failed; the `requestId` finds the log line.'
  out[503] = 'A dependency (the database, the identity provider) is unreachable; retry after `Retry-After` seconds.'
  return out
}

export function isDocumentedStatus(route: RouteDefinition, status: number): boolean {
  return status in route.responses || status in implicitResponses(route)
}

export interface MountOptions {
  deps: ApiDeps
  authenticator: Authenticator
  /** Check every response after its JSON round trip and refuse undeclared statuses. Default: on under `npm test`. */
  validateResponses?: boolean
}

/** Literal segments before parameters, so `/tokens/current` is never captured by `/tokens/:id`. */
function bySpecificity(a: RouteDefinition, b: RouteDefinition): number {
  const sa = a.path.split('/')
  const sb = b.path.split('/')
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const pa = sa[i]!.startsWith(':')
    const pb = sb[i]!.startsWith(':')
    if (pa !== pb) return pa ? 1 : -1
  }
  return 0
}

export function checkRegistry(routes: readonly RouteDefinition[]): void {
  const seen = new Map<string, RouteDefinition>()
  const ids = new Map<string, RouteDefinition>()
  for (const route of routes) {
    const key = `${route.method} ${route.path.replace(/:[A-Za-z0-9_]+/g, ':')}`
    const clash = seen.get(key)
    if (clash) throw new RouteDefinitionError(route, `registered twice (also ${clash.method.toUpperCase()} ${clash.path})`)
    seen.set(key, route)
    const same = ids.get(route.operationId)
    if (same) throw new RouteDefinitionError(route, `operationId ${route.operationId} is also used by ${same.method.toUpperCase()} ${same.path}`)
    ids.set(route.operationId, route)
  }
}

/** An express router serving the routes (mount it at `/`: route paths are absolute). */
export function mountRoutes(routes: readonly RouteDefinition[], options: MountOptions): Router {
  checkRegistry(routes)
  const validate = options.validateResponses ?? process.env.TENURE_TEST === '1'
  const router = express.Router({ caseSensitive: true, strict: false })
  for (const route of [...routes].sort(bySpecificity)) {
    router[route.method](route.path, async (req: Request, res: Response) => {
      await handle(route, req, res, { ...options, validate, routes })
    })
  }
  return router
}

interface HandleOptions extends MountOptions {
  validate: boolean
  routes: readonly RouteDefinition[]
}

async function authorise(route: RouteDefinition, req: Request, authenticator: Authenticator): Promise<Principal | null> {
  if (route.roles === 'public') {
    // A public route serves anyone; a refused credential does not make it fail.
    return resolvePrincipal(req, authenticator).catch(() => null)
  }
  if (route.authenticate) {
    const vouched = await route.authenticate(req)
    if (vouched) setPrincipal(req, vouched)
  }
  const principal = await requirePrincipal(req, authenticator)
  if (!isAllowed(principal, route.roles)) throw forbidden(principal, route.roles)
  return principal
}

function parsePart<T extends z.ZodType>(schema: T, value: unknown, where: 'params' | 'query' | 'body'): z.output<T> {
  const result = schema.safeParse(value)
  if (!result.success) throw validationError(result.error, where)
  return result.data
}

function hasBody(req: Request): boolean {
  return Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined
}

async function handle(route: RouteDefinition, req: Request, res: Response, options: HandleOptions): Promise<void> {
  const principal = await authorise(route, req, options.authenticator)
  const params = parsePart(route.request.params, req.params, 'params')
  const query = route.request.query ? parsePart(route.request.query, req.query, 'query') : {}
  let body: unknown
  if (route.request.body) {
    if (hasBody(req) && !req.is(['application/json', 'application/*+json'])) {
      throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON (Content-Type: application/json)')
    }
    body = parsePart(route.request.body, req.body, 'body')
  }
  const actor = principal ? actorOf(principal) : null
  const baseLog = (req as Request & { log?: Logger }).log ?? options.deps.log
  const log = actor ? baseLog.child({ actor }) : baseLog
  let result: unknown
  try {
    result = await route.handler({ req, res, params, query, body, principal, actor, log, deps: options.deps, routes: options.routes })
  } catch (err) {
    if (options.validate && err instanceof ApiError && !isDocumentedStatus(route, err.status)) {
      throw new ApiError(
        500,
        'undeclared_response',
        `${route.method.toUpperCase()} ${route.path} answered ${err.status} (${err.code}) but does not declare it in responses`,
      )
    }
    throw err
  }
  if (res.headersSent || res.writableEnded) return
  send(route, res, result, options)
}

function send(route: RouteDefinition, res: Response, result: unknown, options: HandleOptions): void {
  const status = isReply(result) ? result.status : route.successStatus
  const body = isReply(result) ? result.body : result
  const spec = route.responses[status]
  if (!spec) {
    throw new ApiError(500, 'undeclared_response', `${route.method.toUpperCase()} ${route.path} replied ${status}, which it does not declare`)
  }
  if (isReply(result)) for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value)
  if (!spec.schema) {
    if (options.validate && body !== undefined) {
      throw new ApiError(500, 'response_invalid', `${route.method.toUpperCase()} ${route.path} returned a body for ${status}, which declares no schema`)
    }
    res.status(status).end()
    return
  }
  const parsed = spec.schema.safeParse(body)
  if (!parsed.success) {
    // The handler produced something its schema does not describe: a bug, never the caller's fault.
    options.deps.log.error(
      { route: `${route.method.toUpperCase()} ${route.path}`, status, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), code: i.code })) },
      'response does not match its declared schema',
    )
    throw new ApiError(500, 'response_invalid', 'Tenure produced a response that does not match its documented schema', options.validate ? { issues: parsed.error.issues } : null)
  }
  const contentType = spec.contentType ?? 'application/json'
  if (!isJson(contentType)) {
    res.status(status).type(contentType).send(parsed.data)
    return
  }
  if (options.validate) {
    // What the client receives is the JSON text: a schema that only holds before serialisation
    // (a Date where the document says string) would mislead every client generated from it.
    const wire: unknown = JSON.parse(JSON.stringify(parsed.data) ?? 'null')
    const again = spec.schema.safeParse(wire)
    if (!again.success) {
      throw new ApiError(500, 'response_invalid', 'the response JSON does not match its schema after serialisation', { issues: again.error.issues })
    }
  }
  res.status(status).type(contentType).json(parsed.data)
}

function isJson(contentType: string): boolean {
  return /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)
}

// ---------------------------------------------------------------------------------------------
// Shared schemas: the error shape, timestamps, pagination.

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('Stable, machine-readable: validation_failed, unauthenticated, forbidden, not_found, rate_limited, …'),
      message: z.string().describe('For humans; may change between versions.'),
      details: z.unknown().nullable().describe('Structured detail, e.g. `issues` for validation_failed.'),
      requestId: z.string().describe('Also in the X-Request-Id header and every log line of the request.'),
    }),
  })
  .meta({ id: 'Error', description: 'Every error, whatever the endpoint.' })

/** Timestamps on the wire: ISO 8601 in UTC (`2025-03-01T09:30:00.123Z`). Handlers pass `date.toISOString()`. */
export const timestamp = z.iso.datetime()

export const MAX_PAGE_LIMIT = 200

/** `?limit=&cursor=`: use as (or extend into) a route's query schema. */
export function pageQuery(options: { defaultLimit?: number; maxLimit?: number } = {}) {
  const max = options.maxLimit ?? MAX_PAGE_LIMIT
  return z.object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(max)
      .default(options.defaultLimit ?? 50)
      .describe(`Items per page, 1–${max}.`),
    cursor: z.string().min(1).max(1024).optional().describe('`nextCursor` of the previous page; omit for the first page.'),
  })
}

/** `{ items, nextCursor }`; nextCursor is null on the last page. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('Pass as `cursor` to get the next page; null when this is the last page.'),
  })
}

/** An opaque cursor for a keyset position (e.g. `{ createdAt, id }` of the last item). */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url')
}

/** Read a cursor back; a cursor that was not made by encodeCursor() with this shape is a 400. */
export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.output<T> | null {
  if (cursor === undefined) return null
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    throw new ApiError(400, 'invalid_cursor', 'query.cursor: not a cursor this endpoint issued', {
      issues: [{ path: 'query.cursor', message: 'not a cursor this endpoint issued', code: 'invalid_cursor' }],
    })
  }
  return parsed.data
}
