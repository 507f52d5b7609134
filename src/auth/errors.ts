/**
 * The authentication and authorisation errors, in the API's one error shape. 401s carry a
 * `WWW-Authenticate: Bearer` challenge (RFC 6750 §3): without an `error` attribute when no
 * credential was sent, with `error="invalid_token"` when one was sent and refused.
 */
import { ApiError } from '../http/errors.ts'
import { admittedRoles, type Principal, type RouteAccess } from './roles.ts'

export const REALM = 'tenure'

function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, '')}"`
}

export function missingCredentials(): ApiError {
  return new ApiError(
    401,
    'unauthenticated',
    'this endpoint needs a credential: send "Authorization: Bearer <API token or SSO access token>"',
    null,
    { 'WWW-Authenticate': `Bearer realm=${quoted(REALM)}` },
  )
}

/** A credential was sent and refused. `code` is the API error code; the challenge says invalid_token. */
export function unauthorized(code: string, message: string): ApiError {
  return new ApiError(401, code, message, null, {
    'WWW-Authenticate': `Bearer realm=${quoted(REALM)}, error="invalid_token", error_description=${quoted(message)}`,
  })
}

export function forbidden(principal: Principal, access: RouteAccess): ApiError {
  const needs = access === 'hr_source' ? ['hr_source'] : admittedRoles(access)
  const message =
    access === 'hr_source'
      ? 'only an HR source may call this endpoint'
      : principal.kind === 'hr_source'
        ? 'an HR source may only deliver webhooks'
        : principal.roles.length === 0
          ? `this endpoint needs one of the roles ${needs.join(', ')}; the credential holds no Tenure role (check the SSO role mapping)`
          : `this endpoint needs one of the roles ${needs.join(', ')}; the credential holds ${principal.roles.join(', ')}`
  return new ApiError(403, 'forbidden', message, { requiredRoles: needs, roles: [...principal.roles] })
}
