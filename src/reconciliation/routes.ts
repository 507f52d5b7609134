/**
 * The reconciliation findings API: list, show, acknowledge, link an orphan account, cut off.
 * Operators act (admins always may), auditors read. docs/api.md shows them with curl.
 */
import { randomUUID } from 'node:crypto'
import type { Request } from 'express'
import { z } from 'zod'
import { notFound } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery, timestamp } from '../http/routes.ts'
import { acknowledge, linkAccount, requestCutoff } from './service.ts'
import { FINDING_KINDS, FINDING_STATES, countFindings, findFinding, listFindings, type FindingRecord } from './store.ts'
import { labelNames } from '../api/actor-names.ts'
import type { Queryable } from '../db/pool.ts'

/**
 * What a person must write to act on a finding. The schema is the rule: the server enforces
 * exactly this (trimmed, then 10 to 2000 characters, the same floor as exceptions.minReasonLength's
 * default), so the OpenAPI document and the console's form say what the server will accept.
 */
export const FINDING_REASON_MIN_LENGTH = 10
const reasonSchema = z
  .string()
  .trim()
  .min(FINDING_REASON_MIN_LENGTH)
  .max(2000)
  .describe(`Why, in at least ${FINDING_REASON_MIN_LENGTH} characters (after trimming); goes into the audit trail.`)

const iso = (d: Date | null) => (d ? d.toISOString() : null)

const byName = z.string().nullable().describe('Who, by name (API token name, SSO name); null: only the id is known.')

export const findingSchema = z
  .object({
    id: z.uuid(),
    system: z.string(),
    kind: z.enum(FINDING_KINDS),
    accountId: z.string(),
    login: z.string().nullable(),
    employeeId: z.uuid().nullable().describe('The employee the account maps to (Tenure account, identity key, or a link); null for an orphan.'),
    employeeExternalId: z.string().nullable(),
    employeeName: z.string().nullable(),
    employeeState: z.string().nullable().describe("The employee's lifecycle state now (a cut-off needs a leaver)."),
    details: z.record(z.string(), z.unknown()).describe('What the run saw: `beyondPolicy` per list for excess_access, `failedChecks` for active_after_revocation …'),
    access: z.record(z.string(), z.unknown()).nullable().describe('The account as last listed: active, groups, licences, roles (sorted).'),
    firstSeenAt: timestamp,
    lastSeenAt: timestamp,
    resolvedAt: timestamp.nullable(),
    status: z
      .enum(FINDING_STATES)
      .describe('open → acknowledged (a person accepted it; raised again to open when the listed access changes) ; resolved when a run no longer sees it.'),
    acknowledgement: z
      .object({ at: timestamp, by: z.string(), byType: z.string(), byName: byName, reason: z.string(), access: z.record(z.string(), z.unknown()).nullable() })
      .nullable()
      .describe('The latest acknowledgement (kept when the finding is raised again).'),
    raisedAgainAt: timestamp.nullable().describe('When a run saw access different from what was acknowledged.'),
    link: z.object({ employeeId: z.uuid(), reason: z.string(), by: z.string(), byType: z.string(), byName: byName, at: timestamp }).nullable(),
    cutoff: z.object({ at: timestamp, by: z.string(), byType: z.string(), byName: byName, reason: z.string() }).nullable().describe('The cut-off a person requested from this finding.'),
  })
  .meta({ id: 'ReconciliationFinding', description: 'Drift found in a target system, and what people did about it.' })

