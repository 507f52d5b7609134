/**
 * One revocation runner for every provisioner: the provisioner says how to do each step against
 * its target; the rules of a revocation phase are decided here, once.
 *
 * 1. Order. Steps run once each, in the provisioner's fixed `order` where the vendor's semantics
 *    need one (Graph: disable before sessions, groups before licences, delete last); steps the
 *    order does not name, and every step of a provisioner without one, follow in the plan's order.
 *    A step the provisioner does not know is reported `not_supported` by the provisioner, never
 *    dropped.
 * 2. Already gone. An account that no longer exists has nothing left to revoke: every step is
 *    `already_done` (the state the system worker and reports read as "happened": a `delete` step
 *    `already_done` marks the account deleted, src/jobs/system-worker.ts and src/reports/rows.ts).
 *    That holds when the account is absent before the first step (`accountGone`), when a step
 *    says it deleted or lost the account (`StepOutcome.accountGone`: the remaining steps), and
 *    when a step throws NotFound and a read (`exists`) confirms the account is gone: that step
 *    and the remaining ones. A NotFound the read does not confirm is about an item, not the account.
 * 3. A failed step. Two kinds:
 *    - A step that did what it could and names what is left returns `failed` with residual access
 *      (a group that refused the removal). The residual keeps the case open; the phase goes on. A
 *      `failed` step that added no residual gets one here, so nothing fails silently.
 *    - A step that throws fails the phase. A rate limit or outage (RateLimited, Transient) or an
 *      error outside the ProvisionerError family ends the phase at once: the job layer waits or
 *      retries, and every step is idempotent. Any other kind (Permanent, AuthFailed, Conflict, a
 *      NotFound about the account that is not confirmed) is recorded as the step's `failed`
 *      evidence; the remaining *cut-off* steps still run (each ends a way in on its own, and a
 *      refused disable must not leave sessions and tokens alive), the remaining clean-up steps do
 *      not (they may depend on what came before: a delete after a failed Drive transfer destroys
 *      the data, a licence removed before the mailbox is kept loses it) and are recorded
 *      `skipped`. Then the phase throws an error of the first failure's kind, whose message names
 *      every step's outcome, so the job layer decides retry or failure as before and the case
 *      stays open (a final failure leaves residual access on the case).
 */
import {
  AuthFailedError,
  ConflictError,
  isProvisionerError,
  NotFoundError,
  PermanentError,
  type ProvisionerError,
} from '../errors.ts'
import {
  CUTOFF_STEPS,
  type ResidualAccess,
  type RevocationEvidence,
  type RevocationPhase,
  type RevocationStepKind,
  type StepEvidence,
  type StepStatus,
} from '../types.ts'

/** What one step did; the runner stamps the step name and the time. */
export interface StepOutcome {
  status: StepStatus
  detail?: string
  /** The vendor's request ids (evidence); undefined entries are dropped. */
  requestIds?: ReadonlyArray<string | undefined>
  /** Set when this step deleted the account or found it gone: the remaining steps are `already_done` with this detail. */
  accountGone?: string
}

export interface RevocationRun {
  system: string
  phase: RevocationPhase
  /** The target's id of the account: residual access for a failed step without one names it. */
  accountId: string
  /** The steps to run (the plan's, and any the provisioner adds). */
  steps: readonly RevocationStepKind[]
  /** The vendor's fixed order, where its semantics need one; otherwise the steps' own order. */
  order?: readonly RevocationStepKind[]
  /** Shared with the steps: they push what they saw but could not remove. */
  residual: ResidualAccess[]
  runStep(step: RevocationStepKind): Promise<StepOutcome>
  /** A fresh read: does the account still exist? Asked when a step throws NotFound. Without it, such a NotFound is a failed step. */
  exists?(): Promise<boolean>
  /** Detail for steps found gone after a confirmed NotFound. */
  goneDetail?: string
  now?: () => string
}

