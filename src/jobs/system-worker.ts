/**
 * The worker of every `system.<id>` queue: runs one provisioner call for one employee and feeds
 * the outcome back into that employee's machine.
 *
 * Retry policy lives here, and only here (provisioners classify, they never retry):
 * - RateLimited: the job is re-queued for after the Retry-After (or the limiter's slot) and this
 *   attempt is completed, so waiting for a vendor's limit never burns a retry attempt.
 * - Transient / AuthFailed / Conflict: thrown, so pg-boss retries with exponential backoff and jitter; the
 *   last attempt reports the failure to the machine and parks a copy in the dead-letter queue.
 * - Conflict: retried like a transient fault (concurrent writes resolve on a later attempt).
 * - Permanent (and NotFound outside revocation): reported to the machine at once as a final
 *   failure (a person must look), copied to the dead-letter queue.
 */
import type { Boss } from './boss.ts'
import { inTransaction } from './boss.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import type { Counter } from 'prom-client'
import { appendAudit, recordAudit, type AuditEntryInput } from '../audit/index.ts'
import { withTransaction } from '../db/pool.ts'
import { isProvisionerError, RateLimitedError, type ProvisionerError } from '../../provisioners/errors.ts'
import { isUnavailable } from '../http/errors.ts'
import type { ApiCallRecord, AccountRef, AccountState, Ctx, Provisioner } from '../../provisioners/types.ts'
import type { Registry } from '../../provisioners/registry.ts'
import type { AccountOutcomeEvent } from '../../state-machines/lifecycle-types.ts'
import { applyEvent, SYSTEM_ACTOR, type EngineDeps } from '../lifecycle/engine.ts'
import { machineAwaitsJob } from '../lifecycle/projections.ts'
import { systemJobSchema, type SystemJobData } from './payloads.ts'
import { uuidV5 } from '../util/ids.ts'
import { MachineVersionError } from '../../state-machines/upgrades.ts'
import { cleanupQueue, deadLetterQueue, HR_EVENT_QUEUE, isCleanup, isLeaverCritical, jobPriority, jobRetryOptions, queueFor, systemQueue } from './queues.ts'
import type { Limiter } from './limiter.ts'
import type { JobContext, WorkerDefinition } from './runtime.ts'
import { isCurrentAttempt, workBlockingCleanup } from './inspect.ts'

export interface SystemWorkerDeps {
  pool: Pool
  boss: Boss
  log: Logger
  engine: EngineDeps
  registry: Registry
  limiter: Limiter
  retryLimit: number
  /** pg-boss's schema, to look at queued work. */
  queueSchema: string
  /** The longest backoff; a leaver's cut-off that exhausted its retries is re-queued this far out. */
  retryDelayMaxMs: number
  metrics: { rateLimited: Counter<'system' | 'source'>; calls: Counter<'system' | 'status'> }
  /**
   * How long a clean-up job waits in place for the system's cut-offs before it steps back into
   * its queue (default 60 s; keep well under the queue's expireInSeconds).
   */
  cleanupWaitMs?: number
  /** Injected for tests: the pause between two looks at the cut-off work (default 1 s). */
  cleanupPollMs?: number
  /**
   * A clean-up also waits until the system's last cut-off or verification finished this long ago
   * and the HR intake has nothing queued (default 30 s), so leavers of one wave who arrive over a
   * minute are all cut off before anyone's clean-up starts, even in a system fast enough to keep
   * its cut-off queue empty between arrivals.
   */
  cleanupSettleMs?: number
}

type Outcome = AccountOutcomeEvent | undefined