export function findingView(f: FindingRecord): z.input<typeof findingSchema> {
  return {
    id: f.id,
    system: f.system,
    kind: f.kind,
    accountId: f.accountId,
    login: f.login,
    employeeId: f.employeeId,
    employeeExternalId: f.employeeExternalId,
    employeeName: f.employeeName,
    employeeState: f.employeeState,
    details: f.details,
    access: f.access,
    firstSeenAt: f.firstSeenAt.toISOString(),
    lastSeenAt: f.lastSeenAt.toISOString(),
    resolvedAt: iso(f.resolvedAt),
    status: f.state,
    acknowledgement:
      f.acknowledgedAt && f.acknowledgedBy && f.acknowledgeReason
        ? { at: f.acknowledgedAt.toISOString(), by: f.acknowledgedBy, byType: f.acknowledgedByType ?? 'unknown', byName: null, reason: f.acknowledgeReason, access: f.acknowledgedAccess }
        : null,
    raisedAgainAt: iso(f.raisedAgainAt),
    link: f.link ? { employeeId: f.link.employeeId, reason: f.link.reason, by: f.link.linkedBy, byType: f.link.linkedByType, byName: null, at: f.link.linkedAt.toISOString() } : null,
    cutoff:
      f.cutoffRequestedAt && f.cutoffRequestedBy
        ? { at: f.cutoffRequestedAt.toISOString(), by: f.cutoffRequestedBy, byType: f.cutoffRequestedByType ?? 'unknown', byName: null, reason: f.cutoffReason ?? '' }
        : null,
  }
}

/** findingView with every acknowledging, linking and cutting-off person by name (one lookup for the page). */
async function namedFindings(db: Queryable, records: FindingRecord[]): Promise<Array<z.input<typeof findingSchema>>> {
  const views = records.map(findingView)
  const label = (p: { by: string; byType: string } | null) => (p ? (p.byType === 'unknown' ? p.by : `${p.byType}:${p.by}`) : null)
  const nameOf = await labelNames(db, views.flatMap((v) => [label(v.acknowledgement), label(v.link), label(v.cutoff)]))
  for (const v of views) {
    if (v.acknowledgement) v.acknowledgement.byName = nameOf(label(v.acknowledgement))
    if (v.link) v.link.byName = nameOf(label(v.link))
    if (v.cutoff) v.cutoff.byName = nameOf(label(v.cutoff))
  }
  return views
}

async function namedFinding(db: Queryable, record: FindingRecord): Promise<z.input<typeof findingSchema>> {
  return (await namedFindings(db, [record]))[0]!
}

const idParams = z.object({ id: z.uuid() })

function correlationOf(req: Request): string {
  return req.id ? String(req.id) : randomUUID()
}

export const listFindingsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/findings',
  summary: 'Drift found in target systems: accounts active after revocation, orphans, access beyond policy',
  tags: ['reconciliation'],
  roles: ['operator', 'auditor'],
  request: {
    query: pageQuery().extend({
      status: z
        .enum([...FINDING_STATES, 'unresolved', 'all'])
        .default('open')
        .describe('open (default: what needs a look), acknowledged, resolved, unresolved (open or acknowledged), all.'),
      system: z.string().max(200).optional(),
      kind: z.enum(FINDING_KINDS).optional(),
      employeeId: z.uuid().optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of findings, most recently seen first',
      schema: pageOf(findingSchema).extend({ total: z.number().int().describe('Findings matching the filters, on every page.') }),
    },
  },
  handler: async ({ query, deps }) => {
    const offset = decodeCursor(query.cursor, z.object({ o: z.number() }))?.o ?? 0
    const filter = {
      state: query.status,
      ...(query.system ? { system: query.system } : {}),
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.employeeId ? { employeeId: query.employeeId } : {}),
    }
    const [rows, total] = await Promise.all([listFindings(deps.pool, { ...filter, limit: query.limit, offset }), countFindings(deps.pool, filter)])
    return {
      items: await namedFindings(deps.pool, rows.slice(0, query.limit)),
      nextCursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null,
      total,
    }
  },
})

export const getFindingRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/findings/:id',
  summary: 'One finding with its acknowledgement, link and cut-off',
  tags: ['reconciliation'],
  roles: ['operator', 'auditor'],
  request: { params: idParams },
  responses: { 200: { description: 'The finding', schema: findingSchema }, 404: { description: 'No such finding' } },
  handler: async ({ params, deps }) => {
    const f = await findFinding(deps.pool, params.id)
    if (!f) throw notFound(`finding ${params.id}`)
    return namedFinding(deps.pool, f)
  },
})

