/**
 * The read side the engine keeps in step with the machine, inside the event's transaction:
 * employee_accounts (one row per system), the joiner and leaver cases with their systems, and the
 * residual-access tasks. What each row says is decided here; src/db/ writes it.
 */
import { randomUUID } from 'node:crypto'
import type { Queryable } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { employeeKeyOf, type LifecycleContext } from '../../state-machines/employee-lifecycle.machine.ts'
import { caseView, joinerCaseView, type CaseSystemView, type CaseView, type JoinerCaseView, type JoinerSystemView } from './case-view.ts'
import type { MachineVersioning } from '../../state-machines/upgrades.ts'
import { leaverDeadlines, slaDeadline } from '../sla/deadline.ts'
import { currentSnapshot } from './restore.ts'
import { employeeSnapshot, upsertEmployeeAccounts, lockEmployeeSnapshot, type AccountProjection } from '../db/employees.ts'
import { cancelLeaverCase, upsertJoinerCaseWithSystems, upsertLeaverCaseWithSystems, type JoinerCaseSystemWrite, type LeaverCaseSystemWrite } from '../db/cases.ts'
import { latestManualProvisionTasks, type ResidualTaskInput } from '../db/manual-tasks.ts'
import { DEFAULT_SLA_MINUTES } from '../policy/index.ts'

/** Observed when a leaver's system is first verified revoked (metrics: time to revoke). */
export type OnRevocationVerified = (event: { system: string; secondsFromEffective: number; secondsFromReceipt: number }) => void

/** One row per system of the employee, in one statement (a layoff applies thousands of these). */
export async function projectAccounts(db: Queryable, employeeId: string, ctx: LifecycleContext): Promise<void> {
  await upsertEmployeeAccounts(db, employeeId, accountProjections(ctx))
}

/** The employee_accounts rows of the machine's systems (the engine writes them with the snapshot). */
export function accountProjections(ctx: LifecycleContext): AccountProjection[] {
  return Object.entries(ctx.systems).map(([system, p]) => ({
    system,
    accountId: p.accountId ?? null,
    login: p.login ?? null,
    status: p.status,
    desired: p.desired,
    provisioned: p.provisioned,
    attempts: p.attempts + (p.tries ?? 0),
    lastError: p.lastError,
    residual: p.residual,
    waitingOn: p.waitingOn ?? null,
    revokedAt: p.revokedAt ?? null,
    verifiedAt: p.verifiedAt ?? null,
    cleanedAt: p.cleanedAt ?? null,
  }))
}

/**
 * The employee_accounts rows this event changed. The transition that wrote the snapshot before this
 * event wrote its rows in the same statement, so a system whose row reads the same before and after
 * has nothing to write: a leaver's outcome moves one system, and the upsert used to rewrite every
 * system's row (a new tuple and index entries each) on every transition. Without the context
 * before (a new employee, or a snapshot an older machine version wrote and this event upgraded)
 * every row is written.
 */
export function changedAccountProjections(ctx: LifecycleContext, before?: LifecycleContext): AccountProjection[] {
  const after = accountProjections(ctx)
  if (!before) return after
  const prior = new Map(accountProjections(before).map((a) => [a.system, JSON.stringify(a)]))
  return after.filter((a) => prior.get(a.system) !== JSON.stringify(a))
}

/**
 * The joiner case of this generation: one row per hire, open until every account the policy grants
 * is ready. Its deadline is the start of day one (the promise "right access on day one"); a hire
 * entered after that moment is late by HR, recorded like a late termination. Once closed or
 * cancelled the row is final: a later mover or leaver of the same generation does not reopen
 * onboarding (the conditional upsert skips it, so settled cases cost one statement).
 */
