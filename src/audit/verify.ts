/**
 * verifyAudit(): recompute the whole chain in the database, in one REPEATABLE READ snapshot,
 * streaming rows through a cursor (memory stays flat however long the log is), and check every
 * checkpoint's signature and position. verifyExport(): the same for an exported range, offline.
 */
import type pg from 'pg'
import { z } from 'zod'
import {
  ChainWalker,
  CheckpointMatcher,
  checkCheckpointChain,
  diagnose,
  failure,
  type Anomaly,
  type ChainLookup,
  type VerifyFailure,
  type VerifyOk,
  type VerifyResult,
} from './chain.ts'
import {
  checkpointPayloadBytes,
  fromDbCheckpoint,
  signedCheckpointSchema,
  trustedKeys,
  type SignedCheckpoint,
} from './checkpoint-format.ts'
import { AuditError } from './errors.ts'
import type { PublicKeyInput } from './keys.ts'
import { ACTOR_TYPES, GENESIS_HASH, type AuditRow, type JsonObject } from './record.ts'
import { fromDbRow, toSafeInteger } from './rows.ts'
import { sealAudit } from './sealer.ts'
import { firstStoredSeq, newestRow, pendingCount, prunedTombstones, rowAtSeq, rowsWithHash, rowsWithPrevHash, storedCheckpoints, streamRowRange, streamRowsFrom } from './store.ts'
import { withTransaction } from '../db/pool.ts'

export interface VerifyAuditOptions {
  /** The checkpoint public key(s): SPKI PEM, base64 raw key or KeyObject; several during a key rotation. */
  publicKey: PublicKeyInput | PublicKeyInput[]
  /**
   * Checkpoints as published outside the database (the JSON lines of the publish file, or what a
   * webhook receiver stored). Each must be present, identical, in the database.
   */
  publishedCheckpoints?: unknown[]
  /**
   * Seal every committed entry before reading (default true). A seal that fails (a sealer of
   * another process stuck, an entry that cannot be chained) does not stop verification: the
   * entries left pending are counted in the result.
   */
  seal?: boolean
}

function parseCheckpoints(items: unknown[], what: string): SignedCheckpoint[] {
  return items.map((item, index) => {
    const parsed = signedCheckpointSchema.safeParse(item)
    if (!parsed.success) {
      throw new AuditError('checkpoint_invalid', `${what} ${index} is not a checkpoint: ${z.prettifyError(parsed.error)}`, {
        status: 400,
        details: parsed.error.issues,
      })
    }
    return parsed.data
  })
}

function dbLookup(client: pg.PoolClient): ChainLookup {
  return {
    byHash: async (hash) => (await rowsWithHash(client, hash)).map(fromDbRow),
    byPrevHash: async (prevHash) => (await rowsWithPrevHash(client, prevHash)).map(fromDbRow),
  }
}

/**
 * Every published checkpoint must be stored, identical. One that is missing is told apart by
 * what the rows show: a log that now ends before its seq lost its newest rows (and the
 * checkpoints over them) together, the deletion no stored checkpoint can show and publishing is for.
 */
async function comparePublished(client: pg.PoolClient, published: SignedCheckpoint[], stored: SignedCheckpoint[]): Promise<VerifyFailure | null> {
  const byId = new Map(stored.map((cp) => [cp.id, cp]))
  for (const p of [...published].sort((a, b) => a.id - b.id)) {
    const s = byId.get(p.id)
    if (!s) {
      const headDb = await newestRow(client)
      const headSeq = headDb ? fromDbRow(headDb).seq : 0
      if (headSeq < p.seq) {
        return failure(
          'deleted',
          headSeq + 1,
          `published checkpoint #${p.id} (signed ${p.created_at}) covers rows up to seq ${p.seq}, but the log ends at ${headSeq} and the checkpoint is missing from the database: rows ${headSeq + 1}..${p.seq} were removed from the end`,
        )
      }
      const atDb = await rowAtSeq(client, p.seq)
      if (atDb && fromDbRow(atDb).hash !== p.hash) {
        return failure(
          'checkpoint_mismatch',
          p.seq,
          `published checkpoint #${p.id} is missing from the database and row ${p.seq} no longer has the hash it signed: the rows up to it were rewritten or removed and written again`,
        )
      }
      return failure('checkpoint_mismatch', p.seq, `published checkpoint #${p.id} (seq ${p.seq}) is missing from the database`)
    }
    if (s.signature !== p.signature || !checkpointPayloadBytes(s).equals(checkpointPayloadBytes(p))) {
      return failure('checkpoint_mismatch', p.seq, `the database's checkpoint #${p.id} differs from the published one`)
    }
  }
  return null
}

