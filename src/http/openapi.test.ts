import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { admittedRoles } from '../auth/roles.ts'
import { startHarness, type Harness } from '../auth/test-support.ts'
import { API_ROUTES } from './api-routes.ts'
import { buildOpenApi, type JsonSchema, type OpenApiDocument } from './openapi.ts'
import { defineRoute, pageOf, pageQuery, type RouteDefinition } from './routes.ts'
import { SAMPLE_ROUTES } from '../../test/helpers/test-routes.ts'

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

function pointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc)
}

/** The structural rules of OpenAPI 3.1 that matter to clients and generators. */
function problemsOf(doc: OpenApiDocument): string[] {
  const problems: string[] = []
  if (!/^3\.1\.\d+$/.test(doc.openapi)) problems.push(`openapi is ${doc.openapi}, not 3.1.x`)
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info.title and info.version are required')
  const schemes = doc.components.securitySchemes
  for (const [name, scheme] of Object.entries(schemes)) {
    if (!['http', 'apiKey', 'oauth2', 'openIdConnect', 'mutualTLS'].includes(String(scheme.type))) problems.push(`securityScheme ${name} has no valid type`)
    if (scheme.type === 'http' && typeof scheme.scheme !== 'string') problems.push(`securityScheme ${name} needs scheme`)
  }
  for (const name of Object.keys(doc.components.schemas)) if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) problems.push(`component name ${name} is not allowed`)
  const operationIds = new Set<string>()
  const declaredTags = new Set(doc.tags.map((t) => t.name))
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/')) problems.push(`path ${path} must start with /`)
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`
      if (!METHODS.includes(method)) problems.push(`${where}: not an HTTP method`)
      const id = operation.operationId as string
      if (operationIds.has(id)) problems.push(`${where}: operationId ${id} used twice`)
      operationIds.add(id)
      const params = (operation.parameters ?? []) as JsonSchema[]
      const inPath = params.filter((p) => p.in === 'path').map((p) => p.name as string)
      for (const name of templated) if (!inPath.includes(name)) problems.push(`${where}: path parameter {${name}} is not declared`)
      for (const p of params) {
        if (p.in === 'path' && !templated.includes(p.name as string)) problems.push(`${where}: parameter ${String(p.name)} is not in the path`)
        if (p.in === 'path' && p.required !== true) problems.push(`${where}: path parameter ${String(p.name)} must be required`)
        if (!p.schema) problems.push(`${where}: parameter ${String(p.name)} has no schema`)
      }
      if (new Set(params.map((p) => `${String(p.in)}:${String(p.name)}`)).size !== params.length) problems.push(`${where}: duplicate parameters`)
      const responses = operation.responses as Record<string, JsonSchema> | undefined
      if (!responses || Object.keys(responses).length === 0) problems.push(`${where}: no responses`)
      for (const [status, response] of Object.entries(responses ?? {})) {
        if (!/^[1-5]\d\d$/.test(status)) problems.push(`${where}: response key ${status}`)
        if (typeof response.description !== 'string') problems.push(`${where} ${status}: description is required`)
      }
      const body = operation.requestBody as JsonSchema | undefined
      if (body && !body.content) problems.push(`${where}: requestBody without content`)
      for (const requirement of (operation.security ?? []) as Array<Record<string, unknown>>) {
        for (const name of Object.keys(requirement)) if (!schemes[name]) problems.push(`${where}: security scheme ${name} is not defined`)
      }
      for (const tag of (operation.tags ?? []) as string[]) if (!declaredTags.has(tag)) problems.push(`${where}: tag ${tag} is not declared`)
    }
  }
  const walk = (node: unknown, at: string) => {
    if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`))
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref') {
          if (typeof v !== 'string' || pointer(doc, v) === undefined) problems.push(`${at}: $ref ${String(v)} does not resolve`)
        } else walk(v, `${at}/${k}`)
      }
    }
  }
  walk(doc, '#')
  return problems
}

