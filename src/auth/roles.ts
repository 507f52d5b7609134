/**
 * Roles and principals. Access is denied by default: a route lists the roles it admits, `admin`
 * is admitted everywhere an authenticated person may go, and nothing else is implied. An HR
 * source is a principal too, but with no role at all: it may only call routes declared
 * `roles: 'hr_source'` (the webhooks), and every other route refuses it.
 */

export const ROLES = ['admin', 'approver', 'operator', 'auditor'] as const
export type Role = (typeof ROLES)[number]

/** One line per role, used in docs/security.md and in the OpenAPI document. */
export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: 'Everything: configuration, API tokens, and every action of the other roles.',
  approver: 'Decides exceptions to the revocation SLA and completes manual tasks.',
  operator: 'Views employees and cases; retries and redrives failed jobs.',
  auditor: 'Read-only: the audit trail, reports and exports.',
}

/**
 * Who a route admits. `public` needs no credential at all. `hr_source` admits only HR sources
 * (authenticated by vendor signature), never a person or an API token, whatever its role.
 * A role list admits those roles plus `admin`.
 */
export type RouteAccess = readonly Role[] | 'public' | 'hr_source'

export interface ApiTokenPrincipal {
  kind: 'api_token'
  /** The token's id (api_tokens.id): what the audit trail records as the actor. */
  id: string
  name: string
  roles: readonly Role[]
}

export interface OidcPrincipal {
  kind: 'oidc'
  /** The `sub` claim: stable per user at one issuer. */
  id: string
  name: string | null
  email: string | null
  roles: readonly Role[]
  issuer: string
}

export interface HrSourcePrincipal {
  kind: 'hr_source'
  /** The HR source id (e.g. `bamboohr`), or the id of the credential that vouched for it. */
  id: string
  name: string
  roles: readonly []
}

export type Principal = ApiTokenPrincipal | OidcPrincipal | HrSourcePrincipal
export type PrincipalKind = Principal['kind']

/** The actor as the audit trail records it (src/audit ACTOR_TYPES use the same kinds). */
export interface Actor {
  type: PrincipalKind
  id: string
}

export function actorOf(principal: Principal): Actor {
  return { type: principal.kind, id: principal.id }
}

/** For the HR webhook route: once the vendor signature is verified, this is who called. */
export function hrSourcePrincipal(source: string): HrSourcePrincipal {
  return { kind: 'hr_source', id: source, name: source, roles: [] }
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/** The roles a route admits, `admin` included; empty for `public` and `hr_source`. */
export function admittedRoles(access: RouteAccess): Role[] {
  if (access === 'public' || access === 'hr_source') return []
  return ROLES.filter((r) => r === 'admin' || access.includes(r))
}

/** Deny by default: true only when the principal holds a role the route admits. */
export function isAllowed(principal: Principal, access: RouteAccess): boolean {
  if (access === 'public') return true
  if (access === 'hr_source') return principal.kind === 'hr_source'
  if (principal.kind === 'hr_source') return false
  const admitted = admittedRoles(access)
  return principal.roles.some((r) => admitted.includes(r))
}
