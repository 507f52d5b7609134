/**
 * Property tests: hostile input never makes verify() or parse() throw — every answer is a
 * structured result the HTTP route can turn into 2xx/400/401/415. Runs are sized so the file
 * stays well under 20 s on the CI machine.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { adapters } from './adapters.ts'
import { HR_SOURCES, type HrSource } from '../../state-machines/events.ts'
import { delivery, sourceConfig } from './testing.ts'
import type { Parsed, RawDelivery, Verification } from './types.ts'

const NOW = new Date('2026-01-15T09:30:00Z')
const SECRETS: Record<HrSource, string> = {
  generic: `whsec_${Buffer.from('fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-32').toString('base64')}`,
  bamboohr: 'fuzz-bamboo',
  hibob: 'fuzz-bob',
  personio: 'fuzz-personio',
  merge: 'fuzz-merge',
  deel: 'fuzz-deel',
  gusto: 'fuzz-gusto',
  rippling: 'fuzz-rippling',
  workday: 'fuzz-workday',
}
const HEADER_NAMES = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-bamboohr-signature',
  'x-bamboohr-timestamp',
  'bob-signature',
  'authorization',
  'x-merge-webhook-signature',
  'x-deel-signature',
  'x-gusto-signature',
  'x_gusto_signature',
]
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'text/plain', 'APPLICATION/JSON', '', ';;']

const RUNS = 500

function assertVerification(v: Verification): void {
  assert.equal(typeof v.ok, 'boolean')
  if (v.ok) assert.ok(Number.isInteger(v.secretIndex) && v.secretIndex >= 0 && v.secretIndex < 2)
  else {
    assert.ok(['missing_signature', 'bad_signature', 'timestamp_out_of_tolerance', 'missing_credentials', 'bad_credentials'].includes(v.reason))
    assert.equal(typeof v.message, 'string')
  }
}

function assertParsed(p: Parsed): void {
  if (p.ok) {
    assert.ok(Array.isArray(p.notices))
    for (const n of p.notices) {
      assert.ok(typeof n.dedupeKey === 'string' && n.dedupeKey.length > 0)
      assert.ok(typeof n.employeeId === 'string' && n.employeeId.length > 0)
      assert.ok(typeof n.vendorEventType === 'string' && n.vendorEventType.length > 0)
      assert.ok(!Number.isNaN(Date.parse(n.occurredAt)), `occurredAt ${n.occurredAt}`)
      // Notices are stored as JSON: they must survive a round trip.
      assert.deepEqual(JSON.parse(JSON.stringify(n.data ?? null)), n.data ?? null)
    }
  } else {
    assert.ok(p.status === 400 || p.status === 415)
    assert.equal(typeof p.code, 'string')
    if (p.path !== undefined) assert.equal(typeof p.path, 'string')
  }
}

/** Bodies: random bytes, random JSON, and mutations of each source's own sample (the interesting region). */
function bodyArb(source: HrSource): fc.Arbitrary<Buffer> {
  const sample = adapters[source].buildSample('employee.terminated', '1001').body.toString()
  const mutated = fc
    .tuple(fc.nat({ max: sample.length }), fc.nat({ max: 20 }), fc.string({ maxLength: 12 }))
    .map(([at, del, ins]) => Buffer.from(sample.slice(0, at) + ins + sample.slice(at + del)))
  const structured = fc.json({ maxDepth: 4 }).map((j) => Buffer.from(j))
  const reshaped = fc
    .record({ type: fc.string(), event_name: fc.string(), employees: fc.anything(), data: fc.anything(), hook: fc.anything(), payload: fc.anything() }, { requiredKeys: [] })
    .map((o) => Buffer.from(JSON.stringify(o) ?? 'null'))
  const form = fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 6 }).map((pairs) => Buffer.from(pairs.map(([k, v]) => `${k}=${v}`).join('&')))
  return fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), structured, reshaped, mutated, form)
}

const headersArb = fc.dictionary(fc.constantFrom(...HEADER_NAMES), fc.oneof(fc.string({ maxLength: 120 }), fc.constant('v1,'), fc.constant('1768469400')), { maxKeys: 5 })

describe('every source survives hostile deliveries', () => {
  for (const source of HR_SOURCES) {
    const adapter = adapters[source]
    const config = sourceConfig({ secrets: [SECRETS[source]] })

    test(`when ${source} gets random bodies and headers, then verify() and parse() return structured results`, () => {
      fc.assert(
        fc.property(bodyArb(source), headersArb, fc.constantFrom(...CONTENT_TYPES), (body, headers, ct) => {
          const d: RawDelivery = delivery(source, body, headers, { contentType: ct === '' ? undefined : ct, receivedAt: NOW })
          assertVerification(adapter.verify(d, config))
          assertParsed(adapter.parse(d))
        }),
        { numRuns: RUNS },
      )
    })

    if (!adapter.pushes) continue

    test(`when ${source} signs a random body itself, then verify() accepts it and any flipped byte is rejected`, () => {
      fc.assert(
        fc.property(bodyArb(source), fc.nat(), (body, flipAt) => {
          const headers = adapter.sign(body, SECRETS[source], NOW)
          const d = delivery(source, body, headers, { contentType: adapter.contentTypes[0], receivedAt: NOW })
          assert.deepEqual(adapter.verify(d, config), { ok: true, secretIndex: 0 })
          assertParsed(adapter.parse(d))
          // Token schemes (Personio, Rippling) do not cover the body; HMAC schemes must.
          if (body.length > 0 && source !== 'personio' && source !== 'rippling') {
            const tampered = Buffer.from(body)
            const i = flipAt % tampered.length
            tampered[i] = tampered[i]! ^ 0x01
            assert.equal(adapter.verify({ ...d, body: tampered }, config).ok, false)
          }
        }),
        { numRuns: Math.floor(RUNS / 2) },
      )
    })
  }
})
