/**
 * Every SQL statement of the audit module (the repository; pg-boss's plans.ts shape inside: each
 * statement is a function returning its text, and the exported functions run them on a
 * Queryable, the pool or a client in the caller's transaction, and return typed rows). DDL lives
 * in migrations/0002_audit.sql and 0028_audit_pending.sql. The chain lock (advisory key 7402519401) is
 * taken only inside the SQL functions audit_chain_head(), audit_seal_pending() and audit_prune_before().
 */
import type pg from 'pg'
import QueryStream from 'pg-query-stream'
import type { Queryable } from '../db/pool.ts'
import type { DbAuditRow } from './rows.ts'
import type { DbCheckpointRow } from './checkpoint-format.ts'
import { decodeCursor } from './cursor.ts'
import { AuditError } from './errors.ts'
import type { AuditFilters } from './query.ts'

/** Serialises checkpoint creation, so two schedulers cannot fork the checkpoint chain. */
export const CHECKPOINT_LOCK_KEY = 7_402_519_402

/**
 * Columns of an AuditRow. bigint columns are NOT cast to text: an alias named like the column
 * would make `ORDER BY seq` sort the text ("10" before "2"). node-pg returns int8 as a string
 * unless a parser is installed; toSafeInteger() takes either. occurred_at is formatted by PostgreSQL with microseconds: a row
 * written by Tenure always ends in "000", and anything else means the value was edited.
 */
const ROW_COLUMNS = `seq,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details, prev_hash, hash`

const CHECKPOINT_COLUMNS = `id,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
  seq, hash,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  count, previous_signature, key_id, signature`

/** Takes the chain lock and reads the head (one round trip; see audit_chain_head() in the migration). */
const chainHead = () => 'SELECT head_seq::text AS head_seq, head_hash, now_at, xact_id FROM audit_chain_head()'

/**
 * A writer's entries, queued for the sealer (migrations/0028_audit_pending.sql). No lock and no
 * head: one INSERT in the writer's transaction. occurred_at is statement_timestamp(), one value for
 * the entries of one call.
 */
const insertPending = () => `
  INSERT INTO audit_pending (occurred_at, actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details)
  SELECT date_trunc('milliseconds', statement_timestamp()), e.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                       $6::text[], $7::text[], $8::jsonb[]) AS e`

/**
 * Pending rows in sealing order, with occurred_at formatted as it is hashed (milliseconds, UTC).
 * ORDER BY p.id, qualified: a bare `id` would name the text alias and sort "10" before "9".
 */
const selectPending = () => `
  SELECT p.id::text AS id, to_char(p.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at,
         p.actor_type, p.actor_id, p.action, p.employee_id, p.system, p.account_id, p.correlation_id, p.details
  FROM audit_pending p ORDER BY p.id LIMIT $1`

const anyPending = () => 'SELECT EXISTS (SELECT 1 FROM audit_pending) AS pending'
const countPending = () => 'SELECT count(*)::int AS n FROM audit_pending'
const sealPending = () => 'SELECT audit_seal_pending($1::bigint[], $2::bigint[], $3::text[], $4::text[])::text AS sealed'

const selectAllRows = (fromSeq: number) => ({
  text: `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq`,
  values: [fromSeq],
})

