/**
 * Retention: the only sanctioned deletion of audit rows. Rows older than `retentionDays` are
 * removed up to the newest signed checkpoint whose head is at least that old, so the remaining
 * chain starts right after a signed hash and still verifies; the deletion itself is recorded in
 * the chain as an `audit.pruned` tombstone (which audit_prune_before() insists on).
 */
import type pg from 'pg'
import type { Logger } from '../log.ts'
import { checkpointSignatureProblem, fromDbCheckpoint, trustedKeys } from './checkpoint-format.ts'
import { signingKeyOf } from './checkpoints.ts'
import type { AuditConfig } from './config.ts'
import { AuditError } from './errors.ts'
import { computeHash, GENESIS_HASH, type AuditRow } from './record.ts'
import { toSafeInteger } from './rows.ts'
import { checkpointCovering, firstStoredSeq, lockChainHead, newestCheckpointAtOrBefore, pruneThrough } from './store.ts'
import { withTransaction } from '../db/pool.ts'
import { sealAudit } from './sealer.ts'
import { verifySegment } from './verify.ts'

export interface PruneResult {
  /** Rows deleted. */
  pruned: number
  /** The last deleted seq (the checkpoint's seq), or null when nothing was pruned. */
  throughSeq: number | null
  checkpointId: number | null
  /** The tombstone appended to the chain. */
  tombstone: AuditRow | null
}

const NOTHING: PruneResult = { pruned: 0, throughSeq: null, checkpointId: null, tombstone: null }
const DAY_MS = 86_400_000

export async function pruneAudit(
  pool: pg.Pool,
  config: Pick<AuditConfig, 'retentionDays' | 'signingKey'>,
  log: Logger,
  options: { now?: Date } = {},
): Promise<PruneResult> {
  if (config.retentionDays === null) return NOTHING
  const retentionDays = config.retentionDays
  const cutoff = new Date((options.now ?? new Date()).getTime() - retentionDays * DAY_MS)
  const keys = trustedKeys(signingKeyOf(config))
  try {
    // Entries committed before the run are sealed ahead of the tombstone.
    await sealAudit(pool)
    const result = await withTransaction(pool, (client) => pruneOnClient(client, { cutoff, retentionDays, keys }), 'readCommitted')
    if (result.pruned === 0 && result.throughSeq === null) {
      log.debug({ cutoff: cutoff.toISOString(), checkpointId: result.checkpointId ?? undefined }, 'audit retention: nothing to prune')
      return NOTHING
    }
    log.info(
      { pruned: result.pruned, throughSeq: result.throughSeq, checkpointId: result.checkpointId, cutoff: cutoff.toISOString(), tombstoneSeq: result.tombstone?.seq },
      'audit rows pruned by retention',
    )
    return result
  } catch (err) {
    if (err instanceof AuditError) log.error({ code: err.code }, err.message)
    throw err
  }
}

/** Inside the transaction: find the checkpoint to prune up to, verify the stretch, delete it and append the tombstone. */
async function pruneOnClient(
  client: pg.PoolClient,
  { cutoff, retentionDays, keys }: { cutoff: Date; retentionDays: number; keys: ReturnType<typeof trustedKeys> },
): Promise<PruneResult> {
  const cpRow = await newestCheckpointAtOrBefore(client, cutoff)
  const firstBefore = await firstStoredSeq(client)
  const cp = cpRow ? fromDbCheckpoint(cpRow) : undefined
  if (!cp || firstBefore == null || toSafeInteger(firstBefore, 'first seq') > cp.seq) {
    return { ...NOTHING, checkpointId: cp?.id ?? null }
  }
  const signatureProblem = checkpointSignatureProblem(cp, keys)
  if (signatureProblem) {
    throw new AuditError('prune_refused', `refusing to prune: ${signatureProblem}`, { status: 409 })
  }
  const firstSeq = toSafeInteger(firstBefore, 'first seq')
  let anchor = { seq: 0, hash: GENESIS_HASH }
  if (firstSeq > 1) {
    const previous = await checkpointCovering(client, firstSeq - 1)
    if (!previous) throw new AuditError('prune_refused', `refusing to prune: no checkpoint anchors the chain at seq ${firstSeq - 1}`, { status: 409 })
    anchor = { seq: firstSeq - 1, hash: previous.hash }
  }
  // Verified before the chain lock is taken: these rows are behind a checkpoint and no writer
  // touches them, and the engine must not wait while a long stretch is read.
  const problem = await verifySegment(client, anchor, cp.seq)
  if (problem) {
    throw new AuditError('prune_refused', `refusing to delete rows that fail verification (${problem.reason} at seq ${problem.firstBadSeq}): ${problem.message}`, {
      status: 409,
      details: problem,
    })
  }

  const head = await lockChainHead(client)
  if (!head) throw new AuditError('chain_head_missing', 'audit_chain_head() returned no row')
  const firstNow = await firstStoredSeq(client)
  if (firstNow !== firstBefore) {
    throw new AuditError('prune_conflict', 'another retention run pruned the audit log at the same time', { status: 409 })
  }
  const deletedCount = cp.seq - firstSeq + 1
  const record = {
    seq: toSafeInteger(head.head_seq, 'head seq') + 1,
    occurred_at: head.now_at,
    actor: { type: 'system' as const, id: 'retention' },
    action: 'audit.pruned',
    subject: { employee_id: null, system: null, account_id: null },
    correlation_id: null,
    details: {
      throughSeq: cp.seq,
      checkpointId: cp.id,
      checkpointHash: cp.hash,
      deletedCount,
      retentionDays,
      cutoff: cutoff.toISOString(),
    },
  }
  const tombstone: AuditRow = { ...record, prev_hash: head.head_hash, hash: computeHash(record, head.head_hash) }
  const dbTombstone = {
    seq: tombstone.seq,
    occurred_at: tombstone.occurred_at,
    actor_type: tombstone.actor.type,
    actor_id: tombstone.actor.id,
    action: tombstone.action,
    employee_id: null,
    system: null,
    account_id: null,
    correlation_id: null,
    details: tombstone.details,
    prev_hash: tombstone.prev_hash,
    hash: tombstone.hash,
  }
  const deleted = await pruneThrough(client, cp.seq, dbTombstone)
  const pruned = toSafeInteger(deleted ?? '0', 'deleted')
  return { pruned, throughSeq: cp.seq, checkpointId: cp.id, tombstone }
}
