/**
 * Findings as use cases: acknowledge, link an orphan account to an employee, turn a finding into
 * a cut-off. Each runs in one transaction with the finding row locked, checks the rules under the
 * lock, writes, and appends its audit entry last, so a refused or repeated action writes nothing:
 * a second acknowledge is answered 409 `already_acknowledged` and leaves one audit entry.
 */
import type { PoolClient, Pool } from '../db/pool.ts'
import { withTransaction } from '../db/pool.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { applyEvent, type Actor, type EngineDeps } from '../lifecycle/engine.ts'
import { LEAVER_STATES } from './access.ts'
import {
  acknowledgeFinding,
  findEmployee,
  findFinding,
  findLink,
  insertLink,
  machineAccount,
  markCutoffRequested,
  type FindingRecord,
} from './store.ts'

export interface ActionOptions {
  correlationId: string
}

async function lockedFinding(client: PoolClient, id: string): Promise<FindingRecord> {
  const f = await findFinding(client, id, { forUpdate: true })
  if (!f) throw notFound(`finding ${id}`)
  if (f.state === 'resolved') {
    throw new ApiError(409, 'finding_resolved', `finding ${id} was resolved at ${f.resolvedAt!.toISOString()}: the last run no longer saw it`)
  }
  return f
}

function subject(f: FindingRecord, employeeId = f.employeeId) {
  return { employeeId, system: f.system, accountId: f.accountId }
}

// ---------------------------------------------------------------------------------------------
// acknowledge

/**
 * A person has looked and accepts it as it is (a known service account, a tolerated extra group).
 * The finding keeps the account's access as it was acknowledged; reconciliation raises it again
 * when a later listing differs.
 */
export async function acknowledge(pool: Pool, actor: Actor, id: string, reason: string, opts: ActionOptions): Promise<FindingRecord> {
  await withTransaction(pool, async (client) => {
    const f = await lockedFinding(client, id)
    if (f.state === 'acknowledged') {
      throw new ApiError(
        409,
        'already_acknowledged',
        `finding ${id} was already acknowledged by ${f.acknowledgedBy} at ${f.acknowledgedAt!.toISOString()}; nothing was changed or audited again`,
        { acknowledgedBy: f.acknowledgedBy, acknowledgedAt: f.acknowledgedAt!.toISOString(), reason: f.acknowledgeReason },
      )
    }
    await acknowledgeFinding(client, id, actor, reason)
    await appendAudit(client, [
      {
        actor,
        action: 'reconciliation.finding_acknowledged',
        subject: subject(f),
        correlationId: opts.correlationId,
        details: { findingId: id, kind: f.kind, reason, access: f.access, ...(f.raisedAgainAt ? { raisedAgainAt: f.raisedAgainAt.toISOString() } : {}) },
      },
    ])
  })
  return (await findFinding(pool, id))!
}

// ---------------------------------------------------------------------------------------------
// link

/**
 * Record that an orphan account belongs to an employee. Every later run maps the account to them
 * (ownerOf): an active employee's account is then judged against their policy, a leaver's stays a
 * finding until it is cut off.
 */
export async function linkAccount(pool: Pool, actor: Actor, id: string, employeeId: string, reason: string, opts: ActionOptions): Promise<FindingRecord> {
  await withTransaction(pool, async (client) => {
    const f = await lockedFinding(client, id)
    if (f.kind !== 'orphan_account') {
      throw new ApiError(409, 'not_an_orphan', `finding ${id} is ${f.kind}: its account already maps to employee ${f.employeeId ?? '(none)'}; only orphan accounts are linked`)
    }
    const employee = await findEmployee(client, employeeId)
    if (!employee) throw new ApiError(400, 'validation_failed', `body.employeeId: no employee ${employeeId}`, { issues: [{ path: 'body.employeeId', message: `no employee ${employeeId}`, code: 'custom' }] })
    const existing = await findLink(client, f.system, f.accountId)
    if (existing) {
      const same = existing.employeeId === employeeId
      throw new ApiError(
        409,
        same ? 'already_linked' : 'linked_elsewhere',
        same
          ? `account ${f.accountId} in ${f.system} is already linked to employee ${employeeId}; nothing was changed or audited again`
          : `account ${f.accountId} in ${f.system} is linked to employee ${existing.employeeId}, not ${employeeId}`,
        { employeeId: existing.employeeId },
      )
    }
    await insertLink(client, { system: f.system, accountId: f.accountId, employeeId, reason, actor, findingId: id })
    await appendAudit(client, [
      {
        actor,
        action: 'reconciliation.account_linked',
        subject: subject(f, employeeId),
        correlationId: opts.correlationId,
        details: { findingId: id, login: f.login, employeeExternalId: employee.externalId, employeeState: employee.state, reason },
      },
    ])
  })
  return (await findFinding(pool, id))!
}

