/**
 * API tokens: issue, list, revoke, and look up a presented token. Issuing and revoking are
 * recorded in the audit trail in the same transaction as the change (token.created,
 * token.revoked), with the actor that did it; the token itself never leaves this module except
 * as the return value of createApiToken().
 */
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { appendAudit, type ActorType } from '../audit/index.ts'
import { withTransaction, type Pool, type Queryable } from '../db/pool.ts'
import { isRole, type Role } from './roles.ts'
import {
  beginTokenInsert,
  insertTokenRow,
  keepTokenInsert,
  listTokenRows,
  revokeTokenRow,
  tokenRowById,
  tokenRowByPrefix,
  touchTokenRow,
  undoTokenInsert,
  type TokenRow,
} from './store.ts'
import { generateToken } from './token-format.ts'

/** Who issued or revoked a token, as the audit trail records it. */
export interface TokenActor {
  type: ActorType
  id: string
}

export interface ApiToken {
  id: string
  name: string
  role: Role
  prefix: string
  createdBy: string
  createdAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  revokedBy: string | null
  lastUsedAt: Date | null
}

export type TokenStatus = 'active' | 'expired' | 'revoked'

export type { TokenRow }

export function toApiToken(row: TokenRow): ApiToken {
  if (!isRole(row.role)) throw new Error(`api_tokens row ${row.id} has unknown role ${row.role}`)
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    lastUsedAt: row.last_used_at,
  }
}

export function tokenStatus(token: Pick<ApiToken, 'revokedAt' | 'expiresAt'>, now: Date): TokenStatus {
  if (token.revokedAt) return 'revoked'
  if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) return 'expired'
  return 'active'
}

export function actorLabel(actor: TokenActor): string {
  return `${actor.type}:${actor.id}`
}

export interface CreateTokenInput {
  name: string
  role: Role
  expiresAt?: Date | null
  createdBy: TokenActor
  now: Date
  correlationId?: string | null
}

export interface CreatedToken {
  /** Shown once; only its hash is stored. */
  token: string
  apiToken: ApiToken
}

const UNIQUE_VIOLATION = '23505'

/** Insert the token and its audit record in the caller's transaction. */
export async function insertApiToken(client: pg.PoolClient, input: CreateTokenInput): Promise<CreatedToken> {
  // 8 random prefix characters collide once in ~10^14 tokens; retry rather than fail if it happens.
  for (let attempt = 1; ; attempt++) {
    const generated = generateToken(input.role)
    await beginTokenInsert(client)
    try {
      const row = await insertTokenRow(client, {
        id: randomUUID(),
        name: input.name,
        role: input.role,
        prefix: generated.prefix,
        sha256: generated.sha256,
        createdBy: actorLabel(input.createdBy),
        createdAt: input.now,
        expiresAt: input.expiresAt ?? null,
      })
      await keepTokenInsert(client)
      const apiToken = toApiToken(row)
      await appendAudit(client, [
        {
          actor: input.createdBy,
          action: 'token.created',
          correlationId: input.correlationId ?? null,
          details: {
            tokenId: apiToken.id,
            name: apiToken.name,
            role: apiToken.role,
            prefix: apiToken.prefix,
            expiresAt: apiToken.expiresAt?.toISOString() ?? null,
          },
        },
      ])
      return { token: generated.token, apiToken }
    } catch (err) {
      await undoTokenInsert(client)
      const pgErr = err as { code?: string; constraint?: string }
      if (pgErr.code === UNIQUE_VIOLATION && pgErr.constraint === 'api_tokens_prefix_key' && attempt < 3) continue
      throw err
    }
  }
}

export async function createApiToken(pool: Pool, input: CreateTokenInput): Promise<CreatedToken> {
  return withTransaction(pool, (client) => insertApiToken(client, input))
}

export interface RevokeInput {
  revokedBy: TokenActor
  now: Date
  correlationId?: string | null
}

/**
 * Revoke a token; the next request that presents it is refused (nothing caches a token).
 * Idempotent: an already revoked token is returned unchanged and no second audit record is
 * written. Null when there is no such token.
 */
export async function revokeApiToken(pool: Pool, id: string, input: RevokeInput): Promise<ApiToken | null> {
  return withTransaction(pool, async (client) => {
    const revoked = await revokeTokenRow(client, id, input.now, actorLabel(input.revokedBy))
    if (!revoked) {
      const existing = await tokenRowById(client, id)
      return existing ? toApiToken(existing) : null
    }
    const token = toApiToken(revoked)
    await appendAudit(client, [
      {
        actor: input.revokedBy,
        action: 'token.revoked',
        correlationId: input.correlationId ?? null,
        details: { tokenId: token.id, name: token.name, role: token.role, prefix: token.prefix },
      },
    ])
    return token
  })
}

export async function getApiToken(db: Queryable, id: string): Promise<ApiToken | null> {
  const row = await tokenRowById(db, id)
  return row ? toApiToken(row) : null
}

export async function findTokenByPrefix(db: Queryable, prefix: string): Promise<TokenRow | null> {
  return (await tokenRowByPrefix(db, prefix)) ?? null
}

export async function touchLastUsed(db: Queryable, id: string, now: Date): Promise<void> {
  await touchTokenRow(db, id, now)
}

export interface ListTokensOptions {
  includeRevoked?: boolean
  includeExpired?: boolean
  limit: number
  after?: { createdAt: Date; id: string } | null
  now: Date
}

export interface TokenList {
  items: ApiToken[]
  /** The last item's position when there may be more, for the next page's cursor. */
  next: { createdAt: Date; id: string } | null
}

export async function listApiTokens(db: Queryable, options: ListTokensOptions): Promise<TokenList> {
  const rows = await listTokenRows(db, {
    includeRevoked: options.includeRevoked ?? false,
    includeExpired: options.includeExpired ?? true,
    now: options.now,
    afterCreatedAt: options.after?.createdAt ?? null,
    afterId: options.after?.id ?? null,
    limit: options.limit + 1,
  })
  const items = rows.slice(0, options.limit).map(toApiToken)
  const last = items[items.length - 1]
  return { items, next: rows.length > options.limit && last ? { createdAt: last.createdAt, id: last.id } : null }
}

/** Find a token by id (a UUID) or by its prefix as `tenure tokens list` shows it. */
export async function resolveTokenReference(db: Queryable, reference: string): Promise<ApiToken | null> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(reference)) return getApiToken(db, reference)
  const row = await findTokenByPrefix(db, reference.slice(0, 16))
  return row ? toApiToken(row) : null
}
