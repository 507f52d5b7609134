/**
 * Lists are real lists: server-side paging with a total, filters and sorting, and the dashboard's
 * counts (open / at risk / breached) computed over every case, not counted from one page.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'

const today = () => new Date().toISOString().slice(0, 10)

interface CasePage {
  items: Array<{ externalId: string; health: string; openedAt: string }>
  nextCursor: string | null
  total: number
}
interface Counts {
  open: number
  onTrack: number
  atRisk: number
  breached: number
  scheduled: number
}

describe('lists: paging with totals, filters, sorting, and server-side counts', () => {
  let t: TestTenure
  let call: ApiCall
  const ids = ['LS1', 'LS2', 'LS3']

  before(async () => {
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities', provisionTasks: false }] },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } }] },
    })
    call = await apiAs(t, ['operator', 'approver'])
    // Three leavers whose cases stay open: each waits for its badge task.
    for (const id of ids) {
      await applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'List', lastName: id }, startDate: today(), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: `h-${id}`,
      })
      await t.until(`${id} active`, async () => (await t.employeeState(id)) === 'active')
      await applyHrEvent(t.running.engine, hrEvent('employee.terminated', id, { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }), {
        actor: SYSTEM_ACTOR,
        correlationId: `l-${id}`,
      })
    }
    await t.until('three open leaver cases', async () => (await call<CasePage>('operator', '/api/v1/cases?status=open')).body.total === 3 || undefined)
  })
  after(async () => {
    await t.stop()
  })

  test('when the open cases span pages, then every page carries the total and the last one says there is no more', async () => {
    const first = await call<CasePage>('operator', '/api/v1/cases?status=open&limit=2')
    assert.equal(first.status, 200)
    assert.deepEqual([first.body.items.length, first.body.total], [2, 3])
    assert.ok(first.body.nextCursor, 'more to come')
    const second = await call<CasePage>('operator', `/api/v1/cases?status=open&limit=2&cursor=${first.body.nextCursor}`)
    assert.deepEqual([second.body.items.length, second.body.total, second.body.nextCursor], [1, 3, null])
    assert.deepEqual([...first.body.items, ...second.body.items].map((c) => c.externalId).sort(), ids)

    const newest = await call<CasePage>('operator', '/api/v1/cases?status=open&sort=-opened&limit=3')
    const opened = newest.body.items.map((c) => Date.parse(c.openedAt))
    assert.deepEqual(opened, [...opened].sort((a, b) => b - a), 'newest first')
    const found = await call<CasePage>('operator', '/api/v1/cases?status=open&q=ls2')
    assert.deepEqual([found.body.total, found.body.items.map((c) => c.externalId)], [1, ['LS2']])
  })

  test('when one case is breached, then the counts say so for every case, whatever page the list shows, and the breached filter finds it', async () => {
    const before = await call<Counts>('operator', '/api/v1/cases/counts')
    assert.equal(before.status, 200, JSON.stringify(before.body))
    assert.equal(before.body.open, 3)
    assert.equal(before.body.breached, 0)
    await t.running.pool.query(`UPDATE cases SET breached_at = now() WHERE employee_id = (SELECT id FROM employees WHERE external_id = 'LS3') AND kind = 'leaver'`)
    const counts = await call<Counts>('operator', '/api/v1/cases/counts')
    assert.equal(counts.body.open, 3)
    assert.equal(counts.body.breached, 1)
    assert.equal(counts.body.onTrack + counts.body.atRisk + counts.body.breached, counts.body.open)
    // The counts cover cases the first page does not show.
    const page = await call<CasePage>('operator', '/api/v1/cases?status=open&sort=opened&limit=1')
    assert.notEqual(page.body.items[0]!.externalId, 'LS3')
    const breached = await call<CasePage>('operator', '/api/v1/cases?status=breached&limit=1')
    assert.deepEqual([breached.body.total, breached.body.items.map((c) => c.externalId), breached.body.nextCursor], [1, ['LS3'], null])
  })

  test('when exceptions span pages, then each page carries the total of the filter', async () => {
    const employees = (await t.running.pool.query<{ id: string }>(`SELECT id FROM employees WHERE external_id = ANY($1) ORDER BY external_id`, [ids])).rows
    for (const e of employees) {
      const made = await call('operator', '/api/v1/exceptions', {
        method: 'POST',
        body: JSON.stringify({ kind: 'legal_hold', employeeId: e.id, system: 'sandbox', endsAt: new Date(Date.now() + 7 * 86_400_000).toISOString(), reason: 'Litigation hold on the mailbox' }),
      })
      assert.equal(made.status, 201, JSON.stringify(made.body))
    }
    const first = await call<{ items: unknown[]; total: number; nextCursor: string | null }>('operator', '/api/v1/exceptions?status=requested&limit=2')
    assert.deepEqual([first.body.items.length, first.body.total], [2, 3])
    const second = await call<{ items: unknown[]; total: number; nextCursor: string | null }>('operator', `/api/v1/exceptions?status=requested&limit=2&cursor=${first.body.nextCursor}`)
    assert.deepEqual([second.body.items.length, second.body.total, second.body.nextCursor], [1, 3, null])
    const one = await call<{ total: number }>('operator', `/api/v1/exceptions?employeeId=${employees[0]!.id}`)
    assert.equal(one.body.total, 1)
  })

  test('when tasks span pages, then the list carries the total and filters by employee', async () => {
    const all = await call<{ items: Array<{ id: string; employeeId: string; employeeExternalId: string }>; nextCursor: string | null; total: number }>(
      'approver',
      '/api/v1/tasks?status=open&system=manual:badge&limit=2',
    )
    assert.equal(all.status, 200)
    assert.deepEqual([all.body.items.length, all.body.total], [2, 3])
    assert.ok(all.body.nextCursor)
    const one = await call<{ items: Array<{ employeeExternalId: string }>; total: number }>('approver', `/api/v1/tasks?employeeId=${all.body.items[0]!.employeeId}&sort=-created`)
    assert.deepEqual([one.body.total, one.body.items.map((x) => x.employeeExternalId)], [1, [all.body.items[0]!.employeeExternalId]])
  })
})
