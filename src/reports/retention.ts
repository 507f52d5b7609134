/**
 * `reports.retention`: the daily sweep that removes kept report files past their kept_until
 * (generated_at + reports.keepDays when the report was made), on a pg-boss cron schedule (one
 * key, so every process may call scheduleReportRetention() at start; pg-boss runs it once).
 *
 * Only the bytes go: the signed manifest and the history row stay, and the download of a pruned
 * file says so (410 report_file_pruned) rather than pretending it never existed. One
 * `report.files_pruned` audit entry per sweep that removed something, naming the reports.
 */
import { z } from 'zod'
import type { Pool } from '../db/pool.ts'
import { withTransaction } from '../db/pool.ts'
import { appendAudit } from '../audit/index.ts'
import type { Boss } from '../jobs/boss.ts'
import type { Config } from '../config/index.ts'
import { ensureQueue } from '../jobs/queues.ts'
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { pruneReportFiles } from './store.ts'

export const REPORT_RETENTION_QUEUE = 'reports.retention'
/** Daily at 03:41 UTC: off the hour, away from the audit retention (03:17). */
export const REPORT_RETENTION_CRON = '41 3 * * *'
const SCHEDULE_KEY = 'report-files'

type QueueOptions = NonNullable<Parameters<Boss['createQueue']>[1]>

export async function createReportQueues(boss: Boss, config: Config): Promise<void> {
  await ensureQueue(boss, config, REPORT_RETENTION_QUEUE, { retryLimit: 2, retryDelay: config.queue.retryDelaySeconds, expireInSeconds: Math.max(config.queue.expireInSeconds, 3600), notify: true } as QueueOptions)
}

export async function scheduleReportRetention(boss: Boss): Promise<void> {
  await boss.schedule(REPORT_RETENTION_QUEUE, REPORT_RETENTION_CRON, {}, { key: SCHEDULE_KEY })
}

/** Remove the bytes of every kept file due by `now`; the ids pruned (none when run again). */
export async function pruneKeptReports(pool: Pool, now: Date): Promise<string[]> {
  return withTransaction(pool, async (client) => {
    const pruned = await pruneReportFiles(client, now)
    if (pruned.length > 0) {
      await appendAudit(client, [
        {
          actor: { type: 'system', id: 'tenure' },
          action: 'report.files_pruned',
          details: { reportIds: pruned, count: pruned.length, at: now.toISOString(), why: 'past reports.keepDays; manifests and history rows are kept' },
        },
      ])
    }
    return pruned
  })
}

const retentionJob = z.object({}).loose()

export function reportRetentionWorker(deps: { pool: Pool; now: () => Date }): WorkerDefinition<typeof retentionJob> {
  return {
    queue: REPORT_RETENTION_QUEUE,
    schema: retentionJob,
    handler: async (_data, job) => {
      const pruned = await pruneKeptReports(deps.pool, deps.now())
      if (pruned.length > 0) job.log.info({ pruned: pruned.length }, 'kept report files pruned (reports.keepDays)')
      return { pruned: pruned.length }
    },
  }
}
