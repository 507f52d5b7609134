/**
 * Residual access: whatever a provisioner could not remove is never dropped. Each item becomes a
 * task for a person, shown on the leaver case with the decision taken on it; deciding on a system
 * that failed for good resolves it on the case, so the case can close.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const today = () => new Date().toISOString().slice(0, 10)

interface Residual {
  kind: string
  id: string
  reason: string
  taskId: string | null
  decision: string
  decidedBy: string | null
}
interface CaseOut {
  id: string
  externalId: string
  status: string
  systems: Array<{ system: string; status: string; residual: Residual[] }>
}
interface Task {
  id: string
  title: string
  kind: string
  system: string
  employeeId: string | null
  employeeExternalId: string
  ownerGroup: string
  caseId: string | null
  deadlineAt: string | null
  status: string
  resolution: string | null
}

describe('residual access (Slack cut-off failing for good)', () => {
  let t: TestTenure
  let call: ApiCall
  const leaverCase = async (externalId: string) => {
    const page = await call<{ items: CaseOut[] }>('operator', '/api/v1/cases?limit=100')
    return page.body.items.find((c) => c.externalId === externalId)
  }
  const residualTasks = async (externalId: string) =>
    (await call<{ items: Task[] }>('operator', '/api/v1/tasks?kind=residual&limit=100')).body.items.filter((x) => x.employeeExternalId === externalId)

  before(async () => {
    t = await startTestTenure({
      sandbox: { enabled: true },
      lifecycle: { residualAccessOwnerGroup: 'it-security' },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, slack: { channels: ['general'] } } }] },
    })
    call = await apiAs(t, ['operator', 'approver', 'auditor'])
  })
  after(async () => {
    await t.stop()
  })

  test('when Slack refuses the deactivation for good, then each residual item gets one task, the case stays open, and decisions on all of them resolve Slack and close the case', async () => {
    const opts = (c: string) => ({ actor: SYSTEM_ACTOR, correlationId: c })
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'R1', { profile: { employeeId: 'R1', firstName: 'Res', lastName: 'Idual' }, startDate: today(), preHire: false }), opts('hire'))
    await t.until('R1 active', async () => (await t.employeeState('R1')) === 'active')

    const slack = t.running.emulators!.slack
    for (const method of ['PATCH', 'DELETE'] as const) slack.kit.injectFault({ method, pathIncludes: '/scim/', status: 400, times: Number.POSITIVE_INFINITY })
    try {
      await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'R1', { immediate: true, voluntary: 'involuntary', effectiveAt: new Date().toISOString() }), opts('leave'))
      const failing = await t.until('Slack to fail for good on the leaver case', async () => {
        const c = await leaverCase('R1')
        // A refused cut-off step fails the phase for good (provisioners/kit/revocation.ts): no retry changes a 400.
        return c?.systems.find((s) => s.system === 'slack')?.status === 'failed' ? c : undefined
      })
      await t.until('the sandbox to be revoked', async () => (await leaverCase('R1'))?.systems.find((s) => s.system === 'sandbox')?.status === 'done')
      assert.equal(failing.status, 'open', 'a system that may still grant access keeps the case open')
      const slackResidual = failing.systems.find((s) => s.system === 'slack')!.residual
      // The failed phase leaves the account as residual access, its reason naming every step's outcome.
      assert.deepEqual(slackResidual.map((r) => r.kind).sort(), ['account'])
      assert.match(slackResidual[0]!.reason, /failed at disable.*disable failed, revoke_sessions done, revoke_tokens not_supported/)
      assert.ok(slackResidual.every((r) => r.decision === 'pending' && r.taskId), 'each residual item points at its task')
    } finally {
      slack.kit.clearFaults()
    }

    const tasks = await residualTasks('R1')
    assert.equal(tasks.length, 1, 'one task per residual item')
    const task = tasks[0]!
    assert.equal(task.system, 'slack')
    assert.equal(task.ownerGroup, 'it-security')
    assert.equal(task.status, 'open')
    assert.ok(task.employeeId, 'the task names the employee')
    assert.equal(task.caseId, (await leaverCase('R1'))!.id)
    assert.ok(task.deadlineAt, 'the task carries the case deadline')
    const created = await sealedQuery(t.running.pool, `SELECT count(*)::int AS n FROM audit_events WHERE action = 'task.created' AND details ->> 'taskId' = $1`, [task.id])
    assert.equal(created.rows[0].n, 1, 'its creation is on the audit trail once')

    // Another event for the person re-projects the case: still one task.
    await applyHrEvent(t.running.engine, hrEvent('employee.updated', 'R1', { changes: { title: 'Former engineer' } }), opts('update'))
    assert.equal((await residualTasks('R1')).length, 1)

    // An approved SLA waiver extends the system's deadline on the case (migration 0006's trigger on
    // case_systems); the residual tasks show the deadline the case has now, not the one they were created with.
    const moved = new Date(Date.parse(task.deadlineAt!) + 2 * 86_400_000)
    await t.running.pool.query(`UPDATE case_systems SET deadline_at = $2 WHERE case_id = $1 AND system = 'slack'`, [task.caseId, moved])
    assert.deepEqual(
      (await residualTasks('R1')).map((x) => x.deadlineAt),
      [moved.toISOString()],
      'the residual tasks follow the moved deadline',
    )

    // Bad decisions are refused with a clear code and change nothing.
    const complete = (body: Record<string, unknown>) => call<{ error?: { code: string } }>('approver', `/api/v1/tasks/${task.id}/complete`, { method: 'POST', body: JSON.stringify(body) })
    assert.equal((await complete({ note: 'done' })).body.error?.code, 'resolution_required')
    assert.equal((await complete({ note: 'kept', resolution: 'accepted' })).body.error?.code, 'exception_required')
    const unknownException = await complete({ note: 'kept', resolution: 'accepted', exceptionId: '00000000-0000-4000-8000-000000000000' })
    assert.equal(unknownException.status, 409)
    assert.equal(unknownException.body.error?.code, 'exception_not_applicable')
    assert.ok((await residualTasks('R1')).every((x) => x.status === 'open'))

    const done = await complete({ note: 'deactivated by hand in the Slack admin console', evidenceRef: 'TICKET-42', resolution: 'removed' })
    assert.equal(done.status, 200)
    const closed = await t.until('the leaver case to close', async () => {
      const c = await leaverCase('R1')
      return c?.status === 'closed' ? c : undefined
    })
    const items = closed.systems.find((s) => s.system === 'slack')!.residual
    const decided = items.find((r) => r.kind === 'account')!
    assert.equal(decided.decision, 'removed')
    assert.ok(decided.decidedBy)
    assert.ok(items.some((r) => r.decision === 'resolved'), 'the operator resolution is recorded beside the item')
    assert.equal((await complete({ note: 'again', resolution: 'removed' })).status, 409)

    // The auditors' access-revocation report shows each residual item with its decision.
    const from = new Date(Date.now() - 3600_000).toISOString()
    const to = new Date(Date.now() + 60_000).toISOString()
    const report = await call<{ rows: Array<{ employee: { hrId: string }; system: string | null; residualAccess: Residual[] }> }>(
      'auditor',
      `/api/v1/reports/access-revocations?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=json`,
    )
    assert.equal(report.status, 200)
    const slackRow = report.body.rows.find((r) => r.employee.hrId === 'R1' && r.system === 'slack')!
    assert.deepEqual(
      slackRow.residualAccess.map((r) => [r.kind, r.decision]).sort(),
      [['account', 'removed'], ['manual', 'resolved']],
    )
  })
})
