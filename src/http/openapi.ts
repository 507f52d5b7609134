/**
 * The OpenAPI 3.1 document, generated from the route registry: paths, parameters, bodies and
 * responses come from the routes' zod schemas (z.toJSONSchema: the input side for requests, the
 * output side for responses), and who may call each operation from its `roles`, in
 * `x-tenure-roles` and in the description. Served at GET /api/v1/openapi.json.
 *
 * Schemas named with `.meta({ id: 'Token' })` become components (#/components/schemas/Token).
 * When a named schema reads differently as input and as output (a default makes a field
 * optional on the way in), the request side is published as `<id>Input`.
 */
import { isDeepStrictEqual } from 'node:util'
import { z } from 'zod'
import pkg from '../../package.json' with { type: 'json' }
import { admittedRoles } from '../auth/roles.ts'
import { TOKEN_PATTERN } from '../auth/token-format.ts'
import { defineRoute, errorSchema, implicitResponses, type RouteDefinition } from './routes.ts'

export type JsonSchema = { [key: string]: unknown }

export interface OpenApiDocument {
  openapi: string
  info: { title: string; version: string; description?: string }
  servers?: Array<{ url: string; description?: string }>
  tags: Array<{ name: string }>
  paths: Record<string, Record<string, JsonSchema>>
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, JsonSchema> }
}

export interface OpenApiInfo {
  title: string
  version: string
  description?: string
}

export interface OpenApiOptions {
  servers?: Array<{ url: string; description?: string }>
  /** The OIDC discovery URL, when SSO is configured: published as an openIdConnect scheme. */
  openIdConnectUrl?: string
}

export const DEFAULT_INFO: OpenApiInfo = {
  title: 'Tenure API',
  version: pkg.version,
  description:
    'Employee lifecycle provisioning. Authenticate with `Authorization: Bearer <token>`: an API token (`tnr_…`) or an SSO access token (JWT). ' +
    'Errors always read `{ "error": { "code", "message", "details", "requestId" } }`. Lists take `?limit=&cursor=` and answer `{ items, nextCursor }`. See docs/api.md.',
}

const PENDING = '#/components/schemas/__pending__/'
type Io = 'input' | 'output'

/** Converts zod schemas and collects the named ones, resolving names once everything is seen. */
class SchemaCollector {
  readonly #pending = new Map<string, JsonSchema>()
  #anonymous = 0

  convert(schema: z.ZodType, io: Io, context: string): JsonSchema {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12', cycles: 'ref', reused: 'inline' }) as JsonSchema
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>
    delete json.$defs
    delete json.$schema
    const local = new Map<string, string>()
    for (const name of Object.keys(defs)) {
      // zod names unnamed recursive schemas __schema0, __schema1 … per conversion: make them unique.
      const base = name.startsWith('__schema') ? `${context}${++this.#anonymous}` : name
      local.set(name, `${base}\u0000${io}`)
    }
    let root: JsonSchema
    if (containsRootRef(json)) {
      // A recursive root refers to itself as "#": hoist it so the reference means something.
      const key = `${context}${++this.#anonymous}\u0000${io}`
      this.#add(key, rewriteLocal(json, local, key))
      root = { $ref: PENDING + key }
    } else {
      root = rewriteLocal(json, local, null)
    }
    for (const [name, def] of Object.entries(defs)) this.#add(local.get(name)!, rewriteLocal(def, local, null))
    return root
  }

