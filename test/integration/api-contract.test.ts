/**
 * The API's contract: what the OpenAPI document says a request needs is what the server
 * enforces, at the schema (before any handler runs), so a client generated from the document is
 * refused nothing the document allows.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, type Harness } from '../../src/auth/test-support.ts'
import { API_ROUTES } from '../../src/http/api-routes.ts'
import { buildOpenApi, type JsonSchema } from '../../src/http/openapi.ts'
import { REASON_MIN_LENGTH } from '../../src/exceptions/config.ts'

type Issue = { path: string; code: string }

describe('request schemas say what the server enforces', () => {
  let h: Harness
  let operator: string
  let approver: string
  before(async () => {
    h = await startHarness({ routes: API_ROUTES })
    operator = (await h.token('operator')).token
    approver = (await h.token('approver')).token
  })
  after(async () => {
    await h.close()
  })

  test('when an exception is requested or decided with a 9-character reason, then the schema refuses it (400 body.reason), as the document says', async () => {
    const doc = buildOpenApi(API_ROUTES)
    const schemas = doc.components.schemas as Record<string, JsonSchema & { properties: Record<string, JsonSchema> }>
    const request = schemas.ExceptionRequestInput ?? schemas.ExceptionRequest
    const decision = schemas.ExceptionDecisionInput ?? schemas.ExceptionDecision
    assert.equal(request?.properties.reason?.minLength, REASON_MIN_LENGTH)
    assert.equal(decision?.properties.reason?.minLength, REASON_MIN_LENGTH)

    const short = 'x'.repeat(REASON_MIN_LENGTH - 1)
    const requested = await h.call('post', '/api/v1/exceptions', {
      token: operator,
      body: { kind: 'sla_waiver', employeeId: '00000000-0000-4000-8000-000000000000', endsAt: new Date(Date.now() + 86_400_000).toISOString(), reason: short },
    })
    assert.equal(requested.status, 400, requested.text)
    const issues = (requested.json as { error: { code: string; details: { issues: Issue[] } } }).error
    assert.equal(issues.code, 'validation_failed')
    assert.deepEqual(issues.details.issues.map((i) => [i.path, i.code]), [['body.reason', 'too_small']])

    const decided = await h.call('post', '/api/v1/exceptions/00000000-0000-4000-8000-000000000000/approve', { token: approver, body: { reason: `  ${short}  ` } })
    assert.equal(decided.status, 400, decided.text)
    assert.deepEqual((decided.json as { error: { details: { issues: Issue[] } } }).error.details.issues.map((i) => i.path), ['body.reason'])
  })

  test('when the audit log is asked for more rows a page than the server serves, then the schema refuses it, as the document says', async () => {
    const doc = buildOpenApi(API_ROUTES)
    const params = (doc.paths['/api/v1/audit/events']?.get as { parameters: Array<{ name: string; schema: JsonSchema }> }).parameters
    assert.equal(params.find((p) => p.name === 'limit')?.schema.maximum, 1000)
    const auditor = (await h.token('auditor')).token
    const res = await h.call('get', '/api/v1/audit/events?limit=1001', { token: auditor })
    assert.equal(res.status, 400)
    assert.deepEqual((res.json as { error: { details: { issues: Issue[] } } }).error.details.issues.map((i) => i.path), ['query.limit'])
  })
})
