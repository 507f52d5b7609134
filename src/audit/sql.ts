/**
 * Every SQL statement of the audit module (pg-boss's plans.ts shape). DDL lives in
 * migrations/0002_audit.sql. The chain lock (advisory key 7402519401) is taken only inside the
 * SQL functions audit_chain_head() and audit_prune_before().
 */

/** Serialises checkpoint creation, so two schedulers cannot fork the checkpoint chain. */
export const CHECKPOINT_LOCK_KEY = 7_402_519_402

/**
 * Columns of an AuditRow. bigint columns are NOT cast to text: an alias named like the column
 * would make `ORDER BY seq` sort the text ("10" before "2"). node-pg returns int8 as a string
 * unless a parser is installed; toSafeInteger() takes either. occurred_at is formatted by PostgreSQL with microseconds: a row
 * written by Tenure always ends in "000", and anything else means the value was edited.
 */
export const ROW_COLUMNS = `seq,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details, prev_hash, hash`

export const CHECKPOINT_COLUMNS = `id,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
  seq, hash,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  count, previous_signature, key_id, signature`

/** Takes the chain lock and reads the head (one round trip; see audit_chain_head() in the migration). */
export const chainHead = () => 'SELECT head_seq::text AS head_seq, head_hash, now_at, xact_id FROM audit_chain_head()'

/**
 * One INSERT for a batch. The xact_id guard makes the insert a no-op when the lock was taken in
 * another transaction (a client in autocommit mode), which appendAudit() reports as an error.
 */
export const insertEvents = () => `
  INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, employee_id, system, account_id,
                            correlation_id, details, prev_hash, hash)
  SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[])
  WHERE pg_current_xact_id() = $13::xid8`

export const selectAllRows = (fromSeq: number) => ({
  text: `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq`,
  values: [fromSeq],
})

export const selectRowRange = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq`

/** Diagnosis only (after verification already failed): plain scans are fine there. */
export const selectRowsByHash = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE hash = $1 ORDER BY seq`
export const selectRowsByPrevHash = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE prev_hash = $1 ORDER BY seq`

/** The first stored seq (above 1 after retention), or null for an empty log. */
export const chainBounds = () => 'SELECT min(seq)::text AS first_seq FROM audit_events'

export const headRow = () => `SELECT ${ROW_COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT 1`
export const rowAt = () => `SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq = $1`

/** `throughSeq` of every tombstone: few rows, found through the action index. */
export const tombstones = () => `
  SELECT seq, details ->> 'throughSeq' AS through_seq
  FROM audit_events WHERE action = 'audit.pruned' ORDER BY seq`

export const allCheckpoints = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id`
export const lastCheckpoint = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1`
export const checkpointAtSeq = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq = $1 ORDER BY id LIMIT 1`
export const checkpointPage = () => `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2`

/** The newest checkpoint whose head row is at least `cutoff` old: retention may prune up to it. */
export const newestCheckpointBefore = () => `
  SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints
  WHERE occurred_at IS NOT NULL AND occurred_at <= $1 ORDER BY seq DESC, id DESC LIMIT 1`

export const checkpointClock = () =>
  `SELECT pg_advisory_xact_lock(${CHECKPOINT_LOCK_KEY}),
          to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now_at`

export const insertCheckpoint = () => `
  INSERT INTO audit_checkpoints (id, created_at, seq, hash, occurred_at, count, previous_signature, key_id, signature)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

export const pruneBefore = () => 'SELECT audit_prune_before($1, $2::jsonb)::text AS deleted'
