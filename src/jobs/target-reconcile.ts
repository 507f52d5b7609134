/**
 * Target-side reconciliation (`reconcile.targets`, hourly pg-boss cron by default): list the
 * accounts in every system and flag
 *   (a) active_after_revocation: an account active although its revocation was verified (someone
 *       re-enabled it by hand, or a sync restored it): the leaver case re-opens and escalates;
 *   (b) orphan_account: an active account that matches no employee Tenure knows;
 *   (c) excess_access: an active employee holding groups, licences or roles beyond policy. The
 *       listing's three lists are compared with every policy list that lands in them (a Slack user
 *       group, a Jira product), in the listing's vocabulary (src/reconciliation/access.ts).
 * Accounts are mapped to employees by one function, ownerOf (src/reconciliation/access.ts).
 * Each finding is stored (one open finding per account and kind), audited when first seen, shown
 * at GET /api/v1/reconciliation/findings, and resolved when a later run no longer sees it. People
 * acknowledge, link or cut off findings through src/reconciliation/; an acknowledged finding stays
 * quiet while the account's listed access is what was acknowledged, and is raised again (audited)
 * when it changes.
 *
 * A listing is a coarse view: Jira's user list shows only whether the Atlassian account is active,
 * not whether it still has product access, which is how Jira is cut off when the account has no
 * SCIM record. So before (a) is recorded, the account is read back with the provisioner's own
 * `verify`, the rule that judged it revoked in the first place; only when verify also finds it
 * usable is it a finding. Reconciliation and verification can therefore never disagree about what
 * "revoked" means, and a case is never re-opened on the strength of the listing alone.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Boss } from './boss.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { recordAudit } from '../audit/index.ts'
import type { AccountState, Ctx, ListedAccess, Provisioner } from '../../provisioners/types.ts'
import type { AccessGrant } from '../domain/access.ts'
import type { Registry } from '../../provisioners/registry.ts'
import { applyEvent, SYSTEM_ACTOR, type EngineDeps } from '../lifecycle/engine.ts'
import { accessSnapshot, defaultListedAccess, excessOf, LEAVER_STATES, ownerIndex, ownerOf, type Owner } from '../reconciliation/access.ts'
import { loadOwnerData, resolveUnseen, upsertFinding, type FindingKind } from '../reconciliation/store.ts'
import type { Limiter } from './limiter.ts'
import { TARGET_RECONCILE_QUEUE } from './queues.ts'
import type { WorkerDefinition } from './runtime.ts'

export { reconciliationConfigSchema, type ReconciliationConfig } from './reconciliation-config.ts'
import type { ReconciliationConfig } from './reconciliation-config.ts'

/** Attributes that hold access (AccountState.unknown names them when a listing cannot show them). */
const ACCESS_ATTRIBUTES = new Set(['groups', 'userGroups', 'licences', 'products', 'roles', 'channels'])

export const targetReconcileJobSchema = z.object({ system: z.string().optional(), correlationId: z.string().optional() })

export interface TargetReconcileDeps {
  pool: Pool
  boss: Boss
  log: Logger
  engine: EngineDeps
  registry: Registry
  limiter: Limiter
  config: ReconciliationConfig
}

