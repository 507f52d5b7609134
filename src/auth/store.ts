/**
 * Every SQL statement on api_tokens (pg-boss's plans.ts shape inside: each statement is a function
 * returning its text, parameters positional), run by the exported functions on a Queryable (the
 * pool, or a client in the caller's transaction) returning typed rows.
 */
import type { Queryable } from '../db/pool.ts'

export interface TokenRow {
  id: string
  name: string
  role: string
  prefix: string
  secret_sha256: Buffer
  created_by: string
  created_at: Date
  expires_at: Date | null
  revoked_at: Date | null
  revoked_by: string | null
  last_used_at: Date | null
}

const COLUMNS = `id, name, role, prefix, secret_sha256, created_by, created_at, expires_at, revoked_at, revoked_by, last_used_at`

/** $1 id, $2 name, $3 role, $4 prefix, $5 secret_sha256, $6 created_by, $7 created_at, $8 expires_at */
const insertToken = () => `
  INSERT INTO api_tokens (id, name, role, prefix, secret_sha256, created_by, created_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  RETURNING ${COLUMNS}`

/** $1 prefix */
const tokenByPrefix = () => `SELECT ${COLUMNS} FROM api_tokens WHERE prefix = $1`

/** $1 id */
const tokenById = () => `SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`

/**
 * Newest first. $1 include revoked, $2 include expired, $3 now, $4 cursor created_at (nullable),
 * $5 cursor id, $6 limit.
 */
const listTokens = () => `
  SELECT ${COLUMNS} FROM api_tokens
  WHERE ($1::boolean OR revoked_at IS NULL)
    AND ($2::boolean OR expires_at IS NULL OR expires_at > $3)
    AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
  ORDER BY created_at DESC, id DESC
  LIMIT $6`

/** Idempotent: revoking a revoked token keeps the first revocation. $1 id, $2 now, $3 revoked_by */
const revokeToken = () => `
  UPDATE api_tokens SET revoked_at = $2, revoked_by = $3
  WHERE id = $1 AND revoked_at IS NULL
  RETURNING ${COLUMNS}`

/**
 * last_used_at moves at most once a minute per token, so a busy token costs one write a minute,
 * not one per request. $1 id, $2 now
 */
const touchToken = () => `
  UPDATE api_tokens SET last_used_at = $2::timestamptz
  WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '60 seconds')`

/** Tokens with this name that still work. $1 name, $2 now */
const activeTokensNamed = () => `
  SELECT ${COLUMNS} FROM api_tokens
  WHERE name = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`

/** Serialises concurrent sandbox starts on one database. */
const lockSandboxTokens = () => `SELECT pg_advisory_xact_lock(hashtext('tenure.sandbox_tokens'))`

// ---------------------------------------------------------------------------------------------

/**
 * The savepoint around one insert attempt: a prefix collision (unique violation) is undone to it
 * and retried with a new prefix, without losing the caller's transaction.
 */
export async function beginTokenInsert(db: Queryable): Promise<void> {
  await db.query('SAVEPOINT api_token_insert')
}
export async function keepTokenInsert(db: Queryable): Promise<void> {
  await db.query('RELEASE SAVEPOINT api_token_insert')
}
export async function undoTokenInsert(db: Queryable): Promise<void> {
  await db.query('ROLLBACK TO SAVEPOINT api_token_insert')
}

export async function insertTokenRow(
  db: Queryable,
  t: { id: string; name: string; role: string; prefix: string; sha256: Buffer; createdBy: string; createdAt: Date; expiresAt: Date | null },
): Promise<TokenRow> {
  const { rows } = await db.query<TokenRow>(insertToken(), [t.id, t.name, t.role, t.prefix, t.sha256, t.createdBy, t.createdAt, t.expiresAt])
  return rows[0]!
}

export async function tokenRowByPrefix(db: Queryable, prefix: string): Promise<TokenRow | undefined> {
  return (await db.query<TokenRow>(tokenByPrefix(), [prefix])).rows[0]
}

export async function tokenRowById(db: Queryable, id: string): Promise<TokenRow | undefined> {
  return (await db.query<TokenRow>(tokenById(), [id])).rows[0]
}

/** Newest first, one page. */
export async function listTokenRows(
  db: Queryable,
  o: { includeRevoked: boolean; includeExpired: boolean; now: Date; afterCreatedAt: Date | null; afterId: string | null; limit: number },
): Promise<TokenRow[]> {
  return (await db.query<TokenRow>(listTokens(), [o.includeRevoked, o.includeExpired, o.now, o.afterCreatedAt, o.afterId, o.limit])).rows
}

/** The token as revoked now, or undefined when it does not exist or was revoked before. */
export async function revokeTokenRow(db: Queryable, id: string, now: Date, revokedBy: string): Promise<TokenRow | undefined> {
  return (await db.query<TokenRow>(revokeToken(), [id, now, revokedBy])).rows[0]
}

export async function touchTokenRow(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query(touchToken(), [id, now])
}

export async function activeTokenRowsNamed(db: Queryable, name: string, now: Date): Promise<TokenRow[]> {
  return (await db.query<TokenRow>(activeTokensNamed(), [name, now])).rows
}

/** Serialises concurrent sandbox starts on one database (to the end of the transaction). */
export async function lockSandboxTokenSet(db: Queryable): Promise<void> {
  await db.query(lockSandboxTokens())
}
