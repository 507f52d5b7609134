/**
 * `tenure reconcile hr | targets` as a person runs them: the real binary against a running Tenure
 * (workers off, so the queued run stays queued), with an admin's and an operator's API token.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, type TestTenure } from '../../test/helpers/tenure.ts'
import { runTenure } from '../../test/helpers/process.ts'
import { startHrEmulators, type HrEmulators } from '../hr/emulators/index.ts'
import { createApiToken } from '../auth/tokens.ts'
import type { Role } from '../auth/roles.ts'
import { sealedQuery } from '../audit/test-support.ts'

describe('tenure reconcile', () => {
  let t: TestTenure
  let hr: HrEmulators
  const tokens: Partial<Record<Role, string>> = {}
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    t = await startTestTenure({ hr: { hibob: hr.config.hibob }, systems: { sandbox: { enabled: true } }, workers: { enabled: false } })
    for (const role of ['admin', 'operator'] as const) {
      tokens[role] = (await createApiToken(t.running.pool, { name: `cli-${role}`, role, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    }
  })
  after(async () => {
    await t?.stop()
    await hr?.close()
  })

  const tenure = async (role: Role, args: string[]) => {
    const p = runTenure(['reconcile', ...args], { TENURE_URL: t.url, TENURE_TOKEN: tokens[role], LOG_LEVEL: 'silent' })
    const { code } = await p.exited
    return { code, stdout: p.stdout(), stderr: p.stderr() }
  }

  test('when an admin runs `tenure reconcile targets` twice, then one run is queued and the second says it is already queued', async () => {
    const first = await tenure('admin', ['targets', '--system', 'sandbox'])
    assert.equal(first.code, 0, first.stderr)
    const id = /queued as job ([0-9a-f-]{36})/.exec(first.stdout)?.[1]
    assert.ok(id, first.stdout)
    const second = await tenure('admin', ['targets', '--system', 'sandbox', '--json'])
    assert.equal(second.code, 0, second.stderr)
    assert.deepEqual(JSON.parse(second.stdout), { jobId: id, status: 'already_queued', state: 'created' })
    const audit = await sealedQuery(t.running.pool, `SELECT count(*)::int AS n FROM audit_events WHERE action = 'reconciliation.run_requested' AND details->>'jobId' = $1`, [id])
    assert.equal(audit.rows[0].n, 2)
  })

  test('when an admin runs `tenure reconcile hr --source hibob`, then the HR reconciliation is queued', async () => {
    const out = await tenure('admin', ['hr', '--source', 'hibob'])
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /^HR reconciliation of hibob: queued as job [0-9a-f-]{36}\n$/)
  })

  test('when an operator or a bad name is used, then it exits 1 with the status and the code', async () => {
    const refused = await tenure('operator', ['hr', '--source', 'hibob'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^403 forbidden: /)
    const bad = await tenure('admin', ['hr', '--source', 'nope'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^400 validation_failed: params\.source/)
  })
})
