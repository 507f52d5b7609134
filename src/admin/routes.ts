/**
 * The administration API (admin only), what the console's Admin screen shows without YAML:
 *
 *   GET  /api/v1/admin/access                     roles, the SSO claim → role mapping, the API token holders
 *   GET  /api/v1/admin/sso-users                  people who signed in with SSO: roles and the claim values that mapped them
 *   GET  /api/v1/admin/sources                    HR sources and their health
 *   GET  /api/v1/admin/systems                    target systems and their health
 *   POST /api/v1/admin/sources/:source/reconcile  run HR reconciliation for one source now
 *   POST /api/v1/admin/systems/:system/reconcile  run target reconciliation for one system now
 *
 * API tokens themselves are /api/v1/tokens (src/auth/routes.ts). Health is read from what Tenure
 * records (src/admin/health.ts); what it does not record is said to be unknown.
 */
import { z } from 'zod'
import { HR_SOURCES } from '../../state-machines/events.ts'
import { ROLE_DESCRIPTIONS, ROLES } from '../auth/roles.ts'
import { listApiTokens } from '../auth/tokens.ts'
import { listSsoUsers } from '../auth/sso-users.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageQuery, reply, timestamp, type ApiDeps } from '../http/routes.ts'
import { LAST_ERROR_WINDOW_DAYS, sourcesHealth, systemsHealth } from './health.ts'
import { reconcileNow, type ReconcileKind } from './run-now.ts'

/** The most token holders listed on the access screen (the full list: GET /api/v1/tokens). */
const MAX_HOLDERS = 200

const jobRunSchema = z
  .object({
    id: z.uuid(),
    state: z.string().describe('pg-boss state: created, retry, active, completed, failed, cancelled.'),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
    output: z.unknown().describe('The summary of a completed run, the error of a failed one.'),
  })
  .meta({ id: 'ReconcileJob' })

const reconcileState = z.object({
  lastRun: jobRunSchema.nullable().describe('The newest run on record (pg-boss keeps finished jobs for a while); null: none on record, so unknown.'),
  queued: jobRunSchema.nullable().describe('A run for it that is queued or running now.'),
})

const callSchema = z.object({
  at: timestamp,
  operation: z.string().nullable(),
  method: z.string().nullable(),
  path: z.string().nullable(),
  status: z.number().int().nullable().describe('HTTP status; null when no answer came.'),
  errorKind: z.string().nullable(),
})

const systemHealthSchema = z
  .object({
    system: z.string(),
    kind: z.string(),
    enabled: z.boolean(),
    reason: z.string().nullable().describe('Why the system is disabled.'),
    lastCall: callSchema.nullable().describe('The newest recorded vendor call; null: unknown (see lastCallUnknown).'),
    lastCallUnknown: z.string().nullable().describe('Why no last call can be shown.'),
    lastError: callSchema.nullable().describe(`The newest failed call within the last ${LAST_ERROR_WINDOW_DAYS} days; null: none recorded in that window.`),
    lastErrorNote: z.string(),
    rateLimit: z.object({
      buckets: z.array(
        z.object({
          bucket: z.string(),
          perMinute: z.number(),
          burst: z.number(),
          tokens: z.number().nullable().describe('Balance now; negative: calls booked ahead. Null: the bucket was never used, so unknown.'),
          state: z.enum(['available', 'booked_ahead', 'unknown']),
          updatedAt: timestamp.nullable(),
        }),
      ),
      rateLimitedLastHour: z.number().int().describe('Vendor 429 answers in the last hour.'),
    }),
    reconcile: reconcileState.extend({ supported: z.boolean().describe('False for manual and disabled systems: nothing to list.') }),
  })
  .meta({ id: 'SystemHealth' })

