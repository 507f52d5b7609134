/**
 * Single sign-on: bearer JWTs issued by an OpenID Connect provider (Okta, Entra ID, Google,
 * Keycloak, Auth0, …). Tenure is a resource server here: it never sees a password, it checks the
 * access token's signature against the provider's published keys and its claims against the
 * configuration, then maps the provider's groups or roles to Tenure roles.
 *
 * - Discovery (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig) is read
 *   on first use, not at start, so Tenure starts while the provider is down; its `issuer` must
 *   equal the configured one exactly (§4.3).
 * - Keys: jose's createRemoteJWKSet caches the key set, refetches it when a token names an
 *   unknown `kid` (the provider rotated its keys) but at most once per cooldown, and refreshes it
 *   after `jwksCacheMaxAgeSeconds` in any case.
 * - Algorithms are an allow-list of asymmetric ones. That stops `alg: none` and the classic
 *   confusion attack (an HS256 token "signed" with the provider's public key as HMAC secret).
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { z } from 'zod'
import { ApiError } from '../http/errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { OidcConfig } from './config.ts'
import { ROLES, type OidcPrincipal, type Role } from './roles.ts'
import { unauthorized } from './errors.ts'

const discoverySchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url(),
  authorization_endpoint: z.url().optional(),
  token_endpoint: z.url().optional(),
})
export type DiscoveryDocument = z.output<typeof discoverySchema>

/** What a verified token said about the sign-in, beyond the principal: recorded for the admin screen. */
export interface OidcSignIn {
  principal: OidcPrincipal
  /** The roles-claim values that mapped each role the principal holds. */
  roleClaims: Partial<Record<Role, string[]>>
  /** `auth_time` (OIDC Core §2: when the user authenticated at the provider), else `iat`; null when the token has neither. */
  signedInAt: Date | null
}

export interface OidcVerifier {
  /** Verify a JWT and return who it is; throws ApiError 401 (bad token) or 503 (provider unreachable). */
  verify(jwt: string): Promise<OidcPrincipal>
  /** verify(), with which claim values mapped each role and when the user signed in. */
  verifySignIn?(jwt: string): Promise<OidcSignIn>
  /** The discovery document (fetched on first use). */
  discovery(): Promise<DiscoveryDocument>
}

export interface OidcVerifierOptions {
  now?: () => Date
  fetch?: typeof fetch
  /** Where a misconfigured or unreachable provider is reported (the 503 says only "unavailable"). */
  log?: Logger
}

/** How long a failed discovery is remembered, so a down provider is not asked on every request. */
const DISCOVERY_RETRY_MS = 5_000