  #add(key: string, schema: JsonSchema): void {
    const existing = this.#pending.get(key)
    if (existing && !isDeepStrictEqual(existing, schema)) {
      const [id, io] = key.split('\u0000')
      throw new Error(`two different schemas are named "${id}" (${io}): give one of them another .meta({ id })`)
    }
    this.#pending.set(key, schema)
  }

  /** Final component names, and a function that rewrites pending references to them. */
  finish(): { schemas: Record<string, JsonSchema>; resolve: <T>(value: T) => T } {
    const keys = [...this.#pending.keys()]
    const bases = new Set(keys.map((k) => k.split('\u0000')[0]!))
    // Which ids read the same as input and output. Start from "same where the text matches with
    // references compared by id", then mark as different any pair that refers to a different
    // pair, until nothing changes.
    const same = new Map<string, boolean>()
    const strip = (value: unknown): unknown => mapRefs(value, (ref) => (ref.startsWith(PENDING) ? PENDING + ref.slice(PENDING.length).split('\u0000')[0] : ref))
    for (const base of bases) {
      const input = this.#pending.get(`${base}\u0000input`)
      const output = this.#pending.get(`${base}\u0000output`)
      if (input && output) same.set(base, isDeepStrictEqual(strip(input), strip(output)))
    }
    for (let changed = true; changed; ) {
      changed = false
      for (const [base, equal] of same) {
        if (!equal) continue
        const refs = collectRefs(this.#pending.get(`${base}\u0000input`)).map((r) => r.split('\u0000')[0]!)
        if (refs.some((r) => same.get(r) === false)) {
          same.set(base, false)
          changed = true
        }
      }
    }
    const names = new Map<string, string>()
    for (const key of keys) {
      const [base, io] = key.split('\u0000') as [string, Io]
      const paired = same.get(base)
      names.set(key, io === 'input' && paired === false ? `${base}Input` : base)
    }
    const resolve = <T>(value: T): T =>
      mapRefs(value, (ref) => (ref.startsWith(PENDING) ? `#/components/schemas/${names.get(ref.slice(PENDING.length))!}` : ref)) as T
    const schemas: Record<string, JsonSchema> = {}
    for (const key of keys.sort()) schemas[names.get(key)!] ??= resolve(this.#pending.get(key)!)
    return { schemas, resolve }
  }
}

function containsRootRef(value: unknown): boolean {
  return collectRefs(value, true).includes('#')
}

function collectRefs(value: unknown, raw = false): string[] {
  const out: string[] = []
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk)
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') out.push(raw || !v.startsWith(PENDING) ? v : v.slice(PENDING.length))
        else walk(v)
      }
    }
  }
  walk(value)
  return out
}

function mapRefs(value: unknown, fn: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapRefs(v, fn))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = k === '$ref' && typeof v === 'string' ? fn(v) : mapRefs(v, fn)
    return out
  }
  return value
}

function rewriteLocal(schema: JsonSchema, local: Map<string, string>, rootKey: string | null): JsonSchema {
  return mapRefs(schema, (ref) => {
    if (ref === '#' && rootKey) return PENDING + rootKey
    const match = /^#\/\$defs\/(.+)$/.exec(ref)
    const key = match ? local.get(match[1]!) : undefined
    return key ? PENDING + key : ref
  }) as JsonSchema
}