const sourceHealthSchema = z
  .object({
    source: z.enum(HR_SOURCES),
    enabled: z.boolean(),
    api: z.boolean().describe('Vendor API access is configured (needed to reconcile).'),
    reconcile: reconcileState.extend({ enabled: z.boolean(), intervalMinutes: z.number().int() }),
    lastDelivery: z.object({ at: timestamp, foundBy: z.string(), status: z.string() }).nullable().describe('The newest notice in the HR inbox; null: none received.'),
    lastFailure: z.object({ at: timestamp, error: z.unknown() }).nullable().describe('The newest notice that failed to apply.'),
    lastCall: z.null().describe('Unknown: Tenure does not record its calls to HR vendor APIs.'),
    rateLimit: z.null().describe('Unknown: Tenure keeps no limiter for HR vendor APIs.'),
    unknown: z.array(z.string()).describe('What this screen cannot know, in words.'),
  })
  .meta({ id: 'SourceHealth' })

export const adminAccessRoute = defineRoute({
  method: 'get',
  path: '/api/v1/admin/access',
  summary: 'Who has which role: the roles, the SSO claim → role mapping, the API token holders',
  description:
    'SSO roles come from the configured claim at each request (`auth.oidc.rolesClaim`, `auth.oidc.roleMapping`); the people who signed in, with the claim values that mapped them: GET /api/v1/admin/sso-users. ' +
    `API tokens hold one role each; the active ones are listed (up to ${MAX_HOLDERS}; every token: GET /api/v1/tokens).`,
  tags: ['admin'],
  roles: ['admin'],
  responses: {
    200: {
      description: 'Roles and their holders',
      schema: z.object({
        roles: z.array(z.object({ role: z.enum(ROLES), description: z.string(), claimValues: z.array(z.string()).nullable().describe('Null when SSO is not configured.') })),
        oidc: z.object({ issuer: z.string(), rolesClaim: z.string() }).nullable().describe('Null: SSO is not configured; only API tokens sign in.'),
        tokenHolders: z.array(
          z.object({ id: z.uuid(), name: z.string(), role: z.enum(ROLES), prefix: z.string(), expiresAt: timestamp.nullable(), lastUsedAt: timestamp.nullable() }),
        ),
        tokenHoldersTruncated: z.boolean(),
      }),
    },
  },
  handler: async ({ deps }) => {
    const oidc = deps.config.auth.oidc
    const page = await listApiTokens(deps.pool, { includeRevoked: false, includeExpired: false, limit: MAX_HOLDERS, after: null, now: deps.now() })
    return {
      roles: ROLES.map((role) => ({ role, description: ROLE_DESCRIPTIONS[role], claimValues: oidc ? [...oidc.roleMapping[role]] : null })),
      oidc: oidc ? { issuer: oidc.issuer, rolesClaim: oidc.rolesClaim } : null,
      tokenHolders: page.items.map((t) => ({
        id: t.id,
        name: t.name,
        role: t.role,
        prefix: t.prefix,
        expiresAt: t.expiresAt?.toISOString() ?? null,
        lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
      })),
      tokenHoldersTruncated: page.next !== null,
    }
  },
})

const ssoUserSchema = z
  .object({
    issuer: z.string(),
    subject: z.string().describe('The `sub` claim: stable per user at one issuer; what the audit trail records as the actor id.'),
    name: z.string().nullable(),
    email: z.string().nullable(),
    roles: z.array(z.enum(ROLES)).describe('The roles their newest token mapped to (empty: signed in but holds no Tenure role, so every endpoint refused them).'),
    mappedBy: z
      .array(z.object({ role: z.enum(ROLES), claimValues: z.array(z.string()).describe('The roles-claim values that granted the role.') }))
      .describe('Why they hold each role, as of lastSeenAt.'),
    firstSeenAt: timestamp,
    lastSeenAt: timestamp.describe('Their newest authenticated request (recorded at most once a minute).'),
    lastSignInAt: timestamp.nullable().describe("When they last authenticated at the identity provider (the token's auth_time, else iat); null: the token said neither."),
  })
  .meta({ id: 'SsoUser' })

const ssoCursor = z.object({ lastSeenAt: z.string(), issuer: z.string(), subject: z.string() })

