/**
 * Emergency off-boarding: cut a person off now, without waiting for HR.
 *
 * The cut is not a second revocation path. It is an `employee.terminated` (immediate) sent to the
 * person's lifecycle machine through the engine, exactly as HR's would be, so the leaver case, its
 * SLA deadline, the revocation jobs, the verification evidence and the escalation ladder are the
 * ones an HR termination gets. What differs is recorded beside it: the source event id is
 * `emergency:<request id>`, the actor is the person (API token or SSO user), and the audit row
 * `offboarding.emergency_terminated` carries the reason, the requester and the approver.
 *
 * Four-eyes (offboarding.emergency.requireSecondApprover) follows the exceptions' rules
 * (src/exceptions/service.ts decisionRefusal): the requester never approves their own request,
 * an approval counts once, a request nobody answers in time expires (here: nothing is cut).
 *
 * When HR's own record arrives afterwards, src/offboarding/hr-gate.ts compares it with the cut.
 */
import { randomUUID } from 'node:crypto'
import type { Role } from '../auth/roles.ts'
import { appendAudit, recordAudit, type AuditEntryInput } from '../audit/index.ts'
import { withTransaction, type PoolClient } from '../db/pool.ts'
import { employeeById, type EmployeeRecord } from '../db/employees.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { applyEvent, buildHrEvent, type Actor, type EngineDeps } from '../lifecycle/engine.ts'
import { REASON_MIN_LENGTH } from '../exceptions/config.ts'
import type { CanonicalEvent, HrSource } from '../../state-machines/events.ts'
import type { EmergencyConfig } from './config.ts'
import { notificationId, notifyJobs, type Notification, type NotifyConfig } from '../notify/index.ts'
import { inTransaction } from '../jobs/boss.ts'
import { EMERGENCY_EVENT_PREFIX } from './hr-gate.ts'
import { emergencyById, expireDue, insertEmergency, leaverCaseOf, markApplied, markConfirmed, markRejected, pendingEmergencyOf, appliedEmergencyOf, type EmergencyRow } from './store.ts'

export interface Caller {
  type: 'api_token' | 'oidc'
  id: string
  name: string | null
  roles: readonly Role[]
}

export interface OffboardingDeps {
  engine: EngineDeps
  config: EmergencyConfig
  /** The notification config in effect: approvers are told of a pending request, everyone of a cut. */
  notify?: () => NotifyConfig
}

type EmergencyNotice = 'requested' | 'terminated' | 'expired'

/**
 * Approvers hear of a pending request (it expires unanswered), and the approvals channel of every
 * cut: someone lost access without HR. Ids and the display name only, like the exceptions'
 * notifications; queued in the caller's transaction so it goes out only if the change commits.
 */
async function notifyEmergency(deps: OffboardingDeps, client: PoolClient, kind: EmergencyNotice, f: { id: string; employee: Pick<EmployeeRecord, 'id' | 'display_name' | 'external_id'>; reason: string; requester: string; approver?: string | null; expiresAt?: Date | null; caseId?: string | null; deadlineAt?: Date | null; correlationId: string }): Promise<void> {
  const config = deps.notify?.()
  if (!config) return
  const name = f.employee.display_name ?? f.employee.external_id
  const notification: Notification = {
    id: notificationId('emergency-termination', f.id, kind),
    kind: `offboarding.emergency_${kind}`,
    severity: kind === 'terminated' ? 'critical' : 'warning',
    title:
      kind === 'requested'
        ? `Emergency off-boarding of ${name} waits for a second approver`
        : kind === 'expired'
          ? `Emergency off-boarding of ${name} expired unapproved: nothing was cut`
          : `${name} is being cut off now (emergency off-boarding)`,
    text:
      kind === 'requested'
        ? `${f.requester} asks to cut ${name} off now, without waiting for HR: "${f.reason}". Nothing is cut until someone else approves it ` +
          `(console: Approvals, or \`tenure employees emergency approve ${f.id}\`) before ${f.expiresAt?.toISOString() ?? '?'}.`
        : kind === 'expired'
          ? // Addressed to the requester: they believe a cut is under way until told otherwise.
            `${f.requester}: your request to cut ${name} off ("${f.reason}") was not approved by anyone before ${f.expiresAt?.toISOString() ?? 'its expiry'}, ` +
            `so it expired and ${name} still has access. If access must still be cut, request again (\`tenure employees terminate\`, or the console's employee page).`
          : `Requested by ${f.requester}${f.approver ? `, approved by ${f.approver}` : ''}: "${f.reason}". Every system is revoked and verified by ${f.deadlineAt?.toISOString() ?? 'the SLA deadline'}; HR's record will be compared when it arrives.`,
    subject: { employeeId: f.employee.id, employeeName: name, ...(f.caseId ? { caseId: f.caseId } : {}) },
    occurredAt: deps.engine.now().toISOString(),
    details: { emergencyTerminationId: f.id, requestedBy: f.requester, approvedBy: f.approver ?? null, expiresAt: f.expiresAt?.toISOString() ?? null },
  }
  for (const job of notifyJobs(notification, ['slack', 'webhook', 'log'], { config, correlationId: f.correlationId })) {
    await deps.engine.boss.send(job.name, job.data as object, { ...job.options, db: inTransaction(client) })
  }
}

