/**
 * Chain verification, independent of where rows come from (the database or an export).
 *
 * ChainWalker takes rows in seq order and stops at the first one that does not continue the
 * verified chain. diagnose() then tells what happened there. Each row carries three pieces of
 * evidence: its seq, its prev_hash (the hash of the row it was appended after) and its hash
 * (which covers its seq). Tampering leaves a distinct trace:
 *
 *   deleted    a seq is missing (and the row written with it is nowhere else); or the row at k links to a hash no row has and hashes correctly
 *              only under a higher seq (rows were deleted and the rest renumbered)
 *   reordered  the row at k links to a row that now sits AFTER it (rows were moved), or the
 *              row missing at k turns up later, intact
 *   inserted   the row at k links to a row further back than k-1 (rows were slipped in between),
 *              or the row originally appended after k-1 still exists elsewhere and hashes
 *              correctly as seq k (the row now at k displaced it), or a seq appears twice
 *   edited     the row at k links correctly but its content no longer matches its hash; or it
 *              matches its hash but links to a hash no row has, while row k-1 is intact in place:
 *              row k-1 was rewritten and re-hashed
 *
 * Appending forged rows after the head, or rewriting every row from some point on, leaves a chain
 * that is internally consistent: only signed checkpoints published elsewhere expose that.
 */
import type { SignedCheckpoint, TrustedKeys } from './checkpoint-format.ts'
import { checkpointSignatureProblem } from './checkpoint-format.ts'
import { computeHash, type AuditRow } from './record.ts'

export type TamperReason = 'edited' | 'deleted' | 'reordered' | 'inserted'
export type FailureReason = TamperReason | 'checkpoint_signature_invalid' | 'checkpoint_mismatch'

export interface VerifyFailure {
  ok: false
  /** The first seq at which the problem shows (for checkpoint problems: the checkpoint's seq). */
  firstBadSeq: number
  reason: FailureReason
  message: string
}

export interface VerifyOk {
  ok: true
  /** Rows verified. */
  count: number
  head: { seq: number; hash: string }
  /** Checkpoints whose signature and chain position were verified. */
  checkpoints: number
  /** Where verification started: seq 0 and the genesis hash, or the signed checkpoint that retention pruned up to. */
  anchor: { seq: number; hash: string }
  /** Rows after the newest checkpoint: chained, but not yet covered by a signature. */
  uncheckpointed: number
  /**
   * Verified rows at or before the newest signed checkpoint (count - uncheckpointed). The hash
   * chain alone proves no row was changed in place, not that the whole log was not rewritten by
   * someone with database access: only rows under a signed checkpoint are protected from that.
   */
  covered: number
  /** `full`: every row is under a signed checkpoint; `partial`: the newest rows are not yet; `none`: no row is (no checkpoint at all, or none over these rows). */
  coverage: 'full' | 'partial' | 'none'
  /** The newest signed checkpoint, null when there is none. */
  newestCheckpoint: { id: number; seq: number; createdAt: string } | null
  /**
   * Entries committed by their writers but not yet sealed into the chain when the snapshot was
   * taken (audit_pending; 0 for an export). verifyAudit() seals first, so these were committed
   * while it ran, or a sealer cannot seal them (then they stay pending: the summary says so).
   */
  pending: number
  /** One sentence for people: "chain intact; 1,234 of 1,250 entries covered by 12 signed checkpoints; last checkpoint 2025-…". */
  summary: string
}

export type VerifyResult = VerifyOk | VerifyFailure

export function failure(reason: FailureReason, firstBadSeq: number, message: string): VerifyFailure {
  return { ok: false, firstBadSeq, reason, message }
}

/** Random access used only after verification failed, to classify the failure. */
export interface ChainLookup {
  byHash(hash: string): Promise<AuditRow[]>
  byPrevHash(prevHash: string): Promise<AuditRow[]>
}

export type Anomaly =
  | { kind: 'gap'; expectedSeq: number; prevHash: string; row: AuditRow }
  | { kind: 'duplicate'; row: AuditRow }
  | { kind: 'backwards'; expectedSeq: number; row: AuditRow }
  | { kind: 'broken'; row: AuditRow; prevHash: string; lastVerifiedSeq: number | null }

export class ChainWalker {
  readonly anchor: { seq: number; hash: string }
  #expectedSeq: number
  #prevHash: string
  #lastSeq: number | null = null
  count = 0

  constructor(anchor: { seq: number; hash: string }) {
    this.anchor = anchor
    this.#expectedSeq = anchor.seq + 1
    this.#prevHash = anchor.hash
  }

