/**
 * People who signed in with single sign-on, as the administration screen lists them. Tenure
 * stores no SSO accounts (the token's roles claim decides on every request); this records what
 * the newest token of each user said, so an admin can see who holds which role through which
 * claim value without reading the IdP. It grants nothing: a user removed from a group at the
 * IdP loses the role on their next request, whatever this table says.
 */
import type { Queryable } from '../db/pool.ts'
import type { OidcSignIn } from './oidc.ts'
import type { Role } from './roles.ts'

export interface SsoUser {
  issuer: string
  subject: string
  name: string | null
  email: string | null
  roles: Role[]
  roleClaims: Partial<Record<Role, string[]>>
  firstSeenAt: Date
  lastSeenAt: Date
  lastSignInAt: Date | null
}

interface Row {
  issuer: string
  subject: string
  name: string | null
  email: string | null
  roles: Role[]
  role_claims: Partial<Record<Role, string[]>>
  first_seen_at: Date
  last_seen_at: Date
  last_sign_in_at: Date | null
}

const toUser = (r: Row): SsoUser => ({
  issuer: r.issuer,
  subject: r.subject,
  name: r.name,
  email: r.email,
  roles: r.roles,
  roleClaims: r.role_claims,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
  lastSignInAt: r.last_sign_in_at,
})

/** Insert or refresh the user's row from a verified token. */
export async function recordSsoSignIn(db: Queryable, signIn: OidcSignIn, at: Date): Promise<void> {
  const p = signIn.principal
  await db.query(
    `INSERT INTO sso_users (issuer, subject, name, email, roles, role_claims, first_seen_at, last_seen_at, last_sign_in_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
     ON CONFLICT (issuer, subject) DO UPDATE SET
       name = EXCLUDED.name, email = EXCLUDED.email, roles = EXCLUDED.roles, role_claims = EXCLUDED.role_claims,
       last_seen_at = GREATEST(sso_users.last_seen_at, EXCLUDED.last_seen_at),
       last_sign_in_at = COALESCE(GREATEST(sso_users.last_sign_in_at, EXCLUDED.last_sign_in_at), sso_users.last_sign_in_at, EXCLUDED.last_sign_in_at)`,
    [p.issuer, p.id, p.name, p.email, [...p.roles], JSON.stringify(signIn.roleClaims), at, signIn.signedInAt],
  )
}

export interface SsoUserQuery {
  limit: number
  /** Keyset position: the last row of the previous page. */
  after: { lastSeenAt: string; issuer: string; subject: string } | null
  role?: Role
  /** Substring of name, e-mail or subject, case-insensitive. */
  q?: string
}

/** Most recently seen first. */
export async function listSsoUsers(db: Queryable, query: SsoUserQuery): Promise<{ items: SsoUser[]; more: boolean; total: number }> {
  const where: string[] = []
  const values: unknown[] = []
  if (query.role) {
    values.push(query.role)
    where.push(`$${values.length} = ANY(roles)`)
  }
  if (query.q) {
    values.push(`%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    where.push(`(name ILIKE $${values.length} OR email ILIKE $${values.length} OR subject ILIKE $${values.length})`)
  }
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : ''
  const total = Number(((await db.query(`SELECT count(*)::int AS n FROM sso_users ${filter}`, values)).rows[0] as { n: number }).n)
  const page = [...values]
  let keyset = ''
  if (query.after) {
    page.push(query.after.lastSeenAt, query.after.issuer, query.after.subject)
    const n = page.length
    keyset = `${where.length ? 'AND' : 'WHERE'} (last_seen_at, issuer, subject) < ($${n - 2}::timestamptz, $${n - 1}, $${n})`
  }
  // The keyset compares all three columns descending, as the index sso_users_last_seen orders them.
  page.push(query.limit + 1)
  const { rows } = await db.query(`SELECT * FROM sso_users ${filter} ${keyset} ORDER BY last_seen_at DESC, issuer DESC, subject DESC LIMIT $${page.length}`, page)
  const items = (rows as Row[]).map(toUser)
  return { items: items.slice(0, query.limit), more: items.length > query.limit, total }
}
