/**
 * Names of the actors the audit trail records (src/api/actor-names.ts): API tokens by their name
 * (api_tokens keeps revoked ones too), SSO users by the name or e-mail of their latest sign-in
 * (sso_users, written by the authenticator).
 */
import type { Queryable } from './pool.ts'

export async function tokenNames(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  if (ids.length === 0) return out
  const { rows } = await db.query<{ id: string; name: string }>('SELECT id::text, name FROM api_tokens WHERE id = ANY($1::uuid[])', [ids])
  for (const r of rows) out.set(r.id, r.name)
  return out
}

/** By subject; of two issuers with the same subject, the one seen last. */
export async function ssoNames(db: Queryable, subjects: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  if (subjects.length === 0) return out
  const { rows } = await db.query<{ subject: string; name: string | null }>(
    `SELECT DISTINCT ON (subject) subject, COALESCE(name, email) AS name
       FROM sso_users WHERE subject = ANY($1::text[]) ORDER BY subject, last_seen_at DESC`,
    [subjects],
  )
  for (const r of rows) if (r.name) out.set(r.subject, r.name)
  return out
}
