import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'
import { createPool } from '../../src/db/pool.ts'
import { silentLogger } from '../../src/log.ts'

const policy = {
  rules: [
    { name: 'everyone', grant: { sandbox: { groups: ['staff'] } } },
    { name: 'engineering', match: { department: 'Engineering' }, grant: { sandbox: { groups: ['eng'] } } },
  ],
  systems: { sandbox: { leaver: { delete: true } } },
}

const today = () => new Date().toISOString().slice(0, 10)

async function account(t: TestTenure, externalId: string) {
  const { rows } = await t.running.pool.query<{ active: boolean; groups: string[]; deleted_at: Date | null; sessions_valid_from: Date | null }>(
    'SELECT active, groups, deleted_at, sessions_valid_from FROM sandbox_accounts WHERE employee_external_id = $1',
    [externalId],
  )
  return rows[0]
}

describe('lifecycle engine end to end (real PostgreSQL, real pg-boss, sandbox target)', () => {
  let t: TestTenure
  before(async () => {
    t = await startTestTenure({ systems: { sandbox: { enabled: true } }, policy })
  })
  after(async () => {
    await t.stop()
  })

  test('when a joiner moves and leaves and is rehired, then access follows every step', async () => {
    const opts = (c: string) => ({ actor: SYSTEM_ACTOR, correlationId: c })
    const profile = { employeeId: 'E100', firstName: 'Ada', lastName: 'Lovelace', department: 'Finance', timeZone: 'Europe/London' }

    // Joiner: start date today, so accounts are created now and enabled (day one has begun).
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'E100', { profile, startDate: today(), preHire: false }), opts('hire'))
    await t.until('the joiner to be active', async () => (await t.employeeState('E100')) === 'active')
    const joined = await account(t, 'E100')
    assert.equal(joined?.active, true)
    assert.deepEqual(joined?.groups, ['staff'])

    // Mover: Finance → Engineering adds the engineering group and keeps the birthright one.
    await applyHrEvent(t.running.engine, hrEvent('employee.updated', 'E100', { changes: { department: 'Engineering' } }), opts('move'))
    await t.until('the engineering group', async () => (await account(t, 'E100'))?.groups.includes('eng'))
    assert.deepEqual((await account(t, 'E100'))?.groups, ['eng', 'staff'])

    // Leaver, immediate: cut-off, verification, clean-up (delete per policy), case closed.
    await applyHrEvent(
      t.running.engine,
      hrEvent('employee.terminated', 'E100', { immediate: true, voluntary: 'involuntary', effectiveAt: new Date().toISOString() }),
      opts('leave'),
    )
    await t.until('the leaver to be offboarded', async () => (await t.employeeState('E100')) === 'offboarded')
    const left = await account(t, 'E100')
    assert.equal(left?.active, false)
    assert.ok(left?.sessions_valid_from, 'sessions were revoked')
    assert.ok(left?.deleted_at, 'the policy deletes sandbox accounts in clean-up')
    const kase = await t.running.pool.query(`SELECT status, deadline_at, effective_at, closed_at FROM cases WHERE kind = 'leaver'`)
    assert.equal(kase.rows[0].status, 'closed')
    assert.equal(kase.rows[0].deadline_at.getTime() - kase.rows[0].effective_at.getTime(), 4 * 3600 * 1000)
    const sys = await t.running.pool.query(`SELECT cs.system, cs.verified_at, cs.cutoff_at, cs.status FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.kind = 'leaver'`)
    assert.equal(sys.rows[0].system, 'sandbox')
    assert.ok(sys.rows[0].verified_at, 'revocation was verified by reading the account back')

    // Metrics: the time to verified revocation is measured per system, and the case gauges read the database.
    const metrics = await (await fetch(`${t.url}/metrics`)).text()
    assert.match(metrics, /tenure_time_to_revoke_seconds_count\{[^}]*system="sandbox"[^}]*from="hr_effective"[^}]*\} 1/)
    assert.match(metrics, /tenure_leaver_cases\{[^}]*state="open"[^}]*\} 0/)

    // Audit: every transition and every target call is on the chain.
    const actions = await sealedQuery<{ action: string; n: number }>(t.running.pool, `SELECT action, count(*)::int AS n FROM audit_events GROUP BY action`)
    const byAction = Object.fromEntries(actions.rows.map((r) => [r.action, r.n]))
    assert.ok(byAction['lifecycle.transitioned']! >= 4)
    assert.ok(byAction['target.api_called']! >= 6)
    assert.ok(byAction['target.verified']! >= 1)
    assert.ok(byAction['job.enqueued']! >= 4)

    // Rehire: a new generation provisions a fresh account.
    await applyHrEvent(t.running.engine, hrEvent('employee.rehired', 'E100', { profile: { ...profile, department: 'Engineering' }, startDate: today() }), opts('rehire'))
    await t.until('the rehire to be active', async () => (await t.employeeState('E100')) === 'active')
    const back = await account(t, 'E100')
    assert.equal(back?.active, true)
    assert.equal(back?.deleted_at, null)
    assert.deepEqual(back?.groups, ['eng', 'staff'])
  })

  test('when the same HR event is applied twice, then the second changes nothing and enqueues nothing', async () => {
    const event = hrEvent('employee.hired', 'E200', { profile: { employeeId: 'E200', firstName: 'Alan', lastName: 'Turing' }, startDate: today(), preHire: false })
    const first = await applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: 'dup-1' })
    const second = await applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: 'dup-2' })
    assert.ok(first.jobsEnqueued >= 1)
    assert.equal(second.applied, false)
    assert.equal(second.jobsEnqueued, 0)
    assert.match(second.ignoredReason ?? '', /duplicate/)
  })

  test('when an event leaves an account as it was, then its employee_accounts row is not rewritten', async () => {
    const accountRow = async (id: string) =>
      (await t.running.pool.query<{ xmin: string; status: string }>('SELECT a.xmin::text AS xmin, a.status FROM employee_accounts a WHERE a.employee_id = $1 AND a.system = $2', [id, 'sandbox'])).rows[0]
    const event = hrEvent('employee.hired', 'E300', { profile: { employeeId: 'E300', firstName: 'Grace', lastName: 'Hopper' }, startDate: today(), preHire: false })
    const first = await applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: 'same-1' })
    await t.until('the joiner to be active', async () => (await t.employeeState('E300')) === 'active')
    const written = await accountRow(first.employeeId)
    assert.ok(written, 'the account is projected')
    // The same event again: the machine ignores it, the snapshot is saved, the account is unchanged.
    const again = await applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: 'same-2' })
    assert.equal(again.applied, false)
    assert.deepEqual(await accountRow(first.employeeId), written, 'the unchanged row keeps its version (xmin)')
  })

  test('when the engine applies events, then its snapshot, case and job statements are prepared once per connection', async () => {
    // One connection, so the statements the engine sent are the ones this session lists.
    const pool = createPool({ url: t.db.url, max: 1, statementTimeoutMs: 30_000, log: silentLogger })
    try {
      const engine = { ...t.running.engine, pool }
      const profile = { employeeId: 'E400', firstName: 'Barbara', lastName: 'Liskov' }
      const hired = await applyHrEvent(engine, hrEvent('employee.hired', 'E400', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'named-1' })
      await applyHrEvent(engine, hrEvent('employee.terminated', 'E400', { immediate: true, voluntary: 'involuntary', effectiveAt: new Date().toISOString() }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'named-2',
      })
      assert.ok(hired.jobsEnqueued >= 1)
      const { rows } = await pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name')
      const names = rows.map((r) => r.name)
      assert.ok(names.some((n) => n.startsWith('tenure-save-employee-state')), `snapshot save prepared: ${names.join(', ')}`)
      assert.ok(names.includes('tenure-upsert-leaver-case'), `leaver case prepared: ${names.join(', ')}`)
      assert.ok(names.some((n) => n.startsWith('tenure-boss-')), `job insert prepared: ${names.join(', ')}`)
    } finally {
      await pool.end()
    }
  })
})