const count = (n: number) => n.toLocaleString('en-US')

/** What a successful verification says, including how much of the chain signed checkpoints cover. */
function ok(walker: ChainWalker, checkpoints: readonly SignedCheckpoint[], newestSeq: number, pending = 0): VerifyOk {
  const head = walker.head
  const uncheckpointed = Math.max(0, head.seq - Math.max(newestSeq, walker.anchor.seq))
  const covered = walker.count - uncheckpointed
  const newest = checkpoints.reduce<SignedCheckpoint | null>((a, c) => (a === null || c.id > a.id ? c : a), null)
  const coverage = checkpoints.length === 0 || (walker.count > 0 && covered === 0) ? 'none' : uncheckpointed > 0 ? 'partial' : 'full'
  const signed = `${count(checkpoints.length)} signed checkpoint${checkpoints.length === 1 ? '' : 's'}`
  const summary =
    coverage === 'none'
      ? `chain intact, but no entry is covered by a signed checkpoint (${signed}${newest ? `, the newest at ${newest.created_at}` : ''}): ` +
        `the ${count(walker.count)} entries are only hash-chained, which does not show a rewrite of the whole log by someone with database access`
      : `chain intact; ${count(covered)} of ${count(walker.count)} entries covered by ${signed}; last checkpoint ${newest!.created_at}`
  const unsealed = pending > 0 ? `; ${count(pending)} ${pending === 1 ? 'entry' : 'entries'} committed but not yet sealed into the chain` : ''
  return {
    ok: true as const,
    count: walker.count,
    head,
    checkpoints: checkpoints.length,
    anchor: walker.anchor,
    uncheckpointed,
    covered,
    coverage,
    newestCheckpoint: newest ? { id: newest.id, seq: newest.seq, createdAt: newest.created_at } : null,
    pending,
    summary: summary + unsealed,
  }
}

async function verifyOnClient(client: pg.PoolClient, keys: ReturnType<typeof trustedKeys>, published: SignedCheckpoint[]): Promise<VerifyResult> {
  const stored = (await storedCheckpoints(client)).map(fromDbCheckpoint)
  const checkpointProblem =
    checkCheckpointChain(published, keys, false) ?? (await comparePublished(client, published, stored)) ?? checkCheckpointChain(stored, keys, true)
  if (checkpointProblem) return checkpointProblem

  const first = await firstStoredSeq(client)
  const firstSeq = first == null ? null : toSafeInteger(first, 'first seq')
  let anchor = { seq: 0, hash: GENESIS_HASH }
  if (firstSeq !== null && firstSeq > 1) {
    // Rows before firstSeq are gone. That is retention only if a signed checkpoint pins the last
    // pruned row and a tombstone in the (still verified) chain records the pruning.
    const through = firstSeq - 1
    const tombs = (await prunedTombstones(client))
      .map((t) => Number(t.through_seq))
      .filter((n) => Number.isSafeInteger(n))
    const cp = stored.find((c) => c.seq === through)
    if (!cp || !tombs.includes(through)) {
      const legit = tombs.filter((n) => n < through && stored.some((c) => c.seq === n))
      const from = (legit.length > 0 ? Math.max(...legit) : 0) + 1
      return failure(
        'deleted',
        from,
        `rows ${from}..${through} are missing and no ${cp ? 'audit.pruned record' : 'signed checkpoint'} accounts for their removal`,
      )
    }
    anchor = { seq: through, hash: cp.hash }
  }

  const matcher = new CheckpointMatcher(stored)
  const atAnchor = matcher.atAnchor(anchor)
  if (atAnchor) return atAnchor
  const walker = new ChainWalker(anchor)
  const stream = streamRowsFrom(client, firstSeq ?? 1)
  let anomaly: Anomaly | null = null
  for await (const dbRow of stream) {
    const row = fromDbRow(dbRow)
    anomaly = walker.push(row)
    if (anomaly) break
    const mismatch = matcher.onRow(row)
    if (mismatch) return mismatch
  }
  // After the loop: leaving it closed the cursor, so the look-ups can use the same client and snapshot.
  if (anomaly) return diagnose(anomaly, dbLookup(client))
  return matcher.atEnd(walker.head.seq) ?? ok(walker, stored, matcher.newestSeq, await pendingCount(client))
}

