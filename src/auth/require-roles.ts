/**
 * Role checks for plain express routers that are not (yet) route definitions, e.g.
 *
 *   mounts: [{ path: '/api/v1/legacy', router: express.Router().use(requireRoles(auth, ['auditor']), legacyRouter(deps)) }]
 *
 * Prefer defineRoute(): only its routes appear in the OpenAPI document and the role matrix, and
 * the router-stack walk in src/http/role-matrix.test.ts fails on any API route mounted otherwise.
 */
import type { RequestHandler } from 'express'
import { requirePrincipal, type Authenticator } from './authenticate.ts'
import { forbidden } from './errors.ts'
import { isAllowed, type RouteAccess } from './roles.ts'

export function requireRoles(authenticator: Authenticator, access: Exclude<RouteAccess, 'public'>): RequestHandler {
  return (req, _res, next) => {
    requirePrincipal(req, authenticator).then((principal) => {
      if (!isAllowed(principal, access)) next(forbidden(principal, access))
      else next()
    }, next)
  }
}
