import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { startHarness, type Harness } from '../auth/test-support.ts'
import { ApiError } from './errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery, reply, RouteDefinitionError, type RouteDefinition } from './routes.ts'

type ErrorBody = { error: { code: string; message: string; details: { issues?: Array<{ path: string }> } | null; requestId: string } }

const uuid = '0d9a3e46-8d5e-4b8f-a8b5-2f0d8e8d9c11'

const ROUTES: RouteDefinition[] = [
  defineRoute({
    method: 'post',
    path: '/api/v1/t/widgets/:id',
    summary: 'validation',
    tags: ['t'],
    roles: ['operator'],
    request: {
      params: z.object({ id: z.uuid() }),
      query: z.object({ count: z.coerce.number().int().min(1).max(5).default(1), mode: z.enum(['a', 'b']).optional() }),
      body: z.object({ name: z.string().min(1), tags: z.array(z.string()).max(2) }),
    },
    responses: { 201: { description: 'created', schema: z.object({ id: z.uuid(), count: z.number(), mode: z.string().nullable(), name: z.string() }) } },
    handler: async ({ params, query, body }) => ({ id: params.id, count: query.count, mode: query.mode ?? null, name: body.name }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/leaky',
    summary: 'returns a field its schema does not list',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok', schema: z.object({ id: z.string() }) } },
    handler: async () => ({ id: 'a', secret_sha256: 'deadbeef' }) as { id: string },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/wrong',
    summary: 'returns the wrong type',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok', schema: z.object({ count: z.number() }) } },
    handler: async () => ({ count: 'three' }) as unknown as { count: number },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/dated',
    summary: 'a Date where the schema says string: fine before serialisation, not after',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok', schema: z.object({ at: z.date() }) } },
    handler: async () => ({ at: new Date() }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/undeclared',
    summary: 'throws a status it does not declare',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok' } },
    handler: async () => {
      throw new ApiError(409, 'conflict', 'already there')
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/boom',
    summary: 'a bug',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok' } },
    handler: async () => {
      throw new Error('connection string postgres://tenure:hunter2@db/tenure exploded at line 3')
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/things/:id',
    summary: 'param route',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok', schema: z.object({ matched: z.string() }) } },
    handler: async ({ params }) => ({ matched: `param:${params.id}` }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/things/current',
    summary: 'literal route registered after the param route',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'ok', schema: z.object({ matched: z.string() }) } },
    handler: async () => ({ matched: 'literal' }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/stream',
    summary: 'streams NDJSON itself',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'rows', contentType: 'application/x-ndjson' } },
    handler: async ({ res }) => {
      res.type('application/x-ndjson')
      res.write('{"n":1}\n')
      res.end('{"n":2}\n')
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/t/csv',
    summary: 'a non-JSON body',
    tags: ['t'],
    roles: ['operator'],
    responses: { 200: { description: 'csv', contentType: 'text/csv', schema: z.string() } },
    handler: async () => 'a,b\n1,2\n',
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/t/choose',
    summary: 'chooses its status',
    tags: ['t'],
    roles: ['operator'],
    request: { body: z.object({ existing: z.boolean() }) },
    responses: {
      200: { description: 'found', schema: z.object({ created: z.literal(false) }) },
      201: { description: 'made', schema: z.object({ created: z.literal(true) }) },
    },
    handler: async ({ body }) => (body.existing ? { created: false as const } : reply(201, { created: true as const }, { Location: '/x/1' })),
  }),
]

describe('route registry over HTTP', () => {
  let h: Harness
  let operator: string
  before(async () => {
    h = await startHarness({ routes: ROUTES, config: { auth: { rateLimit: { enabled: false } } } })
    operator = (await h.token('operator')).token
  })
  after(async () => {
    await h.close()
  })

  test('when params, query and body are valid, then the handler sees them parsed and the declared status answers', async () => {
    const res = await h.call('post', `/api/v1/t/widgets/${uuid}?count=3&mode=b`, { token: operator, body: { name: 'w', tags: [] } })
    assert.equal(res.status, 201, res.text)
    assert.deepEqual(res.json, { id: uuid, count: 3, mode: 'b', name: 'w' })
  })

  test('when params, query and body are invalid, then 400 names every failing field path', async () => {
    const res = await h.call('post', '/api/v1/t/widgets/not-a-uuid?count=9', { token: operator, body: { tags: ['a', 'b', 'c'] } })
    assert.equal(res.status, 400)
    const body = res.json as ErrorBody
    assert.equal(body.error.code, 'validation_failed')
    assert.deepEqual(body.error.details?.issues?.map((i) => i.path), ['params.id'])
    const q = await h.call('post', `/api/v1/t/widgets/${uuid}?count=9`, { token: operator, body: { tags: ['a', 'b', 'c'] } })
    assert.deepEqual((q.json as ErrorBody).error.details?.issues?.map((i) => i.path), ['query.count'])
    const b = await h.call('post', `/api/v1/t/widgets/${uuid}`, { token: operator, body: { tags: ['a', 'b', 'c'] } })
    assert.deepEqual((b.json as ErrorBody).error.details?.issues?.map((i) => i.path).sort(), ['body.name', 'body.tags'])
    assert.match((b.json as ErrorBody).error.message, /^body\./)
  })

  test('when the body is missing, not JSON, or malformed, then 400, 415 and 400 answer in the error shape', async () => {
    const missing = await h.call('post', `/api/v1/t/widgets/${uuid}`, { token: operator })
    assert.equal(missing.status, 400)
    assert.deepEqual((missing.json as ErrorBody).error.details?.issues?.map((i) => i.path), ['body'])
    const form = await h.call('post', `/api/v1/t/widgets/${uuid}`, { token: operator, rawBody: 'name=w', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    assert.equal(form.status, 415)
    assert.equal((form.json as ErrorBody).error.code, 'unsupported_media_type')
    const broken = await h.call('post', `/api/v1/t/widgets/${uuid}`, { token: operator, rawBody: '{"name":', headers: { 'content-type': 'application/json' } })
    assert.equal(broken.status, 400)
    assert.equal((broken.json as ErrorBody).error.code, 'malformed_json')
  })

  test('when a handler returns a field its schema does not list, then the field never reaches the client', async () => {
    const res = await h.call('get', '/api/v1/t/leaky', { token: operator })
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, { id: 'a' })
  })

  test('when a handler returns what its schema does not describe, then 500 response_invalid, not a wrong document', async () => {
    const res = await h.call('get', '/api/v1/t/wrong', { token: operator })
    assert.equal(res.status, 500)
    assert.equal((res.json as ErrorBody).error.code, 'response_invalid')
    const dated = await h.call('get', '/api/v1/t/dated', { token: operator })
    assert.equal(dated.status, 500, 'z.date() does not describe the JSON a client receives')
    assert.match((dated.json as ErrorBody).error.message, /after serialisation/)
  })

  test('when a handler answers a status its route does not declare, then tests see a 500 naming it', async () => {
    const res = await h.call('get', '/api/v1/t/undeclared', { token: operator })
    assert.equal(res.status, 500)
    assert.equal((res.json as ErrorBody).error.code, 'undeclared_response')
    assert.match((res.json as ErrorBody).error.message, /answered 409 \(conflict\)/)
  })

  test('when a handler fails with a bug, then 500 carries no stack trace and no part of the error message', async () => {
    const res = await h.call('get', '/api/v1/t/boom', { token: operator })
    assert.equal(res.status, 500)
    assert.equal((res.json as ErrorBody).error.code, 'internal_error')
    assert.doesNotMatch(res.text, /hunter2|exploded|at line|\.ts:\d+/)
    assert.equal((res.json as ErrorBody).error.requestId, res.headers.get('x-request-id'))
  })

  test('when a literal segment and a parameter could both match, then the literal wins whatever the order of definition', async () => {
    assert.deepEqual((await h.call('get', '/api/v1/t/things/current', { token: operator })).json, { matched: 'literal' })
    assert.deepEqual((await h.call('get', '/api/v1/t/things/42', { token: operator })).json, { matched: 'param:42' })
  })

  test('when a handler streams, then its own bytes are the response', async () => {
    const res = await h.call('get', '/api/v1/t/stream', { token: operator })
    assert.equal(res.status, 200)
    assert.equal(res.text, '{"n":1}\n{"n":2}\n')
    const csv = await h.call('get', '/api/v1/t/csv', { token: operator })
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/)
    assert.equal(csv.text, 'a,b\n1,2\n')
  })

  test('when a handler chooses its status with reply(), then that status and its headers are sent', async () => {
    const made = await h.call('post', '/api/v1/t/choose', { token: operator, body: { existing: false } })
    assert.equal(made.status, 201)
    assert.equal(made.headers.get('location'), '/x/1')
    const found = await h.call('post', '/api/v1/t/choose', { token: operator, body: { existing: true } })
    assert.equal(found.status, 200)
    assert.deepEqual(found.json, { created: false })
  })
})

describe('defineRoute', () => {
  const base = { summary: 's', tags: ['t'], responses: { 200: { description: 'ok' } }, handler: async () => undefined }
  // The type checker already refuses most of these; the runtime checks catch what it cannot.
  const unchecked = defineRoute as unknown as (spec: Record<string, unknown>) => RouteDefinition

  test('when a definition is inconsistent, then it fails at once naming the route and the problem', () => {
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x/:id', roles: ['admin'], request: { params: z.object({ key: z.string() }) } }), (err: unknown) => {
      assert.ok(err instanceof RouteDefinitionError)
      assert.match(err.message, /^GET \/api\/v1\/x\/:id: request.params declares \{key\} but the path has \{id\}/)
      return true
    })
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x', roles: [] }), /roles must list at least one role/)
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x/*rest', roles: ['admin'] }), /not a literal or a :param/)
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x', roles: ['admin'], request: { body: z.object({}) } }), /GET requests carry no body/)
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x', roles: ['admin'], responses: { 404: { description: 'no' } } }), /at least one 2xx/)
    assert.throws(() => unchecked({ ...base, method: 'get', path: '/api/v1/x', roles: ['root'] }), /unknown role root/)
  })

  test('when a path has parameters and no params schema, then each is a required string', () => {
    const route = defineRoute({ ...base, method: 'get', path: '/api/v1/a/:aId/b/:bId', roles: ['admin'] })
    assert.deepEqual(Object.keys(route.request.params.shape), ['aId', 'bId'])
    assert.equal(route.openApiPath, '/api/v1/a/{aId}/b/{bId}')
    assert.equal(route.operationId, 'getAByAIdBByBId')
  })
})

describe('pagination helpers', () => {
  test('when a cursor round-trips, then the position comes back; a tampered one is a 400', () => {
    const schema = z.object({ c: z.iso.datetime(), i: z.uuid() })
    const cursor = encodeCursor({ c: '2030-01-01T00:00:00.000Z', i: uuid })
    assert.deepEqual(decodeCursor(cursor, schema), { c: '2030-01-01T00:00:00.000Z', i: uuid })
    assert.equal(decodeCursor(undefined, schema), null)
    assert.throws(() => decodeCursor(encodeCursor({ c: 'yesterday', i: uuid }), schema), (err: unknown) => err instanceof ApiError && err.status === 400)
    assert.throws(() => decodeCursor('%%%', schema), (err: unknown) => err instanceof ApiError && err.code === 'invalid_cursor')
  })

  test('when limit is absent or out of range, then the default applies or validation fails', () => {
    const q = pageQuery({ defaultLimit: 25, maxLimit: 100 })
    assert.deepEqual(q.parse({}), { limit: 25 })
    assert.equal(q.safeParse({ limit: '101' }).success, false)
    assert.deepEqual(pageOf(z.string()).parse({ items: ['a'], nextCursor: null }), { items: ['a'], nextCursor: null })
  })
})
