import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { rippling } from './rippling.ts'
import { RipplingEmulator } from '../emulators/rippling.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const TOKEN = 'rippling-webhook-bearer'
const NOW = new Date('2026-01-30T10:05:00Z')
const config = sourceConfig({ secrets: [TOKEN], rippling: { authMode: 'bearer' } })
const FORM = 'application/x-www-form-urlencoded'
const posted = (body: Buffer, authorization: string = `Bearer ${TOKEN}`, contentType = FORM) =>
  delivery('rippling', body, { authorization }, { contentType, receivedAt: NOW })

describe('rippling verify (Bearer token: Rippling does not sign)', () => {
  const body = fixture('rippling', 'employee-deleted.txt')

  test('when the Bearer token matches, then it verifies', () => {
    assert.deepEqual(rippling.verify(posted(body), config), { ok: true, secretIndex: 0 })
  })

  test('when a Basic credential is sent, then bad_credentials (Rippling offers no Basic auth)', () => {
    const v = rippling.verify(posted(body, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`), config)
    assert.equal(v.ok === false && v.reason, 'bad_credentials')
  })

  test('when the request is unauthenticated, then missing_credentials', () => {
    const v = rippling.verify(delivery('rippling', body, {}, { contentType: FORM, receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'missing_credentials')
  })
})

describe('rippling parse', () => {
  test('when a form-encoded Employee Deleted arrives, then the notice names employee_id', () => {
    const p = rippling.parse(posted(fixture('rippling', 'employee-deleted.txt')))
    assert.ok(p.ok)
    assert.equal(p.notices[0]!.employeeId, '1001')
    assert.equal(p.notices[0]!.vendorEventType, 'EMPLOYEE_DELETED')
  })

  test('when the same event is sent as JSON, then 415 (Rippling posts forms)', () => {
    const p = rippling.parse(posted(Buffer.from('{"event_name":"EMPLOYEE_DELETED"}'), `Bearer ${TOKEN}`, 'application/json'))
    assert.equal(!p.ok && p.status, 415)
  })

  test('when event_name is missing, then 400 with path event_name', () => {
    const p = rippling.parse(posted(Buffer.from('company_id=c1&employee_id=1')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'event_name')
  })

  test('when an employee event has no employee id, then 400 with path employee_id', () => {
    const p = rippling.parse(posted(Buffer.from('event_name=Employee+Updated&company_id=c1')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'employee_id')
  })

  test('when the form has a broken percent-escape, then 400 invalid_form', () => {
    const p = rippling.parse(posted(Buffer.from('event_name=%E0%A4%A&company_id=c1')))
    assert.ok(!p.ok)
    assert.equal(p.code, 'invalid_form')
  })
})

describe('rippling normalize against the emulator', () => {
  let emu: RipplingEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new RipplingEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({ secrets: [TOKEN], api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'bearer', token: emu.token } } })
    client = rippling.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = rippling.parse(posted(fixture('rippling', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when Employee Deleted follows a termination, then employee.terminated with Rippling’s endDate and work-location zone', async () => {
    emu.terminate('1001', '2026-01-30')
    const [e] = await rippling.normalize(notice('employee-deleted.txt'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'Europe/London')
  })

  test('when Employee Created arrives for an accepted offer, then employee.hired as a pre-hire', async () => {
    const [e] = await rippling.normalize(notice('employee-created.txt'), ctx())
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, true)
  })

  test('when employee.updated arrives, then employee.updated with the current department', async () => {
    emu.upsertEmployee({ id: '1002', department: 'Security' })
    const [e] = await rippling.normalize(notice('employee-updated.txt'), ctx())
    assert.ok(e?.type === 'employee.updated')
    assert.equal(e.changes.department, 'Security')
  })

  test('when the roster is listed, then include_terminated is paged by offset', async () => {
    const states = new Map<string, string>()
    for await (const r of client.listRoster({ pageSize: 2 })) states.set(r.employeeId, r.employmentStatus)
    assert.deepEqual([...states], [
      ['1001', 'terminated'],
      ['1002', 'active'],
      ['1003', 'pending'],
    ])
  })
})