function whoMayCall(route: RouteDefinition): { roles: string[]; text: string } {
  if (route.roles === 'public') return { roles: ['public'], text: '**Who may call:** anyone; no credential needed.' }
  if (route.roles === 'hr_source') {
    return { roles: ['hr_source'], text: "**Who may call:** HR sources only, authenticated by the vendor's webhook signature. Every API token and SSO user is refused (403)." }
  }
  const roles = admittedRoles(route.roles)
  return { roles, text: `**Who may call:** ${roles.map((r) => `\`${r}\``).join(', ')}.` }
}

function parameters(collector: SchemaCollector, schema: z.ZodObject | undefined, where: 'path' | 'query', context: string): JsonSchema[] {
  if (!schema) return []
  const json = collector.convert(schema, 'input', context)
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((json.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property
    return {
      name,
      in: where,
      required: where === 'path' ? true : required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    }
  })
}

const ERROR_HEADERS: Record<number, JsonSchema> = {
  401: { 'WWW-Authenticate': { description: 'Bearer challenge (RFC 6750).', schema: { type: 'string' } } },
  429: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } } },
  503: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } } },
}

export function buildOpenApi(routes: readonly RouteDefinition[], info: OpenApiInfo = DEFAULT_INFO, options: OpenApiOptions = {}): OpenApiDocument {
  const collector = new SchemaCollector()
  const errorRef = collector.convert(errorSchema, 'output', 'Error')
  const paths: Record<string, Record<string, JsonSchema>> = {}
  const tags = new Set<string>()
  for (const route of routes) {
    const who = whoMayCall(route)
    route.tags.forEach((t) => tags.add(t))
    const context = route.operationId[0]!.toUpperCase() + route.operationId.slice(1)
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      description: [route.description, who.text].filter(Boolean).join('\n\n'),
      tags: [...route.tags],
      'x-tenure-roles': who.roles,
      security: route.roles === 'public' || route.roles === 'hr_source' ? [] : [{ apiToken: [] }, { oidc: [] }],
    }
    if (route.deprecated) operation.deprecated = true
    const params = [
      ...parameters(collector, route.request.params, 'path', `${context}Params`),
      ...parameters(collector, route.request.query, 'query', `${context}Query`),
    ]
    if (params.length > 0) operation.parameters = params
    if (route.request.body) {
      operation.requestBody = {
        required: !route.request.body.safeParse(undefined).success,
        content: { 'application/json': { schema: collector.convert(route.request.body, 'input', `${context}Body`) } },
      }
    }
    const responses: Record<string, JsonSchema> = {}
    for (const [status, spec] of Object.entries(route.responses)) {
      const code = Number(status)
      const schema = spec.schema ? collector.convert(spec.schema, 'output', `${context}${status}`) : code >= 400 ? errorRef : undefined
      responses[status] = {
        description: spec.description,
        ...(ERROR_HEADERS[code] ? { headers: ERROR_HEADERS[code] } : {}),
        ...(schema ? { content: { [spec.contentType ?? 'application/json']: { schema } } } : {}),
      }
    }
    for (const [status, description] of Object.entries(implicitResponses(route))) {
      responses[status] ??= {
        description,
        ...(ERROR_HEADERS[Number(status)] ? { headers: ERROR_HEADERS[Number(status)] } : {}),
        content: { 'application/json': { schema: errorRef } },
      }
    }
    operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)))
    const item = (paths[route.openApiPath] ??= {})
    item[route.method] = operation
  }
  const { schemas, resolve } = collector.finish()
  const document: OpenApiDocument = {
    openapi: '3.1.1',
    info: { ...info },
    ...(options.servers && options.servers.length > 0 ? { servers: options.servers } : {}),
    tags: [...tags].sort().map((name) => ({ name })),
    paths: resolve(Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)))),
    components: {
      schemas,
      securitySchemes: {
        apiToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'Tenure API token',
          description: `An API token from \`tenure tokens create\` or POST /api/v1/tokens. Format: ${TOKEN_PATTERN.source}`,
        },
        oidc: options.openIdConnectUrl
          ? { type: 'openIdConnect', openIdConnectUrl: options.openIdConnectUrl, description: 'An access token (JWT) from the configured OpenID Connect provider.' }
          : { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token (JWT) from the configured OpenID Connect provider (auth.oidc).' },
      },
    },
  }
  return document
}

const documents = new WeakMap<readonly RouteDefinition[], OpenApiDocument>()

export const openApiRoute = defineRoute({
  method: 'get',
  path: '/api/v1/openapi.json',
  summary: 'This API described as OpenAPI 3.1',
  description: 'Generated from the same definitions that serve the API, so it cannot drift from it.',
  tags: ['meta'],
  roles: 'public',
  responses: {
    200: { description: 'The OpenAPI document', schema: z.record(z.string(), z.unknown()) },
  },
  handler: async ({ routes, deps }) => {
    let document = documents.get(routes)
    if (!document) {
      const publicUrl = deps.config.server.publicUrl
      const issuer = deps.config.auth.oidc?.issuer
      document = buildOpenApi(routes, DEFAULT_INFO, {
        servers: publicUrl ? [{ url: publicUrl }] : undefined,
        openIdConnectUrl: issuer ? `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration` : undefined,
      })
      documents.set(routes, document)
    }
    return document as unknown as Record<string, unknown>
  },
})
