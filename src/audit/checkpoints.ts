/**
 * Checkpoints: sign the chain head, store it, publish it outside PostgreSQL. src/audit/jobs.ts
 * schedules createCheckpoint() every `checkpointIntervalMinutes` and checkpointIfHeadMoved() every
 * `headCheckpointMinutes` (pg-boss cron); the API and the CLI make one on demand.
 *
 * A checkpoint is made even when nothing was appended since the last one (CloudTrail delivers
 * digests for quiet hours too): a run of checkpoints with no hole shows the log was watched the
 * whole time, and a missing one is itself visible.
 *
 * Before signing, the rows appended since the previous checkpoint are verified (older rows are
 * pinned by the checkpoints already signed): a signature is never put over a stretch that was
 * tampered with before it could be signed.
 */
import { createHash, createHmac, type KeyObject } from 'node:crypto'
import { appendFile } from 'node:fs/promises'
import type pg from 'pg'
import type { Logger } from '../log.ts'
import type { Secret } from '../config/secret.ts'
import {
  CHECKPOINT_TYPE,
  fromDbCheckpoint,
  signCheckpoint,
  type SignedCheckpoint,
} from './checkpoint-format.ts'
import { webhookSecretBytes, type AuditConfig } from './config.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'
import { AuditError } from './errors.ts'
import { publishToObjectStore } from './object-store.ts'
import { keyId, loadPrivateKey, publicKeyPem } from './keys.ts'
import { computeHash, GENESIS_HASH } from './record.ts'
import { fromDbRow } from './rows.ts'
import { checkpointsAfter, lockCheckpointClock, newestCheckpoint, newestRow, rowAtSeq, storeCheckpoint } from './store.ts'
import { withTransaction } from '../db/pool.ts'
import { sealAudit } from './sealer.ts'
import { verifySegment } from './verify.ts'

const privateKeys = new WeakMap<Secret, KeyObject>()

export function signingKeyOf(config: Pick<AuditConfig, 'signingKey'>): KeyObject {
  let key = privateKeys.get(config.signingKey)
  if (!key) {
    key = loadPrivateKey(config.signingKey.reveal())
    privateKeys.set(config.signingKey, key)
  }
  return key
}

/** The public half of the configured key, as auditors need it (PEM and key id). */
export function auditPublicKey(config: Pick<AuditConfig, 'signingKey'>): { pem: string; keyId: string } {
  const key = signingKeyOf(config)
  return { pem: publicKeyPem(key), keyId: keyId(key) }
}

export type PublishOutcome = { ok: true } | { ok: false; error: string }

export interface CreatedCheckpoint {
  checkpoint: SignedCheckpoint
  /** One entry per configured destination. A failed publication leaves the checkpoint stored; it is listed by GET /checkpoints. */
  published: { file?: PublishOutcome; webhook?: PublishOutcome; objectStore?: PublishOutcome }
}

export interface CheckpointOptions {
  /** For tests; defaults to the global fetch. */
  fetch?: typeof fetch
  /** Webhook request timeout. */
  webhookTimeoutMs?: number
}

const WEBHOOK_TIMEOUT_MS = 10_000

export async function createCheckpoint(
  pool: pg.Pool,
  config: AuditConfig,
  log: Logger,
  options: CheckpointOptions = {},
): Promise<CreatedCheckpoint> {
  const created = await signHead(pool, config, log, options, false)
  if (!created) throw new AuditError('checkpoint_failed', 'no checkpoint was made')
  return created
}

/**
 * A checkpoint only when the chain head moved past the newest one (null otherwise): run every
 * minute by default (headCheckpointMinutes), so deleting the newest rows shows against a signed,
 * published checkpoint within a minute instead of waiting up to an hour for the heartbeat.
 * Nothing is signed in a quiet minute: the heartbeat (checkpointIntervalMinutes) covers those.
 */
export async function checkpointIfHeadMoved(
  pool: pg.Pool,
  config: AuditConfig,
  log: Logger,
  options: CheckpointOptions = {},
): Promise<CreatedCheckpoint | null> {
  return signHead(pool, config, log, options, true)
}

