/**
 * Reconciliation end to end: every vendor's API twin, every client, the roster poll and
 * fromRecord(), for the case the 4-hour SLA depends on — a termination whose webhook never came.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { adapters } from './adapters.ts'
import { startHrEmulators, type HrEmulators } from './emulators/index.ts'
import { hrSourcesConfigSchema, type HrApiClient, type HrEmployeeRecord, type HrSource, type HrSourcesConfig } from './types.ts'

const T0 = Date.parse('2026-01-29T09:00:00Z')
const POLLED_SOURCES = ['bamboohr', 'hibob', 'personio', 'merge', 'deel', 'gusto', 'rippling', 'workday'] as const satisfies readonly HrSource[]

async function roster(client: HrApiClient): Promise<Map<string, HrEmployeeRecord>> {
  const out = new Map<string, HrEmployeeRecord>()
  for await (const r of client.listRoster({ pageSize: 2 })) out.set(r.employeeId, r)
  return out
}

describe('reconciliation finds what webhooks missed', () => {
  let emus: HrEmulators
  let clock = T0
  let config: HrSourcesConfig
  before(async () => {
    emus = await startHrEmulators({ now: () => clock })
    config = hrSourcesConfigSchema.parse(emus.config)
  })
  after(() => emus.close())

  for (const source of POLLED_SOURCES) {
    test(`when ${source} terminates someone and no webhook arrives, then the roster poll yields employee.terminated found by reconciliation`, async () => {
      const adapter = adapters[source]
      const client = adapter.createClient(config[source]!, { now: () => clock })
      assert.ok(client, `${source} client`)
      const before = await roster(client)
      assert.equal(before.get('1002')?.employmentStatus, 'active')

      emus[source].terminate('1002', '2026-01-29', { type: 'involuntary' })
      const foundAt = new Date(clock)
      const after = await roster(client)
      const events = [...after.values()].flatMap((r) => adapter.fromRecord(r, before.get(r.employeeId), { foundAt }))

      assert.equal(events.length, 1, JSON.stringify(events))
      const e = events[0]!
      assert.ok(e.type === 'employee.terminated')
      assert.equal(e.employeeId, '1002')
      assert.equal(e.foundBy, 'reconciliation')
      assert.equal(e.effectiveDate, '2026-01-29', 'HR’s effective date, not the time of the poll')
      assert.equal(e.receivedAt, foundAt.toISOString())
      assert.equal(e.source, source)

      // The next poll sees the same state: the same event id, so the inbox drops it.
      const again = [...(await roster(client)).values()].flatMap((r) => adapter.fromRecord(r, before.get(r.employeeId), { foundAt: new Date(clock + 60_000) }))
      assert.equal(again[0]?.eventId, e.eventId)
      // Once Tenure has recorded the termination, polling finds nothing new.
      assert.deepEqual([...after.values()].flatMap((r) => adapter.fromRecord(r, after.get(r.employeeId), { foundAt })), [])
      emus[source].rescind('1002')
    })
  }

  test('when the change list is asked for where vendors have one, then the silently terminated person is in it', async () => {
    clock += 3_600_000
    const since = new Date(clock - 1000)
    for (const source of ['bamboohr', 'merge', 'workday'] as const) {
      emus[source].terminate('1001', '2026-01-29')
      const client = adapters[source].createClient(config[source]!, { now: () => clock })!
      assert.ok(client.listChangesSince, `${source} has a change list`)
      const changes = await client.listChangesSince(since)
      assert.ok(
        changes.some((c) => c.employeeId === '1001'),
        `${source}: ${JSON.stringify(changes)}`,
      )
    }
  })

  test('when a terminated person is back in the roster with a later start date, then employee.rehired', async () => {
    const client = adapters.rippling.createClient(config.rippling!, { now: () => clock })!
    emus.rippling.terminate('1002', '2026-01-29')
    const left = await roster(client)
    emus.rippling.rescind('1002')
    emus.rippling.upsertEmployee({ id: '1002', startDate: '2026-06-01' })
    const back = await roster(client)
    const events = adapters.rippling.fromRecord(back.get('1002')!, left.get('1002'), { foundAt: new Date(clock) })
    assert.deepEqual(
      events.map((e) => e.type),
      ['employee.rehired'],
    )
  })

  test('when the sandbox terminates someone over the emulator’s HTTP control route, then the vendor API shows it', async () => {
    const res = await fetch(`${emus.urls.gusto}/_emulator/hr/employees/1001/terminate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ date: '2026-01-28' }),
    })
    assert.equal(res.status, 200)
    const r = await adapters.gusto.createClient(config.gusto!, { now: () => clock })!.getEmployee('1001')
    assert.deepEqual([r?.employmentStatus, r?.termination?.date], ['terminated', '2026-01-28'])
  })

  test('when someone goes on leave between polls, then employee.leave_started with the leave dates', async () => {
    const client = adapters.workday.createClient(config.workday!, { now: () => clock })!
    const before = await roster(client)
    emus.workday.startLeave('1002', '2026-02-01', '2026-05-01')
    const after = await roster(client)
    const [e] = adapters.workday.fromRecord(after.get('1002')!, before.get('1002'), { foundAt: new Date(clock) })
    assert.ok(e?.type === 'employee.leave_started')
    assert.equal(e.effectiveDate, '2026-02-01')
    assert.equal(e.expectedReturnDate, '2026-05-01')
  })
})