/** States in which the person is already leaving or gone: a second cut changes nothing. */
export const LEAVING_STATES: ReadonlySet<string> = new Set(['deprovisioning', 'offboarded', 'cancelled'])


export type TerminateOutcome = 'terminated' | 'pending_approval' | 'already_leaving' | 'already_requested' | 'rejected'

export interface TerminateResult {
  outcome: TerminateOutcome
  request: EmergencyRow | undefined
  employee: EmployeeRecord
  jobsEnqueued: number
}

/** `admin` holds every other role's rights (src/auth/roles.ts), so it is always allowed. */
function allowed(caller: Pick<Caller, 'roles'>, roles: readonly Role[]): boolean {
  return caller.roles.includes('admin') || caller.roles.some((r) => roles.includes(r))
}

/** Whether someone with these roles may approve a pending emergency termination (approverRoles). */
export function mayApproveEmergency(roles: readonly Role[], config: EmergencyConfig): boolean {
  return allowed({ roles }, config.approverRoles)
}

function actorOf(caller: Caller): Actor {
  return { type: caller.type, id: caller.id }
}

function checkReason(reason: string, path = 'body.reason'): string {
  const trimmed = reason.trim()
  if (trimmed.length < REASON_MIN_LENGTH) {
    const message = `give a reason of at least ${REASON_MIN_LENGTH} characters`
    throw new ApiError(400, 'validation_failed', `${path}: ${message}`, { issues: [{ path, message, code: 'custom' }] })
  }
  return trimmed
}

/**
 * Pending requests past their expiry become `expired`, each audited once and its requester told
 * (they believe a cut is under way). Run by the `offboarding.expire` sweep every minute
 * (src/offboarding/expiry.ts) and before every read, so nobody sees a stale `pending`. Safe to run
 * twice or in two workers at once: expireDue's UPDATE … WHERE status = 'pending' hands each row to
 * exactly one transaction (the second one waits on the row lock and then no longer matches), and
 * the notification's job id derives from the request id. Returns how many it expired.
 */
async function expire(deps: OffboardingDeps): Promise<number> {
  return withTransaction(deps.engine.pool, async (client) => {
    const expired = await expireDue(client, deps.engine.now())
    if (expired.length === 0) return 0
    for (const r of expired) {
      await notifyEmergency(deps, client, 'expired', {
        id: r.id,
        employee: { id: r.employee_id, display_name: r.display_name, external_id: r.external_id },
        reason: r.reason,
        requester: r.requested_by_name ?? r.requested_by,
        expiresAt: r.expires_at,
        correlationId: r.correlation_id,
      })
    }
    await appendAudit(
      client,
      expired.map((r) => ({
        actor: { type: 'system' as const, id: 'tenure' },
        action: 'offboarding.emergency_expired',
        subject: { employeeId: r.employee_id },
        correlationId: r.correlation_id,
        details: { emergencyTerminationId: r.id, requestedBy: r.requested_by, expiresAt: r.expires_at?.toISOString() ?? null, outcome: 'nothing was cut' },
      })),
    )
    return expired.length
  })
}

/** Why the engine did not apply the cut; thrown inside its transaction so nothing is kept. */
class NotApplied extends Error {
  readonly from: string
  readonly why: string
  constructor(from: string, why: string) {
    super(why)
    this.from = from
    this.why = why
  }
}

interface ApplyInput {
  requestId: string
  employee: EmployeeRecord
  reason: string
  requester: { type: string; id: string; name: string | null }
  approver?: { id: string; name: string | null; reason: string | null }
  actor: Actor
  correlationId: string
  /** Insert the row (no second approver) or update the pending one. */
  insert: boolean
}