export async function projectJoinerCase(
  db: Queryable,
  employeeId: string,
  accountKey: string,
  ctx: LifecycleContext,
  now: Date,
  before?: LifecycleContext,
  /**
   * The context before this event when this build's machine wrote it (its transition wrote the
   * case_systems rows it shows): only the systems whose rows differ from it are written.
   */
  rowsBefore?: LifecycleContext,
): Promise<void> {
  if (before && joinerCaseSettled(before, ctx)) return
  const joiner = await withManualTasks(db, accountKey, employeeKeyOf(ctx), ctx.generation, joinerCaseView(ctx))
  if (!joiner) return
  const nowIso = now.toISOString()
  const deadline = joiner.startAt ?? null
  const openedAt = joiner.acceptedAt ?? nowIso
  const lateBy = deadline ? Math.max(0, Math.round((Date.parse(openedAt) - Date.parse(deadline)) / 1000)) : null
  const settled = joiner.status === 'closed' || joiner.status === 'cancelled'
  // The promise is that accounts exist by day one; enabling them is itself scheduled at day one, so
  // a few seconds of enable lag is not a breach. Kept once set.
  const late =
    deadline !== null &&
    (joiner.status === 'open' || joiner.status === 'closed') &&
    now.getTime() > Date.parse(deadline) &&
    joiner.systems.some((s) => s.provisionedAt === undefined || Date.parse(s.provisionedAt) > Date.parse(deadline))
  const rows = joiner.systems.map((s) => joinerSystemWrite(s, deadline))
  // One statement: the case (skipped when already settled) with the systems this event changed,
  // and a system the policy no longer grants (a mover before day one) leaves the onboarding case.
  await upsertJoinerCaseWithSystems(
    db,
    {
      id: randomUUID(),
      employeeId,
      generation: ctx.generation,
      status: joiner.status,
      hrEventId: joiner.hrEventId ?? null,
      deadlineAt: deadline,
      openedAt,
      lateBySeconds: lateBy,
      closedAt: settled ? nowIso : null,
      breachedAt: late ? nowIso : null,
    },
    rows,
    changedJoinerSystems(rows, ctx, rowsBefore),
  )
}

/** The case_systems row of one system of the joiner case, as the engine proposes it. */
function joinerSystemWrite(s: JoinerSystemView, deadline: string | null): JoinerCaseSystemWrite {
  return {
    system: s.system,
    status: s.status,
    accountId: s.accountId ?? null,
    deadlineAt: deadline,
    provisionedAt: s.provisionedAt ?? null,
    attempts: s.attempts,
    lastError: s.lastError,
  }
}

/**
 * The systems whose joiner case_systems rows this event changed (undefined: every system), as
 * changedLeaverSystems does for the leaver case: the transition that wrote the snapshot before
 * this event wrote the case's rows in the same transaction, so a system whose row reads the same
 * before and after has nothing to write (a hire's outcome moves one system; every row rewritten was
 * a new tuple and two SLA-waiver triggers of migration 0006). Every row is written for a new case
 * (no joiner case before, or another generation), when the deadline moved (another start date),
 * and without the context before as this build wrote it (a new employee, an upgraded snapshot);
 * the statement also writes any system the case has no row for. A manual system is always
 * written: its row follows its provision task (withManualTasks), which the snapshot does not show.
 */
export function changedJoinerSystems(rows: JoinerCaseSystemWrite[], ctx: LifecycleContext, before?: LifecycleContext): Set<string> | undefined {
  if (!before || before.generation !== ctx.generation || before.enableAt !== ctx.enableAt) return undefined
  const view = joinerCaseView(before)
  if (!view) return undefined
  const deadline = view.startAt ?? null
  const prior = new Map(view.systems.map((s) => [s.system, JSON.stringify(joinerSystemWrite(s, deadline))]))
  return new Set(rows.filter((r) => r.system.startsWith('manual:') || prior.get(r.system) !== JSON.stringify(r)).map((r) => r.system))
}

/**
 * The joiner case row is final once closed or cancelled (the upsert skips a settled row), and the
 * transition that settled it wrote it: when the snapshot before this event already showed it
 * settled in the same generation, there is nothing to write (a leaver's 16 transitions used to
 * re-send it every time). Not for a case with a manual system: its "closed" waits for the person's
 * attestation (withManualTasks), so the stored row may still be open.
 */
export function joinerCaseSettled(before: LifecycleContext, ctx: LifecycleContext): boolean {
  if (before.generation !== ctx.generation) return false
  const view = joinerCaseView(before)
  if (!view) return false
  if (view.status === 'cancelled') return true
  return view.status === 'closed' && !Object.keys(before.systems).some((s) => s.startsWith('manual:')) && !Object.keys(ctx.systems).some((s) => s.startsWith('manual:'))
}

/**
 * Every residual item of this generation (what a provisioner could not remove) gets a task, so a
 * person decides on it: removed by hand, or kept under an approved exception. `manual` items are
 * themselves the record of such a decision (operator.resolved) and need none.
 */
export function residualTaskInputs(
  ownerGroup: string | undefined,
  row: { id: string; external_id: string },
  ctx: LifecycleContext,
  leaverCase: { id: string; deadlineAt: string } | undefined,
): ResidualTaskInput[] {
  const out: ResidualTaskInput[] = []
  for (const [system, p] of Object.entries(ctx.systems)) {
    for (const item of p.residual) {
      if (item.kind === 'manual') continue
      out.push({
        employeeId: row.id,
        externalId: row.external_id,
        generation: ctx.generation,
        system,
        item,
        ownerGroup: ownerGroup ?? 'it-operations',
        caseId: leaverCase?.id ?? null,
        deadlineAt: leaverCase?.deadlineAt ?? null,
      })
    }
  }
  return out
}