/** Steps in run order: `order` first (those present), then the rest as given; each once. */
export function orderSteps(steps: readonly RevocationStepKind[], order?: readonly RevocationStepKind[]): RevocationStepKind[] {
  const unique = [...new Set(steps)]
  if (!order) return unique
  return [...order.filter((s) => unique.includes(s)), ...unique.filter((s) => !order.includes(s))]
}

export function stepEvidence(step: RevocationStepKind, outcome: StepOutcome, at: string): StepEvidence {
  const ids = (outcome.requestIds ?? []).filter((id): id is string => id !== undefined)
  return { step, status: outcome.status, at, ...(outcome.detail ? { detail: outcome.detail } : {}), ...(ids.length > 0 ? { requestIds: ids } : {}) }
}

/** Evidence for an account that does not exist before the first step: nothing to revoke, every step already done. */
export function accountGone(steps: readonly RevocationStepKind[], detail: string, opts: { order?: readonly RevocationStepKind[]; now?: () => string; requestIds?: ReadonlyArray<string | undefined> } = {}): RevocationEvidence {
  const at = (opts.now ?? isoNow)()
  return {
    steps: orderSteps(steps, opts.order).map((step) => stepEvidence(step, { status: 'already_done', detail, ...(opts.requestIds ? { requestIds: opts.requestIds } : {}) }, at)),
    residual: [],
  }
}

export async function runRevocation(run: RevocationRun): Promise<RevocationEvidence> {
  const now = run.now ?? isoNow
  const steps: StepEvidence[] = []
  let gone: string | undefined
  let first: { step: RevocationStepKind; error: ProvisionerError } | undefined
  for (const step of orderSteps(run.steps, run.order)) {
    if (gone !== undefined) {
      steps.push(stepEvidence(step, { status: 'already_done', detail: gone }, now()))
      continue
    }
    if (first && !CUTOFF_STEPS.includes(step)) {
      steps.push(stepEvidence(step, { status: 'skipped', detail: `not run: ${first.step} failed earlier in this ${run.phase} phase` }, now()))
      continue
    }
    const residualBefore = run.residual.length
    try {
      const outcome = await run.runStep(step)
      if (outcome.status === 'failed' && run.residual.length === residualBefore) {
        run.residual.push({ kind: step, id: run.accountId, reason: outcome.detail ?? `${step} failed` })
      }
      steps.push(stepEvidence(step, outcome, now()))
      if (outcome.accountGone !== undefined) gone = outcome.accountGone
    } catch (err) {
      if (!isProvisionerError(err) || err.kind === 'RateLimited' || err.kind === 'Transient') throw err
      if (err.kind === 'NotFound' && run.exists && !(await run.exists())) {
        gone = run.goneDetail ?? 'the account no longer exists'
        steps.push(stepEvidence(step, { status: 'already_done', detail: gone }, now()))
        continue
      }
      first ??= { step, error: err }
      steps.push(stepEvidence(step, { status: 'failed', detail: `${err.kind}${err.vendorCode ? ` ${err.vendorCode}` : ''}: ${err.message}`, requestIds: [err.requestId] }, now()))
    }
  }
  if (first) throw phaseFailed(run, first, steps)
  return { steps, residual: run.residual }
}

/**
 * The phase's error: the first failure's kind and details (never RateLimited or Transient: those
 * end the phase at once), and a message naming every step's outcome.
 */
function phaseFailed(run: RevocationRun, first: { step: RevocationStepKind; error: ProvisionerError }, steps: StepEvidence[]): ProvisionerError {
  const e = first.error
  const outcomes = steps.map((s) => `${s.step} ${s.status}`).join(', ')
  const message = `${run.system} ${run.phase} phase failed at ${first.step}: ${e.message} (steps: ${outcomes})`
  const details = { system: e.system, operation: e.operation, status: e.status, vendorCode: e.vendorCode, requestId: e.requestId, cause: e }
  switch (e.kind) {
    case 'NotFound':
      return new NotFoundError(message, details)
    case 'Conflict':
      return new ConflictError(message, details)
    case 'AuthFailed':
      return new AuthFailedError(message, details)
    default:
      return new PermanentError(message, details)
  }
}

const isoNow = () => new Date().toISOString()
