/**
 * Target-side reconciliation (`reconcile.targets`, hourly pg-boss cron by default): list the
 * accounts in every system and flag
 *   (a) active_after_revocation: an account active although its revocation was verified (someone
 *       re-enabled it by hand, or a sync restored it): the leaver case re-opens and escalates;
 *   (b) orphan_account: an active account that matches no employee Tenure knows;
 *   (c) excess_access: an active employee holding groups, licences or roles beyond policy.
 * Each finding is stored (one open finding per account and kind), audited when first seen, shown
 * at GET /api/v1/reconciliation/findings, and resolved when a later run no longer sees it.
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
import type { Boss } from '../queue/boss.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { recordAudit } from '../audit/index.ts'
import type { AccountState, Ctx, Provisioner } from '../../provisioners/types.ts'
import type { Registry } from '../../provisioners/registry.ts'
import { applyEvent, SYSTEM_ACTOR, type EngineDeps } from '../lifecycle/engine.ts'
import type { Limiter } from './limiter.ts'
import { TARGET_RECONCILE_QUEUE } from './queues.ts'
import type { WorkerDefinition } from './runtime.ts'

export { reconciliationConfigSchema, type ReconciliationConfig } from './reconciliation-config.ts'
import type { ReconciliationConfig } from './reconciliation-config.ts'

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

interface Known {
  employee_id: string
  account_id: string | null
  login: string | null
  status: string
  verified_at: Date | null
  desired: { groups?: string[]; licences?: string[]; roles?: string[] } | null
  state: string
}

const REVOKED_STATUSES = new Set(['verified', 'cleaning', 'done', 'revoked', 'verifying'])
const GONE_STATES = new Set(['deprovisioning', 'offboarded', 'cancelled'])

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`, 'i')
}

export interface SystemReconcileSummary {
  system: string
  accounts: number
  findings: Record<string, number>
  reopened: number
}

export async function reconcileSystem(deps: TargetReconcileDeps, provisioner: Provisioner, correlationId: string): Promise<SystemReconcileSummary> {
  const system = provisioner.system
  const runId = randomUUID()
  const started = new Date()
  const ignore = deps.config.ignoreAccounts.map(globToRegExp)
  const summary: SystemReconcileSummary = { system, accounts: 0, findings: {}, reopened: 0 }
  const ctx: Ctx = {
    idempotencyKey: `reconcile:${system}:${runId}`,
    correlationId,
    signal: new AbortController().signal,
    log: deps.log.child({ system, runId }),
    throttle: (bucket, cost) => deps.limiter.take(system, bucket, deps.registry.limitFor(system, bucket), cost),
    recordCall: () => {},
  }
  const { rows } = await deps.pool.query<Known>(
    `SELECT ea.employee_id, ea.account_id, ea.login, ea.status, ea.verified_at, ea.desired, e.state
       FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE ea.system = $1`,
    [system],
  )
  const byId = new Map(rows.filter((r) => r.account_id).map((r) => [r.account_id!, r]))
  const byLogin = new Map(rows.filter((r) => r.login).map((r) => [r.login!.toLowerCase(), r]))
  let page: string | undefined
  do {
    const result = await provisioner.listAccounts(ctx, page)
    summary.accounts += result.items.length
    const classified = result.items
      .filter((account) => account.active)
      .map((account) => {
        const known = byId.get(account.accountId) ?? (account.login ? byLogin.get(account.login.toLowerCase()) : undefined)
        return { account, known, finding: classify(account, known, ignore) }
      })
    // The read-backs of a page run side by side (the limiter paces them): after a layoff a page can
    // hold a thousand of them, and one at a time at a vendor's latency would take the hour.
    await eachLimited(classified, CONFIRM_CONCURRENCY, async (c) => {
      if (c.finding?.kind === 'active_after_revocation' && c.known) c.finding = await confirmActive(ctx, provisioner, c.account, c.known, c.finding)
    })
    for (const { account, known, finding } of classified) {
      if (!finding) continue
      summary.findings[finding.kind] = (summary.findings[finding.kind] ?? 0) + 1
      const isNew = await upsertFinding(deps, system, runId, account, known, finding, correlationId)
      if (finding.kind === 'active_after_revocation' && known && isNew) {
        await applyEvent(
          deps.engine,
          known.employee_id,
          { type: 'reconciliation.account_active', system, accountId: account.accountId, now: deps.engine.now().toISOString() },
          { actor: SYSTEM_ACTOR, correlationId },
        )
        summary.reopened += 1
      }
    }
    page = result.nextPage
  } while (page)
  // Whatever this run did not see again is resolved.
  await deps.pool.query(`UPDATE reconciliation_findings SET resolved_at = now() WHERE system = $1 AND resolved_at IS NULL AND last_seen_at < $2`, [system, started])
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

/**
 * Read the account back with verify before calling it active after revocation. Verify saying
 * revoked clears it (the listing could not see the cut-off); verify failing keeps the finding, with
 * the failure in its details: an account that may be usable is reported, not assumed safe.
 */
