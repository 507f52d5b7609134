import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const SECRET = `whsec_${Buffer.from('integration-test-secret-32-bytes!!').toString('base64')}`
const today = () => new Date().toISOString().slice(0, 10)

function delivery(payload: unknown, opts: { secret?: string; at?: Date; id?: string; contentType?: string } = {}) {
  const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
  const headers = signStandardWebhook(body, opts.secret ?? SECRET, opts.at ?? new Date(), opts.id)
  return { body, headers: { 'content-type': opts.contentType ?? 'application/json', ...headers } }
}

describe('HR intake over HTTP (generic source, Standard Webhooks signatures)', () => {
  let t: TestTenure
  const post = async (d: { body: Buffer; headers: Record<string, string> }, source = 'generic') =>
    fetch(`${t.url}/webhooks/hr/${source}`, { method: 'POST', headers: d.headers, body: d.body })
  const inboxCount = async () => (await t.running.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM hr_inbox')).rows[0]!.n

  before(async () => {
    t = await startTestTenure({
      hr: { generic: { secrets: [SECRET] }, gusto: { secrets: [] } },
      systems: { sandbox: { enabled: true } },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
    })
  })
  after(async () => {
    await t.stop()
  })

  test('when a signed joiner arrives, then it is stored and acknowledged with 202, processed asynchronously, and a duplicate gets 200', async () => {
    const payload = {
      type: 'employee.hired',
      timestamp: new Date().toISOString(),
      data: { employeeId: 'H1', profile: { firstName: 'Grace', lastName: 'Hopper', department: 'Engineering' }, startDate: today() },
    }
    const d = delivery(payload, { id: 'msg_hire_h1' })
    const first = await post(d)
    assert.equal(first.status, 202)
    const body = (await first.json()) as { status: string; stored: string[] }
    assert.equal(body.status, 'accepted')
    assert.equal(body.stored.length, 1)
    const again = await post(delivery(payload, { id: 'msg_hire_h1' }))
    assert.equal(again.status, 200)
    assert.equal(((await again.json()) as { status: string }).status, 'duplicate')
    await t.until('the joiner to be active', async () => (await t.employeeState('H1')) === 'active')
    const stored = await t.running.pool.query(`SELECT count(*)::int AS n FROM hr_inbox WHERE dedupe_key LIKE '%msg_hire_h1%' OR employee_external_id = 'H1'`)
    assert.equal(stored.rows[0].n, 1, 'the duplicate was not stored again')
    const events = await t.running.pool.query(`SELECT outcome FROM hr_events WHERE employee_external_id = 'H1'`)
    assert.deepEqual(events.rows, [{ outcome: 'applied' }])
    const audit = await sealedQuery(t.running.pool, `SELECT count(*)::int AS n FROM audit_events WHERE action = 'hr.event_stored'`)
    assert.equal(audit.rows[0].n, 1)
  })

  test('when a delivery is forged, replayed, malformed, oversized or of the wrong type, then it is refused and nothing is stored', async () => {
    const valid = { type: 'employee.hire_cancelled', timestamp: new Date().toISOString(), data: { employeeId: 'X1' } }
    const before = await inboxCount()
    const forged = await post(delivery(valid, { secret: `whsec_${Buffer.from('a-different-secret-of-32-bytes!!!').toString('base64')}` }))
    assert.equal(forged.status, 401)
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'bad_signature')
    const tampered = delivery(valid)
    const tamperedBody = Buffer.from(tampered.body.toString().replace('X1', 'X2'))
    assert.equal((await post({ body: tamperedBody, headers: tampered.headers })).status, 401)
    const replayed = await post(delivery(valid, { at: new Date(Date.now() - 60 * 60 * 1000) }))
    assert.equal(replayed.status, 401)
    assert.equal(((await replayed.json()) as { error: { code: string } }).error.code, 'timestamp_out_of_tolerance')
    const unsigned = await fetch(`${t.url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(valid) })
    assert.equal(unsigned.status, 401)
    const malformed = await post(delivery({ type: 'employee.hired', timestamp: new Date().toISOString(), data: { employeeId: 'X3', profile: { firstName: 'No' } } }))
    assert.equal(malformed.status, 400)
    const err = (await malformed.json()) as { error: { code: string; details: { path?: string } } }
    assert.match(err.error.details.path ?? '', /data\.profile\.lastName|data\.startDate/)
    assert.equal((await post(delivery('{"not json', {}))).status, 400)
    assert.equal((await post(delivery(valid, { contentType: 'text/plain' }))).status, 415)
    assert.equal((await post(delivery(valid), 'personio')).status, 404, 'a source that is not configured')
    assert.equal((await post(delivery(valid), 'nosuchvendor')).status, 404)
    const huge = delivery({ ...valid, data: { employeeId: 'X4', padding: 'x'.repeat(1_100_000) } })
    assert.equal((await post(huge)).status, 413)
    assert.equal(await inboxCount(), before, 'no rejected delivery was stored')
    const metrics = await (await fetch(`${t.url}/metrics`)).text()
    assert.match(metrics, /tenure_webhook_rejections_total\{source="generic",reason="bad_signature"[^}]*\} [2-9]/)
    assert.match(metrics, /tenure_webhook_rejections_total\{source="generic",reason="timestamp_out_of_tolerance"/)
  })

  test("when Gusto sends its unsigned subscription handshake before any secret is configured, then the token is saved for the operator (not logged) and nothing is stored", async () => {
    const before = await inboxCount()
    const res = await fetch(`${t.url}/webhooks/hr/gusto`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ verification_token: 'gusto-handshake-token-123' }),
    })
    assert.equal(res.status, 200)
    const { readFile } = await import('node:fs/promises')
    const saved = await readFile(`${t.running.config.database.dataDir}/gusto-verification-token`, 'utf8')
    assert.equal(saved.trim(), 'gusto-handshake-token-123')
    assert.equal(await inboxCount(), before)
    const forged = await fetch(`${t.url}/webhooks/hr/gusto`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event_type: 'employee.terminated' }) })
    assert.equal(forged.status, 401, 'anything else unsigned is still refused')
  })

  test('when 200 changes for one employee arrive at once, then they apply one at a time in the order accepted and the newest wins', async () => {
    const hire = { type: 'employee.hired', timestamp: new Date(Date.now() - 60_000).toISOString(), data: { employeeId: 'C1', profile: { firstName: 'Con', lastName: 'Current' }, startDate: today() } }
    assert.equal((await post(delivery(hire))).status, 202)
    const base = Date.now() - 30_000
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post(delivery({ type: 'employee.updated', timestamp: new Date(base + i * 10).toISOString(), data: { employeeId: 'C1', changes: { title: `T${i}` } } })),
      ),
    )
    assert.ok(responses.every((r) => r.status === 202))
    await t.until(
      'all 201 notices to be processed',
      async () => (await t.running.pool.query(`SELECT count(*)::int AS n FROM hr_inbox WHERE employee_external_id = 'C1' AND status = 'processed'`)).rows[0].n === 201,
      90_000,
    )
    const order = await t.running.pool.query<{ seq: number; applied_at: Date }>(
      `SELECT i.seq, e.applied_at FROM hr_inbox i JOIN hr_events e ON e.inbox_id = i.id WHERE i.employee_external_id = 'C1' ORDER BY i.seq`,
    )
    assert.equal(order.rows.length, 201)
    for (let k = 1; k < order.rows.length; k++) {
      assert.ok(order.rows[k]!.applied_at >= order.rows[k - 1]!.applied_at, `notice ${order.rows[k]!.seq} applied before an earlier one`)
    }
    const { rows } = await t.running.pool.query(`SELECT profile->>'title' AS title, version FROM employees WHERE external_id = 'C1'`)
    assert.equal(rows[0].title, 'T199', 'the change HR made last is the one that stands')
  })
})