/**
 * Send the immediate termination through the engine. The request row is written (or moved to
 * `applied`) and audited inside the engine's transaction, after the machine moved, so a cut and
 * its record exist together or not at all.
 */
async function applyCut(deps: OffboardingDeps, input: ApplyInput): Promise<{ jobsEnqueued: number } | NotApplied> {
  const { engine } = deps
  const audit: AuditEntryInput[] = []
  try {
    const result = await applyEvent(
      engine,
      input.employee.id,
      (ctx, now) => {
        if (!ctx) return undefined
        const at = now.toISOString()
        const hr: CanonicalEvent = {
          type: 'employee.terminated',
          eventId: randomUUID(),
          source: input.employee.source as HrSource,
          sourceEventId: `${EMERGENCY_EVENT_PREFIX}${input.requestId}`,
          employeeId: input.employee.external_id,
          occurredAt: at,
          receivedAt: at,
          foundBy: 'manual',
          immediate: true,
          voluntary: 'involuntary',
          reason: `emergency off-boarding: ${input.reason}`.slice(0, 500),
        }
        return buildHrEvent(engine, ctx, hr, now)
      },
      {
        actor: input.actor,
        correlationId: input.correlationId,
        audit,
        within: async (client: PoolClient, result) => {
          if (LEAVING_STATES.has(result.from)) throw new NotApplied(result.from, `already ${result.from}`)
          if (!result.applied || !LEAVING_STATES.has(result.to)) throw new NotApplied(result.from, result.ignoredReason ?? `the lifecycle did not start a leaver case from ${result.from}`)
          const now = engine.now()
          if (input.insert) {
            const inserted = await insertEmergency(client, {
              id: input.requestId,
              employeeId: input.employee.id,
              generation: input.employee.generation,
              status: 'applied',
              reason: input.reason,
              requestedBy: input.requester,
              requestedAt: now,
              expiresAt: null,
              correlationId: input.correlationId,
              discrepancyOwnerGroup: deps.config.discrepancyOwnerGroup,
            })
            if (!inserted) throw new NotApplied(result.from, 'a request for this person was written meanwhile')
          } else {
            const row = await emergencyById(client, input.requestId, true)
            if (row?.status !== 'pending') throw new NotApplied(result.from, `request ${input.requestId} is ${row?.status ?? 'gone'}`)
          }
          const kase = await leaverCaseOf(client, input.employee.id, input.employee.generation)
          await markApplied(client, input.requestId, now, kase?.id ?? null, input.approver)
          // HR had already scheduled this person's termination: its record has spoken, the cut only
          // brought the moment forward (and HR's later rescind is still held: hr-gate.ts).
          const scheduledByHr = result.from === 'terminationScheduled' && (await markConfirmed(client, input.requestId, now, null))
          audit.push({
            actor: input.actor,
            action: 'offboarding.emergency_terminated',
            subject: { employeeId: input.employee.id },
            correlationId: input.correlationId,
            details: {
              emergencyTerminationId: input.requestId,
              source: 'emergency',
              reason: input.reason,
              requestedBy: input.requester.id,
              requestedByName: input.requester.name,
              approvedBy: input.approver?.id ?? null,
              approvedByName: input.approver?.name ?? null,
              approvalReason: input.approver?.reason ?? null,
              caseId: kase?.id ?? null,
              deadlineAt: kase?.deadline_at?.toISOString() ?? null,
              from: result.from,
              to: result.to,
            },
          })
          await notifyEmergency(deps, client, 'terminated', {
            id: input.requestId,
            employee: input.employee,
            reason: input.reason,
            requester: input.requester.name ?? input.requester.id,
            approver: input.approver ? (input.approver.name ?? input.approver.id) : null,
            caseId: kase?.id ?? null,
            deadlineAt: kase?.deadline_at ?? null,
            correlationId: input.correlationId,
          })
          if (scheduledByHr) {
            audit.push({
              actor: { type: 'system', id: 'tenure' },
              action: 'offboarding.emergency_confirmed_by_hr',
              subject: { employeeId: input.employee.id },
              correlationId: input.correlationId,
              details: { emergencyTerminationId: input.requestId, previously: 'unconfirmed', scheduledByHr: true },
            })
          }
        },
      },
    )
    if (!result.applied) return new NotApplied(result.from, result.ignoredReason === 'no event' ? 'this employee has no HR record yet' : (result.ignoredReason ?? 'not applied'))
    return { jobsEnqueued: result.jobsEnqueued }
  } catch (err) {
    if (err instanceof NotApplied) return err
    throw err
  }
}