async function confirmActive(
  ctx: Ctx,
  provisioner: Provisioner,
  account: AccountState,
  known: Known,
  finding: { kind: string; details: Record<string, unknown> },
): Promise<{ kind: string; details: Record<string, unknown> } | undefined> {
  const ref = { system: provisioner.system, accountId: account.accountId, employeeId: known.employee_id, ...(account.login ? { login: account.login } : {}) }
  try {
    const state = await provisioner.verify(ctx, ref)
    if (state.revoked) return undefined
    const failed = state.checks.filter((c) => !c.ok).map((c) => ({ name: c.name, detail: c.detail }))
    return { kind: finding.kind, details: { ...finding.details, confirmedBy: 'verify', failedChecks: failed } }
  } catch (err) {
    return { kind: finding.kind, details: { ...finding.details, confirmedBy: 'listing only', verifyError: (err as Error).message } }
  }
}

function classify(account: AccountState, known: Known | undefined, ignore: RegExp[]): { kind: string; details: Record<string, unknown> } | undefined {
  if (!known) {
    if (ignore.some((r) => r.test(account.login ?? '') || r.test(account.accountId))) return undefined
    return { kind: 'orphan_account', details: { reason: 'active account matches no employee Tenure manages' } }
  }
  if (GONE_STATES.has(known.state) && known.verified_at && REVOKED_STATUSES.has(known.status)) {
    return { kind: 'active_after_revocation', details: { verifiedAt: known.verified_at.toISOString(), employeeState: known.state } }
  }
  if (known.state === 'active' && known.desired) {
    const extra = (have: string[], want: string[] | undefined) => have.filter((x) => !(want ?? []).includes(x))
    const excess = {
      groups: extra(account.groups, known.desired.groups),
      licences: extra(account.licences, known.desired.licences),
      roles: extra(account.roles, known.desired.roles),
    }
    if (excess.groups.length + excess.licences.length + excess.roles.length > 0) return { kind: 'excess_access', details: { beyondPolicy: excess } }
  }
  return undefined
}

async function upsertFinding(
  deps: TargetReconcileDeps,
  system: string,
  runId: string,
  account: AccountState,
  known: Known | undefined,
  finding: { kind: string; details: Record<string, unknown> },
  correlationId: string,
): Promise<boolean> {
  const { rows } = await deps.pool.query<{ inserted: boolean; id: string }>(
    `INSERT INTO reconciliation_findings (id, run_id, system, kind, account_id, login, employee_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (system, kind, account_id) WHERE resolved_at IS NULL
     DO UPDATE SET last_seen_at = now(), run_id = EXCLUDED.run_id, details = EXCLUDED.details
     RETURNING (xmax = 0) AS inserted, id`,
    [randomUUID(), runId, system, finding.kind, account.accountId, account.login ?? null, known?.employee_id ?? null, JSON.stringify(finding.details)],
  )
  const inserted = rows[0]!.inserted
  if (inserted) {
    await recordAudit(deps.pool, [
      {
        actor: SYSTEM_ACTOR,
        action: 'reconciliation.finding_recorded',
        subject: { employeeId: known?.employee_id ?? null, system, accountId: account.accountId },
        correlationId,
        details: { findingId: rows[0]!.id, kind: finding.kind, ...finding.details },
      },
    ])
  }
  return inserted
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
      const flagged = summaries.filter((s) => Object.keys(s.findings).length > 0)
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
