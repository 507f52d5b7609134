/**
 * Who is calling: the one place a request's credential is read. `Authorization: Bearer <x>`
 * where x is an API token (`tnr_…`, looked up in api_tokens) or an SSO access token (a JWT,
 * verified against the OIDC provider's keys). Credentials in query strings or cookies are not
 * accepted: URLs end up in logs and browser history.
 *
 * Nothing is cached across requests: a revoked or expired API token is refused on its next use.
 * The outcome is memoised per request (resolvePrincipal), so the rate limiter, the route and
 * any handler share one lookup.
 */
import type { Request } from 'express'
import { rememberSsoName } from '../api/actor-names.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { missingCredentials, unauthorized } from './errors.ts'
import type { OidcVerifier } from './oidc.ts'
import type { ApiTokenPrincipal, Principal } from './roles.ts'
import { hashToken, parseToken, sameHash } from './token-format.ts'
import { findTokenByPrefix, tokenStatus, touchLastUsed } from './tokens.ts'

export interface Authenticator {
  /** The caller, or null when no credential was sent. Throws ApiError (401/503) when one was refused. */
  authenticate(req: Request): Promise<Principal | null>
}

export interface AuthenticatorDeps {
  pool: Pool
  log: Logger
  oidc?: OidcVerifier | null
  now?: () => Date
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
/** Compared against when no row matches, so a miss costs the same hash comparison as a hit. */
const NO_MATCH = Buffer.alloc(32)
const TOUCH_INTERVAL_MS = 60_000

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const now = deps.now ?? (() => new Date())

  async function apiToken(token: string): Promise<ApiTokenPrincipal> {
    const parsed = parseToken(token)
    if (!parsed) throw unauthorized('invalid_token', 'this is not a valid Tenure API token (was it truncated when copied?)')
    const row = await findTokenByPrefix(deps.pool, parsed.prefix)
    const presented = hashToken(token)
    const matches = sameHash(presented, row?.secret_sha256 ?? NO_MATCH)
    if (!row || !matches || row.role !== parsed.role) throw unauthorized('invalid_token', 'unknown API token')
    const at = now()
    const status = tokenStatus({ revokedAt: row.revoked_at, expiresAt: row.expires_at }, at)
    if (status === 'revoked') throw unauthorized('token_revoked', 'this API token was revoked')
    if (status === 'expired') throw unauthorized('token_expired', 'this API token has expired')
    if (!row.last_used_at || at.getTime() - row.last_used_at.getTime() >= TOUCH_INTERVAL_MS) {
      // Bookkeeping only: a failed write must not refuse an otherwise valid request.
      await touchLastUsed(deps.pool, row.id, at).catch((err: unknown) =>
        deps.log.warn({ tokenId: row.id, err: { message: (err as Error).message } }, 'could not record API token use'),
      )
    }
    return { kind: 'api_token', id: row.id, name: row.name, roles: [row.role as ApiTokenPrincipal['roles'][number]] }
  }

  return {
    async authenticate(req) {
      const header = req.get('authorization')
      if (header === undefined || header.trim() === '') return null
      const match = BEARER.exec(header)
      if (!match) throw unauthorized('invalid_request', 'use "Authorization: Bearer <token>"')
      const credential = match[1]!
      if (credential.startsWith('tnr_')) return apiToken(credential)
      if (JWT_SHAPE.test(credential)) {
        if (!deps.oidc) throw unauthorized('invalid_token', 'single sign-on is not configured on this Tenure: use an API token')
        const principal = await deps.oidc.verify(credential)
        // So the console and the API can show this person's name beside their id (src/api/actor-names.ts).
        // Bookkeeping only, like touchLastUsed: a failed write must not refuse the request.
        await rememberSsoName(deps.pool, principal.id, principal.name, principal.email).catch((err: unknown) =>
          deps.log.warn({ err: { message: (err as Error).message } }, 'could not record the SSO name'),
        )
        return principal
      }
      throw unauthorized('invalid_token', 'the bearer credential is neither a Tenure API token nor a JWT')
    },
  }
}

type Outcome = { principal: Principal | null } | { error: unknown }

const outcomes = new WeakMap<Request, Promise<Outcome>>()

/**
 * The request's principal, authenticated at most once per request. Null when no credential was
 * sent; throws when one was refused.
 */
export async function resolvePrincipal(req: Request, authenticator: Authenticator): Promise<Principal | null> {
  let outcome = outcomes.get(req)
  if (!outcome) {
    outcome = authenticator.authenticate(req).then(
      (principal): Outcome => ({ principal }),
      (error: unknown): Outcome => ({ error }),
    )
    outcomes.set(req, outcome)
  }
  const settled = await outcome
  if ('error' in settled) throw settled.error
  return settled.principal
}

/** Like resolvePrincipal, but a missing credential is a 401 too. */
export async function requirePrincipal(req: Request, authenticator: Authenticator): Promise<Principal> {
  const principal = await resolvePrincipal(req, authenticator)
  if (!principal) throw missingCredentials()
  return principal
}

/**
 * Record who called, for routes whose caller is proven some other way (an HR webhook's vendor
 * signature: `setPrincipal(req, hrSourcePrincipal('bamboohr'))`).
 */
export function setPrincipal(req: Request, principal: Principal): void {
  outcomes.set(req, Promise.resolve({ principal }))
}

/** The principal already resolved for this request, without authenticating (null if none yet). */
export async function principalOf(req: Request): Promise<Principal | null> {
  const outcome = outcomes.get(req)
  if (!outcome) return null
  const settled = await outcome
  return 'principal' in settled ? settled.principal : null
}
