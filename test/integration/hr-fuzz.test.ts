/**
 * Property: whatever arrives at a webhook endpoint (random bodies, content types and signature
 * headers, for every source), Tenure answers with a 4xx naming the problem, never a 5xx, and
 * stores nothing. Over real HTTP, so the body parser, the route and the error handler are all in.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { HR_SOURCES } from '../../state-machines/events.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'
import { HR_DEV_WEBHOOK_SECRETS } from '../../src/hr/emulators/index.ts'

const genericSecret = HR_DEV_WEBHOOK_SECRETS.generic

const SIGNATURE_HEADERS = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-bamboohr-signature',
  'x-bamboohr-timestamp',
  'bob-signature',
  'x-merge-webhook-signature',
  'x-deel-signature',
  'x-gusto-signature',
  'authorization',
]

describe('webhook endpoints under random input', () => {
  let t: TestTenure
  let hr: HrEmulators
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    // The per-IP webhook limiter would answer 429 (a 4xx) after 1,200 a minute and make the
    // property hold trivially; lift it so every request reaches the route.
    t = await startTestTenure({ hr: hr.config, systems: { sandbox: { enabled: true } }, auth: { rateLimit: { webhooksPerIpPerMinute: 1_000_000 } } })
  })
  after(async () => {
    await t.stop()
    await hr.close()
  })

  test('when thousands of random deliveries hit every source, then none gets a 5xx and none is stored', async () => {
    const headerValue = fc.oneof(fc.string({ maxLength: 80 }), fc.constant('v1,AAAA'), fc.integer().map(String), fc.constant('Bearer x'))
    const delivery = fc.record({
      source: fc.constantFrom(...HR_SOURCES),
      contentType: fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', ''),
      body: fc.oneof(
        fc.string({ maxLength: 500 }),
        fc.json({ maxDepth: 3 }),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ type: 'employee.hired', data: v })),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
      ),
      headers: fc.dictionary(fc.constantFrom(...SIGNATURE_HEADERS), headerValue, { maxKeys: 4 }),
      // A share of deliveries carry a VALID Standard Webhooks signature over the random body, so
      // the parser (not only the verifier) meets garbage: those must be 400s.
      signed: fc.boolean(),
    })
    let requests = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(delivery, async (d) => {
        requests += 1
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(d.headers)) if (/^[\t\x20-\x7e]*$/.test(v)) headers[k] = v
        if (d.contentType) headers['content-type'] = d.contentType
        const source = d.signed ? 'generic' : d.source
        if (d.signed) {
          headers['content-type'] = 'application/json'
          Object.assign(headers, signStandardWebhook(Buffer.from(d.body), genericSecret, new Date()))
        }
        const res = await fetch(`${t.url}/webhooks/hr/${source}`, { method: 'POST', headers, body: d.body })
        await res.arrayBuffer()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        return res.status >= 400 && res.status < 500 && res.status !== 429
      }),
      { numRuns: 1500 },
    )
    const stored = await t.running.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM hr_inbox')
    assert.equal(stored.rows[0]!.n, 0)
    assert.equal(requests >= 1500, true)
    // Every kind of refusal was exercised, not just one.
    for (const status of [400, 401, 415]) assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify([...statuses])}`)
  })
})
