/** Every SQL statement on api_tokens, as text (pg-boss style). Parameters are positional. */

const COLUMNS = `id, name, role, prefix, secret_sha256, created_by, created_at, expires_at, revoked_at, revoked_by, last_used_at`

/** $1 id, $2 name, $3 role, $4 prefix, $5 secret_sha256, $6 created_by, $7 created_at, $8 expires_at */
export const insertToken = () => `
  INSERT INTO api_tokens (id, name, role, prefix, secret_sha256, created_by, created_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  RETURNING ${COLUMNS}`

/** $1 prefix */
export const tokenByPrefix = () => `SELECT ${COLUMNS} FROM api_tokens WHERE prefix = $1`

/** $1 id */
export const tokenById = () => `SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`

/**
 * Newest first. $1 include revoked, $2 include expired, $3 now, $4 cursor created_at (nullable),
 * $5 cursor id, $6 limit.
 */
export const listTokens = () => `
  SELECT ${COLUMNS} FROM api_tokens
  WHERE ($1::boolean OR revoked_at IS NULL)
    AND ($2::boolean OR expires_at IS NULL OR expires_at > $3)
    AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
  ORDER BY created_at DESC, id DESC
  LIMIT $6`

/** Idempotent: revoking a revoked token keeps the first revocation. $1 id, $2 now, $3 revoked_by */
export const revokeToken = () => `
  UPDATE api_tokens SET revoked_at = $2, revoked_by = $3
  WHERE id = $1 AND revoked_at IS NULL
  RETURNING ${COLUMNS}`

/**
 * last_used_at moves at most once a minute per token, so a busy token costs one write a minute,
 * not one per request. $1 id, $2 now
 */
export const touchToken = () => `
  UPDATE api_tokens SET last_used_at = $2::timestamptz
  WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '60 seconds')`

/** Tokens with this name that still work. $1 name, $2 now */
export const activeTokensNamed = () => `
  SELECT ${COLUMNS} FROM api_tokens
  WHERE name = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`

/** Serialises concurrent sandbox starts on one database. */
export const lockSandboxTokens = () => `SELECT pg_advisory_xact_lock(hashtext('tenure.sandbox_tokens'))`