/**
 * A manual system's "account" exists once its provision task is created, but the badge or laptop
 * is only there when a person attests the task: until then the joiner's access is not ready.
 */
/** `accountKey`: the manual task's employee (its "account"); `employeeKey`: the prefix of its job keys. */
async function withManualTasks(db: Queryable, accountKey: string, employeeKey: string, generation: number, joiner: JoinerCaseView | undefined): Promise<JoinerCaseView | undefined> {
  const manual = joiner?.systems.filter((s) => s.system.startsWith('manual:') && s.ready) ?? []
  if (!joiner || manual.length === 0) return joiner
  const rows = await latestManualProvisionTasks(db, { accountKey, systems: manual.map((s) => s.system), generation, employeeKey })
  const systems = joiner.systems.map((s) => {
    const task = rows.find((r) => r.system === s.system)
    if (!task || task.status === 'completed') return task?.completed_at ? { ...s, provisionedAt: task.completed_at.toISOString() } : s
    return { ...s, ready: false, provisionedAt: undefined, status: 'provisioning' as const }
  })
  const ready = systems.filter((s) => s.ready).length
  const employed = joiner.status === 'open' || joiner.status === 'closed'
  return { ...joiner, systems, counts: { ...joiner.counts, ready }, status: employed && joiner.status === 'closed' && ready < systems.length ? 'open' : joiner.status }
}

/** Re-project the joiner case outside a lifecycle event (a manual provision task was attested). */
export async function refreshJoinerCase(db: Queryable, employeeId: string, now: Date, deps: { log?: Logger; lifecycleVersioning?: MachineVersioning } = {}): Promise<void> {
  const row = await lockEmployeeSnapshot(db, employeeId)
  const ctx = row ? (currentSnapshot(deps, row) as { context?: LifecycleContext } | undefined)?.context : undefined
  if (row && ctx) await projectJoinerCase(db, employeeId, row.account_key, ctx, now)
}

/**
 * Does the employee's machine still wait for this job of `system` (its one job in flight has the
 * job's action and phase)? A job that runs again (pg-boss retried it, or it was handed back) may
 * have been overtaken: an earlier attempt that pg-boss had already written off finished after all
 * and the machine moved on, or a rescind took the system off the revocation path. Unknown (no
 * employee, no snapshot) counts as waiting: only a read that shows another step stops a job.
 */
export async function machineAwaitsJob(
  db: Queryable,
  employeeId: string,
  request: { system: string; action: string; phase?: string | undefined },
  deps: { log?: Logger; lifecycleVersioning?: MachineVersioning } = {},
): Promise<boolean> {
  const row = await employeeSnapshot(db, employeeId)
  const ctx = row ? (currentSnapshot(deps, row) as { context?: LifecycleContext } | undefined)?.context : undefined
  if (!ctx) return true
  const pending = ctx.systems[request.system]?.pending
  return pending !== undefined && pending.action === request.action && (pending.phase ?? undefined) === (request.phase ?? undefined)
}

