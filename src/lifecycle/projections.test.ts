/**
 * The leaver case's systems as the engine writes them, on real PostgreSQL: an outcome of one system
 * writes that system's case_systems row only (the others keep their tuple, so no SLA-waiver
 * trigger runs for them), and an approved sla_waiver's deadlines survive rows the engine skips.
 * Workers are off: each outcome is applied here, from a snapshot the machine of today stored
 * (test/fixtures/snapshots/lifecycle-deprovisioning-v1.json: Google verifying, Jira and Slack
 * cutting off). The joiner case the same way: one account created writes that system's row only.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startTestTenure, type TestTenure } from '../../test/helpers/tenure.ts'
import { applyEvent, SYSTEM_ACTOR } from './engine.ts'
import { googleSandboxConfig } from '../../provisioners/google/emulator.ts'
import { slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { jiraSandboxConfig } from '../../provisioners/jira/emulator.ts'
import { reproposeDeadline } from '../exceptions/store.ts'
import { LIFECYCLE_VERSIONING, type MachineVersioning, type StoredSnapshot } from '../../state-machines/upgrades.ts'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/snapshots')

interface Fixture {
  machineVersion: number
  state: string
  employeeId: string
  at: string
  snapshot: StoredSnapshot
}

interface SystemRow {
  system: string
  xmin: string
  updated_at: Date
  status: string
  deadline_at: Date
  cutoff_at: Date | null
}

describe('leaver case systems written by the engine', () => {
  let t: TestTenure
  const unreachable = 'http://127.0.0.1:9'

  before(async () => {
    t = await startTestTenure({
      systems: { google: googleSandboxConfig(unreachable), slack: slackSandboxConfig(unreachable), jira: jiraSandboxConfig(unreachable) },
      policy: { rules: [{ name: 'everyone', grant: { google: { groups: ['all@example.com'] }, slack: { channels: ['general'] }, jira: { projects: ['ENG'] } } }] },
      workers: { enabled: false },
    })
  })
  after(async () => {
    await t.stop()
  })

  /** The deprovisioning fixture stored as employee `externalId`'s row, as this build's machine wrote it. */
  async function storeLeaver(externalId: string): Promise<{ id: string; at: string }> {
    const text = readFileSync(path.join(FIXTURES, 'lifecycle-deprovisioning-v1.json'), 'utf8')
    const stored = (JSON.parse(text) as Fixture).employeeId
    const f = JSON.parse(text.replaceAll(stored, externalId)) as Fixture
    const id = randomUUID()
    await t.running.pool.query(
      `INSERT INTO employees (id, source, external_id, account_key, snapshot, state, machine_version) VALUES ($1, 'generic', $2, $2, $3, $4, $5)`,
      [id, externalId, JSON.stringify(f.snapshot), f.state, f.machineVersion],
    )
    return { id, at: f.at }
  }

  const cutOff = (id: string, system: string, now: string, correlationId: string) =>
    applyEvent(t.running.engine, id, { type: 'account.revoked', system, phase: 'cutoff', residual: [], now }, { actor: SYSTEM_ACTOR, correlationId })

  async function systemRows(employeeId: string): Promise<Record<string, SystemRow>> {
    const { rows } = await t.running.pool.query<SystemRow>(
      `SELECT cs.system, cs.xmin::text AS xmin, cs.updated_at, cs.status, cs.deadline_at, cs.cutoff_at
         FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'leaver' ORDER BY cs.system`,
      [employeeId],
    )
    return Object.fromEntries(rows.map((r) => [r.system, r]))
  }

  test("when one system's outcome is applied, then only that system's case_systems row is written and the others keep their tuple", async () => {
    const { id, at } = await storeLeaver('E-601')
    // The first event projects the case (no row existed): every system gets its row.
    await cutOff(id, 'jira', at, 'rows-1')
    const first = await systemRows(id)
    assert.deepEqual(Object.keys(first), ['google', 'jira', 'slack'], 'a new case writes every system')

    const moved = await cutOff(id, 'slack', at, 'rows-2')
    assert.equal(moved.applied, true)
    const second = await systemRows(id)
    // The changed row is written: its new status and cut-off moment, a new tuple.
    assert.equal(second['slack']!.status, 'verifying')
    assert.ok(second['slack']!.cutoff_at, 'the cut-off moment is stored')
    assert.notEqual(second['slack']!.xmin, first['slack']!.xmin, 'the changed row is a new tuple')
    // The rows the outcome did not change are not rewritten (same tuple, same updated_at).
    for (const system of ['google', 'jira']) {
      assert.equal(second[system]!.xmin, first[system]!.xmin, `${system}'s row keeps its version (xmin)`)
      assert.equal(second[system]!.updated_at.getTime(), first[system]!.updated_at.getTime(), `${system}'s updated_at`)
    }
  })

  test('when the case has no row for a system the outcome did not change, then the statement writes it all the same', async () => {
    const { id, at } = await storeLeaver('E-603')
    await cutOff(id, 'jira', at, 'missing-1')
    // A row an older build never wrote (or one lost): nothing in the snapshot tells the engine.
    await t.running.pool.query(`DELETE FROM case_systems cs USING cases c WHERE c.id = cs.case_id AND c.employee_id = $1 AND cs.system = 'google'`, [id])
    await cutOff(id, 'slack', at, 'missing-2')
    const rows = await systemRows(id)
    assert.deepEqual(Object.keys(rows), ['google', 'jira', 'slack'])
    assert.equal(rows['google']!.status, 'verifying')
  })

  test('when a case has an approved sla_waiver and an outcome of another system is applied, then the waived deadlines of the rows not written stand and the case deadline follows them', async () => {
    const { id, at } = await storeLeaver('E-602')
    await cutOff(id, 'jira', at, 'waiver-1')
    const kase = (await t.running.pool.query<{ id: string; deadline_at: Date }>(`SELECT id, deadline_at FROM cases WHERE employee_id = $1 AND kind = 'leaver'`, [id])).rows[0]!
    const original = kase.deadline_at
    // A waiver for every system of the case, decided before the original deadline, to a day later.
    const endsAt = new Date(original.getTime() + 24 * 3600_000)
    const decidedAt = new Date(original.getTime() - 3600_000)
    await t.running.pool.query(
      `INSERT INTO exceptions (id, kind, employee_id, system, reason, requested_by, requested_by_type, requested_at, starts_at, ends_at, status, decided_at, case_id, snapshot)
       VALUES ($1, 'sla_waiver', $2, NULL, 'vendor outage', 'tester', 'system', $3, $3, $4, 'approved', $3, $5, '{}')`,
      [randomUUID(), id, decidedAt, endsAt, kase.id],
    )
    // What the waiver's decision does (src/exceptions/service.ts applyWaiverDeadline): re-propose each original deadline.
    for (const system of ['google', 'jira', 'slack']) await reproposeDeadline(t.running.pool, kase.id, system, original.toISOString())
    const waived = await systemRows(id)
    for (const system of ['google', 'jira', 'slack']) assert.equal(waived[system]!.deadline_at.getTime(), endsAt.getTime(), `${system} waived`)

    // Slack's cut-off: Slack's row is written again (the engine proposes the original deadline and
    // the trigger extends it), Google's and Jira's are not; every deadline and the case's stay waived.
    await cutOff(id, 'slack', at, 'waiver-2')
    const afterOutcome = await systemRows(id)
    assert.notEqual(afterOutcome['slack']!.xmin, waived['slack']!.xmin)
    assert.equal(afterOutcome['google']!.xmin, waived['google']!.xmin)
    for (const system of ['google', 'jira', 'slack']) assert.equal(afterOutcome[system]!.deadline_at.getTime(), endsAt.getTime(), `${system} still waived`)
    const caseAfter = (await t.running.pool.query<{ deadline_at: Date }>('SELECT deadline_at FROM cases WHERE id = $1', [kase.id])).rows[0]!
    assert.equal(caseAfter.deadline_at.getTime(), endsAt.getTime(), 'the case deadline is the earliest deadline of its open systems, all waived')
  })

  test("when a waiver covers one system and the others' outcomes secure them, then the case deadline moves to the waived system's (the refresh runs for the rows written)", async () => {
    const { id, at } = await storeLeaver('E-604')
    await cutOff(id, 'jira', at, 'one-waiver-1')
    const kase = (await t.running.pool.query<{ id: string; deadline_at: Date }>(`SELECT id, deadline_at FROM cases WHERE employee_id = $1 AND kind = 'leaver'`, [id])).rows[0]!
    const original = kase.deadline_at
    const endsAt = new Date(original.getTime() + 24 * 3600_000)
    await t.running.pool.query(
      `INSERT INTO exceptions (id, kind, employee_id, system, reason, requested_by, requested_by_type, requested_at, starts_at, ends_at, status, decided_at, case_id, snapshot)
       VALUES ($1, 'sla_waiver', $2, 'google', 'vendor outage', 'tester', 'system', $3, $3, $4, 'approved', $3, $5, '{}')`,
      [randomUUID(), id, new Date(original.getTime() - 3600_000), endsAt, kase.id],
    )
    await reproposeDeadline(t.running.pool, kase.id, 'google', original.toISOString())
    const caseDeadline = async () => (await t.running.pool.query<{ deadline_at: Date }>('SELECT deadline_at FROM cases WHERE id = $1', [kase.id])).rows[0]!.deadline_at.getTime()
    assert.equal(await caseDeadline(), original.getTime(), 'Jira and Slack are still open at the original deadline')

    const verified = (system: string, c: string) =>
      applyEvent(t.running.engine, id, { type: 'account.verified', system, revoked: true, checks: [{ name: 'account disabled', ok: true }], now: at }, { actor: SYSTEM_ACTOR, correlationId: c })
    await verified('jira', 'one-waiver-2')
    await cutOff(id, 'slack', at, 'one-waiver-3')
    assert.equal(await caseDeadline(), original.getTime(), 'Slack is still open')
    const before = await systemRows(id)
    // Slack verified: only Slack's row is written, and Google (waived) is the one system left open.
    await verified('slack', 'one-waiver-4')
    const rows = await systemRows(id)
    assert.ok(rows['slack']!.xmin !== before['slack']!.xmin && rows['google']!.xmin === before['google']!.xmin)
    assert.equal(rows['google']!.deadline_at.getTime(), endsAt.getTime())
    assert.equal(await caseDeadline(), endsAt.getTime(), "the case deadline is Google's waived one")
  })
})

