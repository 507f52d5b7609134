/**
 * "Run now": queue the existing reconciliation job (hr.reconcile for one source, reconcile.targets
 * for one system) on demand. Two clicks are one run: under a transaction-scoped advisory lock on
 * the source or system, a job for it that is still queued, waiting for a retry or running is
 * answered instead of a second one. The job carries the singleton key `reconcile-now:<kind>:<id>`
 * (pg-boss's own singleton policies are per queue, and these queues keep the standard policy the
 * schedules use), and every request is audited with the actor, the source or system and the job id.
 */
import { randomUUID } from 'node:crypto'
import type { Actor } from '../auth/roles.ts'
import { appendAudit } from '../audit/writer.ts'
import { withTransaction, type Pool } from '../db/pool.ts'
import { HR_RECONCILE_QUEUE, TARGET_RECONCILE_QUEUE } from '../jobs/queues.ts'
import { inTransaction, type Boss } from '../jobs/boss.ts'
import { pendingReconcileJob } from '../jobs/inspect.ts'
import { lockKeyForTransaction } from '../db/advisory-locks.ts'

export type ReconcileKind = 'hr' | 'targets'

export interface RunNowResult {
  jobId: string
  /** false: a run for the same source or system was already pending; `jobId` is that run. */
  created: boolean
  state: string
}

export async function reconcileNow(
  deps: { pool: Pool; boss: Boss; queueSchema: string },
  kind: ReconcileKind,
  id: string,
  actor: Actor,
  correlationId: string | null,
): Promise<RunNowResult> {
  const queue = kind === 'hr' ? HR_RECONCILE_QUEUE : TARGET_RECONCILE_QUEUE
  const field = kind === 'hr' ? 'source' : 'system'
  const singletonKey = `reconcile-now:${kind}:${id}`
  return withTransaction(deps.pool, async (client) => {
    await lockKeyForTransaction(client, singletonKey)
    const existing = await pendingReconcileJob(client, deps.queueSchema, queue, field, id)
    const jobId = existing?.id ?? randomUUID()
    const correlation = correlationId ?? `reconcile-now:${jobId}`
    if (!existing) {
      const sent = await deps.boss.send(queue, { [field]: id, correlationId: correlation }, { id: jobId, singletonKey, db: inTransaction(client) })
      if (!sent) throw new Error(`pg-boss did not queue ${queue} for ${id}`)
    }
    await appendAudit(client, [
      {
        actor,
        action: 'reconciliation.run_requested',
        subject: { system: kind === 'targets' ? id : null },
        correlationId: correlation,
        details: { kind, [field]: id, jobId, outcome: existing ? 'already_queued' : 'queued', ...(existing ? { jobState: existing.state } : {}) },
      },
    ])
    return { jobId, created: !existing, state: existing?.state ?? 'created' }
  })
}
