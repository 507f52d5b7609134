/**
 * The registry: every API endpoint Tenure serves. src/main.ts mounts exactly this list (through
 * createApi), the OpenAPI document and docs/security.md's role matrix are generated from it, and
 * the role-matrix test walks all of it. A capability adds its defineRoute() values here.
 */
import type { RequestHandler } from 'express'
import { createAuthenticator, type Authenticator } from '../auth/authenticate.ts'
import { createOidcVerifier } from '../auth/oidc.ts'
import { AUTH_ROUTES } from '../auth/routes.ts'
import { securityMiddleware, webhookRateLimiter } from '../auth/security.ts'
import type { Config } from '../config/index.ts'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import type { Mount } from './app.ts'
import { openApiRoute } from './openapi.ts'
import { mountRoutes, type ApiDeps, type RouteDefinition } from './routes.ts'
import { EXCEPTION_ROUTES } from '../exceptions/routes.ts'
import { REPORT_ROUTES } from '../reports/routes.ts'
import { AUDIT_ROUTES } from '../audit/routes.ts'
import { EMPLOYEE_ROUTES } from '../api/employees.ts'
import { WHAT_IF_ROUTES } from '../api/what-if.ts'
import { CASE_ROUTES } from '../api/cases.ts'
import { OPERATION_ROUTES } from '../api/operations.ts'
import { HR_HOLD_ROUTES } from '../api/hr-holds.ts'
import { RECONCILIATION_ROUTES } from '../reconciliation/routes.ts'
import { CONSOLE_ROUTES } from '../console/routes.ts'
import { ADMIN_ROUTES } from '../admin/routes.ts'
import { SANDBOX_MAIL_ROUTES } from '../sandbox/mail-routes.ts'
import { OFFBOARDING_ROUTES } from '../offboarding/routes.ts'
import { APPROVAL_ROUTES } from '../api/approvals.ts'

export const API_ROUTES: readonly RouteDefinition[] = [
  openApiRoute,
  ...AUTH_ROUTES,
  ...EMPLOYEE_ROUTES,
  ...WHAT_IF_ROUTES,
  ...OFFBOARDING_ROUTES,
  ...CASE_ROUTES,
  ...OPERATION_ROUTES,
  ...RECONCILIATION_ROUTES,
  ...HR_HOLD_ROUTES,
  ...EXCEPTION_ROUTES,
  ...APPROVAL_ROUTES,
  ...REPORT_ROUTES,
  ...AUDIT_ROUTES,
  ...CONSOLE_ROUTES,
  ...SANDBOX_MAIL_ROUTES,
  ...ADMIN_ROUTES,
]

export interface ApiOptions {
  config: Config
  pool: Pool
  log: Logger
  /** One clock for token expiry, JWT checks and rate-limit windows (tests move it). */
  now?: () => Date
  /** Default: API_ROUTES. */
  routes?: readonly RouteDefinition[]
  validateResponses?: boolean
  /** For routes that move employees' machines (exceptions): passed through to ApiDeps. */
  engine?: ApiDeps['engine']
  boss?: ApiDeps['boss']
  notify?: ApiDeps['notify']
  registry?: ApiDeps['registry']
  hrSources?: ApiDeps['hrSources']
  sandboxMail?: ApiDeps['sandboxMail']
}

export interface Api {
  /** createApp({ before }): security headers, CORS, body guard, rate limits, authentication. */
  before: RequestHandler[]
  /** createApp({ mounts: [mount] }): the routes of the registry. */
  mount: Mount
  /** Put in front of /webhooks: the per-IP limit for HR deliveries. */
  webhookRateLimiter: RequestHandler
  authenticator: Authenticator
  deps: ApiDeps
}

export function createApi(options: ApiOptions): Api {
  const { config, pool, log } = options
  const now = options.now ?? (() => new Date())
  const oidc = config.auth.oidc ? createOidcVerifier(config.auth.oidc, { now, log }) : null
  const authenticator = createAuthenticator({ pool, log, oidc, now })
  const deps: ApiDeps = { pool, config, log, now, engine: options.engine, boss: options.boss, notify: options.notify, registry: options.registry, hrSources: options.hrSources, sandboxMail: options.sandboxMail }
  const clock = () => now().getTime()
  return {
    before: securityMiddleware({ config, authenticator, log, now: clock }),
    mount: { path: '/', router: mountRoutes(options.routes ?? API_ROUTES, { deps, authenticator, validateResponses: options.validateResponses }) },
    webhookRateLimiter: webhookRateLimiter(config, { now: clock, log }),
    authenticator,
    deps,
  }
}
