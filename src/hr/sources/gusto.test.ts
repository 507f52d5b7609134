import { createHmac } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { gusto, gustoVerificationToken } from './gusto.ts'
import { GustoEmulator } from '../emulators/gusto.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const TOKEN = '6590f590-3dba-495e-9bea-c361e1e2efc0'
const NOW = new Date('2026-01-15T09:30:30Z')
const config = sourceConfig({ secrets: [TOKEN] })

/** Gusto: HMAC-SHA256 of the payload keyed with the verification token, hex (their Ruby sample's hexdigest). */
const gustoSignature = (token: string, body: Buffer) => createHmac('sha256', token).update(body).digest('hex')
const signed = (body: Buffer, headerName = 'x-gusto-signature', contentType = 'application/json') =>
  delivery('gusto', body, { [headerName]: gustoSignature(TOKEN, body) }, { contentType, receivedAt: NOW })

describe('gusto verify', () => {
  const body = fixture('gusto', 'employee-terminated.json')

  test('when X-Gusto-Signature is the hex HMAC of the payload, then it verifies', () => {
    assert.deepEqual(gusto.verify(signed(body), config), { ok: true, secretIndex: 0 })
  })

  test('when the header arrives spelled x_gusto_signature, then it is read too', () => {
    assert.deepEqual(gusto.verify(signed(body, 'x_gusto_signature'), config), { ok: true, secretIndex: 0 })
  })

  test('when two verification tokens are configured during a subscription change, then either verifies', () => {
    const rotating = sourceConfig({ secrets: ['11111111-2222-3333-4444-555555555555', TOKEN] })
    assert.deepEqual(gusto.verify(signed(body), rotating), { ok: true, secretIndex: 1 })
  })

  test('when the payload is modified, then bad_signature', () => {
    const d = signed(body)
    const v = gusto.verify({ ...d, body: Buffer.from(d.body.toString().replace('employee.terminated', 'employee.updated')) }, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when the subscription-verification POST arrives unsigned, then verify refuses it and the token can be read for the admin', () => {
    const d = delivery('gusto', fixture('gusto', 'subscription-verification.json'), {}, { receivedAt: NOW })
    const v = gusto.verify(d, config)
    assert.equal(v.ok === false && v.reason, 'missing_signature')
    assert.equal(gustoVerificationToken(d, { secrets: [] }), TOKEN)
    assert.deepEqual(gusto.parse(d), { ok: true, notices: [] })
  })

  test('when the unsigned handshake arrives while a Gusto secret is configured, then it is not accepted (it would overwrite the saved token)', () => {
    const d = delivery('gusto', fixture('gusto', 'subscription-verification.json'), {}, { receivedAt: NOW })
    assert.equal(gustoVerificationToken(d, config), undefined)
  })
})

describe('gusto parse', () => {
  test('when the documented employee.created example arrives, then the notice is keyed by the event uuid', () => {
    const p = gusto.parse(signed(fixture('gusto', 'employee-created.json')))
    assert.ok(p.ok)
    assert.deepEqual(
      { key: p.notices[0]!.dedupeKey, id: p.notices[0]!.employeeId, at: p.notices[0]!.occurredAt },
      { key: 'gusto:03ffbf0c-48a9-4f1c-932a-546413a26ad1', id: 'bcfc9744-0ab3-4ef3-ab0d-e728255d659c', at: '2022-12-14T23:00:41.000Z' },
    )
  })

  test('when entity_type is missing, then 400 with path entity_type', () => {
    const p = gusto.parse(signed(Buffer.from('{"uuid":"x","event_type":"employee.terminated","entity_uuid":"1"}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'entity_type')
  })

  test('when an Employee event has no entity_uuid, then 400 with path entity_uuid', () => {
    const p = gusto.parse(signed(Buffer.from('{"uuid":"x","event_type":"employee.terminated","entity_type":"Employee"}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'entity_uuid')
  })

  test('when a payroll event arrives, then no notices', () => {
    const p = gusto.parse(signed(Buffer.from('{"uuid":"x","event_type":"payroll.paid","entity_type":"Payroll","entity_uuid":"p1"}')))
    assert.deepEqual(p, { ok: true, notices: [] })
  })

  test('when sent as text/plain, then 415', () => {
    const p = gusto.parse(signed(fixture('gusto', 'employee-created.json'), 'x-gusto-signature', 'text/plain'))
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('gusto normalize against the emulator', () => {
  let emu: GustoEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new GustoEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({
      secrets: [TOKEN],
      defaultTimeZone: 'America/Los_Angeles',
      api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'bearer', token: emu.token } },
      gusto: { companyUuid: emu.companyUuid },
    })
    client = gusto.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = gusto.parse(signed(fixture('gusto', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when employee.terminated fires as the termination is created, then a future-dated employee.terminated', async () => {
    emu.terminate('1001', '2026-01-30', { scheduled: true })
    const [e] = await gusto.normalize(notice('employee-terminated.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'America/Los_Angeles')
  })

  test('when employee.termination_cancelled arrives, then employee.termination_rescinded', async () => {
    emu.rescind('1001')
    const [e] = await gusto.normalize(notice('employee-termination-cancelled.json'), ctx())
    assert.equal(e?.type, 'employee.termination_rescinded')
  })

  test('when termination_cancelled arrives but Gusto still shows the termination, then nothing is emitted', async () => {
    emu.terminate('1001', '2026-01-30', { scheduled: true })
    assert.deepEqual(await gusto.normalize(notice('employee-termination-cancelled.json'), ctx()), [])
  })

  test('when employee.terminated_effective fires, then employee.terminated with the same date', async () => {
    emu.terminate('1001', '2026-01-30')
    const [e] = await gusto.normalize(notice('employee-terminated-effective.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
  })

  test('when the company roster is listed with per=1, then pages follow X-Total-Pages', async () => {
    const ids: string[] = []
    for await (const r of client.listRoster({ pageSize: 1 })) ids.push(r.employeeId)
    assert.deepEqual(ids, ['1001', '1002', '1003'])
  })
})