function callAudit(data: SystemJobData, calls: ApiCallRecord[], attempt: number): AuditEntryInput[] {
  return calls.map((c) => ({
    actor: SYSTEM_ACTOR,
    action: 'target.api_called',
    subject: { employeeId: data.employeeId, system: data.request.system, accountId: data.request.accountId ?? null },
    correlationId: data.correlationId,
    details: {
      jobKey: data.request.key,
      attempt,
      operation: c.operation,
      method: c.method,
      path: c.path,
      status: c.status ?? null,
      requestId: c.requestId ?? null,
      durationMs: c.durationMs,
      errorKind: c.errorKind ?? null,
    },
  }))
}

async function resolveRef(p: Provisioner, ctx: Ctx, data: SystemJobData): Promise<AccountRef | undefined> {
  if (data.request.accountId) return { system: p.system, accountId: data.request.accountId, employeeId: data.accountKey ?? data.externalId }
  if (!data.profile) return undefined
  return p.lookup(ctx, data.profile)
}

/** Run the provisioner call the request names and translate the result into a machine event. */
async function run(p: Provisioner, ctx: Ctx, data: SystemJobData, now: () => string): Promise<{ outcome: Outcome; audit: AuditEntryInput[] }> {
  const req = data.request
  const audit: AuditEntryInput[] = []
  const subject = { employeeId: data.employeeId, system: req.system }
  const profile = data.profile
  const needProfile = () => {
    if (!profile) throw new PermanentJobError(`no HR profile for ${data.externalId}: cannot ${req.action} an account`)
    return profile
  }
  switch (req.action) {
    case 'provision': {
      const ref = await p.provision(ctx, { employee: needProfile(), access: req.grant ?? emptyGrant(), enabled: req.enabled ?? true })
      return { outcome: { type: 'account.provisioned', system: req.system, accountId: ref.accountId, ...(ref.login ? { login: ref.login } : {}), now: now() }, audit }
    }
    case 'restore': {
      const existing = await resolveRef(p, ctx, data)
      let ref = existing
      if (existing) {
        // Access goes to an account that can use it: a restore before day one (enabled false)
        // leaves it for the enable job, which carries the whole grant (Slack refuses channel and
        // user-group additions for a deactivated member).
        if (req.enabled !== false) {
          await p.enable(ctx, existing)
          if (req.grant && grantsAnything(p, req.grant)) await p.update(ctx, existing, grantAsChange(req.grant))
        }
      } else {
        ref = await p.provision(ctx, { employee: needProfile(), access: req.grant ?? emptyGrant(), enabled: req.enabled ?? true })
      }
      return { outcome: { type: 'account.provisioned', system: req.system, accountId: ref!.accountId, ...(ref!.login ? { login: ref!.login } : {}), now: now() }, audit }
    }
    case 'update':
    case 'enable':
    case 'suspend': {
      const ref = await resolveRef(p, ctx, data)
      if (!ref) throw new PermanentJobError(`no ${req.system} account found for ${data.externalId}`)
      if (req.action === 'update') await p.update(ctx, ref, req.change ?? { add: {}, remove: {} })
      else if (req.action === 'enable') {
        await p.enable(ctx, ref)
        // The whole grant, now that the account can hold it (additions are idempotent).
        if (req.grant && grantsAnything(p, req.grant)) await p.update(ctx, ref, grantAsChange(req.grant))
      } else await p.suspend(ctx, ref)
      const type = req.action === 'update' ? 'account.updated' : req.action === 'enable' ? 'account.enabled' : 'account.suspended'
      return { outcome: { type, system: req.system, now: now() }, audit }
    }
    case 'deprovision': {
      const plan = req.plan ?? { phase: req.phase ?? 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} }
      const startedAt = now()
      const ref = await resolveRef(p, ctx, data)
      if (!ref) {
        audit.push({ actor: SYSTEM_ACTOR, action: 'target.revoked', subject, correlationId: data.correlationId, details: { phase: plan.phase, account: 'absent', steps: [] } })
        return { outcome: { type: 'account.revoked', system: req.system, phase: plan.phase, residual: [], ...(plan.phase === 'cleanup' ? { deleted: true } : {}), startedAt, now: now() }, audit }
      }
      const evidence = await p.deprovision(ctx, ref, plan as Parameters<Provisioner['deprovision']>[2])
      audit.push({
        actor: SYSTEM_ACTOR,
        action: 'target.revoked',
        subject: { ...subject, accountId: ref.accountId },
        correlationId: data.correlationId,
        details: { phase: plan.phase, steps: evidence.steps, residual: evidence.residual },
      })
      const deleted = evidence.steps.some((s) => s.step === 'delete' && (s.status === 'done' || s.status === 'already_done'))
      return { outcome: { type: 'account.revoked', system: req.system, phase: plan.phase, residual: evidence.residual, ...(plan.phase === 'cleanup' ? { deleted } : {}), startedAt, now: now() }, audit }
    }
    case 'verify': {
      const ref = await resolveRef(p, ctx, data)
      const state = ref
        ? await p.verify(ctx, ref, { ...(req.revokedAt ? { revokedAt: req.revokedAt } : {}), ...(req.grant ? { granted: req.grant } : {}) })
        : { accountId: '', exists: false, active: false, groups: [], licences: [], roles: [], checks: [{ name: 'account_absent', ok: true }], revoked: true }
      audit.push({
        actor: SYSTEM_ACTOR,
        action: 'target.verified',
        subject: { ...subject, accountId: ref?.accountId ?? null },
        correlationId: data.correlationId,
        // Counts only for what the read could show: an attribute in `unknown` is null, never 0.
        details: {
          revoked: state.revoked,
          exists: state.exists,
          active: state.active,
          checks: state.checks,
          groups: readable(state, 'groups', 'userGroups') ? state.groups.length : null,
          licences: readable(state, 'licences', 'products') ? state.licences.length : null,
          roles: readable(state, 'roles') ? state.roles.length : null,
          unknown: state.unknown ?? [],
        },
      })
      // A manual system is verified by a person's attestation, which reports itself; until
      // then there is nothing to tell the machine.
      if (p.kind === 'manual' && !state.revoked) return { outcome: undefined, audit }
      return { outcome: { type: 'account.verified', system: req.system, revoked: state.revoked, checks: state.checks.map((c) => ({ name: c.name, ok: c.ok })), now: now() }, audit }
    }
  }
}

