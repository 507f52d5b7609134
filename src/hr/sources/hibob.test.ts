import { createHmac } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { hibob } from './hibob.ts'
import { HiBobEmulator } from '../emulators/hibob.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const SECRET = 'bob-webhook-secret'
const NOW = new Date('2026-01-30T00:00:10Z')
const config = sourceConfig({ secrets: ['bob-old-secret', SECRET] })

/** Bob: base64 HMAC-SHA512 of the raw body with the webhook secret. */
const bobSignature = (secret: string, body: Buffer) => createHmac('sha512', secret).update(body).digest('base64')
const signed = (body: Buffer, secret = SECRET, contentType = 'application/json') =>
  delivery('hibob', body, { 'bob-signature': bobSignature(secret, body) }, { contentType, receivedAt: NOW })

describe('hibob verify', () => {
  const body = fixture('hibob', 'employee-left.json')

  test('when Bob-Signature is the base64 HMAC-SHA512 of the body, then it verifies', () => {
    assert.deepEqual(hibob.verify(signed(body), config), { ok: true, secretIndex: 1 })
  })

  test('when the previous secret signed it, then it verifies during rotation', () => {
    assert.deepEqual(hibob.verify(signed(body, 'bob-old-secret'), config), { ok: true, secretIndex: 0 })
  })

  test('when a SHA-256 signature is sent instead, then bad_signature', () => {
    const d = delivery('hibob', body, { 'bob-signature': createHmac('sha256', SECRET).update(body).digest('base64') }, { receivedAt: NOW })
    const v = hibob.verify(d, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when one byte of the body changes, then bad_signature', () => {
    const d = signed(body)
    const v = hibob.verify({ ...d, body: Buffer.from(d.body.toString().replace('1001', '1002')) }, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when Bob-Signature is missing, then missing_signature', () => {
    const v = hibob.verify(delivery('hibob', body, {}, { receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'missing_signature')
  })
})

describe('hibob parse', () => {
  test('when the documented employee.created example arrives, then triggeredAt (UTC, microseconds) becomes occurredAt', () => {
    const p = hibob.parse(signed(fixture('hibob', 'employee-created.json')))
    assert.ok(p.ok)
    assert.equal(p.notices[0]!.employeeId, '3332883894235038486')
    assert.equal(p.notices[0]!.occurredAt, '2024-12-26T11:29:14.399Z')
  })

  test('when data.employeeId is missing from an employee event, then 400 with that path', () => {
    const p = hibob.parse(signed(Buffer.from('{"companyId":1,"type":"employee.left","triggeredAt":"2026-01-30T00:00:03","data":{}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.employeeId')
  })

  test('when companyId is a string of letters, then 400 with path companyId', () => {
    const p = hibob.parse(signed(Buffer.from('{"companyId":{},"type":"employee.left","triggeredAt":"2026-01-30T00:00:03","data":{"employeeId":"1"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'companyId')
  })

  test('when the content type is missing, then 415', () => {
    const body = fixture('hibob', 'employee-left.json')
    const p = hibob.parse(delivery('hibob', body, { 'bob-signature': bobSignature(SECRET, body) }, { contentType: undefined, receivedAt: NOW }))
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('hibob normalize against the emulator', () => {
  let emu: HiBobEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new HiBobEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({
      secrets: [SECRET],
      api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'basic', username: emu.serviceUser, password: emu.token } },
    })
    client = hibob.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = hibob.parse(signed(fixture('hibob', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when employee.left fires at midnight, then the re-fetched record gives employee.terminated with Bob’s termination date and type', async () => {
    emu.terminate('1001', '2026-01-30', { type: 'involuntary', reason: 'Restructuring' })
    const [e] = await hibob.normalize(notice('employee-left.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.voluntary, 'involuntary')
    assert.equal(e.reason, 'Restructuring')
  })

  test('when employee.left is for garden leave and the source treats garden leave as leave, then leave rather than termination', async () => {
    emu.terminate('1001', '2026-03-31', { gardenLeave: true })
    const gardenAsLeave = { ...cfg, hibob: { gardenLeaveIsTermination: false } }
    const leaveClient = hibob.createClient(gardenAsLeave, { now: () => NOW.getTime() })!
    assert.deepEqual(await hibob.normalize(notice('employee-left.json'), { ...ctx(), client: leaveClient, config: gardenAsLeave }), [])
    const inactivated = { ...notice('employee-inactivated.json'), employeeId: '1001' }
    const [e] = await hibob.normalize(inactivated, { ...ctx(), client: leaveClient, config: gardenAsLeave })
    assert.equal(e?.type, 'employee.leave_started')
    // With the default (garden leave is a termination), the same notice terminates.
    const [t] = await hibob.normalize(notice('employee-left.json'), ctx())
    assert.equal(t?.type, 'employee.terminated')
    emu.rescind('1001')
  })

  test('when a leaver’s employee.left arrives but HR has since rescinded it, then nothing is emitted', async () => {
    assert.deepEqual(await hibob.normalize(notice('employee-left.json'), ctx()), [])
  })

  test('when employee.inactivated is a leave, then employee.leave_started; when activated, leave_ended', async () => {
    emu.startLeave('1002', '2026-02-01', '2026-05-01')
    const [started] = await hibob.normalize(notice('employee-inactivated.json'), ctx())
    assert.ok(started?.type === 'employee.leave_started')
    // Bob's employee record has no leave dates: the lifecycle event's date (midnight on the effective date) is used.
    assert.equal(started.effectiveDate, '2026-02-01')
    emu.endLeave('1002')
    const ended = await hibob.normalize(notice('employee-activated.json'), ctx())
    assert.ok(ended.some((e) => e.type === 'employee.leave_ended'))
  })

  test('when employee.joined arrives for a pre-hire, then employee.hired', async () => {
    const [e] = await hibob.normalize(notice('employee-joined.json'), ctx())
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.startDate, '2030-01-06')
    assert.equal(e.preHire, true)
  })

  test('when employee.updated arrives, then employee.updated with the current title', async () => {
    emu.upsertEmployee({ id: '1002', title: 'Director of Platform' })
    const [e] = await hibob.normalize(notice('employee-updated.json'), ctx())
    assert.ok(e?.type === 'employee.updated')
    assert.equal(e.changes.title, 'Director of Platform')
  })

  test('when employee.deleted arrives, then the person is terminated as of the event', async () => {
    const [e] = await hibob.normalize(notice('employee-deleted.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.employeeId, '1009')
  })

  test('when the roster is listed, then terminated people are included (showInactive)', async () => {
    emu.terminate('1002', '2026-01-29')
    const statuses = new Map<string, string>()
    for await (const r of client.listRoster()) statuses.set(r.employeeId, r.employmentStatus)
    assert.equal(statuses.get('1002'), 'terminated')
    assert.equal(statuses.get('1003'), 'pending')
  })
})