  /** The last verified row's seq and hash (the anchor before any row). */
  get head(): { seq: number; hash: string } {
    return { seq: this.#expectedSeq - 1, hash: this.#prevHash }
  }

  push(row: AuditRow): Anomaly | null {
    if (this.#lastSeq !== null && row.seq === this.#lastSeq) return { kind: 'duplicate', row }
    if (row.seq > this.#expectedSeq) return { kind: 'gap', expectedSeq: this.#expectedSeq, prevHash: this.#prevHash, row }
    if (row.seq < this.#expectedSeq) return { kind: 'backwards', expectedSeq: this.#expectedSeq, row }
    if (row.prev_hash !== this.#prevHash || computeHash(row, row.prev_hash) !== row.hash) {
      return { kind: 'broken', row, prevHash: this.#prevHash, lastVerifiedSeq: this.#lastSeq }
    }
    this.#lastSeq = row.seq
    this.#expectedSeq = row.seq + 1
    this.#prevHash = row.hash
    this.count += 1
    return null
  }
}

const hashAs = (row: AuditRow, seq: number) => computeHash({ ...row, seq }, row.prev_hash)

/** How many renumbered positions to try when a row's predecessor is gone (a deletion then renumbering). */
const MAX_RENUMBER_SHIFT = 64

export async function diagnose(anomaly: Anomaly, lookup: ChainLookup): Promise<VerifyFailure> {
  const { row } = anomaly
  if (anomaly.kind === 'gap') {
    // The row appended after the last verified one may still exist further on, intact under the
    // seq it was written with (an export with lines out of order, or a row moved past the head).
    const moved = (await lookup.byPrevHash(anomaly.prevHash)).find((s) => hashAs(s, anomaly.expectedSeq) === s.hash)
    if (moved) {
      const where =
        moved.seq === anomaly.expectedSeq
          ? `row ${moved.seq} appears after row ${row.seq}: rows are out of order`
          : `the row written as seq ${anomaly.expectedSeq} now sits at seq ${moved.seq}: rows were moved`
      return failure('reordered', anomaly.expectedSeq, where)
    }
    const last = anomaly.row.seq - 1
    const range = last === anomaly.expectedSeq ? `row ${last} is` : `rows ${anomaly.expectedSeq}..${last} are`
    return failure('deleted', anomaly.expectedSeq, `${range} missing: the chain jumps to seq ${row.seq}`)
  }
  if (anomaly.kind === 'duplicate') {
    return failure('inserted', row.seq, `seq ${row.seq} appears twice: a row was inserted`)
  }
  if (anomaly.kind === 'backwards') {
    return failure('reordered', row.seq, `seq ${row.seq} comes after seq ${anomaly.expectedSeq - 1}: rows are out of order`)
  }

  const k = row.seq
  const { prevHash, lastVerifiedSeq } = anomaly
  const selfConsistent = computeHash(row, row.prev_hash) === row.hash
  const linked = row.prev_hash === prevHash

  let predecessorsElsewhere: AuditRow[] = []
  if (!linked) {
    predecessorsElsewhere = (await lookup.byHash(row.prev_hash)).filter((x) => x.seq !== k)
    const after = predecessorsElsewhere.find((x) => x.seq > k)
    if (after) {
      return failure('reordered', k, `row ${k} was appended after the row now at seq ${after.seq}, which comes later: rows were moved`)
    }
    const before = predecessorsElsewhere.find((x) => x.seq < k - 1)
    if (before) {
      return failure(
        'inserted',
        before.seq + 1,
        `row ${k} was appended after row ${before.seq}: rows ${before.seq + 1}..${k - 1} were inserted in between`,
      )
    }
  }

  // Was the row originally appended after k-1 pushed to another position by the row now at k?
  const displaced = (await lookup.byPrevHash(prevHash)).find((s) => s.seq !== k && hashAs(s, k) === s.hash)
  if (displaced) {
    return failure(
      'inserted',
      k,
      `row ${k} is not the row that was appended after seq ${k - 1}: that row now sits at seq ${displaced.seq}, so a row was inserted at ${k}`,
    )
  }

  if (!linked && !selfConsistent && predecessorsElsewhere.length === 0) {
    for (let shift = 1; shift <= MAX_RENUMBER_SHIFT; shift++) {
      if (hashAs(row, k + shift) === row.hash) {
        const missing = shift === 1 ? `the row originally at seq ${k} was` : `${shift} rows from seq ${k} were`
        return failure('deleted', k, `${missing} deleted and the rows after it renumbered (the row now at ${k} was written as seq ${k + shift})`)
      }
    }
  }

  if (!linked && selfConsistent && lastVerifiedSeq !== null) {
    return failure(
      'edited',
      lastVerifiedSeq,
      `row ${lastVerifiedSeq} was rewritten and its hash recomputed: row ${k} was appended after a row whose hash no longer exists`,
    )
  }
  if (linked) {
    return failure('edited', k, `row ${k} was changed after it was written: its content no longer matches its hash`)
  }
  return failure('edited', k, `row ${k} was changed after it was written: it no longer continues the chain from seq ${k - 1}`)
}

/**
 * Check signatures and the chain of checkpoints. With `complete`, ids must run 1..n (the
 * database's full set); otherwise links are checked only between consecutive ids.
 */
export function checkCheckpointChain(checkpoints: SignedCheckpoint[], keys: TrustedKeys, complete: boolean): VerifyFailure | null {
  const sorted = [...checkpoints].sort((a, b) => a.id - b.id)
  let previous: SignedCheckpoint | undefined
  for (const cp of sorted) {
    const problem = checkpointSignatureProblem(cp, keys)
    if (problem) return failure('checkpoint_signature_invalid', cp.seq, problem)
    const expectedId = previous ? previous.id + 1 : 1
    if (complete && cp.id !== expectedId) {
      return failure('checkpoint_mismatch', cp.seq, `checkpoint #${expectedId} is missing: the stored checkpoints jump to #${cp.id}`)
    }
    if (cp.id === 1 && cp.previous_signature !== null) {
      return failure('checkpoint_mismatch', cp.seq, 'checkpoint #1 names a previous checkpoint')
    }
    if (previous && cp.id === previous.id + 1) {
      if (cp.previous_signature !== previous.signature) {
        return failure('checkpoint_mismatch', cp.seq, `checkpoint #${cp.id} does not chain to checkpoint #${previous.id}: a checkpoint was replaced`)
      }
      if (cp.seq < previous.seq) {
        return failure('checkpoint_mismatch', cp.seq, `checkpoint #${cp.id} has seq ${cp.seq}, behind checkpoint #${previous.id} (${previous.seq})`)
      }
      if (cp.count !== cp.seq - previous.seq) {
        return failure('checkpoint_mismatch', cp.seq, `checkpoint #${cp.id} counts ${cp.count} events but its seq advanced by ${cp.seq - previous.seq}`)
      }
    }
    if (complete && !previous && cp.count !== cp.seq) {
      return failure('checkpoint_mismatch', cp.seq, `checkpoint #1 counts ${cp.count} events but covers seq 1..${cp.seq}`)
    }
    previous = cp
  }
  return null
}

/**
 * Matches checkpoints against rows as the walker accepts them. Checkpoints at or before the
 * anchor (pruned rows) are checked against the anchor where they coincide with it.
 */
export class CheckpointMatcher {
  readonly #bySeq: SignedCheckpoint[]
  #next = 0
  matched = 0

  constructor(checkpoints: SignedCheckpoint[]) {
    this.#bySeq = [...checkpoints].sort((a, b) => a.seq - b.seq || a.id - b.id)
  }

  /** Checkpoints at the anchor must carry the anchor's hash; those before it cover pruned rows. */
  atAnchor(anchor: { seq: number; hash: string }): VerifyFailure | null {
    while (this.#next < this.#bySeq.length) {
      const cp = this.#bySeq[this.#next]!
      if (cp.seq > anchor.seq) break
      if (cp.seq === anchor.seq && cp.hash !== anchor.hash) {
        return failure('checkpoint_mismatch', cp.seq, `checkpoint #${cp.id} says seq ${cp.seq} has hash ${cp.hash.slice(0, 12)}…, the chain starts from ${anchor.hash.slice(0, 12)}…`)
      }
      this.matched += 1
      this.#next += 1
    }
    return null
  }

  onRow(row: AuditRow): VerifyFailure | null {
    while (this.#next < this.#bySeq.length) {
      const cp = this.#bySeq[this.#next]!
      if (cp.seq > row.seq) break
      if (cp.seq === row.seq && (cp.hash !== row.hash || cp.occurred_at !== row.occurred_at)) {
        return failure(
          'checkpoint_mismatch',
          cp.seq,
          `checkpoint #${cp.id} (signed ${cp.created_at}) does not match row ${cp.seq}: the rows up to it were rewritten after it was signed`,
        )
      }
      this.matched += 1
      this.#next += 1
    }
    return null
  }

  /** After the last row: checkpoints beyond it prove rows were removed from the end. */
  atEnd(lastSeq: number): VerifyFailure | null {
    const beyond = this.#bySeq.slice(this.#next).find((cp) => cp.seq > lastSeq)
    if (beyond) {
      return failure(
        'deleted',
        lastSeq + 1,
        `checkpoint #${beyond.id} (signed ${beyond.created_at}) covers rows up to seq ${beyond.seq}, but the log ends at ${lastSeq}: rows were removed from the end`,
      )
    }
    return null
  }

  get newestSeq(): number {
    return this.#bySeq.at(-1)?.seq ?? 0
  }
}