// ---------------------------------------------------------------------------------------------
// cut-off

/**
 * Send the employee's machine the event reconciliation sends for an account active after
 * revocation (`reconciliation.account_active`): the machine re-opens the leaver case and cuts the
 * system off again, under the case's SLA, with the usual verification. Only for a leaver, and only
 * for the account the machine revokes: for another account in the same system the machine would
 * cut off its own account and leave this one as it is, so that is refused with the reason.
 */
export async function requestCutoff(engine: EngineDeps | undefined, pool: Pool, actor: Actor, id: string, reason: string, opts: ActionOptions): Promise<FindingRecord> {
  const pre = await findFinding(pool, id)
  if (!pre) throw notFound(`finding ${id}`)
  if (!pre.employeeId) {
    throw new ApiError(409, 'not_linked', `finding ${id}: account ${pre.accountId} belongs to no employee yet; link it to the employee first`)
  }
  if (!engine) {
    throw new ApiError(503, 'cutoff_unavailable', 'this server was started without the lifecycle engine; cut-offs cannot be requested here', null, { 'Retry-After': '30' })
  }
  const employeeId = pre.employeeId
  await applyEvent(engine, employeeId, { type: 'reconciliation.account_active', system: pre.system, accountId: pre.accountId, now: engine.now().toISOString() }, {
    actor,
    correlationId: opts.correlationId,
    // Runs in the engine's transaction with the employee row locked: the checks see what the
    // machine sees, and a refusal rolls the machine's step back with it.
    within: async (client, result) => {
      const f = await lockedFinding(client, id)
      if (f.cutoffRequestedAt) {
        throw new ApiError(
          409,
          'cutoff_already_requested',
          `a cut-off for finding ${id} was already requested by ${f.cutoffRequestedBy} at ${f.cutoffRequestedAt.toISOString()}; nothing was sent or audited again`,
          { cutoffRequestedBy: f.cutoffRequestedBy, cutoffRequestedAt: f.cutoffRequestedAt.toISOString() },
        )
      }
      if (f.employeeId !== employeeId) throw new ApiError(409, 'finding_changed', `finding ${id} changed while the cut-off was being requested; try again`)
      if (!LEAVER_STATES.has(result.from)) {
        throw new ApiError(409, 'not_a_leaver', `employee ${employeeId} is ${result.from}, not a leaver: Tenure cuts off leavers' accounts; acknowledge the finding or change the access by hand`)
      }
      const account = await machineAccount(client, employeeId, f.system)
      if (account?.accountId && account.accountId !== f.accountId) {
        throw new ApiError(
          409,
          'other_account',
          `the lifecycle of employee ${employeeId} revokes account ${account.accountId} in ${f.system}, not ${f.accountId}: deactivate ${f.accountId} by hand in ${f.system}`,
          { machineAccountId: account.accountId },
        )
      }
      await markCutoffRequested(client, id, actor, reason)
      const entry: AuditEntryInput = {
        actor,
        action: 'reconciliation.cutoff_requested',
        subject: subject(f, employeeId),
        correlationId: opts.correlationId,
        details: { findingId: id, kind: f.kind, reason, employeeState: result.from, caseStateAfter: result.to },
      }
      await appendAudit(client, [entry])
    },
  })
  return (await findFinding(pool, id))!
}