describe('OpenAPI document', () => {
  const routes = [...API_ROUTES, ...SAMPLE_ROUTES]
  const doc = buildOpenApi(routes)

  test('when the document is generated, then it is structurally valid OpenAPI 3.1 and every $ref resolves', () => {
    assert.deepEqual(problemsOf(doc), [])
  })

  test('when the registry is walked, then every registered route is an operation with its roles', () => {
    let operations = 0
    for (const item of Object.values(doc.paths)) operations += Object.keys(item).length
    assert.equal(operations, routes.length)
    for (const route of routes) {
      const operation = doc.paths[route.openApiPath]?.[route.method]
      assert.ok(operation, `${route.method.toUpperCase()} ${route.path} is missing`)
      assert.equal(operation.operationId, route.operationId)
      const roles = route.roles === 'public' || route.roles === 'hr_source' ? [route.roles] : admittedRoles(route.roles)
      assert.deepEqual(operation['x-tenure-roles'], roles)
      assert.match(String(operation.description), /\*\*Who may call:\*\*/)
      const responses = operation.responses as Record<string, JsonSchema>
      for (const status of Object.keys(route.responses)) assert.ok(responses[status], `${route.path} ${status}`)
      if (route.roles !== 'public') {
        assert.ok(responses['401'] && responses['403'], `${route.path} documents 401 and 403`)
        assert.ok((responses['401'].headers as JsonSchema)['WWW-Authenticate'])
      }
      assert.ok((responses['429']!.headers as JsonSchema)['Retry-After'])
    }
  })

  test('when a route has path and query parameters and a body, then they are documented from the zod schemas', () => {
    const list = doc.paths['/api/v1/tokens']!.get!
    const params = list.parameters as JsonSchema[]
    assert.deepEqual(
      params.map((p) => [p.name, p.in, p.required]),
      [
        ['limit', 'query', false],
        ['cursor', 'query', false],
        ['includeRevoked', 'query', false],
      ],
    )
    assert.deepEqual((params[0]!.schema as JsonSchema).maximum, 200)
    const page = ((list.responses as Record<string, JsonSchema>)['200']!.content as Record<string, { schema: JsonSchema }>)['application/json']!.schema
    assert.deepEqual((page.properties as Record<string, JsonSchema>).items!.items, { $ref: '#/components/schemas/ApiToken' })
    const create = doc.paths['/api/v1/tokens']!.post!
    assert.deepEqual(create.requestBody, { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateApiToken' } } } })
    assert.deepEqual((doc.components.schemas.CreateApiToken!.required as string[]).sort(), ['name', 'role'])
    const revoke = doc.paths['/api/v1/tokens/{id}']!.delete!
    assert.deepEqual((revoke.parameters as JsonSchema[]).map((p) => [p.name, p.in, p.required, (p.schema as JsonSchema).format]), [['id', 'path', true, 'uuid']])
    assert.deepEqual(revoke.security, [{ apiToken: [] }, { oidc: [] }])
    assert.deepEqual(doc.paths['/api/v1/openapi.json']!.get!.security, [])
  })

  test('when a named schema reads differently as input and output, then the request side is published as <id>Input', () => {
    const thing = z.object({ colour: z.enum(['red', 'blue']).default('red'), size: z.number() }).meta({ id: 'Thing' })
    const holder = z.object({ thing, label: z.string() }).meta({ id: 'Holder' })
    const route = defineRoute({
      method: 'put',
      path: '/api/v1/holders/:id',
      summary: 'x',
      tags: ['t'],
      roles: ['operator'],
      request: { body: holder },
      responses: { 200: { description: 'ok', schema: pageOf(holder) } },
      handler: async () => ({ items: [], nextCursor: null }),
    })
    const built = buildOpenApi([route])
    assert.deepEqual(problemsOf(built), [])
    const schemas = built.components.schemas
    assert.deepEqual(Object.keys(schemas).sort(), ['Error', 'Holder', 'HolderInput', 'Thing', 'ThingInput'])
    assert.deepEqual(schemas.Thing!.required, ['colour', 'size'])
    assert.deepEqual(schemas.ThingInput!.required, ['size'])
    assert.deepEqual((schemas.HolderInput!.properties as Record<string, JsonSchema>).thing, { $ref: '#/components/schemas/ThingInput' })
  })

  test('when a schema is recursive, then its self-reference points at a component', () => {
    interface Node {
      name: string
      children: Node[]
    }
    const node: z.ZodType<Node> = z.lazy(() => z.object({ name: z.string(), children: z.array(node) }))
    const route = defineRoute({
      method: 'get',
      path: '/api/v1/tree',
      summary: 'x',
      tags: ['t'],
      roles: ['auditor'],
      request: { query: pageQuery() },
      responses: { 200: { description: 'ok', schema: z.object({ root: node }) } },
      handler: async () => ({ root: { name: 'r', children: [] } }),
    })
    assert.deepEqual(problemsOf(buildOpenApi([route])), [])
  })

  test('when two different schemas claim one id, then building fails naming it', () => {
    const a = z.object({ a: z.string() }).meta({ id: 'Clash' })
    const b = z.object({ b: z.number() }).meta({ id: 'Clash' })
    const make = (path: string, schema: z.ZodType): RouteDefinition =>
      defineRoute({ method: 'get', path, summary: 'x', tags: ['t'], roles: ['auditor'], responses: { 200: { description: 'ok', schema } }, handler: async () => ({}) })
    assert.throws(() => buildOpenApi([make('/api/v1/a', a), make('/api/v1/b', b)]), /two different schemas are named "Clash"/)
  })
})

describe('OpenAPI endpoint', () => {
  let h: Harness
  before(async () => {
    h = await startHarness({ config: { server: { publicUrl: 'https://tenure.example.com' } } })
  })
  after(async () => {
    await h.close()
  })

  test('when anyone fetches /api/v1/openapi.json, then the document of the mounted registry is served without a credential', async () => {
    const res = await h.call('get', '/api/v1/openapi.json')
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    const served = res.json as OpenApiDocument
    assert.deepEqual(served, JSON.parse(JSON.stringify(buildOpenApi(API_ROUTES, undefined, { servers: [{ url: 'https://tenure.example.com' }] }))))
    assert.deepEqual(problemsOf(served), [])
  })
})