/** False when the read could not show any of these attributes (AccountState.unknown). */
function readable(state: AccountState, ...attributes: string[]): boolean {
  return !(state.unknown ?? []).some((u) => attributes.includes(u.attribute))
}

const CLEANUP_WAIT_MS = 60_000
/** How long an old worker in a rolling upgrade hands back a job whose employee a newer machine wrote. */
export const NEWER_MACHINE_WAIT_MS = 30_000
const CLEANUP_SETTLE_MS = 30_000
const CLEANUP_POLL_MS = 1_000
/** How long a job waits after finding Tenure's database out of reach. */
const DATABASE_WAIT_MS = 5_000

/**
 * Clean-up yields to cut-off: while any leaver's cut-off or verification in this system is queued
 * or running, or finished less than `cleanupSettleMs` ago, or an HR notice is still waiting to
 * be applied, no clean-up starts, so in a mass layoff everyone is cut off before anyone's groups
 * and licences are tidied. The job waits here (its queue has its own workers, so nothing else is
 * held up) and looks again every second (an answer of "pending" is reused for up to 5 s: see
 * cutoffWorkPending); after `cleanupWaitMs` it steps back into its queue
 * without spending an attempt. Returns false when it stepped back.
 */
async function awaitCutoffs(deps: SystemWorkerDeps, system: string, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + (deps.cleanupWaitMs ?? CLEANUP_WAIT_MS)
  while (await cutoffWorkPending(deps, system)) {
    if (Date.now() >= until || signal.aborted) return false
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, deps.cleanupPollMs ?? CLEANUP_POLL_MS)
      signal.addEventListener('abort', done, { once: true })
      function done() {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
    })
  }
  return true
}