export async function requestTermination(deps: OffboardingDeps, caller: Caller, employeeId: string, reason: string, opts: { correlationId: string }): Promise<TerminateResult> {
  const { engine, config } = deps
  if (!allowed(caller, config.requestRoles)) {
    throw new ApiError(403, 'forbidden', `emergency off-boarding needs one of the roles ${['admin', ...config.requestRoles.filter((r) => r !== 'admin')].join(', ')} (offboarding.emergency.requestRoles)`)
  }
  const trimmed = checkReason(reason)
  await expire(deps)
  const employee = await employeeById(engine.pool, employeeId)
  if (!employee) throw notFound(`employee ${employeeId}`)
  const leaving = async (): Promise<TerminateResult> => ({
    outcome: 'already_leaving',
    request: await appliedEmergencyOf(engine.pool, employee.id, employee.generation),
    employee: (await employeeById(engine.pool, employee.id)) ?? employee,
    jobsEnqueued: 0,
  })
  if (LEAVING_STATES.has(employee.state)) return leaving()
  const pending = await pendingEmergencyOf(engine.pool, employee.id)
  if (pending) return { outcome: 'already_requested', request: pending, employee, jobsEnqueued: 0 }
  const requester = { type: caller.type, id: caller.id, name: caller.name }
  const requestId = randomUUID()

  if (config.requireSecondApprover) {
    const now = engine.now()
    const inserted = await withTransaction(engine.pool, async (client) => {
      const ok = await insertEmergency(client, {
        id: requestId,
        employeeId: employee.id,
        generation: employee.generation,
        status: 'pending',
        reason: trimmed,
        requestedBy: requester,
        requestedAt: now,
        expiresAt: new Date(now.getTime() + config.requestExpiry * 60_000),
        correlationId: opts.correlationId,
        discrepancyOwnerGroup: config.discrepancyOwnerGroup,
      })
      if (ok) {
        await appendAudit(client, [
          {
            actor: actorOf(caller),
            action: 'offboarding.emergency_requested',
            subject: { employeeId: employee.id },
            correlationId: opts.correlationId,
            details: { emergencyTerminationId: requestId, reason: trimmed, requestedByName: caller.name, expiresInMinutes: config.requestExpiry, approverRoles: config.approverRoles },
          },
        ])
        await notifyEmergency(deps, client, 'requested', {
          id: requestId,
          employee,
          reason: trimmed,
          requester: caller.name ?? caller.id,
          expiresAt: new Date(now.getTime() + config.requestExpiry * 60_000),
          correlationId: opts.correlationId,
        })
      }
      return ok
    })
    const row = await emergencyById(engine.pool, inserted ? requestId : ((await pendingEmergencyOf(engine.pool, employee.id))?.id ?? requestId))
    if (!row) throw new ApiError(409, 'conflict', `a request for employee ${employee.id} changed meanwhile; try again`)
    engine.log.warn({ employeeId: employee.id, emergencyTerminationId: row.id, actor: caller.id }, 'emergency termination requested: waiting for a second approver')
    return { outcome: inserted ? 'pending_approval' : 'already_requested', request: row, employee, jobsEnqueued: 0 }
  }

  const applied = await applyCut(deps, { requestId, employee, reason: trimmed, requester, actor: actorOf(caller), correlationId: opts.correlationId, insert: true })
  if (applied instanceof NotApplied) {
    if (LEAVING_STATES.has(applied.from)) return leaving()
    throw new ApiError(409, 'not_applicable', `employee ${employee.id} cannot be cut off from state ${applied.from}: ${applied.why}`, { state: applied.from })
  }
  engine.log.warn({ employeeId: employee.id, emergencyTerminationId: requestId, actor: caller.id, jobs: applied.jobsEnqueued }, 'emergency termination applied')
  return { outcome: 'terminated', request: await emergencyById(engine.pool, requestId), employee: (await employeeById(engine.pool, employee.id)) ?? employee, jobsEnqueued: applied.jobsEnqueued }
}

export type Decision = 'approve' | 'reject'

