import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generic } from './generic.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import { canonicalEventSchema } from '../../../state-machines/events.ts'

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`
const NEXT_SECRET = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`
const NOW = new Date('2026-01-15T09:30:05Z')
const config = sourceConfig({ secrets: [SECRET, NEXT_SECRET] })

/** Standard Webhooks, computed independently: base64 HMAC-SHA256(base64decode(secret without whsec_), `${id}.${ts}.${body}`). */
function swSignature(secret: string, id: string, ts: string, body: Buffer): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64')
  return createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64')
}

function signed(body: Buffer, opts: { secret?: string; id?: string; at?: Date; extraSignatures?: string[] } = {}) {
  const id = opts.id ?? 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W'
  const ts = String(Math.floor((opts.at ?? NOW).getTime() / 1000))
  const sig = `v1,${swSignature(opts.secret ?? SECRET, id, ts, body)}`
  return delivery(
    'generic',
    body,
    { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': [...(opts.extraSignatures ?? []), sig].join(' ') },
    { receivedAt: NOW },
  )
}

describe('generic verify (Standard Webhooks v1)', () => {
  test('when the Standard Webhooks reference example is replayed at its own time, then it verifies', () => {
    // Example from the Standard Webhooks / Svix reference libraries' test suites.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const d = delivery(
      'generic',
      '{"test": 2432232314}',
      {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      { receivedAt: new Date(1614265330_000) },
    )
    assert.deepEqual(generic.verify(d, sourceConfig({ secrets: [secret] })), { ok: true, secretIndex: 0 })
  })

  test('when a body is signed per the spec, then it verifies with the first secret', () => {
    assert.deepEqual(generic.verify(signed(fixture('generic', 'employee-terminated.json')), config), { ok: true, secretIndex: 0 })
  })

  test('when the sender rotates and sends two signatures, then the one matching either configured secret is enough', () => {
    const body = fixture('generic', 'employee-hired.json')
    const d = signed(body, { secret: NEXT_SECRET, extraSignatures: ['v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'v1a,ignored'] })
    assert.deepEqual(generic.verify(d, config), { ok: true, secretIndex: 1 })
  })

  test('when the body is altered, then bad_signature', () => {
    const d = signed(fixture('generic', 'employee-terminated.json'))
    const v = generic.verify({ ...d, body: Buffer.from(d.body.toString().replace('2026-01-30', '2027-01-30')) }, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when a captured delivery is replayed six minutes later, then timestamp_out_of_tolerance', () => {
    const v = generic.verify(signed(fixture('generic', 'employee-terminated.json'), { at: new Date(NOW.getTime() - 360_000) }), config)
    assert.equal(v.ok === false && v.reason, 'timestamp_out_of_tolerance')
  })

  test('when the timestamp is in the far future, then it is also out of tolerance', () => {
    const v = generic.verify(signed(fixture('generic', 'employee-terminated.json'), { at: new Date(NOW.getTime() + 3_600_000) }), config)
    assert.equal(v.ok === false && v.reason, 'timestamp_out_of_tolerance')
  })

  test('when the webhook-id contains a dot, then it is refused (the signed content would be ambiguous)', () => {
    const v = generic.verify(signed(fixture('generic', 'employee-terminated.json'), { id: 'msg.1' }), config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when the signature headers are missing, then missing_signature', () => {
    const v = generic.verify(delivery('generic', fixture('generic', 'employee-terminated.json'), {}, { receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'missing_signature')
  })
})

describe('generic parse', () => {
  test('when a termination arrives, then the notice is keyed by webhook-id', () => {
    const p = generic.parse(signed(fixture('generic', 'employee-terminated.json')))
    assert.ok(p.ok)
    assert.deepEqual(
      { key: p.notices[0]!.dedupeKey, type: p.notices[0]!.vendorEventType, id: p.notices[0]!.employeeId },
      { key: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', type: 'employee.terminated', id: 'E-1001' },
    )
  })

  test('when data.employeeId is missing, then 400 with path data.employeeId', () => {
    const p = generic.parse(signed(Buffer.from('{"type":"employee.terminated","timestamp":"2026-01-15T09:30:00Z","data":{"effectiveDate":"2026-01-30"}}')))
    assert.ok(!p.ok)
    assert.equal(p.status, 400)
    assert.equal(p.path, 'data.employeeId')
  })

  test('when a termination has no date, no moment and is not immediate, then 400 with path data.effectiveDate', () => {
    const p = generic.parse(signed(Buffer.from('{"type":"employee.terminated","timestamp":"2026-01-15T09:30:00Z","data":{"employeeId":"E-1"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.effectiveDate')
  })

  test('when the type is unknown, then 400 with path type', () => {
    const p = generic.parse(signed(Buffer.from('{"type":"employee.promoted","timestamp":"2026-01-15T09:30:00Z","data":{"employeeId":"E-1"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'type')
  })

  test('when the content type is form-encoded, then 415', () => {
    const d = { ...signed(fixture('generic', 'employee-hired.json')), contentType: 'application/x-www-form-urlencoded' }
    d.headers = { ...d.headers, 'content-type': 'application/x-www-form-urlencoded' }
    const p = generic.parse(d)
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('generic normalize', () => {
  const normalize = async (name: string) => {
    const p = generic.parse(signed(fixture('generic', name)))
    assert.ok(p.ok)
    return generic.normalize(p.notices[0]!, { receivedAt: NOW, foundBy: 'webhook' })
  }

  test('when a joiner arrives, then employee.hired carries the profile and start date without any re-fetch', async () => {
    const [e] = await normalize('employee-hired.json')
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.startDate, '2026-02-02')
    assert.equal(e.profile.employeeId, 'E-1001')
    assert.equal(e.sourceEventId, 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W')
    canonicalEventSchema.parse(e)
  })

  test('when an immediate termination arrives, then immediate and effectiveAt are kept', async () => {
    const [e] = await normalize('employee-terminated-immediate.json')
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.immediate, true)
    assert.equal(e.effectiveAt, '2026-01-15T09:25:00Z')
    assert.equal(e.voluntary, 'involuntary')
  })

  test('when the same notice is normalised twice, then the event id is the same UUIDv5', async () => {
    const [a] = await normalize('employee-terminated.json')
    const [b] = await normalize('employee-terminated.json')
    assert.equal(a!.eventId, b!.eventId)
    assert.match(a!.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  test('when generic.sign signs a sample, then verify accepts it', () => {
    const sample = generic.buildSample('employee.leave_started', 'E-7')
    const headers = generic.sign(sample.body, SECRET, NOW)
    assert.deepEqual(generic.verify(delivery('generic', sample.body, headers, { receivedAt: NOW }), config), { ok: true, secretIndex: 0 })
    assert.ok(generic.parse(delivery('generic', sample.body, headers, { receivedAt: NOW })).ok)
  })
})