/**
 * One look per system at a time, shared by every clean-up of this process waiting on it. A look
 * reads every job of the system's queue (src/jobs/inspect.ts `workBlockingCleanup`: pg-boss has no
 * index on running or recently completed jobs, so it costs more as the queue's history grows:
 * about 6 ms at 5,000 jobs). While the answer stays "cut-offs pending" (a layoff's cut-off phase
 * lasts minutes to hours), the answer is reused for longer, doubling from half a poll up to
 * CLEANUP_LOOK_HOLD_MAX polls; an answer of "nothing pending" is held for half a poll, as before.
 */
const pendingLooks = new WeakMap<SystemWorkerDeps, Map<string, { at: number; holdMs: number; answer: Promise<boolean>; pending?: boolean }>>()
/** The longest an answer of "cut-offs pending" is reused, in polls (5 s at the default 1 s poll). */
const CLEANUP_LOOK_HOLD_MAX = 5

export function cutoffWorkPending(deps: SystemWorkerDeps, system: string): Promise<boolean> {
  let looks = pendingLooks.get(deps)
  if (!looks) pendingLooks.set(deps, (looks = new Map()))
  const poll = deps.cleanupPollMs ?? CLEANUP_POLL_MS
  const last = looks.get(system)
  if (last && Date.now() - last.at < last.holdMs) return last.answer
  const holdMs = last?.pending ? Math.min(last.holdMs * 2, poll * CLEANUP_LOOK_HOLD_MAX) : poll / 2
  const entry: { at: number; holdMs: number; answer: Promise<boolean>; pending?: boolean } = { at: Date.now(), holdMs, answer: queryCutoffWorkPending(deps, system) }
  looks.set(system, entry)
  entry.answer.then(
    (pending) => (entry.pending = pending),
    () => looks.delete(system),
  )
  return entry.answer
}

async function queryCutoffWorkPending(deps: SystemWorkerDeps, system: string): Promise<boolean> {
  return workBlockingCleanup(deps.pool, deps.queueSchema, { systemQueue: systemQueue(system), hrQueue: HR_EVENT_QUEUE, settleSeconds: (deps.cleanupSettleMs ?? CLEANUP_SETTLE_MS) / 1000 })
}

/** Cut-off and verification of a leaver: work that must continue until it succeeds. */
const GRANTING_ACTIONS = new Set(['provision', 'restore', 'update', 'enable'])
const LEAVING_STATES = new Set(['deprovisioning', 'offboarded', 'cancelled'])

/** A grant with items, for a system with an API (a manual system would get a needless task). */
function grantsAnything(p: Provisioner, g: NonNullable<SystemJobData['request']['grant']>): boolean {
  return p.kind !== 'manual' && Object.values(grantAsChange(g).add).some((items) => items.length > 0)
}

function grantAsChange(g: NonNullable<SystemJobData['request']['grant']>) {
  return { add: { groups: g.groups, licences: g.licences, channels: g.channels, projects: g.projects, roles: g.roles, products: g.products ?? [], userGroups: g.userGroups ?? [] }, remove: {} }
}

function emptyGrant() {
  return { account: true, groups: [], licences: [], channels: [], projects: [], roles: [] }
}

class PermanentJobError extends Error {
  readonly kind = 'Permanent'
}

function classify(err: unknown, action: string): { kind: string; retryable: boolean; message: string } {
  if (isProvisionerError(err)) {
    const e = err as ProvisionerError
    // Conflict is retried too: most conflicts are concurrent writes (a SCIM group's ETag moved under
    // two joiners at once) that a later attempt resolves; a true clash still ends in the
    // dead-letter queue once the retries are spent.
    const retryable = e.kind === 'Transient' || e.kind === 'AuthFailed' || e.kind === 'Conflict' || (e.kind === 'NotFound' && action === 'deprovision')
    return { kind: e.kind, retryable, message: e.message }
  }
  if (err instanceof PermanentJobError) return { kind: 'Permanent', retryable: false, message: err.message }
  // Anything unclassified (a bug, a database hiccup) is retried; it must not silently end a revocation.
  return { kind: 'Transient', retryable: true, message: (err as Error)?.message ?? String(err) }
}