const selectRowRange = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq`

/** Diagnosis only (after verification already failed): plain scans are fine there. */
const selectRowsByHash = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE hash = $1 ORDER BY seq`
const selectRowsByPrevHash = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE prev_hash = $1 ORDER BY seq`

/** The first stored seq (above 1 after retention), or null for an empty log. */
const chainBounds = () => 'SELECT min(seq)::text AS first_seq FROM audit_events'

const headRow = () => `SELECT ${ROW_COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT 1`
const rowAt = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq = $1`

/** `throughSeq` of every tombstone: few rows, found through the action index. */
const tombstones = () => `
  SELECT seq, details ->> 'throughSeq' AS through_seq
  FROM audit_events WHERE action = 'audit.pruned' ORDER BY seq`

const allCheckpoints = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id`
const lastCheckpoint = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1`
const checkpointAtSeq = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq = $1 ORDER BY id LIMIT 1`
const checkpointPage = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2`

/** The newest checkpoint whose head row is at least `cutoff` old: retention may prune up to it. */
const newestCheckpointBefore = () => `
  SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints
  WHERE occurred_at IS NOT NULL AND occurred_at <= $1 ORDER BY seq DESC, id DESC LIMIT 1`

const checkpointClock = () =>
  `SELECT pg_advisory_xact_lock(${CHECKPOINT_LOCK_KEY}),
          to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now_at`

const insertCheckpoint = () => `
  INSERT INTO audit_checkpoints (id, created_at, seq, hash, occurred_at, count, previous_signature, key_id, signature)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

const pruneBefore = () => 'SELECT audit_prune_before($1, $2::jsonb)::text AS deleted'

// ---------------------------------------------------------------------------------------------
// the chain

export interface ChainHeadRow {
  head_seq: string
  head_hash: string
  now_at: string
  xact_id: string
}

/**
 * Takes the chain lock and reads the head. `prepared`: as a named statement (prepared once per
 * connection), for the writer's hot path where every other writer waits.
 */
export async function lockChainHead(db: Queryable, prepared = false): Promise<ChainHeadRow | undefined> {
  const { rows } = prepared ? await db.query<ChainHeadRow>({ name: 'tenure_audit_chain_head', text: chainHead() }) : await db.query<ChainHeadRow>(chainHead())
  return rows[0]
}

/** The content columns of a batch of pending entries, one array per column, in insertPending()'s order. */
export interface PendingColumns {
  actorType: string[]
  actorId: string[]
  action: string[]
  employeeId: Array<string | null>
  system: Array<string | null>
  accountId: Array<string | null>
  correlationId: Array<string | null>
  details: string[]
}

/** Queue entries for the sealer (named statement: the writers' hot path). Sent before this returns. */
export function insertPendingBatch(db: Queryable, c: PendingColumns): Promise<pg.QueryResult> {
  return db.query({ name: 'tenure_audit_insert_pending', text: insertPending() }, [
    c.actorType,
    c.actorId,
    c.action,
    c.employeeId,
    c.system,
    c.accountId,
    c.correlationId,
    c.details,
  ])
}

/** A pending row as the sealer reads it: an audit row before the sealer gives it seq and hashes. */
export type DbPendingRow = Omit<DbAuditRow, 'seq' | 'prev_hash' | 'hash'> & { id: string }

/** The oldest `limit` pending rows (sealing order). Sent before this returns. */
export function pendingRows(db: Queryable, limit: number): Promise<pg.QueryResult<DbPendingRow>> {
  return db.query<DbPendingRow>({ name: 'tenure_audit_pending_rows', text: selectPending() }, [limit])
}

/** The sealer's transaction control, sent pipelined by src/audit/sealer.ts (READ COMMITTED: audit_chain_head() requires it). */
export function beginSealing(db: Queryable): Promise<unknown> {
  return db.query('BEGIN ISOLATION LEVEL READ COMMITTED')
}
export function commitSealing(db: Queryable): Promise<unknown> {
  return db.query('COMMIT')
}
export function rollbackSealing(db: Queryable): Promise<unknown> {
  return db.query('ROLLBACK')
}

/** Whether any entry waits to be sealed: the backstop's one indexed read when nothing does. */
export async function hasPending(db: Queryable): Promise<boolean> {
  return (await db.query<{ pending: boolean }>(anyPending())).rows[0]?.pending === true
}

/** Entries committed and not yet sealed, as this snapshot sees them. */
export async function pendingCount(db: Queryable): Promise<number> {
  return (await db.query<{ n: number }>(countPending())).rows[0]?.n ?? 0
}

/** Move pending rows into the chain (audit_seal_pending()); the caller holds the chain lock. Sent before this returns. */
export function sealPendingRows(db: Queryable, ids: string[], seqs: number[], prevHashes: string[], hashes: string[]): Promise<pg.QueryResult<{ sealed: string }>> {
  return db.query<{ sealed: string }>(sealPending(), [ids, seqs, prevHashes, hashes])
}

/** Every row from `fromSeq` on, through a server-side cursor (memory stays flat). */
export function streamRowsFrom(client: pg.PoolClient, fromSeq: number): AsyncIterable<DbAuditRow> {
  const query = selectAllRows(fromSeq)
  return client.query(new QueryStream(query.text, query.values, { batchSize: 1000 }))
}

/** Rows after `afterSeq` up to and including `throughSeq`, through a server-side cursor. */
export function streamRowRange(client: pg.PoolClient, afterSeq: number, throughSeq: number): AsyncIterable<DbAuditRow> {
  return client.query(new QueryStream(selectRowRange(), [afterSeq, throughSeq], { batchSize: 1000 }))
}

export async function rowsWithHash(db: Queryable, hash: string): Promise<DbAuditRow[]> {
  return (await db.query<DbAuditRow>(selectRowsByHash(), [hash])).rows
}

export async function rowsWithPrevHash(db: Queryable, prevHash: string): Promise<DbAuditRow[]> {
  return (await db.query<DbAuditRow>(selectRowsByPrevHash(), [prevHash])).rows
}

/** The first stored seq (as text), or null for an empty log. */
export async function firstStoredSeq(db: Queryable): Promise<string | null | undefined> {
  return (await db.query<{ first_seq: string | null }>(chainBounds())).rows[0]?.first_seq
}

export async function newestRow(db: Queryable): Promise<DbAuditRow | undefined> {
  return (await db.query<DbAuditRow>(headRow())).rows[0]
}

export async function rowAtSeq(db: Queryable, seq: number): Promise<DbAuditRow | undefined> {
  return (await db.query<DbAuditRow>(rowAt(), [seq])).rows[0]
}

/** Every audit.pruned row with the seq it pruned through. */
export async function prunedTombstones(db: Queryable): Promise<Array<{ seq: string | number; through_seq: string | null }>> {
  return (await db.query<{ seq: string | number; through_seq: string | null }>(tombstones())).rows
}

/** Delete rows through `throughSeq` and append the tombstone (audit_prune_before()); returns how many were deleted, as text. */
export async function pruneThrough(db: Queryable, throughSeq: number, tombstone: unknown): Promise<string | undefined> {
  return (await db.query<{ deleted: string }>(pruneBefore(), [throughSeq, JSON.stringify(tombstone)])).rows[0]?.deleted
}

// ---------------------------------------------------------------------------------------------
// checkpoints

export async function storedCheckpoints(db: Queryable): Promise<DbCheckpointRow[]> {
  return (await db.query<DbCheckpointRow>(allCheckpoints())).rows
}

export async function newestCheckpoint(db: Queryable): Promise<DbCheckpointRow | undefined> {
  return (await db.query<DbCheckpointRow>(lastCheckpoint())).rows[0]
}

export async function checkpointCovering(db: Queryable, seq: number): Promise<DbCheckpointRow | undefined> {
  return (await db.query<DbCheckpointRow>(checkpointAtSeq(), [seq])).rows[0]
}

/** Checkpoints after id `after`, oldest first, at most `limit`. */
export async function checkpointsAfter(db: Queryable, after: number, limit: number): Promise<DbCheckpointRow[]> {
  return (await db.query<DbCheckpointRow>(checkpointPage(), [after, limit])).rows
}

/** The newest checkpoint whose head row is at least `cutoff` old. */
export async function newestCheckpointAtOrBefore(db: Queryable, cutoff: Date): Promise<DbCheckpointRow | undefined> {
  return (await db.query<DbCheckpointRow>(newestCheckpointBefore(), [cutoff])).rows[0]
}

/** Takes the checkpoint lock (to the end of the transaction) and reads the clock. */
export async function lockCheckpointClock(db: Queryable): Promise<{ now_at: string } | undefined> {
  return (await db.query<{ now_at: string }>(checkpointClock())).rows[0]
}

export async function storeCheckpoint(
  db: Queryable,
  cp: { id: number; created_at: string; seq: number; hash: string; occurred_at: string | null; count: number; previous_signature: string | null; key_id: string; signature: string },
): Promise<void> {
  await db.query(insertCheckpoint(), [cp.id, cp.created_at, cp.seq, cp.hash, cp.occurred_at, cp.count, cp.previous_signature, cp.key_id, cp.signature])
}

// ---------------------------------------------------------------------------------------------
// reading the log (src/audit/query.ts)

/** Tenure ids named by `p`: the id itself (rows about an employee since deleted keep it), an HR employee id, an e-mail. */
const EMPLOYEE_IDS = (p: string) => `SELECT ${p}::text UNION SELECT id::text FROM employees WHERE external_id = ${p}::text OR lower(email) = lower(${p}::text)`

/** The Tenure ids an `employee` filter matches. */
export async function employeeIdsNamed(db: Queryable, employee: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM employees WHERE id::text = $1 OR external_id = $1 OR lower(email) = lower($1) ORDER BY id`,
    [employee],
  )
  return rows.map((r) => r.id)
}

