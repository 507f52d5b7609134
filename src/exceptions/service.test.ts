/**
 * Persistence-level tests of the exception service on real PostgreSQL and pg-boss, with a fake
 * clock and no workers: each test drives the use cases and the timers by hand and reads back what
 * was written (the row and its snapshot, timer and notification jobs, the employee machine, the
 * leaver case's deadlines and SLA ladder, the audit trail). The machine's paths themselves are
 * covered by approval.model.test.ts; the whole thing with workers and emulators by
 * test/integration/exceptions.test.ts.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { fakeClock } from '../auth/test-support.ts'
import { startTestTenure, hrEvent, type TestTenure } from '../../test/helpers/tenure.ts'
import { applyEvent, applyHrEvent, SYSTEM_ACTOR } from '../lifecycle/engine.ts'
import { ApiError } from '../http/errors.ts'
import { notifyConfigSchema, NOTIFY_QUEUE, type Notification } from '../notify/index.ts'
import { SLA_ESCALATION_QUEUE } from '../jobs/queues.ts'
import { uuidV5 } from '../util/ids.ts'
import { exceptionsConfigSchema } from './config.ts'
import { restoredContext } from './approval.ts'
import { EXCEPTION_TIMER_QUEUE, type ExceptionTimerJob } from './queue.ts'
import { decideException, exceptionTimerJobId, extendException, fireExceptionTimer, requestException, type Caller, type ExceptionDeps, type RequestInput } from './service.ts'
import { findException } from './store.ts'
import { sealAudit } from '../audit/sealer.ts'

const T0 = new Date('2025-06-02T09:00:00.000Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR

const OPERATOR: Caller = { type: 'api_token', id: 'tok-operator', name: 'it-ops', roles: ['operator'] }
const APPROVER_A: Caller = { type: 'api_token', id: 'tok-approver-a', name: 'alice', roles: ['approver'] }
const APPROVER_B: Caller = { type: 'oidc', id: 'sub-bob', name: 'Bob', roles: ['approver'] }
const ADMIN_C: Caller = { type: 'oidc', id: 'sub-carol', name: 'Carol', roles: ['admin'] }

const policy = {
  rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } }],
  systems: { sandbox: { leaver: { delete: true } } },
}

const iso = (ms: number) => new Date(ms).toISOString()

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
  assert.fail('expected the call to be refused')
}

describe('exception service (real PostgreSQL, fake clock, no workers)', () => {
  const clock = fakeClock(T0)
  let t: TestTenure
  let deps: ExceptionDeps
  let n = 0

  before(async () => {
    t = await startTestTenure(
      {
        systems: {
          sandbox: { enabled: true },
          manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities', instructions: { provision: 'Issue a badge.', revoke: 'Deactivate the badge.' } }],
        },
        policy,
        workers: { enabled: false },
      },
      { now: clock.now },
    )
    deps = {
      engine: t.running.engine,
      config: exceptionsConfigSchema.parse({ requestExpiry: '24h' }),
      notify: () => notifyConfigSchema.parse({ log: true }),
    }
  })
  after(async () => {
    await t.stop()
  })

  const opts = () => ({ correlationId: `test-${++n}` })

  /** A hired employee whose accounts exist; terminated at the current fake time when asked. */
  async function employee(externalId: string, terminate = false): Promise<string> {
    const today = clock.now().toISOString().slice(0, 10)
    const hired = await applyHrEvent(
      t.running.engine,
      hrEvent('employee.hired', externalId, { profile: { employeeId: externalId, firstName: 'Ada', lastName: externalId }, startDate: today, preHire: false }),
      { actor: SYSTEM_ACTOR, correlationId: `hire-${externalId}` },
    )
    for (const system of ['manual:badge', 'sandbox']) {
      await applyEvent(t.running.engine, hired.employeeId, { type: 'account.provisioned', system, accountId: `${system}-${externalId}`, now: clock.now().toISOString() }, { actor: SYSTEM_ACTOR, correlationId: `prov-${externalId}` })
    }
    if (terminate) {
      await applyHrEvent(
        t.running.engine,
        hrEvent('employee.terminated', externalId, { immediate: true, voluntary: 'involuntary', effectiveAt: clock.now().toISOString() }),
        { actor: SYSTEM_ACTOR, correlationId: `leave-${externalId}` },
      )
    }
    return hired.employeeId
  }

  const request = (employeeId: string, patch: Partial<RequestInput> = {}, caller: Caller = OPERATOR) =>
    requestException(deps, caller, { kind: 'delay_revocation', employeeId, system: 'sandbox', endsAt: iso(clock.now().getTime() + 2 * DAY), reason: 'mailbox hand-over to the manager', ...patch }, opts())

  async function employeeExceptions(employeeId: string): Promise<Record<string, unknown>> {
    const { rows } = await t.running.pool.query<{ snapshot: { context: { exceptions: Record<string, unknown> } } }>('SELECT snapshot FROM employees WHERE id = $1', [employeeId])
    return rows[0]!.snapshot.context.exceptions
  }

  async function auditFor(exceptionId: string): Promise<{ action: string; actor_id: string; details: Record<string, unknown> }[]> {
    await sealAudit(t.running.pool)
    const { rows } = await t.running.pool.query<{ action: string; actor_id: string; details: Record<string, unknown> }>(
      `SELECT action, actor_id, details FROM audit_events WHERE details->>'exceptionId' = $1 ORDER BY seq`,
      [exceptionId],
    )
    return rows
  }

  async function exceptionNotifications(exceptionId: string): Promise<Notification[]> {
    const jobs = await t.running.boss.fetch<{ notification: Notification; channel: string }>(NOTIFY_QUEUE, { batchSize: 100 })
    return jobs.map((j) => j.data.notification).filter((x) => x.subject.exceptionId === exceptionId)
  }

  async function timerJob(exceptionId: string, timer: ExceptionTimerJob['timer']): Promise<{ data: ExceptionTimerJob; startAfter: Date } | undefined> {
    const row = await findException(t.running.pool, exceptionId)
    const current = restoredContext(row!.snapshot).context.timers[timer]
    if (!current) return undefined
    const job = await t.running.boss.getJobById<ExceptionTimerJob>(EXCEPTION_TIMER_QUEUE, exceptionTimerJobId(current.timerId))
    return job ? { data: job.data, startAfter: job.startAfter } : undefined
  }

  test('when an operator requests an exception, then the row, its snapshot, the expiry timer, the approvers\' notification and the audit row are written together', async () => {
    const employeeId = await employee('S100')
    const { record, created } = await request(employeeId)
    assert.equal(created, true)
    assert.equal(record.status, 'requested')
    assert.equal(record.requestedBy, OPERATOR.id)
    assert.equal(record.version, 1)
    assert.equal(restoredContext(record.snapshot).value, 'requested')

    const due = await timerJob(record.id, 'answer_due')
    assert.equal(due?.startAfter.getTime(), record.requestedAt.getTime() + 24 * HOUR, 'unanswered requests lapse after exceptions.requestExpiry')

    const [asked] = await exceptionNotifications(record.id)
    assert.equal(asked?.kind, 'exception.requested')
    assert.match(asked!.text, /mailbox hand-over to the manager/)
    assert.match(asked!.text, /Requested by: it-ops \(tok-operator\)/)
    assert.match(asked!.text, /Deadline: .*waiting_exception/)

    assert.deepEqual((await auditFor(record.id)).map((a) => [a.action, a.actor_id]), [['exception.requested', 'tok-operator']])
  })

  test('when a request breaks a rule, then it is refused with 400 naming the field, or 409 for a waiver without a case', async () => {
    const employeeId = await employee('S101')
    const tooLong = await refusal(request(employeeId, { endsAt: iso(clock.now().getTime() + 15 * DAY) }))
    assert.equal(tooLong.status, 400)
    assert.match(tooLong.message, /^body\.endsAt: delay_revocation may last at most 14d/)
    assert.equal((await refusal(request(employeeId, { system: null }))).message.split(':')[0], 'body.system')
    assert.equal((await refusal(request(employeeId, { reason: 'because' }))).message.split(':')[0], 'body.reason')
    assert.equal((await refusal(request(employeeId, { endsAt: iso(clock.now().getTime() - 1000) }))).message.split(':')[0], 'body.endsAt')
    assert.equal((await refusal(request('00000000-0000-4000-8000-000000000000'))).message.split(':')[0], 'body.employeeId')
    assert.equal((await refusal(request(employeeId, { system: 'nope' }))).message.split(':')[0], 'body.system')
    const noCase = await refusal(request(employeeId, { kind: 'sla_waiver', endsAt: iso(clock.now().getTime() + DAY) }))
    assert.deepEqual([noCase.status, noCase.code], [409, 'no_open_case'])
    const { rows } = await t.running.pool.query('SELECT 1 FROM exceptions WHERE employee_id = $1', [employeeId])
    assert.equal(rows.length, 0, 'nothing refused was stored')
  })

  test('when the requester approves their own request, then it is refused with 403 four_eyes, nothing changes, and the attempt is audited', async () => {
    const employeeId = await employee('S102')
    const { record } = await request(employeeId, {}, APPROVER_A)
    const err = await refusal(decideException(deps, APPROVER_A, record.id, 'approve', 'I need this one approved', opts()))
    assert.deepEqual([err.status, err.code], [403, 'four_eyes'])
    assert.match(err.message, /someone else must approve/)
    const still = await findException(t.running.pool, record.id)
    assert.deepEqual([still?.status, still?.version, still?.approvals.length], ['requested', 1, 0])
    const audit = await auditFor(record.id)
    assert.deepEqual(audit.map((a) => a.action), ['exception.requested', 'exception.refused'])
    assert.equal(audit[1]!.details.code, 'four_eyes')
  })

  test('when the same approver approves twice at once, then one approval counts, the other gets 409, and the employee machine hears one activation', async () => {
    const employeeId = await employee('S103')
    const { record } = await request(employeeId)
    const results = await Promise.allSettled([
      decideException(deps, APPROVER_B, record.id, 'approve', 'hand-over agreed with HR', opts()),
      decideException(deps, APPROVER_B, record.id, 'approve', 'hand-over agreed with HR', opts()),
    ])
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    assert.equal(fulfilled.length, 1)
    assert.equal((rejected[0]!.reason as ApiError).status, 409)
    const approved = await findException(t.running.pool, record.id)
    assert.equal(approved?.status, 'active')
    assert.deepEqual(approved?.approvals.map((a) => [a.actorId, a.role]), [['sub-bob', 'approver']])
    assert.equal(approved?.decidedAt?.getTime(), clock.now().getTime())
    assert.deepEqual(Object.keys(await employeeExceptions(employeeId)), [record.id])
    assert.equal(await timerJob(record.id, 'answer_due'), undefined, 'the expiry timer is gone once decided')
    const end = await timerJob(record.id, 'end')
    assert.equal(end?.startAfter.getTime(), record.endsAt.getTime())
    assert.deepEqual((await auditFor(record.id)).map((a) => a.action).filter((a) => a !== 'exception.refused'), ['exception.requested', 'exception.decided', 'exception.activated', 'lifecycle.exception_activated'], 'the employee machine recorded it in the same transaction')
  })

  test('when an sla_waiver is approved by one approver and then a distinct admin before the deadline, then the system deadline moves to its end and stays there', async () => {
    const employeeId = await employee('S104', true)
    const kase = await t.running.pool.query<{ id: string; deadline_at: Date; effective_at: Date }>(`SELECT id, deadline_at, effective_at FROM cases WHERE employee_id = $1 AND kind = 'leaver'`, [employeeId])
    const caseId = kase.rows[0]!.id
    const original = kase.rows[0]!.deadline_at.getTime()
    assert.equal(original, T0.getTime() + 4 * HOUR)
    clock.advance(HOUR)
    const endsAt = iso(T0.getTime() + DAY)
    const { record } = await request(employeeId, { kind: 'sla_waiver', endsAt, reason: 'the sandbox API is down for maintenance' })
    assert.equal(record.caseId, caseId)

    const first = await decideException(deps, APPROVER_A, record.id, 'approve', 'maintenance window confirmed', opts())
    assert.equal(first.status, 'awaiting_second_approval')
    const notAdmin = await refusal(decideException(deps, APPROVER_B, record.id, 'approve', 'looks fine to me', opts()))
    assert.deepEqual([notAdmin.status, notAdmin.code], [403, 'second_approval_needs_admin'])
    const again = await refusal(decideException(deps, APPROVER_A, record.id, 'approve', 'maintenance window confirmed', opts()))
    assert.deepEqual([again.status, again.code], [409, 'already_approved'])
    const second = await decideException(deps, ADMIN_C, record.id, 'approve', 'confirmed with the vendor', opts())
    assert.equal(second.status, 'active')
    assert.deepEqual(second.approvals.map((a) => [a.actorId, a.role]), [['tok-approver-a', 'approver'], ['sub-carol', 'admin']])
    assert.equal(second.details.newDeadlineAt, endsAt)
    assert.equal(second.details.breachNotHidden, false)

    const deadlines = async (): Promise<Record<string, string>> => {
      const { rows } = await t.running.pool.query<{ system: string; deadline_at: Date }>('SELECT system, deadline_at FROM case_systems WHERE case_id = $1 ORDER BY system', [caseId])
      const c = await t.running.pool.query<{ deadline_at: Date }>('SELECT deadline_at FROM cases WHERE id = $1', [caseId])
      return { case: c.rows[0]!.deadline_at.toISOString(), ...Object.fromEntries(rows.map((r) => [r.system, r.deadline_at.toISOString()])) }
    }
    // The badge is still open, so the case deadline stays at its (unwaived) four hours.
    assert.deepEqual(await deadlines(), { case: iso(original), 'manual:badge': iso(original), sandbox: endsAt })

    // The engine re-projects the case after every event: the waiver survives, and once the badge
    // is secured the case deadline is the waived system's.
    const now = () => clock.now().toISOString()
    await applyEvent(t.running.engine, employeeId, { type: 'account.revoked', system: 'manual:badge', phase: 'cutoff', residual: [], now: now() }, { actor: SYSTEM_ACTOR, correlationId: 'badge-1' })
    await applyEvent(t.running.engine, employeeId, { type: 'account.verified', system: 'manual:badge', revoked: true, checks: [], now: now() }, { actor: SYSTEM_ACTOR, correlationId: 'badge-2' })
    assert.deepEqual(await deadlines(), { case: endsAt, 'manual:badge': iso(original), sandbox: endsAt })

    const breachStep = await t.running.boss.getJobById(SLA_ESCALATION_QUEUE, uuidV5(`escalation:${caseId}:breach:${endsAt}`))
    assert.ok(breachStep, 'the SLA ladder is queued for the new deadline')
    assert.equal(breachStep.startAfter.getTime(), Date.parse(endsAt))
    const audit = await auditFor(record.id)
    assert.deepEqual(
      audit.map((a) => a.action).filter((a) => a !== 'exception.refused'),
      ['exception.requested', 'exception.decided', 'exception.decided', 'exception.activated', 'exception.deadline_extended', 'lifecycle.exception_activated'],
    )
    assert.deepEqual(audit.filter((a) => a.action === 'exception.decided').map((a) => [a.actor_id, a.details.stage, a.details.final]), [['tok-approver-a', 1, false], ['sub-carol', 2, true]])
    const slaWaivers = (await t.running.pool.query<{ details: { slaWaivers?: { exceptionId: string }[] } }>('SELECT details FROM cases WHERE id = $1', [caseId])).rows[0]!.details.slaWaivers
    assert.deepEqual(slaWaivers?.map((w) => w.exceptionId), [record.id])

    // Revoked: the waiver counts until it was revoked, then the deadline is the original again
    // (or the revocation moment, when that is later).
    clock.advance(5 * HOUR)
    const revoked = await decideException(deps, ADMIN_C, record.id, 'revoke', 'the maintenance is over now', opts())
    assert.equal(revoked.status, 'revoked')
    assert.equal((await deadlines()).sandbox, iso(clock.now().getTime()))
    clock.advance(-6 * HOUR)
  })

  test('when an sla_waiver is approved after the deadline passed, then the deadline is kept and breach_not_hidden is recorded', async () => {
    const employeeId = await employee('S105', true)
    const { rows } = await t.running.pool.query<{ id: string; deadline_at: Date }>(`SELECT id, deadline_at FROM cases WHERE employee_id = $1 AND kind = 'leaver'`, [employeeId])
    const original = rows[0]!.deadline_at.toISOString()
    const { record } = await request(employeeId, { kind: 'sla_waiver', system: 'sandbox', endsAt: iso(clock.now().getTime() + DAY), reason: 'the sandbox API is down for maintenance' })
    clock.advance(5 * HOUR)
    try {
      await decideException(deps, APPROVER_A, record.id, 'approve', 'late, but the outage was real', opts())
      const done = await decideException(deps, ADMIN_C, record.id, 'approve', 'late, but the outage was real', opts())
      assert.equal(done.status, 'active')
      assert.equal(done.details.breachNotHidden, true)
      assert.equal(done.details.newDeadlineAt, null)
      const sys = await t.running.pool.query<{ deadline_at: Date }>(`SELECT deadline_at FROM case_systems WHERE case_id = $1 AND system = 'sandbox'`, [rows[0]!.id])
      assert.equal(sys.rows[0]!.deadline_at.toISOString(), original, 'a waiver approved after the deadline does not hide the breach')
      const audit = await auditFor(record.id)
      assert.ok(audit.some((a) => a.action === 'exception.breach_not_hidden'))
      assert.ok(!audit.some((a) => a.action === 'exception.deadline_extended'))
    } finally {
      clock.advance(-5 * HOUR)
    }
  })

  test('when nobody answers in time, then the expiry timer makes the request lapse; a timer that is no longer current changes nothing', async () => {
    const employeeId = await employee('S106')
    const { record } = await request(employeeId)
    const due = (await timerJob(record.id, 'answer_due'))!
    clock.advance(24 * HOUR)
    try {
      assert.equal(await fireExceptionTimer(deps, due.data), 'applied')
      const lapsed = await findException(t.running.pool, record.id)
      assert.equal(lapsed?.status, 'lapsed')
      assert.equal(lapsed?.expiredAt?.getTime(), clock.now().getTime())
      assert.equal(await fireExceptionTimer(deps, due.data), 'stale', 'a timer fired twice applies once')
      assert.deepEqual(await employeeExceptions(employeeId), {}, 'the default policy applies')
      assert.deepEqual((await auditFor(record.id)).map((a) => [a.action, a.actor_id]), [['exception.requested', 'tok-operator'], ['exception.lapsed', 'tenure']])
      const late = await refusal(decideException(deps, APPROVER_A, record.id, 'approve', 'sorry, I was on holiday', opts()))
      assert.deepEqual([late.status, late.code], [409, 'not_pending'])
      const kinds = (await exceptionNotifications(record.id)).map((x) => x.kind).sort()
      assert.deepEqual(kinds, ['exception.lapsed', 'exception.requested'], 'the requester hears that the request lapsed')
    } finally {
      clock.advance(-24 * HOUR)
    }
  })

  test('when an exception starts later, then it waits approved until its start timer, and ends with its end timer', async () => {
    const employeeId = await employee('S107')
    const startsAt = iso(clock.now().getTime() + 2 * HOUR)
    const { record } = await request(employeeId, { kind: 'retain_account', system: null, startsAt, endsAt: iso(clock.now().getTime() + 30 * DAY), reason: 'keep accounts for the audit season' })
    const approved = await decideException(deps, APPROVER_A, record.id, 'approve', 'audit season agreed', opts())
    assert.equal(approved.status, 'approved')
    assert.deepEqual(await employeeExceptions(employeeId), {})
    const start = (await timerJob(record.id, 'start'))!
    assert.equal(start.startAfter.toISOString(), startsAt)
    clock.advance(2 * HOUR)
    assert.equal(await fireExceptionTimer(deps, start.data), 'applied')
    assert.equal((await findException(t.running.pool, record.id))?.status, 'active')
    assert.deepEqual(Object.keys(await employeeExceptions(employeeId)), [record.id])
    const end = (await timerJob(record.id, 'end'))!
    clock.advance(30 * DAY)
    try {
      assert.equal(await fireExceptionTimer(deps, end.data), 'applied')
      const ended = await findException(t.running.pool, record.id)
      assert.equal(ended?.status, 'expired')
      assert.deepEqual(await employeeExceptions(employeeId), {})
    } finally {
      clock.advance(-30 * DAY - 2 * HOUR)
    }
  })

  test('when an active exception is revoked, then only the requester or an admin may, and the employee machine hears it ended', async () => {
    const employeeId = await employee('S108')
    const { record } = await request(employeeId, {}, APPROVER_A)
    await decideException(deps, APPROVER_B, record.id, 'approve', 'hand-over agreed with HR', opts())
    const notYours = await refusal(decideException(deps, APPROVER_B, record.id, 'revoke', 'I changed my mind on it', opts()))
    assert.deepEqual([notYours.status, notYours.code], [403, 'not_requester'])
    const revoked = await decideException(deps, APPROVER_A, record.id, 'revoke', 'the hand-over is finished', opts())
    assert.deepEqual([revoked.status, revoked.revokedBy, revoked.revokeReason], ['revoked', 'tok-approver-a', 'the hand-over is finished'])
    assert.deepEqual(await employeeExceptions(employeeId), {})
    assert.equal(await timerJob(record.id, 'end'), undefined)
    const twice = await refusal(decideException(deps, ADMIN_C, record.id, 'revoke', 'just to be sure here', opts()))
    assert.deepEqual([twice.status, twice.code], [409, 'not_revocable'])
  })

  test('when an active legal hold is extended by another approver, then its end, its end timer and the employee machine\'s end move, the extension is audited with names, and its requester cannot extend it', async () => {
    const employeeId = await employee('S110')
    const { record } = await request(employeeId, { kind: 'legal_hold', system: null, endsAt: iso(clock.now().getTime() + 10 * DAY), reason: 'litigation hold from legal' }, OPERATOR)
    const approved = await decideException(deps, APPROVER_A, record.id, 'approve', 'legal confirmed the matter', opts())
    assert.equal(approved.status, 'active')
    const own = await refusal(extendException(deps, { ...OPERATOR, roles: ['operator', 'approver'] }, record.id, iso(clock.now().getTime() + 20 * DAY), 'I need more time on it', opts()))
    assert.deepEqual([own.status, own.code], [403, 'four_eyes'])
    const earlier = await refusal(extendException(deps, APPROVER_B, record.id, iso(clock.now().getTime() + 5 * DAY), 'shorter is not an extension', opts()))
    assert.deepEqual([earlier.status, earlier.message.split(':')[0]], [400, 'body.endsAt'])

    const newEnd = iso(clock.now().getTime() + 20 * DAY)
    const extended = await extendException(deps, APPROVER_B, record.id, newEnd, 'the matter was extended by a month', opts())
    assert.deepEqual([extended.status, extended.endsAt.toISOString()], ['active', newEnd])
    assert.equal((await timerJob(record.id, 'end'))?.startAfter.toISOString(), newEnd, 'the end timer moved')
    assert.equal((await employeeExceptions(employeeId))[record.id] && ((await employeeExceptions(employeeId))[record.id] as { until: string }).until, newEnd, "the employee machine's end moved")
    assert.deepEqual((extended.details.extensions as { by: string; to: string }[]).map((e) => [e.by, e.to]), [['sub-bob', newEnd]])
    assert.deepEqual(extended.details.approverNames, { 'tok-approver-a': 'alice', 'sub-bob': 'Bob' })
    const audit = (await auditFor(record.id)).filter((a) => a.action === 'exception.extended')
    assert.deepEqual(audit.map((a) => [a.actor_id, a.details.to]), [['sub-bob', newEnd]])

    const waiverLike = await refusal(extendException(deps, ADMIN_C, record.id, iso(clock.now().getTime() + 4000 * DAY), 'a very long hold for the archive', opts()))
    assert.deepEqual([waiverLike.status, waiverLike.message.split(':')[0]], [400, 'body.endsAt'], 'beyond exceptions.maxDuration')
  })

  test('when a delay in force or a pending request is extended, then it is refused with 409 not_extendable', async () => {
    const employeeId = await employee('S111')
    const { record } = await request(employeeId, {}, OPERATOR)
    const pending = await refusal(extendException(deps, APPROVER_A, record.id, iso(clock.now().getTime() + 3 * DAY), 'one more day for the hand-over', opts()))
    assert.deepEqual([pending.status, pending.code], [409, 'not_extendable'])
    await decideException(deps, APPROVER_A, record.id, 'approve', 'hand-over agreed with HR', opts())
    const inForce = await refusal(extendException(deps, APPROVER_B, record.id, iso(clock.now().getTime() + 3 * DAY), 'one more day for the hand-over', opts()))
    assert.deepEqual([inForce.status, inForce.code], [409, 'not_extendable'])
  })

  test('when an sla_waiver is requested, then it says the deadline it moves from and to before anyone decides', async () => {
    const employeeId = await employee('S112', true)
    const { record } = await request(employeeId, { kind: 'sla_waiver', system: 'sandbox', endsAt: iso(clock.now().getTime() + DAY), reason: 'Graph outage, cannot revoke in time' })
    const { rows } = await t.running.pool.query<{ deadline_at: Date }>(`SELECT cs.deadline_at FROM case_systems cs WHERE cs.case_id = $1 AND cs.system = 'sandbox'`, [record.caseId])
    assert.deepEqual([record.details.originalDeadlineAt, record.details.newDeadlineAt], [rows[0]!.deadline_at.toISOString(), iso(clock.now().getTime() + DAY)])
  })

  test('when a request is retried with the same idempotency key, then it is the same exception', async () => {
    const employeeId = await employee('S109')
    const first = await request(employeeId, { idempotencyKey: 'ticket-4711' })
    const again = await request(employeeId, { idempotencyKey: 'ticket-4711' })
    assert.equal(first.created, true)
    assert.equal(again.created, false)
    assert.equal(again.record.id, first.record.id)
    const other = await request(employeeId, { idempotencyKey: 'ticket-4711' }, APPROVER_A)
    assert.notEqual(other.record.id, first.record.id, 'keys are per caller')
  })
})