export const adminSsoUsersRoute = defineRoute({
  method: 'get',
  path: '/api/v1/admin/sso-users',
  summary: 'People who signed in with SSO (OIDC): their roles and the claim values that mapped each',
  description:
    'Most recently seen first. Recorded from each verified SSO token (at most once a minute per user, and whenever the roles change); it grants nothing: ' +
    'the identity provider decides on every request, so someone removed from a group loses the role on their next request whatever this list says. ' +
    '`mapping` is the configured claim → role mapping (null without SSO). A person who never signed in is not listed: ask the identity provider who is in the mapped groups.',
  tags: ['admin'],
  roles: ['admin'],
  request: {
    query: pageQuery({ defaultLimit: 50, maxLimit: 200 }).extend({
      role: z.enum(ROLES).optional().describe('Only people holding this role.'),
      q: z.string().trim().min(1).max(200).optional().describe('Substring of name, e-mail or subject (case-insensitive).'),
    }),
  },
  responses: {
    200: {
      description: 'A page of SSO users',
      schema: z.object({
        items: z.array(ssoUserSchema),
        nextCursor: z.string().nullable().describe('Pass as `cursor` to get the next page; null when this is the last page.'),
        total: z.number().int().describe('How many match the filters, across all pages.'),
        mapping: z
          .object({ issuer: z.string(), rolesClaim: z.string(), roles: z.array(z.object({ role: z.enum(ROLES), claimValues: z.array(z.string()) })) })
          .nullable()
          .describe('The configured mapping; null: SSO is not configured.'),
      }),
    },
  },
  handler: async ({ query, deps }) => {
    const oidc = deps.config.auth.oidc
    const after = decodeCursor(query.cursor, ssoCursor)
    const page = await listSsoUsers(deps.pool, { limit: query.limit, after, ...(query.role ? { role: query.role } : {}), ...(query.q ? { q: query.q } : {}) })
    const last = page.items.at(-1)
    return {
      items: page.items.map((u) => ({
        issuer: u.issuer,
        subject: u.subject,
        name: u.name,
        email: u.email,
        roles: u.roles,
        mappedBy: u.roles.map((role) => ({ role, claimValues: u.roleClaims[role] ?? [] })),
        firstSeenAt: u.firstSeenAt.toISOString(),
        lastSeenAt: u.lastSeenAt.toISOString(),
        lastSignInAt: u.lastSignInAt?.toISOString() ?? null,
      })),
      nextCursor: page.more && last ? encodeCursor({ lastSeenAt: last.lastSeenAt.toISOString(), issuer: last.issuer, subject: last.subject }) : null,
      total: page.total,
      mapping: oidc ? { issuer: oidc.issuer, rolesClaim: oidc.rolesClaim, roles: ROLES.map((role) => ({ role, claimValues: [...oidc.roleMapping[role]] })) } : null,
    }
  },
})

const hrSourcesOf = (deps: ApiDeps) => deps.hrSources ?? deps.config.hr

export const adminSourcesRoute = defineRoute({
  method: 'get',
  path: '/api/v1/admin/sources',
  summary: 'Configured HR sources and their health',
  description:
    'Per source: enabled, API access, reconciliation (interval, last run, a run pending), the last notice received and the last that failed. ' +
    'Calls to HR vendor APIs are not recorded, so their last call and rate-limit state are unknown (`null`, said in `unknown`).',
  tags: ['admin'],
  roles: ['admin'],
  responses: { 200: { description: 'Every configured source', schema: z.object({ items: z.array(sourceHealthSchema) }) } },
  handler: async ({ deps }) => ({ items: await sourcesHealth(deps.pool, hrSourcesOf(deps), deps.config.queue.schema) }),
})

export const adminSystemsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/admin/systems',
  summary: 'Configured target systems and their health',
  description:
    'Per system: enabled or why not, the last recorded vendor call, the last failed one (last 7 days), the rate-limit buckets (balance now, 429s in the last hour) and reconciliation (last run, a run pending).',
  tags: ['admin'],
  roles: ['admin'],
  responses: { 200: { description: 'Every known system', schema: z.object({ items: z.array(systemHealthSchema) }) } },
  handler: async ({ deps }) => ({ items: await systemsHealth(deps.pool, deps.registry, deps.config.queue.schema) }),
})