/**
 * Verify the rows after `anchor` up to and including `throughSeq` (checkpointing and pruning
 * check the stretch they are about to sign or delete). Runs on the caller's client and snapshot.
 */
export async function verifySegment(
  client: pg.PoolClient,
  anchor: { seq: number; hash: string },
  throughSeq: number,
): Promise<VerifyFailure | null> {
  const walker = new ChainWalker(anchor)
  const stream = streamRowRange(client, anchor.seq, throughSeq)
  let anomaly: Anomaly | null = null
  for await (const dbRow of stream) {
    anomaly = walker.push(fromDbRow(dbRow))
    if (anomaly) break
  }
  if (anomaly) return diagnose(anomaly, dbLookup(client))
  if (walker.head.seq !== throughSeq) {
    return failure('deleted', walker.head.seq + 1, `rows ${walker.head.seq + 1}..${throughSeq} are missing`)
  }
  return null
}

/**
 * Verify the audit log in the database: every row's hash and link from genesis (or from the
 * checkpoint retention pruned up to), every checkpoint's signature and chain, every checkpoint
 * against the row it names, and the published checkpoints against the stored ones.
 */
export async function verifyAudit(pool: pg.Pool, options: VerifyAuditOptions): Promise<VerifyResult> {
  const keys = trustedKeys(options.publicKey)
  const published = parseCheckpoints(options.publishedCheckpoints ?? [], 'published checkpoint')
  // Every entry committed before verification was asked for is chained first; what is still
  // pending in the snapshot is reported (VerifyOk.pending), also when the seal failed.
  if (options.seal !== false) await sealAudit(pool).catch(() => undefined)
  // One snapshot for checkpoints and rows: appends during a long verification are not seen
  // half-way, and a checkpoint created meanwhile cannot point past the rows we read.
  return withTransaction(pool, (client) => verifyOnClient(client, keys, published), 'repeatableReadOnly')
}

const iso = z.string().min(1)
const nullableText = z.string().nullable()

/** One exported line (src/audit/record.ts AuditRow). */
export const auditRowSchema = z.object({
  seq: z.number().int().positive(),
  occurred_at: iso,
  actor: z.object({ type: z.enum(ACTOR_TYPES), id: z.string() }),
  action: z.string(),
  subject: z.object({ employee_id: nullableText, system: nullableText, account_id: nullableText }),
  correlation_id: nullableText,
  details: z.record(z.string(), z.unknown()).transform((d) => d as JsonObject),
  prev_hash: z.string(),
  hash: z.string(),
})