const REVOKED_STATUSES = new Set(['verified', 'cleaning', 'done', 'revoked', 'verifying'])

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`, 'i')
}

export interface SystemReconcileSummary {
  system: string
  accounts: number
  findings: Record<string, number>
  reopened: number
  /**
   * Accounts whose access could not be compared with policy this run (the grant could not be put
   * in the listing's vocabulary, e.g. Slack's usergroups.list failed). Unknown is not "no excess":
   * their open excess_access findings are kept, not resolved.
   */
  accessUnjudged: number
}

export async function reconcileSystem(deps: TargetReconcileDeps, provisioner: Provisioner, correlationId: string): Promise<SystemReconcileSummary> {
  const system = provisioner.system
  const runId = randomUUID()
  const started = new Date()
  const ignore = deps.config.ignoreAccounts.map(globToRegExp)
  const summary: SystemReconcileSummary = { system, accounts: 0, findings: {}, reopened: 0, accessUnjudged: 0 }
  const ctx: Ctx = {
    idempotencyKey: `reconcile:${system}:${runId}`,
    correlationId,
    signal: new AbortController().signal,
    log: deps.log.child({ system, runId }),
    throttle: (bucket, cost) => deps.limiter.take(system, bucket, deps.registry.limitFor(system, bucket), cost),
    recordCall: () => {},
  }
  const data = await loadOwnerData(deps.pool, system)
  const index = ownerIndex(data.rows, data.employees, data.links)
  const expected = expectedAccess(ctx, provisioner)
  let page: string | undefined
  do {
    const result = await provisioner.listAccounts(ctx, page)
    summary.accounts += result.items.length
    const classified = result.items
      .filter((account) => account.active)
      .map((account) => {
        const owner = ownerOf(account, index)
        return { account, owner, finding: undefined as Finding | undefined }
      })
    // The read-backs of a page run side by side (the limiter paces them): after a layoff a page can
    // hold a thousand of them, and one at a time at a vendor's latency would take the hour.
    await eachLimited(classified, CONFIRM_CONCURRENCY, async (c) => {
      try {
        c.finding = await classify(c.account, c.owner, ignore, expected)
      } catch (err) {
        // Only the policy-to-listing translation throws. One failed read must not blind the run to
        // accounts active after revocation, so the account is left unjudged and the run goes on.
        if (summary.accessUnjudged === 0) ctx.log.warn({ err: { message: (err as Error).message } }, 'could not compare access with policy; excess access left unjudged this run')
        summary.accessUnjudged += 1
        return
      }
      // A listing that cannot show an access list (Entra's and Jira's user lists carry no
      // memberships) has not shown "no excess": the account's excess stays unjudged this run.
      if ((c.account.unknown ?? []).some((u) => ACCESS_ATTRIBUTES.has(u.attribute))) summary.accessUnjudged += 1
      if (c.finding?.kind === 'active_after_revocation' && c.owner) c.finding = await confirmActive(ctx, provisioner, c.account, c.owner.employee.id, c.finding)
    })
    for (const { account, owner, finding } of classified) {
      if (!finding) continue
      summary.findings[finding.kind] = (summary.findings[finding.kind] ?? 0) + 1
      const isNew = await recordFinding(deps, system, runId, account, owner, finding, correlationId)
      if (finding.kind === 'active_after_revocation' && owner && isNew) {
        await applyEvent(
          deps.engine,
          owner.employee.id,
          { type: 'reconciliation.account_active', system, accountId: account.accountId, now: deps.engine.now().toISOString() },
          { actor: SYSTEM_ACTOR, correlationId },
        )
        summary.reopened += 1
      }
    }
    page = result.nextPage
  } while (page)
  // Whatever this run did not see again is resolved.
  await resolveUnseen(deps.pool, system, started, summary.accessUnjudged > 0 ? ['excess_access'] : [])
  return summary
}

/** Read-backs in flight at once per system during a run. */
const CONFIRM_CONCURRENCY = 8

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

type Finding = { kind: FindingKind; details: Record<string, unknown> }

/**
 * What the policy grants an employee here, in the listing's vocabulary: the provisioner's own
 * mapping when it has one (Slack resolves user-group handles to the ids its listing shows), else
 * the default. One answer per distinct grant per run: a run over a thousand employees of three
 * roles asks three times.
 */
function expectedAccess(ctx: Ctx, provisioner: Provisioner): (grant: AccessGrant) => Promise<ListedAccess> {
  const memo = new Map<string, Promise<ListedAccess>>()
  return (grant) => {
    const key = JSON.stringify(grant)
    let answer = memo.get(key)
    if (!answer) {
      answer = provisioner.listedAccess ? provisioner.listedAccess(ctx, grant) : Promise.resolve(defaultListedAccess(grant))
      // A failed resolution is not cached: the next account asks again.
      answer.catch(() => memo.delete(key))
      memo.set(key, answer)
    }
    return answer
  }
}

/**
 * Read the account back with verify before calling it active after revocation. Verify saying
 * revoked clears it (the listing could not see the cut-off); verify failing keeps the finding, with
 * the failure in its details: an account that may be usable is reported, not assumed safe.
 */
async function confirmActive(ctx: Ctx, provisioner: Provisioner, account: AccountState, employeeId: string, finding: Finding): Promise<Finding | undefined> {
  const ref = { system: provisioner.system, accountId: account.accountId, employeeId, ...(account.login ? { login: account.login } : {}) }
  try {
    const state = await provisioner.verify(ctx, ref)
    if (state.revoked) return undefined
    const failed = state.checks.filter((c) => !c.ok).map((c) => ({ name: c.name, detail: c.detail }))
    return { kind: finding.kind, details: { ...finding.details, confirmedBy: 'verify', failedChecks: failed } }
  } catch (err) {
    return { kind: finding.kind, details: { ...finding.details, confirmedBy: 'listing only', verifyError: (err as Error).message } }
  }
}

async function classify(account: AccountState, owner: Owner | undefined, ignore: RegExp[], expected: (grant: AccessGrant) => Promise<ListedAccess>): Promise<Finding | undefined> {
  if (!owner) {
    if (ignore.some((r) => r.test(account.login ?? '') || r.test(account.accountId))) return undefined
    return { kind: 'orphan_account', details: { reason: 'active account matches no employee Tenure manages' } }
  }
  const { employee, row, managed } = owner
  const ownerFacts = { ownerVia: owner.via, employeeState: employee.state }
  if (LEAVER_STATES.has(employee.state)) {
    if (managed && row?.verified_at && REVOKED_STATUSES.has(row.status)) {
      return { kind: 'active_after_revocation', details: { verifiedAt: row.verified_at.toISOString(), employeeState: employee.state } }
    }
    // A second account of a leaver (linked by a person, or carrying their identity key) that
    // Tenure never revoked: it stays a finding until someone cuts it off or it goes away.
    if (!managed) return { kind: 'orphan_account', details: { reason: 'active account of a leaver that Tenure did not provision or revoke', ...ownerFacts } }
    return undefined
  }
  if (employee.state !== 'active') return undefined
  // No row at all: the policy gives them nothing here, yet an account (linked, or carrying their
  // identity key) exists. A row without a desired grant, or one being revoked (a mover), is
  // Tenure's own business in flight and not judged here.
  if (!row) return { kind: 'excess_access', details: { beyondPolicy: { account: true }, reason: 'the policy grants this employee no account in this system', ...ownerFacts } }
  if (!row.desired || row.desired.account === false) return undefined
  const excess = excessOf(account, await expected(row.desired))
  if (Object.keys(excess).length > 0) {
    const unknown = (account.unknown ?? []).map((u) => u.attribute)
    return { kind: 'excess_access', details: { beyondPolicy: excess, ...(unknown.length > 0 ? { notListed: unknown } : {}), ...(managed ? {} : ownerFacts) } }
  }
  return undefined
}

async function recordFinding(deps: TargetReconcileDeps, system: string, runId: string, account: AccountState, owner: Owner | undefined, finding: Finding, correlationId: string): Promise<boolean> {
  const result = await upsertFinding(deps.pool, {
    id: randomUUID(),
    runId,
    system,
    kind: finding.kind,
    accountId: account.accountId,
    login: account.login ?? null,
    employeeId: owner?.employee.id ?? null,
    details: finding.details,
    access: accessSnapshot(account),
  })
  if (result.inserted || result.raisedAgain) {
    await recordAudit(deps.pool, [
      {
        actor: SYSTEM_ACTOR,
        action: result.inserted ? 'reconciliation.finding_recorded' : 'reconciliation.finding_raised_again',
        subject: { employeeId: owner?.employee.id ?? null, system, accountId: account.accountId },
        correlationId,
        details: { findingId: result.id, kind: finding.kind, ...finding.details, ...(result.raisedAgain ? { access: accessSnapshot(account) } : {}) },
      },
    ])
  }
  return result.inserted
}

export function targetReconcileWorker(deps: TargetReconcileDeps): WorkerDefinition<typeof targetReconcileJobSchema> {
  return {
    queue: TARGET_RECONCILE_QUEUE,
    schema: targetReconcileJobSchema,
    handler: async (data, job) => {
      const systems = data.system ? [data.system] : deps.registry.enabledIds()
      const summaries: SystemReconcileSummary[] = []
      for (const system of systems) {
        const provisioner = deps.registry.get(system)
        if (!provisioner || provisioner.kind === 'manual') continue
        try {
          summaries.push(await reconcileSystem(deps, provisioner, data.correlationId ?? job.jobId))
        } catch (err) {
          // One system failing to list must not stop the others.
          job.log.error({ system, err: { message: (err as Error).message } }, 'target reconciliation failed for a system')
        }
      }
      const flagged = summaries.filter((s) => Object.keys(s.findings).length > 0 || s.accessUnjudged > 0)
      if (flagged.length > 0) job.log.warn({ summaries: flagged }, 'target reconciliation found drift')
      return { summaries }
    },
  }
}

export async function scheduleTargetReconciliation(boss: Boss, config: ReconciliationConfig): Promise<void> {
  if (!config.enabled) {
    await boss.unschedule(TARGET_RECONCILE_QUEUE, 'targets').catch(() => undefined)
    return
  }
  const m = config.intervalMinutes
  const cron = m < 60 ? `*/${m} * * * *` : `0 */${m / 60} * * *`
  await boss.schedule(TARGET_RECONCILE_QUEUE, cron, {}, { key: 'targets' })
}