const runNowSchema = z
  .object({
    jobId: z.uuid().describe('The pg-boss job: the new run, or the one already pending.'),
    status: z.enum(['queued', 'already_queued']),
    state: z.string().describe('The job state now.'),
  })
  .meta({ id: 'ReconcileRun' })

function bossOf(deps: ApiDeps) {
  if (!deps.boss) throw new ApiError(503, 'queue_unavailable', 'this process has no job queue')
  return deps.boss
}

async function runNow(deps: ApiDeps, kind: ReconcileKind, id: string, actor: Parameters<typeof reconcileNow>[3], requestId: unknown) {
  const result = await reconcileNow({ pool: deps.pool, boss: bossOf(deps), queueSchema: deps.config.queue.schema }, kind, id, actor, requestId ? `reconcile-now:${String(requestId)}` : null)
  const body = { jobId: result.jobId, status: result.created ? ('queued' as const) : ('already_queued' as const), state: result.state }
  return result.created ? reply(202, body) : reply(200, body)
}

const unavailable = (message: string) => new ApiError(409, 'reconcile_unavailable', message)

export const reconcileSourceNowRoute = defineRoute({
  method: 'post',
  path: '/api/v1/admin/sources/:source/reconcile',
  summary: 'Run HR reconciliation for one source now',
  description:
    'Queues the `hr.reconcile` job for the source, as its schedule does. A run already queued or running for it is answered (200) instead of a second one, so two clicks are one run. Audited as `reconciliation.run_requested`.',
  tags: ['admin'],
  roles: ['admin'],
  request: { params: z.object({ source: z.enum(HR_SOURCES) }) },
  responses: {
    202: { description: 'Queued', schema: runNowSchema },
    200: { description: 'A run for this source was already queued or running: that one', schema: runNowSchema },
    404: { description: 'The source is not configured' },
    409: { description: '`reconcile_unavailable`: the source is disabled, has no API access, or has reconciliation off' },
  },
  handler: async ({ params, deps, actor, req }) => {
    const config = hrSourcesOf(deps)[params.source]
    if (!config) throw notFound(`HR source ${params.source}`)
    if (!config.enabled) throw unavailable(`HR source ${params.source} is disabled`)
    if (!config.api) throw unavailable(`HR source ${params.source} has no API access configured (hr.${params.source}.api): there is no roster to read`)
    if (!config.reconcile.enabled) throw unavailable(`HR source ${params.source} has reconciliation turned off (hr.${params.source}.reconcile.enabled)`)
    return runNow(deps, 'hr', params.source, actor, req.id)
  },
})

export const reconcileSystemNowRoute = defineRoute({
  method: 'post',
  path: '/api/v1/admin/systems/:system/reconcile',
  summary: 'Run target reconciliation for one system now',
  description:
    'Queues the `reconcile.targets` job for the system. A run already queued or running for it is answered (200) instead of a second one. Audited as `reconciliation.run_requested`.',
  tags: ['admin'],
  roles: ['admin'],
  request: { params: z.object({ system: z.string().min(1).max(100).regex(/^[a-z][a-z0-9_-]*(:[a-z0-9][a-z0-9_-]*)?$/, 'a system id such as google or scim:acme') }) },
  responses: {
    202: { description: 'Queued', schema: runNowSchema },
    200: { description: 'A run for this system was already queued or running: that one', schema: runNowSchema },
    404: { description: 'No such system' },
    409: { description: '`reconcile_unavailable`: the system is disabled or manual (nothing to list)' },
  },
  handler: async ({ params, deps, actor, req }) => {
    const info = deps.registry?.systems.find((s) => s.system === params.system)
    if (!info) throw notFound(`system ${params.system}`)
    if (!info.enabled) throw unavailable(`system ${params.system} is disabled${info.reason ? `: ${info.reason}` : ''}`)
    if (info.kind === 'manual') throw unavailable(`system ${params.system} is manual: it has no API to list accounts from`)
    return runNow(deps, 'targets', params.system, actor, req.id)
  },
})

export const ADMIN_ROUTES = [adminAccessRoute, adminSsoUsersRoute, adminSourcesRoute, adminSystemsRoute, reconcileSourceNowRoute, reconcileSystemNowRoute]