function toDate(value: Date | string, name: string): Date {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) throw new AuditError('invalid_filter', `${name} is not a date`, { status: 400, details: { [name]: value } })
  return date
}

/** The statement for rows matching `filters`, ordered by seq, after the cursor, at most `limit`. */
export function eventsQuery(filters: AuditFilters, limit: number | undefined): { text: string; values: unknown[] } {
  const where: string[] = []
  const values: unknown[] = []
  const add = (clause: (p: string) => string, value: unknown) => {
    values.push(value)
    where.push(clause(`$${values.length}`))
  }
  const order = filters.order ?? 'asc'
  if (filters.from !== undefined) add((p) => `occurred_at >= ${p}`, toDate(filters.from, 'from'))
  if (filters.to !== undefined) add((p) => `occurred_at < ${p}`, toDate(filters.to, 'to'))
  if (filters.employeeId !== undefined) add((p) => `employee_id = ${p}`, filters.employeeId)
  if (filters.system !== undefined) add((p) => `system = ${p}`, filters.system)
  if (filters.employee !== undefined) add((p) => `employee_id IN (${EMPLOYEE_IDS(p)})`, filters.employee)
  if (filters.actorId !== undefined) add((p) => `actor_id = ${p}`, filters.actorId)
  if (filters.correlationId !== undefined) add((p) => `correlation_id = ${p}`, filters.correlationId)
  if (filters.action !== undefined) {
    if (filters.action.endsWith('.*')) {
      const prefix = filters.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)
      add((p) => `action LIKE ${p}`, `${prefix}%`)
    } else {
      add((p) => `action = ${p}`, filters.action)
    }
  }
  if (filters.cursor !== undefined) {
    const after = decodeCursor(filters.cursor)
    add((p) => (order === 'asc' ? `seq > ${p}` : `seq < ${p}`), after)
  }
  let text = `SELECT ${ROW_COLUMNS} FROM audit_events`
  if (where.length > 0) text += ` WHERE ${where.join(' AND ')}`
  text += ` ORDER BY seq ${order === 'asc' ? 'ASC' : 'DESC'}`
  if (limit !== undefined) {
    values.push(limit)
    text += ` LIMIT $${values.length}`
  }
  return { text, values }
}