/** The worker of a system's work queue, or (`'cleanup'`) of its clean-up queue; both run any job they are given. */
export function systemWorker(deps: SystemWorkerDeps, system: string, lane: 'work' | 'cleanup' = 'work'): WorkerDefinition<typeof systemJobSchema> {
  const queue = lane === 'cleanup' ? cleanupQueue(system) : systemQueue(system)
  return {
    queue,
    schema: systemJobSchema,
    handler: async (data, job: JobContext) => {
      const provisioner = deps.registry.get(system)
      const calls: ApiCallRecord[] = []
      const now = () => deps.engine.now().toISOString()
      const ctx: Ctx = {
        idempotencyKey: data.request.key,
        correlationId: data.correlationId,
        signal: job.signal,
        log: job.log.child({ system, employeeId: data.employeeId }),
        repeat: job.attempt > 1 || (data.rateLimitedCount ?? 0) > 0,
        throttle: (bucket, cost) => deps.limiter.take(system, bucket, deps.registry.limitFor(system, bucket), cost, job.signal),
        recordCall: (call) => {
          calls.push(call)
          deps.metrics.calls.inc({ system, status: String(call.status ?? 'none') })
          if (call.status === 429) deps.metrics.rateLimited.inc({ system, source: 'vendor' })
        },
      }
      if (isCleanup(data.request)) {
        if (job.queue !== cleanupQueue(system)) {
          // Queued before clean-ups had a queue of their own (an upgrade): move it there.
          await requeueAfter(deps, data, 0, [], job)
          return { outcome: 'moved_to_cleanup_queue' }
        }
        let cutoffsDone: boolean
        try {
          cutoffsDone = await awaitCutoffs(deps, system, job.signal)
        } catch (err) {
          if (isUnavailable(err)) return databaseUnavailable(deps, data, job, [], err)
          throw err
        }
        if (!cutoffsDone) {
          await requeueAfter(deps, data, CLEANUP_POLL_MS, [], job)
          return { outcome: 'yielded_to_cutoff' }
        }
      }
      if (isLeaverCritical(data.request) && (job.attempt > 1 || (data.rateLimitedCount ?? 0) > 0)) {
        // A cut-off or verification that runs again: stop if the machine moved past it meanwhile
        // (an attempt pg-boss had written off finished after all), so no second chain goes on
        // calling the target and holding the system's clean-up back.
        let awaited: boolean
        try {
          awaited = await machineAwaitsJob(deps.pool, data.employeeId, data.request, deps.engine)
        } catch (err) {
          if (isUnavailable(err)) return databaseUnavailable(deps, data, job, [], err)
          throw err
        }
        if (!awaited) {
          job.log.info({ key: data.request.key }, 'the machine no longer waits for this job: not run again')
          return { outcome: 'superseded' }
        }
      }
      if (!provisioner) {
        await finalFailure(deps, data, job, { kind: 'Permanent', message: `system ${system} is not configured or is disabled` }, calls)
        return { outcome: 'system_not_configured' }
      }
      try {
        const { outcome, audit } = await run(provisioner, ctx, data, now)
        if (outcome) {
          await applyEvent(deps.engine, data.employeeId, outcome, {
            actor: SYSTEM_ACTOR,
            correlationId: data.correlationId,
            audit: [...callAudit(data, calls, job.attempt), ...audit],
          })
        } else if (audit.length > 0 || calls.length > 0) {
          await recordAudit(deps.pool, [...callAudit(data, calls, job.attempt), ...audit])
        }
        return { outcome: outcome?.type ?? 'waiting' }
      } catch (err) {
        if (err instanceof MachineVersionError && err.problem === 'newer') {
          // A rolling upgrade: a newer worker already wrote this employee's snapshot and this one
          // must not overwrite it. Hand the job back without spending an attempt (the target calls
          // are idempotent); a newer worker takes it, even if the upgrade takes longer than the retries.
          await requeueAfter(deps, data, NEWER_MACHINE_WAIT_MS, calls, job)
          return { outcome: 'newer_machine_version' }
        }
        if (!isProvisionerError(err) && isUnavailable(err)) return databaseUnavailable(deps, data, job, calls, err)
        if (err instanceof RateLimitedError) {
          await requeueAfter(deps, data, err.retryAfterMs, calls, job)
          deps.metrics.rateLimited.inc({ system, source: err.operation?.startsWith('limiter.') ? 'limiter' : 'vendor' })
          return { outcome: 'rate_limited', retryAfterMs: err.retryAfterMs }
        }
        const c = classify(err, data.request.action)
        const lastAttempt = job.attempt > deps.retryLimit
        if (c.retryable && lastAttempt && isLeaverCritical(data.request)) {
          // A leaver's cut-off never gives up on a transient fault: the SLA ladder escalates to
          // people while the work goes on at the longest backoff until the target answers.
          job.log.warn({ error: c, key: data.request.key }, 'leaver cut-off still failing after every retry: trying again later')
          // The case hears of every round (not final: the work goes on), so its attempts grow with
          // the rejected calls instead of staying 0 until a success that may be days away.
          const attempts = (data.attemptsBefore ?? 0) + job.attempt
          await applyEvent(
            deps.engine,
            data.employeeId,
            failedEvent(deps, data, { kind: c.kind, message: c.message }, { final: false, attempts }),
            { actor: SYSTEM_ACTOR, correlationId: data.correlationId },
          )
          await requeueAfter(deps, { ...data, attemptsBefore: 0 }, deps.retryDelayMaxMs, calls, job, { reported: true })
          return { outcome: 'requeued_after_retries', kind: c.kind }
        }
        if (c.retryable && !lastAttempt) {
          // Keep the evidence of the calls that were made, then let pg-boss retry with backoff.
          if (calls.length > 0) await recordAudit(deps.pool, callAudit(data, calls, job.attempt)).catch(() => undefined)
          throw err
        }
        await finalFailure(deps, data, job, c, calls)
        return { outcome: 'failed', kind: c.kind }
      }
    },
  }
}