/** The leaver case of this generation and its systems; returns the case when there is a termination. */
export async function projectLeaverCase(
  db: Queryable,
  employeeId: string,
  ctx: LifecycleContext,
  view: CaseView,
  slaMinutes: Record<string, number>,
  now: Date,
  onDeadline: (kase: { id: string; effectiveAt: string; deadlineAt: string }) => Promise<void>,
  onVerified?: OnRevocationVerified,
  /** The context before this event: a generation that had no termination has no case to cancel. */
  before?: LifecycleContext,
  /**
   * The context before this event when this build's machine wrote it (its transition wrote the
   * case_systems rows it shows): only the systems whose rows differ from it are written.
   */
  rowsBefore?: LifecycleContext,
): Promise<{ id: string; deadlineAt: string } | undefined> {
  const t = ctx.termination
  if (!t) {
    // A rescinded termination removes the machine's termination: cancel a case still scheduled/open.
    // A generation that had no termination before this event has no case to cancel.
    if (!before || before.generation !== ctx.generation || before.termination) await cancelLeaverCase(db, employeeId, ctx.generation)
    return undefined
  }
  const systems = view.systems
  const caseDeadline = leaverDeadlines(t.effectiveAt, systems.map((s) => s.system), slaMinutes).caseDeadline
  const status = view.case === 'open' ? 'open' : view.case === 'closed' ? 'closed' : new Date(t.effectiveAt) > now ? 'scheduled' : 'open'
  const lateBy = Math.max(0, Math.round((new Date(t.receivedAt).getTime() - new Date(t.effectiveAt).getTime()) / 1000))
  const rows = systems.map((s) => leaverSystemWrite(s, t.effectiveAt, slaMinutes))
  // One statement: what was stored (the deadline, which systems were verified) and the new case
  // with the systems this event changed (it used to be four: read, upsert, read, upsert).
  const written = await upsertLeaverCaseWithSystems(
    db,
    {
      id: randomUUID(),
      employeeId,
      generation: ctx.generation,
      status,
      hrEventId: t.hrEventId,
      effectiveAt: t.effectiveAt,
      receivedAt: t.receivedAt,
      lateBySeconds: lateBy,
      deadlineAt: caseDeadline,
      openedAt: view.openedAt ?? null,
      closedAt: view.case === 'closed' ? (view.closedAt ?? now.toISOString()) : null,
    },
    rows,
    changedLeaverSystems(rows, ctx, slaMinutes, rowsBefore),
  )
  const caseId = written.id
  const before_ = written.previousDeadline?.toISOString()
  if ((status === 'open' || status === 'scheduled') && before_ !== new Date(caseDeadline).toISOString()) {
    await onDeadline({ id: caseId, effectiveAt: t.effectiveAt, deadlineAt: new Date(caseDeadline).toISOString() })
  }
  for (const s of systems) {
    const wasVerified = written.verifiedBefore.find((k) => k.system === s.system)?.verified_at
    if (s.verifiedAt && !wasVerified && onVerified) {
      const verified = Date.parse(s.verifiedAt)
      onVerified({
        system: s.system,
        secondsFromEffective: Math.max(0, (verified - Date.parse(t.effectiveAt)) / 1000),
        secondsFromReceipt: Math.max(0, (verified - Date.parse(t.receivedAt)) / 1000),
      })
    }
  }
  return { id: caseId, deadlineAt: new Date(caseDeadline).toISOString() }
}

/** The case_systems row of one system of the leaver case, as the engine proposes it. */
function leaverSystemWrite(s: CaseSystemView, effectiveAt: string, slaMinutes: Record<string, number>): LeaverCaseSystemWrite {
  return {
    system: s.system,
    status: s.status,
    accountId: s.accountId ?? null,
    // The original deadline: the trigger of migration 0006 extends it by an approved sla_waiver.
    deadlineAt: slaDeadline(effectiveAt, slaMinutes[s.system] ?? DEFAULT_SLA_MINUTES),
    cutoffAt: s.revokedAt ?? null,
    verifiedAt: s.verifiedAt ?? null,
    cleanupAt: s.cleanedAt ?? null,
    attempts: s.attempts,
    lastError: s.lastError,
    residual: s.residual,
    waitingOn: s.waitingOn ?? null,
  }
}

/**
 * The systems whose case_systems rows this event changed (undefined: every system). The transition
 * that wrote the snapshot before this event wrote the case's rows in the same transaction, so a
 * system whose row reads the same before and after has nothing to write: a leaver's outcome moves
 * one system, and every row rewritten was a new tuple and two SLA-waiver triggers (migration 0006)
 * per system. Every row is written for a new case (no termination before, or another generation),
 * when the deadlines may have moved (another effective moment or another profile, whose policy
 * gives the SLA budgets), and without the context before as this build wrote it (a new employee,
 * an upgraded snapshot); the statement also writes any system the case has no row for. A waiver's
 * deadline is not the engine's to keep: its decision re-proposes the rows it moves
 * (src/exceptions/store.ts reproposeDeadline), and a row the engine skips keeps what was stored.
 */
export function changedLeaverSystems(rows: LeaverCaseSystemWrite[], ctx: LifecycleContext, slaMinutes: Record<string, number>, before?: LifecycleContext): Set<string> | undefined {
  const t = ctx.termination
  if (!before || !t || !before.termination || before.generation !== ctx.generation) return undefined
  if (before.termination.effectiveAt !== t.effectiveAt || JSON.stringify(before.profile) !== JSON.stringify(ctx.profile)) return undefined
  const prior = new Map(
    caseView({ value: before.phase, context: before }).systems.map((s) => [s.system, JSON.stringify(leaverSystemWrite(s, t.effectiveAt, slaMinutes))]),
  )
  return new Set(rows.filter((r) => prior.get(r.system) !== JSON.stringify(r)).map((r) => r.system))
}