export async function eventRows(db: Queryable, query: { text: string; values: unknown[] }): Promise<DbAuditRow[]> {
  return (await db.query<DbAuditRow>(query.text, query.values)).rows
}

/** The same rows through a server-side cursor (QueryStream), for exports of any size. */
export function streamEventRows(client: pg.PoolClient, query: { text: string; values: unknown[] }): QueryStream {
  return client.query(new QueryStream(query.text, query.values, { batchSize: 500 }))
}

// ---------------------------------------------------------------------------------------------
// reads for the API

/** Calls answered 429 in the last hour, per system. */
export async function rateLimitedCallsLastHour(db: Queryable): Promise<Array<{ system: string; n: number }>> {
  const limited = await db.query<{ system: string; n: number }>(
    `SELECT system, count(*)::int AS n FROM audit_events WHERE action = 'target.api_called' AND (details->>'status') = '429' AND occurred_at > now() - interval '1 hour' GROUP BY system`,
  )
  return limited.rows
}

/** An employee's newest 500 audit rows, newest first (the timeline). */
export async function auditEventsOfEmployee(
  db: Queryable,
  employeeId: string,
): Promise<Array<{ seq: number; occurred_at: Date; action: string; system: string | null; actor_type: string; actor_id: string; details: Record<string, unknown> }>> {
  const audit = await db.query<{ seq: number; occurred_at: Date; action: string; system: string | null; actor_type: string; actor_id: string; details: Record<string, unknown> }>(
    `SELECT seq, occurred_at, action, system, actor_type, actor_id, details FROM audit_events WHERE employee_id = $1 ORDER BY seq DESC LIMIT 500`,
    [employeeId],
  )
  return audit.rows
}

/** A target API call as the audit row records it. */
export interface ApiCallRow {
  occurred_at: Date
  details: { operation?: string; method?: string; path?: string; status?: number | null; errorKind?: string | null }
}

/** The first seq written in the last `days` days (as text), or null: the start of an index-friendly window. */
export async function firstSeqWithinDays(db: Queryable, days: number): Promise<string | null> {
  const windowStart = await db.query<{ seq: string | null }>(`SELECT min(seq)::text AS seq FROM audit_events WHERE occurred_at > now() - make_interval(days => $1)`, [days])
  return windowStart.rows[0]?.seq ?? null
}

/** The system's newest recorded target API call. */
export async function lastApiCall(db: Queryable, system: string): Promise<ApiCallRow | undefined> {
  const last = await db.query<ApiCallRow>(`SELECT occurred_at, details FROM audit_events WHERE system = $1 AND action = 'target.api_called' ORDER BY seq DESC LIMIT 1`, [system])
  return last.rows[0]
}

/** The system's newest failed target API call from `fromSeq` on. */
export async function lastApiError(db: Queryable, system: string, fromSeq: string): Promise<ApiCallRow | undefined> {
  const error = await db.query<ApiCallRow>(
    `SELECT occurred_at, details FROM audit_events
            WHERE system = $1 AND seq >= $2::bigint AND action = 'target.api_called'
              AND ((details->>'errorKind') IS NOT NULL OR (details->>'status') ~ '^[45][0-9][0-9]$')
            ORDER BY seq DESC LIMIT 1`,
    [system, fromSeq],
  )
  return error.rows[0]
}