async function signHead(
  pool: pg.Pool,
  config: AuditConfig,
  log: Logger,
  options: CheckpointOptions,
  onlyIfHeadMoved: boolean,
): Promise<CreatedCheckpoint | null> {
  const privateKey = signingKeyOf(config)
  // The checkpoint signs the chain as sealed: every entry committed before it was asked for is in it.
  await sealAudit(pool)
  const checkpoint = await withTransaction(
    pool,
    async (client): Promise<SignedCheckpoint | null> => {
      const clock = await lockCheckpointClock(client)
      if (!clock) throw new AuditError('checkpoint_failed', 'no clock row')
      const lastRow = await newestCheckpoint(client)
      const last = lastRow ? fromDbCheckpoint(lastRow) : undefined
      const headDb = await newestRow(client)
      const head = headDb ? fromDbRow(headDb) : undefined
      const anchor = last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH }
      const headSeq = head?.seq ?? 0

      if (onlyIfHeadMoved && headSeq === anchor.seq && (head?.hash ?? anchor.hash) === anchor.hash) return null
      if (headSeq < anchor.seq) {
        throw refuse(log, 'chain_regressed', `the chain head is seq ${headSeq} but checkpoint #${last?.id} covers seq ${anchor.seq}: rows were removed from the end`)
      }
      if (last && last.seq > 0) {
        const atLast = await rowAtSeq(client, last.seq)
        // Absent only when retention pruned exactly up to this checkpoint.
        if (atLast) {
          const row = fromDbRow(atLast)
          if (row.hash !== last.hash || computeHash(row, row.prev_hash) !== row.hash) {
            throw refuse(log, 'chain_invalid', `row ${last.seq} no longer matches checkpoint #${last.id}: it was changed after it was signed`)
          }
        }
      }
      const problem = await verifySegment(client, anchor, headSeq)
      if (problem) throw refuse(log, 'chain_invalid', `${problem.reason} at seq ${problem.firstBadSeq}: ${problem.message}`, problem)

      const signed = signCheckpoint(
        {
          type: CHECKPOINT_TYPE,
          id: (last?.id ?? 0) + 1,
          created_at: clock.now_at,
          seq: headSeq,
          hash: head?.hash ?? anchor.hash,
          occurred_at: head?.occurred_at ?? null,
          count: headSeq - anchor.seq,
          previous_signature: last?.signature ?? null,
          key_id: keyId(privateKey),
        },
        privateKey,
      )
      await storeCheckpoint(client, signed)
      return signed
    },
    'readCommitted',
  )
  if (!checkpoint) return null

  const published = await publishCheckpoint(checkpoint, config, log, options)
  log.info(
    { checkpointId: checkpoint.id, seq: checkpoint.seq, count: checkpoint.count, keyId: checkpoint.key_id, published },
    'audit checkpoint signed',
  )
  return { checkpoint, published }
}

function refuse(log: Logger, code: string, message: string, details?: unknown): AuditError {
  log.error({ code, details }, `audit checkpoint refused: ${message}`)
  return new AuditError(code, `refusing to sign a checkpoint: ${message}`, { status: 409, details })
}

/** Standard Webhooks signature: base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` with the decoded secret. */
export function standardWebhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', webhookSecretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

async function publishCheckpoint(
  checkpoint: SignedCheckpoint,
  config: AuditConfig,
  log: Logger,
  options: CheckpointOptions,
): Promise<CreatedCheckpoint['published']> {
  const published: CreatedCheckpoint['published'] = {}
  const { file, webhookUrl, webhookSecret } = config.publish
  if (file !== undefined) {
    try {
      // One write of one line with O_APPEND: concurrent publishers do not interleave within a line.
      await appendFile(file, `${JSON.stringify(checkpoint)}\n`, { encoding: 'utf8', flag: 'a' })
      published.file = { ok: true }
    } catch (err) {
      published.file = { ok: false, error: (err as Error).message }
      log.error({ checkpointId: checkpoint.id, file, err: (err as Error).message }, 'audit checkpoint could not be written to the publish file')
    }
  }
  if (webhookUrl !== undefined && webhookSecret !== undefined) {
    const body = JSON.stringify({ type: 'audit.checkpoint_created', timestamp: checkpoint.created_at, data: checkpoint })
    // Stable across retries of the same checkpoint, so receivers can deduplicate on it.
    const id = `msg_cp${checkpoint.id}_${createHash('sha256').update(checkpoint.signature).digest('hex').slice(0, 16)}`
    const timestamp = Math.floor(Date.now() / 1000)
    try {
      const response = await (options.fetch ?? fetch)(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': standardWebhookSignature(webhookSecret.reveal(), id, timestamp, body),
        },
        body,
        // Standard Webhooks: 3xx is a failure, never followed.
        redirect: 'manual',
        signal: AbortSignal.timeout(options.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_MS),
      })
      await response.body?.cancel()
      if (response.status >= 200 && response.status < 300) published.webhook = { ok: true }
      else published.webhook = { ok: false, error: `HTTP ${response.status}` }
    } catch (err) {
      published.webhook = { ok: false, error: (err as Error).message }
    }
    if (!published.webhook.ok) {
      log.error({ checkpointId: checkpoint.id, error: published.webhook.error }, 'audit checkpoint webhook delivery failed')
    }
  }
  if (config.publish.objectStore !== undefined) {
    const outcome = await publishToObjectStore(checkpoint, config.publish.objectStore)
    published.objectStore = outcome.ok ? { ok: true } : { ok: false, error: outcome.error }
    if (!outcome.ok) log.error({ checkpointId: checkpoint.id, key: outcome.key, error: outcome.error }, 'audit checkpoint could not be put in the object store')
  }
  return published
}

export interface CheckpointPage {
  checkpoints: SignedCheckpoint[]
  nextCursor: string | null
}

/** Stored checkpoints, oldest first. */
export async function listCheckpoints(pool: pg.Pool, options: { cursor?: string; limit?: number } = {}): Promise<CheckpointPage> {
  const after = options.cursor === undefined ? 0 : decodeCursor(options.cursor)
  const limit = options.limit ?? 100
  const rows = await checkpointsAfter(pool, after, limit + 1)
  const checkpoints = rows.slice(0, limit).map(fromDbCheckpoint)
  const last = checkpoints.at(-1)
  return { checkpoints, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null }
}