/**
 * Tenure's own database was out of reach mid-run (a restart, a fail-over, a pool with no free
 * connection): not the target's failure, so the job is handed back without spending one of its
 * attempts. The first full chaos runs dead-lettered clean-ups that spent all nine attempts on
 * "timeout exceeded when trying to connect" in the minutes after a PostgreSQL restart. If the
 * hand-back cannot be written either, the error goes to pg-boss, which counts that attempt.
 */
async function databaseUnavailable(deps: SystemWorkerDeps, data: SystemJobData, job: JobContext, calls: ApiCallRecord[], err: unknown): Promise<{ outcome: string }> {
  try {
    await requeueAfter(deps, data, DATABASE_WAIT_MS, calls, job)
  } catch {
    throw err
  }
  job.log.warn({ error: (err as Error)?.message }, 'database unreachable: job handed back without spending an attempt')
  return { outcome: 'database_unavailable' }
}

/** Push the same job back by `ms` without counting an attempt. The new id is derived, so a retry of this step re-queues once. */
async function requeueAfter(
  deps: SystemWorkerDeps,
  data: SystemJobData,
  ms: number,
  calls: ApiCallRecord[],
  job: JobContext,
  options: { reported?: boolean } = {},
): Promise<void> {
  const n = (data.rateLimitedCount ?? 0) + 1
  // The re-run is a new pg-boss job: carry the attempts this one made (its failed retries, and
  // this run if it reached the target) so the final count is the number actually made, unless
  // they were just reported to the case.
  const attemptsBefore = options.reported ? 0 : (data.attemptsBefore ?? 0) + (job.attempt - 1) + (calls.length > 0 ? 1 : 0)
  const next: SystemJobData = { ...data, rateLimitedCount: n, attemptsBefore }
  const handedBack = await withTransaction(deps.pool, async (client) => {
    // Only the job's current attempt hands it back: one that pg-boss expired while this handler
    // still ran is being retried by pg-boss already, and a second chain would go on beside it.
    // The calls it made are evidence either way.
    if (!(await isCurrentAttempt(client, deps.queueSchema, { queue: job.queue, id: job.jobId, retryCount: job.attempt - 1 }))) {
      if (calls.length > 0) await appendAudit(client, callAudit(data, calls, job.attempt))
      return false
    }
    await deps.boss.send(queueFor(data.request), next, {
      id: uuidV5(`job:${data.request.key}:rl${n}`),
      startAfter: new Date(deps.engine.now().getTime() + ms),
      priority: jobPriority(data.request, data.deadlineAt ? new Date(data.deadlineAt) : undefined, deps.engine.now()),
      ...jobRetryOptions(data.request),
      db: inTransaction(client),
    })
    if (calls.length > 0) await appendAudit(client, callAudit(data, calls, job.attempt))
    return true
  })
  if (handedBack) job.log.info({ retryAfterMs: ms, rateLimitedCount: n }, 'rate limited: job pushed back')
  else job.log.warn({ retryAfterMs: ms }, 'attempt ended by pg-boss while it ran (expired or failed from outside): not handed back, pg-boss retries the job')
}