/**
 * The joiner case's systems as the engine writes them: the hire fixture
 * (test/fixtures/snapshots/lifecycle-prehire-v1.json: Google, Jira and Slack planned) reaches its
 * provision timer, then one system's account is created at a time.
 */
describe('joiner case systems written by the engine', () => {
  let t: TestTenure
  const unreachable = 'http://127.0.0.1:9'

  before(async () => {
    t = await startTestTenure({
      systems: { google: googleSandboxConfig(unreachable), slack: slackSandboxConfig(unreachable), jira: jiraSandboxConfig(unreachable) },
      policy: { rules: [{ name: 'everyone', grant: { google: { groups: ['all@example.com'] }, slack: { channels: ['general'] }, jira: { projects: ['ENG'] } } }] },
      workers: { enabled: false },
    })
  })
  after(async () => {
    await t.stop()
  })

  /** The pre-hire fixture stored as employee `externalId`'s row, then its provision timer fired: the joiner case opens. */
  async function storeJoiner(externalId: string): Promise<{ id: string; at: string }> {
    const text = readFileSync(path.join(FIXTURES, 'lifecycle-prehire-v1.json'), 'utf8')
    const stored = (JSON.parse(text) as Fixture).employeeId
    const f = JSON.parse(text.replaceAll(stored, externalId)) as Fixture
    const id = randomUUID()
    await t.running.pool.query(
      `INSERT INTO employees (id, source, external_id, account_key, snapshot, state, machine_version) VALUES ($1, 'generic', $2, $2, $3, $4, $5)`,
      [id, externalId, JSON.stringify(f.snapshot), f.state, f.machineVersion],
    )
    const timer = (f.snapshot as unknown as { context: { timers: { provision: { timerId: string; at: string } } } }).context.timers.provision
    const fired = await applyEvent(t.running.engine, id, { type: 'timer.fired', timerId: timer.timerId, timer: 'provision', now: timer.at }, { actor: SYSTEM_ACTOR, correlationId: `${externalId}-provision` })
    assert.equal(fired.applied, true)
    return { id, at: timer.at }
  }

  const provisioned = (id: string, system: string, now: string, correlationId: string) =>
    applyEvent(t.running.engine, id, { type: 'account.provisioned', system, accountId: `${system}-acct`, now }, { actor: SYSTEM_ACTOR, correlationId })

  async function systemRows(employeeId: string): Promise<Record<string, SystemRow & { account_id: string | null }>> {
    const { rows } = await t.running.pool.query<SystemRow & { account_id: string | null }>(
      `SELECT cs.system, cs.xmin::text AS xmin, cs.updated_at, cs.status, cs.deadline_at, cs.cutoff_at, cs.account_id
         FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'joiner' ORDER BY cs.system`,
      [employeeId],
    )
    return Object.fromEntries(rows.map((r) => [r.system, r]))
  }

  test("when one system's account is created, then only that system's joiner case_systems row is written and the others keep their tuple", async () => {
    const { id, at } = await storeJoiner('E-701')
    const first = await systemRows(id)
    assert.deepEqual(Object.keys(first), ['google', 'jira', 'slack'], 'the opened case has every system')

    const moved = await provisioned(id, 'slack', at, 'joiner-rows-1')
    assert.equal(moved.applied, true)
    const second = await systemRows(id)
    // The changed row is written: its account, a new tuple.
    assert.equal(second['slack']!.account_id, 'slack-acct')
    assert.notEqual(second['slack']!.xmin, first['slack']!.xmin, 'the changed row is a new tuple')
    // The rows the outcome did not change are not rewritten (same tuple, same updated_at).
    for (const system of ['google', 'jira']) {
      assert.equal(second[system]!.xmin, first[system]!.xmin, `${system}'s row keeps its version (xmin)`)
      assert.equal(second[system]!.updated_at.getTime(), first[system]!.updated_at.getTime(), `${system}'s updated_at`)
    }
  })

  test('when the joiner case has no row for a system the outcome did not change, then the statement writes it all the same', async () => {
    const { id, at } = await storeJoiner('E-702')
    await t.running.pool.query(`DELETE FROM case_systems cs USING cases c WHERE c.id = cs.case_id AND c.employee_id = $1 AND c.kind = 'joiner' AND cs.system = 'google'`, [id])
    await provisioned(id, 'jira', at, 'joiner-missing-1')
    const rows = await systemRows(id)
    assert.deepEqual(Object.keys(rows), ['google', 'jira', 'slack'])
    assert.equal(rows['jira']!.account_id, 'jira-acct')
    assert.equal(rows['google']!.account_id, null)
  })

  test('when the joiner case has a row for a system the policy no longer grants, then an outcome of another system removes it', async () => {
    const { id, at } = await storeJoiner('E-704')
    // A system of the case the machine no longer shows (a mover before day one loses it).
    await t.running.pool.query(
      `INSERT INTO case_systems (case_id, system, status, attempts) SELECT c.id, 'github', 'provisioning', 0 FROM cases c WHERE c.employee_id = $1 AND c.kind = 'joiner'`,
      [id],
    )
    await provisioned(id, 'jira', at, 'joiner-gone-1')
    assert.deepEqual(Object.keys(await systemRows(id)), ['google', 'jira', 'slack'])
  })

  test('when the snapshot before was written by another machine version, then every joiner row is written again', async () => {
    const { id, at } = await storeJoiner('E-703')
    const first = await systemRows(id)
    // The next release (version + 1, a step that changes nothing) applies the outcome to the stored snapshot of today's.
    const next: MachineVersioning = {
      machine: 'employeeLifecycle',
      current: LIFECYCLE_VERSIONING.current + 1,
      steps: [...LIFECYCLE_VERSIONING.steps, { from: LIFECYCLE_VERSIONING.current, change: 'nothing', up: (snapshot) => snapshot }],
    }
    const moved = await applyEvent(
      { ...t.running.engine, lifecycleVersioning: next },
      id,
      { type: 'account.provisioned', system: 'google', accountId: 'google-acct', now: at },
      { actor: SYSTEM_ACTOR, correlationId: 'joiner-version-1' },
    )
    assert.equal(moved.applied, true)
    const second = await systemRows(id)
    for (const system of ['google', 'jira', 'slack']) assert.notEqual(second[system]!.xmin, first[system]!.xmin, `${system} written again`)
  })
})