async function refuse(deps: OffboardingDeps, row: EmergencyRow, caller: Caller, decision: Decision, status: 403 | 409, code: string, message: string, correlationId: string): Promise<never> {
  await recordAudit(deps.engine.pool, [
    {
      actor: actorOf(caller),
      action: 'offboarding.emergency_refused',
      subject: { employeeId: row.employee_id },
      correlationId,
      details: { emergencyTerminationId: row.id, attempted: decision, code, reason: message, status: row.status },
    },
  ])
  throw new ApiError(status, code, message, { emergencyTerminationId: row.id, status: row.status })
}

export async function decideTermination(deps: OffboardingDeps, caller: Caller, id: string, decision: Decision, reason: string | undefined, opts: { correlationId: string }): Promise<TerminateResult> {
  const { engine, config } = deps
  const trimmed = reason === undefined ? undefined : checkReason(reason)
  if (decision === 'reject' && trimmed === undefined) checkReason('')
  await expire(deps)
  const row = await emergencyById(engine.pool, id)
  if (!row) throw notFound(`emergency termination ${id}`)
  const requester = caller.id === row.requested_by
  // The requester may withdraw their own request (reject); nobody else without an approver role.
  if (!(decision === 'reject' && requester) && !allowed(caller, config.approverRoles)) {
    return refuse(deps, row, caller, decision, 403, 'forbidden', `deciding an emergency termination needs one of the roles ${['admin', ...config.approverRoles.filter((r) => r !== 'admin')].join(', ')} (offboarding.emergency.approverRoles)`, opts.correlationId)
  }
  if (row.status !== 'pending') {
    const code = row.status === 'expired' ? 'expired' : 'not_pending'
    return refuse(deps, row, caller, decision, 409, code, `emergency termination ${row.id} is ${row.status}; it no longer awaits a decision`, opts.correlationId)
  }
  if (decision === 'approve' && requester) {
    return refuse(deps, row, caller, decision, 403, 'four_eyes', `four-eyes rule: you requested emergency termination ${row.id}, so someone else must approve it`, opts.correlationId)
  }
  const employee = await employeeById(engine.pool, row.employee_id)
  if (!employee) throw notFound(`employee ${row.employee_id}`)

  if (decision === 'reject') {
    const now = engine.now()
    const done = await withTransaction(engine.pool, async (client) => {
      const ok = await markRejected(client, row.id, now, { id: caller.id, name: caller.name }, trimmed!)
      if (ok) {
        await appendAudit(client, [
          {
            actor: actorOf(caller),
            action: 'offboarding.emergency_rejected',
            subject: { employeeId: row.employee_id },
            correlationId: opts.correlationId,
            details: { emergencyTerminationId: row.id, reason: trimmed, withdrawnByRequester: requester, requestedBy: row.requested_by },
          },
        ])
      }
      return ok
    })
    if (!done) throw new ApiError(409, 'not_pending', `emergency termination ${row.id} was decided meanwhile`)
    return { outcome: 'rejected', request: await emergencyById(engine.pool, row.id), employee, jobsEnqueued: 0 }
  }

  const applied = await applyCut(deps, {
    requestId: row.id,
    employee: { ...employee, generation: row.generation },
    reason: row.reason,
    requester: { type: row.requested_by_type, id: row.requested_by, name: row.requested_by_name },
    approver: { id: caller.id, name: caller.name, reason: trimmed ?? null },
    actor: actorOf(caller),
    correlationId: row.correlation_id,
    insert: false,
  })
  if (applied instanceof NotApplied) {
    if (LEAVING_STATES.has(applied.from)) {
      throw new ApiError(409, 'already_leaving', `employee ${employee.id} is already ${applied.from}; nothing left to cut (request ${row.id} stays until it expires or is rejected)`, { state: applied.from })
    }
    throw new ApiError(409, 'not_applicable', `employee ${employee.id} cannot be cut off from state ${applied.from}: ${applied.why}`, { state: applied.from })
  }
  engine.log.warn({ employeeId: employee.id, emergencyTerminationId: row.id, actor: caller.id, jobs: applied.jobsEnqueued }, 'emergency termination approved and applied')
  return { outcome: 'terminated', request: await emergencyById(engine.pool, row.id), employee: (await employeeById(engine.pool, employee.id)) ?? employee, jobsEnqueued: applied.jobsEnqueued }
}

/** Lists and reads expire due requests first, so a pending request past its time never shows as pending. */
export { expire as expireEmergencyRequests }