/** The case hears that its job failed: for good (`final`), or a round of a cut-off that goes on. */
function failedEvent(deps: SystemWorkerDeps, data: SystemJobData, error: { kind: string; message: string }, o: { final: boolean; attempts: number }) {
  return {
    type: 'account.failed' as const,
    system: data.request.system,
    action: data.request.action,
    ...(data.request.phase ? { phase: data.request.phase } : {}),
    error,
    final: o.final,
    attempts: o.attempts,
    now: deps.engine.now().toISOString(),
  }
}

/** Tell the machine the job gave up, and park a copy in the system's dead-letter queue for a redrive. */
async function finalFailure(deps: SystemWorkerDeps, data: SystemJobData, job: JobContext, error: { kind: string; message: string }, calls: ApiCallRecord[]): Promise<void> {
  const system = data.request.system
  await applyEvent(
    deps.engine,
    data.employeeId,
    failedEvent(deps, data, error, { final: true, attempts: (data.attemptsBefore ?? 0) + job.attempt }),
    {
      actor: SYSTEM_ACTOR,
      correlationId: data.correlationId,
      audit: [
        ...callAudit(data, calls, job.attempt),
        {
          actor: SYSTEM_ACTOR,
          action: 'job.failed',
          subject: { employeeId: data.employeeId, system },
          correlationId: data.correlationId,
          details: { jobId: job.jobId, key: data.request.key, action: data.request.action, attempt: job.attempt, error },
        },
      ],
      within: async (client, result) => {
        // A grant that failed for someone who is leaving by now needs nobody: the revocation that
        // superseded it is the case's business (a provision racing a cancelled hire's cut-off).
        if (GRANTING_ACTIONS.has(data.request.action) && LEAVING_STATES.has(result.to)) return
        await deps.boss.send(deadLetterQueue(system), { ...data, failure: { ...error, jobId: job.jobId, attempt: job.attempt, at: new Date().toISOString() } } as object, {
          id: uuidV5(`dlq:${data.request.key}:${job.jobId}`),
          db: inTransaction(client),
        })
      },
    },
  )
  job.log.warn({ error, key: data.request.key }, 'job failed for good: reported to the case and dead-lettered')
}
