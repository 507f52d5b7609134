/**
 * The audit trail's scheduled work, on pg-boss cron (one schedule per key, so every process may
 * call scheduleAuditJobs() at start; pg-boss runs each due job once):
 * - `audit.checkpoint` every checkpointIntervalMinutes: the heartbeat checkpoint, made even when
 *   nothing was appended (a run of checkpoints with no hole shows the log was watched);
 * - `audit.checkpoint` { ifHeadMoved } every headCheckpointMinutes (default 1): a checkpoint only
 *   when the head moved, so the unsigned tail is at most about a minute of history;
 * - `audit.retention` daily when retentionDays is set: prune behind a signed checkpoint.
 */
import type pg from 'pg'
import { z } from 'zod'
import type { Logger } from '../log.ts'
import type { Boss } from '../jobs/boss.ts'
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { AUDIT_CHECKPOINT_QUEUE, AUDIT_RETENTION_QUEUE } from '../jobs/queues.ts'
import { checkpointIfHeadMoved, createCheckpoint, type CheckpointOptions } from './checkpoints.ts'
import { checkpointCron, headCheckpointCron, RETENTION_CRON, type AuditConfig } from './config.ts'
import { pruneAudit } from './retention.ts'

const HEARTBEAT_KEY = 'audit'
const HEAD_KEY = 'audit-head'
const RETENTION_KEY = 'audit'

export async function scheduleAuditJobs(boss: Boss, config: AuditConfig): Promise<void> {
  await boss.schedule(AUDIT_CHECKPOINT_QUEUE, checkpointCron(config), {}, { key: HEARTBEAT_KEY })
  const head = headCheckpointCron(config)
  if (head) await boss.schedule(AUDIT_CHECKPOINT_QUEUE, head, { ifHeadMoved: true }, { key: HEAD_KEY })
  else await boss.unschedule(AUDIT_CHECKPOINT_QUEUE, HEAD_KEY)
  if (config.retentionDays !== null) await boss.schedule(AUDIT_RETENTION_QUEUE, RETENTION_CRON, {}, { key: RETENTION_KEY })
  else await boss.unschedule(AUDIT_RETENTION_QUEUE, RETENTION_KEY)
}

export interface AuditJobDeps {
  pool: pg.Pool
  config: AuditConfig
  log: Logger
  /** The engine's clock (retention's cut-off). */
  now: () => Date
  checkpointOptions?: CheckpointOptions
}

const checkpointJob = z.object({ ifHeadMoved: z.boolean().optional() }).loose()

export function auditCheckpointWorker(deps: AuditJobDeps): WorkerDefinition<typeof checkpointJob> {
  return {
    queue: AUDIT_CHECKPOINT_QUEUE,
    schema: checkpointJob,
    handler: async (data) => {
      const cp = data.ifHeadMoved
        ? await checkpointIfHeadMoved(deps.pool, deps.config, deps.log, deps.checkpointOptions)
        : await createCheckpoint(deps.pool, deps.config, deps.log, deps.checkpointOptions)
      return cp ? { id: cp.checkpoint.id, seq: cp.checkpoint.seq, published: cp.published } : { outcome: 'head_unchanged' }
    },
  }
}

const retentionJob = z.object({}).loose()

export function auditRetentionWorker(deps: AuditJobDeps): WorkerDefinition<typeof retentionJob> {
  return {
    queue: AUDIT_RETENTION_QUEUE,
    schema: retentionJob,
    handler: async () => {
      const result = await pruneAudit(deps.pool, deps.config, deps.log, { now: deps.now() })
      return { pruned: result.pruned, throughSeq: result.throughSeq, checkpointId: result.checkpointId, tombstoneSeq: result.tombstone?.seq ?? null }
    },
  }
}