function parseLine(line: string | AuditRow, lineNo: number): AuditRow | undefined {
  let value: unknown = line
  if (typeof line === 'string') {
    if (line.trim() === '') return undefined
    try {
      value = JSON.parse(line)
    } catch (err) {
      throw new AuditError('export_line_invalid', `line ${lineNo} is not JSON: ${(err as Error).message}`, { status: 400 })
    }
  }
  const parsed = auditRowSchema.safeParse(value)
  if (!parsed.success) {
    throw new AuditError('export_line_invalid', `line ${lineNo} is not an audit row: ${z.prettifyError(parsed.error)}`, {
      status: 400,
      details: parsed.error.issues,
    })
  }
  return parsed.data
}

/** Rows kept for diagnosing a failure in an export (the ones before it; the rest are read on failure). */
const EXPORT_LOOKBACK_ROWS = 10_000

function memoryLookup(rows: AuditRow[]): ChainLookup {
  return {
    byHash: async (hash) => rows.filter((r) => r.hash === hash),
    byPrevHash: async (prevHash) => rows.filter((r) => r.prev_hash === prevHash),
  }
}

export interface VerifyExportOptions {
  /** Further checkpoints inside the exported range (e.g. the newest one) to match against the rows. */
  checkpoints?: unknown[]
}

/**
 * Verify an exported, contiguous range of rows (NDJSON lines or parsed rows, in seq order)
 * offline: `checkpoint` is the signed checkpoint the range starts after (null for a range that
 * starts at seq 1). A filtered export (one employee) has gaps by design and reports 'deleted':
 * a hash chain proves contiguous ranges only.
 */
export async function verifyExport(
  lines: Iterable<string | AuditRow> | AsyncIterable<string | AuditRow>,
  publicKey: PublicKeyInput | PublicKeyInput[],
  checkpoint: SignedCheckpoint | null,
  options: VerifyExportOptions = {},
): Promise<VerifyResult> {
  const keys = trustedKeys(publicKey)
  const start = checkpoint === null ? [] : parseCheckpoints([checkpoint], 'starting checkpoint')
  const others = parseCheckpoints(options.checkpoints ?? [], 'checkpoint')
  const all = [...start, ...others]
  const chainProblem = checkCheckpointChain(all, keys, false)
  if (chainProblem) return chainProblem

  const anchor = start[0] ? { seq: start[0].seq, hash: start[0].hash } : { seq: 0, hash: GENESIS_HASH }
  const matcher = new CheckpointMatcher(all)
  const atAnchor = matcher.atAnchor(anchor)
  if (atAnchor) return atAnchor
  const walker = new ChainWalker(anchor)
  // A ring of the rows before a failure, for diagnose(); memory stays bounded on success.
  const recent: AuditRow[] = []
  let ringPos = 0
  const iterator = (Symbol.asyncIterator in lines ? lines[Symbol.asyncIterator]() : lines[Symbol.iterator]()) as
    | AsyncIterator<string | AuditRow>
    | Iterator<string | AuditRow>
  let lineNo = 0
  while (true) {
    const next = await iterator.next()
    if (next.done) break
    lineNo += 1
    const row = parseLine(next.value, lineNo)
    if (!row) continue
    const anomaly = walker.push(row)
    if (anomaly) {
      const rest: AuditRow[] = [row]
      while (true) {
        const more = await iterator.next()
        if (more.done) break
        lineNo += 1
        const parsed = parseLine(more.value, lineNo)
        if (parsed) rest.push(parsed)
      }
      return diagnose(anomaly, memoryLookup([...recent.slice(ringPos), ...recent.slice(0, ringPos), ...rest]))
    }
    const mismatch = matcher.onRow(row)
    if (mismatch) return mismatch
    if (recent.length < EXPORT_LOOKBACK_ROWS) recent.push(row)
    else {
      recent[ringPos] = row
      ringPos = (ringPos + 1) % EXPORT_LOOKBACK_ROWS
    }
  }
  return matcher.atEnd(walker.head.seq) ?? ok(walker, all, matcher.newestSeq)
}