export function createOidcVerifier(config: OidcConfig, options: OidcVerifierOptions = {}): OidcVerifier {
  const now = options.now ?? (() => new Date())
  const doFetch = options.fetch ?? fetch
  const log = options.log ?? silentLogger
  const issuer = config.issuer
  let discovered: Promise<DiscoveryDocument> | undefined
  let discoveryFailedAt = 0
  let keys: Promise<JWTVerifyGetKey> | undefined

  const discovery = (): Promise<DiscoveryDocument> => {
    if (discovered) return discovered
    if (Date.now() - discoveryFailedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(providerUnavailable('the identity provider discovery document could not be read; retrying shortly'))
    }
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    discovered = (async () => {
      const res = await doFetch(url, { signal: AbortSignal.timeout(config.requestTimeoutMs), redirect: 'error', headers: { accept: 'application/json' } })
      if (res.status !== 200) throw new Error(`discovery answered ${res.status}`)
      const doc = discoverySchema.parse(await res.json())
      // §4.3: the issuer in the document must be the one we were configured with, exactly.
      if (doc.issuer !== issuer) throw new Error(`discovery document names issuer ${doc.issuer}, expected ${issuer}`)
      return doc
    })()
    discovered.catch((err: unknown) => {
      discovered = undefined
      discoveryFailedAt = Date.now()
      log.error({ issuer, url, err: { message: (err as Error).message } }, 'OIDC discovery failed: single sign-on is unavailable')
    })
    return discovered
  }

  const keySet = (): Promise<JWTVerifyGetKey> => {
    keys ??= (async () => {
      const url = config.jwksUrl ?? (await discovery()).jwks_uri
      return createRemoteJWKSet(new URL(url), {
        cooldownDuration: config.jwksCooldownSeconds * 1000,
        cacheMaxAge: config.jwksCacheMaxAgeSeconds * 1000,
        timeoutDuration: config.requestTimeoutMs,
      })
    })()
    keys.catch(() => {
      // discovery() has logged why; the next request tries again.
      keys = undefined
    })
    return keys
  }

  const verifySignIn = async (jwt: string): Promise<OidcSignIn> => {
    let getKey: JWTVerifyGetKey
    try {
      getKey = await keySet()
    } catch (err) {
      throw err instanceof ApiError ? err : providerUnavailable('the identity provider could not be reached to read its signing keys')
    }
    const payload = await jwtVerify(jwt, getKey, {
      issuer,
      audience: config.audience,
      algorithms: [...config.algorithms],
      clockTolerance: config.clockToleranceSeconds,
      requiredClaims: ['sub', 'exp'],
      currentDate: now(),
    }).then(
      (result): JWTPayload => result.payload,
      (err: unknown) => {
        throw mapJoseError(err)
      },
    )
    const values = claimValues(payload, config.rolesClaim)
    const roles = mapRoles(values, config.roleMapping)
    const held = new Set(values)
    const roleClaims = Object.fromEntries(roles.map((role) => [role, config.roleMapping[role].filter((v) => held.has(v))]))
    const when = typeof payload.auth_time === 'number' ? payload.auth_time : typeof payload.iat === 'number' ? payload.iat : null
    return {
      principal: {
        kind: 'oidc',
        id: String(payload.sub),
        name: stringClaim(payload, 'name') ?? stringClaim(payload, 'preferred_username'),
        email: stringClaim(payload, 'email'),
        roles,
        issuer,
      },
      roleClaims,
      signedInAt: when !== null && Number.isFinite(when) ? new Date(when * 1000) : null,
    }
  }

  return {
    discovery,
    verifySignIn,
    verify: async (jwt) => (await verifySignIn(jwt)).principal,
  }
}

function providerUnavailable(message: string): ApiError {
  return new ApiError(503, 'identity_provider_unavailable', message, null, { 'Retry-After': '5' })
}

/** jose errors → our 401s. Messages name the failed check, never the token. */
export function mapJoseError(err: unknown): ApiError {
  if (err instanceof joseErrors.JWTExpired) return unauthorized('token_expired', 'the token has expired')
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return unauthorized('invalid_token', 'the token is not valid yet (nbf is in the future)')
    return unauthorized('invalid_token', `the token's "${err.claim}" claim is not accepted`)
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized('invalid_token', 'the token is signed with an algorithm that is not accepted')
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return unauthorized('invalid_token', 'the token signature is not valid')
  if (err instanceof joseErrors.JWKSNoMatchingKey) return unauthorized('invalid_token', 'the token is signed with a key the identity provider does not publish')
  if (err instanceof joseErrors.JWKSTimeout) return providerUnavailable('the identity provider did not answer in time')
  // The base class itself (not a subclass) is what jose throws when the key set cannot be read.
  if (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC') {
    return providerUnavailable('the identity provider key set could not be read')
  }
  if (err instanceof joseErrors.JOSEError) return unauthorized('invalid_token', 'the token is not a valid JWT')
  if (err instanceof TypeError || (err as { name?: string })?.name === 'AbortError') {
    return providerUnavailable('the identity provider could not be reached to read its signing keys')
  }
  return unauthorized('invalid_token', 'the token could not be verified')
}

function stringClaim(payload: JWTPayload, name: string): string | null {
  const value = payload[name]
  return typeof value === 'string' && value !== '' ? value : null
}

/**
 * The values of the roles claim. The whole name is tried first, so URL-like claim names with
 * dots (Auth0's `https://example.com/roles`) work; otherwise it is a dotted path
 * (`realm_access.roles`, `resource_access.tenure.roles`).
 */
export function claimValues(payload: JWTPayload, claim: string): string[] {
  let value: unknown = payload[claim]
  if (value === undefined) {
    value = claim.split('.').reduce<unknown>((node, key) => {
      if (node && typeof node === 'object' && !Array.isArray(node)) return (node as Record<string, unknown>)[key]
      return undefined
    }, payload)
  }
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean)
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  return []
}

export function mapRoles(values: string[], mapping: Record<Role, string[]>): Role[] {
  const held = new Set(values)
  return ROLES.filter((role) => mapping[role].some((group) => held.has(group)))
}