export const acknowledgeFindingRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/findings/:id/acknowledge',
  summary: 'Acknowledge a finding with a reason',
  description:
    'A person accepts the finding as it is (a service account, a tolerated extra group). Later runs leave it acknowledged while the ' +
    "account's listed access stays what it was; when it changes, the finding is raised again (status open, audited). Acknowledging " +
    'an acknowledged finding is refused with 409 already_acknowledged and audited once.',
  tags: ['reconciliation'],
  roles: ['operator'],
  request: { params: idParams, body: z.object({ reason: reasonSchema }).strict().meta({ id: 'FindingAcknowledgement' }) },
  responses: {
    200: { description: 'The finding, acknowledged', schema: findingSchema },
    404: { description: 'No such finding' },
    409: { description: 'already_acknowledged, finding_resolved' },
  },
  handler: async ({ params, body, actor, deps, req }) => namedFinding(deps.pool, await acknowledge(deps.pool, actor, params.id, body.reason, { correlationId: correlationOf(req) })),
})

export const linkFindingRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/findings/:id/link',
  summary: 'Link an orphan account to an employee',
  description:
    "Records that the finding's account belongs to the employee. Every later run maps the account to them: an active employee's " +
    "account is judged against their policy (the orphan finding resolves, excess access is reported), a leaver's stays a finding " +
    'until it is cut off. Linking again is refused with 409 already_linked (or linked_elsewhere) and audited once.',
  tags: ['reconciliation'],
  roles: ['operator'],
  request: {
    params: idParams,
    body: z
      .object({ employeeId: z.uuid().describe("Tenure's employee id."), reason: reasonSchema })
      .strict()
      .meta({ id: 'FindingLink' }),
  },
  responses: {
    200: { description: 'The finding, its account linked', schema: findingSchema },
    400: { description: 'No such employee (body.employeeId)' },
    404: { description: 'No such finding' },
    409: { description: 'not_an_orphan, already_linked, linked_elsewhere, finding_resolved' },
  },
  handler: async ({ params, body, actor, deps, req }) =>
    namedFinding(deps.pool, await linkAccount(deps.pool, actor, params.id, body.employeeId, body.reason, { correlationId: correlationOf(req) })),
})

export const cutoffFindingRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/findings/:id/cutoff',
  summary: "Cut off a leaver's account found active",
  description:
    "Sends the employee's lifecycle the `reconciliation.account_active` event, as a run does for an account active after revocation: " +
    'the leaver case re-opens and the system is cut off again and verified under the SLA. For a leaver only (an active after revocation ' +
    "finding, an orphan linked to a leaver, excess access on a leaver), and only for the account the lifecycle revokes in that system. " +
    'Requesting it again is refused with 409 cutoff_already_requested and audited once.',
  tags: ['reconciliation'],
  roles: ['operator'],
  request: { params: idParams, body: z.object({ reason: reasonSchema }).strict().meta({ id: 'FindingCutoff' }) },
  responses: {
    200: { description: 'The finding, with the cut-off requested', schema: findingSchema },
    404: { description: 'No such finding' },
    409: { description: 'not_linked (an orphan: link it first), not_a_leaver, other_account, cutoff_already_requested, finding_resolved, finding_changed' },
    503: { description: 'This server runs without the lifecycle engine' },
  },
  handler: async ({ params, body, actor, deps, req }) =>
    namedFinding(deps.pool, await requestCutoff(deps.engine, deps.pool, actor, params.id, body.reason, { correlationId: correlationOf(req) })),
})

export const RECONCILIATION_ROUTES = [listFindingsRoute, getFindingRoute, acknowledgeFindingRoute, linkFindingRoute, cutoffFindingRoute] as const
