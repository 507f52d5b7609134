/**
 * Joiner and leaver cases. A leaver case shows its deadline, the time left, each system's progress
 * (revoked at, verified at, attempts, last error, residual access), the escalations sent, and a
 * forecast of when each system's queued work will be done at the configured rate limits, so an
 * operator sees a coming breach before it happens.
 */
import { z } from 'zod'
import { defineRoute, pageOf, pageQuery, encodeCursor, decodeCursor, type ApiDeps } from '../http/routes.ts'
import { notFound } from '../http/errors.ts'
import { forecastSystems, type SystemForecast } from '../sla/forecast.ts'
import { caseHealth, joinerSystemAtRisk, leaverSystemAtRisk } from '../sla/health.ts'
import { residualDecisions, type ResidualDecision } from '../db/manual-tasks.ts'
import { labelNames } from './actor-names.ts'
import type { Queryable } from '../db/pool.ts'
import { exceptionsByIds } from '../exceptions/store.ts'
import { allCases, caseById, currentCaseOf, caseEscalationsOf, caseSystemsOf, CASE_SORTS, listCases as listCaseRows, scheduledCaseCount, type CaseListRow } from '../db/cases.ts'

/** What a system waits on, readable: the exception's kind, its end and who asked for it (waitingOn holds only its id). */
export const waitingOnSchema = z
  .object({
    exceptionId: z.string(),
    kind: z.string().nullable().describe('null: no exception with this id was found.'),
    status: z.string().nullable(),
    endsAt: z.string().nullable(),
    requestedBy: z.string().nullable(),
    requestedByName: z.string().nullable(),
  })
  .nullable()

const caseSystem = z.object({
  system: z.string(),
  status: z.string(),
  accountId: z.string().nullable(),
  deadlineAt: z.string().nullable(),
  provisionedAt: z.string().nullable().describe('Joiner cases: when the account was created (or restored on a rehire).'),
  revokedAt: z.string().nullable(),
  verifiedAt: z.string().nullable(),
  cleanupAt: z.string().nullable(),
  attempts: z.number(),
  lastError: z.unknown().nullable(),
  residual: z
    .array(
      z.object({
        kind: z.string(),
        id: z.string(),
        reason: z.string(),
        taskId: z.uuid().nullable().describe('The task a person decides on this item with (GET /api/v1/tasks?kind=residual).'),
        decision: z.enum(['pending', 'removed', 'accepted', 'resolved']).describe('resolved = recorded by an operator resolving a failed system.'),
        exceptionId: z.uuid().nullable(),
        decidedBy: z.string().nullable(),
        decidedByName: z.string().nullable().describe("The decider's display name (API token name, SSO name); null: only the id is known."),
        decidedAt: z.string().nullable(),
      }),
    )
    .describe('Access a provisioner could not remove, each with the human decision on it.'),
  waitingOn: z.string().nullable().describe('The exception (id) this system waits for, e.g. a delay_revocation until its end.'),
  waitingOnException: waitingOnSchema,
  atRisk: z.boolean().describe('Leaver: cut-off not verified yet. Joiner: account not created yet, or its provisioning failed for good.'),
  forecastDoneAt: z.string().nullable().describe('When queued work for this system is predicted to finish at its rate limit.'),
})

export const caseSchema = z.object({
  id: z.uuid(),
  kind: z.enum(['joiner', 'leaver']),
  employeeId: z.uuid(),
  employeeName: z.string().nullable(),
  externalId: z.string(),
  status: z.enum(['scheduled', 'open', 'closed', 'cancelled']),
  health: z.enum(['scheduled', 'on_track', 'at_risk', 'breached', 'closed', 'cancelled']),
  effectiveAt: z.string().nullable(),
  receivedAt: z.string().nullable(),
  lateByHrSeconds: z.number().nullable(),
  deadlineAt: z.string().nullable(),
  secondsRemaining: z.number().nullable(),
  openedAt: z.string(),
  closedAt: z.string().nullable(),
  breachedAt: z.string().nullable(),
  reopenedCount: z.number(),
  systems: z.array(caseSystem),
  escalations: z.array(z.object({ step: z.string(), dueAt: z.string(), sentAt: z.string() })),
})

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)

async function hydrate(deps: ApiDeps, rows: CaseListRow[], forecasts: Map<string, SystemForecast>): Promise<Array<z.input<typeof caseSchema>>> {
  if (rows.length === 0) return []
  const ids = rows.map((r) => r.id)
  const systems = await caseSystemsOf(deps.pool, ids)
  const escalations = await caseEscalationsOf(deps.pool, ids)
  const decisions = await residualDecisions(deps.pool, ids)
  const waiting = await waitingOnOf(deps.pool, systems.map((s) => s.waiting_on))
  const names = await labelNames(deps.pool, [...decisions.values()].flat().map((d) => d.completedBy))
  const now = deps.now()
  return rows.map((r) => {
    const mine = systems.filter((s) => s.case_id === r.id)
    const open = r.status === 'open'
    const joiner = r.kind === 'joiner'
    const mapped = mine.map((s) => {
      const atRisk = open && (joiner ? joinerSystemAtRisk(s) : leaverSystemAtRisk(s))
      const f = forecasts.get(s.system)
      return {
        system: s.system,
        status: s.status,
        accountId: s.account_id,
        deadlineAt: iso(s.deadline_at),
        provisionedAt: iso(s.provisioned_at),
        revokedAt: iso(s.cutoff_at),
        verifiedAt: iso(s.verified_at),
        cleanupAt: iso(s.cleanup_at),
        attempts: s.attempts,
        lastError: s.last_error,
        residual: withDecisions(s.system, s.residual, decisions.get(r.id) ?? [], names),
        waitingOn: s.waiting_on,
        waitingOnException: s.waiting_on ? (waiting.get(s.waiting_on) ?? null) : null,
        atRisk,
        forecastDoneAt: atRisk && f ? f.doneAt : null,
      }
    })
    const { health, remaining } = caseHealth(
      { kind: r.kind, status: r.status, effectiveAt: r.effective_at, openedAt: r.opened_at, deadlineAt: r.deadline_at, breachedAt: r.breached_at, systems: mapped },
      now,
    )
    return {
      id: r.id,
      kind: r.kind,
      employeeId: r.employee_id,
      employeeName: r.display_name,
      externalId: r.external_id,
      status: r.status,
      health,
      effectiveAt: iso(r.effective_at),
      receivedAt: iso(r.received_at),
      lateByHrSeconds: r.late_by_hr_seconds,
      deadlineAt: iso(r.deadline_at),
      secondsRemaining: r.status === 'open' || r.status === 'scheduled' ? remaining : null,
      openedAt: r.opened_at.toISOString(),
      closedAt: iso(r.closed_at),
      breachedAt: iso(r.breached_at),
      reopenedCount: r.reopened_count,
      systems: mapped,
      escalations: escalations.filter((e) => e.case_id === r.id).map((e) => ({ step: e.step, dueAt: e.due_at.toISOString(), sentAt: e.sent_at.toISOString() })),
    }
  })
}

/** The exceptions systems wait on, by id, readable (see waitingOnSchema). */
export async function waitingOnOf(db: Queryable, ids: Array<string | null | undefined>): Promise<Map<string, NonNullable<z.input<typeof waitingOnSchema>>>> {
  const out = new Map<string, NonNullable<z.input<typeof waitingOnSchema>>>()
  const wanted = [...new Set(ids.filter((id): id is string => !!id))]
  if (wanted.length === 0) return out
  const found = await exceptionsByIds(db, wanted)
  for (const id of wanted) {
    const x = found.get(id)
    out.set(id, {
      exceptionId: id,
      kind: x?.kind ?? null,
      status: x?.status ?? null,
      endsAt: x ? x.endsAt.toISOString() : null,
      requestedBy: x?.requestedBy ?? null,
      requestedByName: x && typeof x.details.requesterName === 'string' ? x.details.requesterName : null,
    })
  }
  return out
}

function withDecisions(system: string, residual: unknown, decisions: ResidualDecision[], nameOf: (label: string | null | undefined) => string | null) {
  const items = Array.isArray(residual) ? (residual as Array<{ kind?: unknown; id?: unknown; reason?: unknown }>) : []
  return items.map((item) => {
    const kind = String(item.kind ?? '')
    const id = String(item.id ?? '')
    const task = decisions.find((d) => d.system === system && d.kind === kind && d.id === id)
    const decision = kind === 'manual' ? 'resolved' : task?.status === 'completed' ? (task.resolution ?? 'removed') : 'pending'
    return {
      kind,
      id,
      reason: String(item.reason ?? ''),
      taskId: task?.taskId ?? null,
      decision,
      exceptionId: task?.exceptionId ?? null,
      decidedBy: task?.completedBy ?? null,
      decidedByName: nameOf(task?.completedBy),
      decidedAt: iso(task?.completedAt),
    } as const
  })
}

const CASE_STATUSES = ['open', 'at_risk', 'breached', 'closed', 'scheduled', 'cancelled'] as const

/** at_risk and breached are derived from open cases. */
const storedStatus = (status: (typeof CASE_STATUSES)[number] | undefined) => (status === 'at_risk' || status === 'breached' ? 'open' : status)

/**
 * Every open case of a kind with its health. Health is derived (deadline, budget, forecast,
 * systems at risk), so counting it means hydrating each open case: the dashboard's counts and the
 * at_risk/breached filters read them all, not one page.
 */
async function openCasesWithHealth(deps: ApiDeps, kind: 'joiner' | 'leaver', q?: string): Promise<Array<z.input<typeof caseSchema>>> {
  const rows = await allCases(deps.pool, { kind, status: 'open', q })
  return hydrate(deps, rows, await forecastSystems(deps))
}

export const listCases = defineRoute({
  method: 'get',
  path: '/api/v1/cases',
  summary: 'Leaver (and joiner) cases, open ones by time left',
  description:
    '`status=open|at_risk|breached|closed|scheduled|cancelled`, `kind=leaver|joiner` (default leaver), `q` (part of the name or HR id). Open cases are ordered by deadline (least time left first); closed and cancelled ones by closing time, newest first; `sort` overrides (`deadline`, `opened`, `closed`, `-` for descending). ' +
    '`total` is the number of cases matching the filters (every page). ' +
    'A joiner case opens at the hire, its deadline is the start of day one, and it stays open until every account the policy grants exists: a provisioning that failed for good keeps it open (at_risk) although the person is active.',
  tags: ['cases'],
  roles: ['operator', 'auditor', 'approver'],
  request: {
    query: pageQuery().extend({
      status: z.enum(CASE_STATUSES).optional(),
      kind: z.enum(['joiner', 'leaver']).default('leaver'),
      q: z.string().trim().min(1).max(200).optional().describe('Part of the employee name or HR id (case-insensitive).'),
      sort: z.enum(CASE_SORTS).optional().describe('Order; default deadline (open) or -closed (closed, cancelled).'),
    }),
  },
  responses: {
    200: { description: 'A page of cases', schema: pageOf(caseSchema).extend({ total: z.number().int().describe('Cases matching the filters, on every page.') }) },
  },
  handler: async ({ query, deps }) => {
    const after = decodeCursor(query.cursor, z.object({ o: z.number() }))
    const offset = after?.o ?? 0
    const sort = query.sort ?? (query.status === 'closed' || query.status === 'cancelled' ? '-closed' : 'deadline')
    // at_risk/breached are derived: every open case is hydrated and filtered, then paged.
    if (query.status === 'at_risk' || query.status === 'breached') {
      const all = (await openCasesWithHealth(deps, query.kind, query.q)).filter((c) => c.health === query.status)
      const items = all.slice(offset, offset + query.limit)
      return { items, nextCursor: offset + query.limit < all.length ? encodeCursor({ o: offset + query.limit }) : null, total: all.length }
    }
    const { rows, total } = await listCaseRows(deps.pool, { kind: query.kind, status: storedStatus(query.status), q: query.q, sort, limit: query.limit + 1, offset })
    const items = await hydrate(deps, rows, await forecastSystems(deps))
    return { items: items.slice(0, query.limit), nextCursor: items.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null, total }
  },
})

export const caseCountsSchema = z.object({
  kind: z.enum(['joiner', 'leaver']),
  open: z.number().int().describe('Open cases (on track, at risk and breached).'),
  onTrack: z.number().int(),
  atRisk: z.number().int(),
  breached: z.number().int(),
  scheduled: z.number().int().describe('Cases whose effective moment is still ahead.'),
})

export const caseCounts = defineRoute({
  method: 'get',
  path: '/api/v1/cases/counts',
  summary: 'How many cases are open, on track, at risk, breached and scheduled (every case, not one page)',
  description: "The dashboard's figures. Health is computed as in `GET /api/v1/cases` (deadline, budget, forecast, systems at risk), over every open case.",
  tags: ['cases'],
  roles: ['operator', 'auditor', 'approver'],
  request: { query: z.object({ kind: z.enum(['joiner', 'leaver']).default('leaver') }) },
  responses: { 200: { description: 'The counts', schema: caseCountsSchema } },
  handler: async ({ query, deps }) => {
    const [open, scheduled] = await Promise.all([
      openCasesWithHealth(deps, query.kind),
      scheduledCaseCount(deps.pool, query.kind),
    ])
    const count = (h: string) => open.filter((c) => c.health === h).length
    return { kind: query.kind, open: open.length, onTrack: count('on_track'), atRisk: count('at_risk'), breached: count('breached'), scheduled }
  },
})

export const getCase = defineRoute({
  method: 'get',
  path: '/api/v1/cases/:id',
  summary: 'One case with its systems, escalations and forecast',
  tags: ['cases'],
  roles: ['operator', 'auditor', 'approver'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: 'The case', schema: caseSchema }, 404: { description: 'No such case' } },
  handler: async ({ params, deps }) => {
    const row = await caseById(deps.pool, params.id)
    if (!row) throw notFound(`case ${params.id}`)
    const [item] = await hydrate(deps, [row], await forecastSystems(deps))
    return item!
  },
})

/** The employee's current case with its health (the employee page's summary), or null when they never had one. */
export async function currentCase(deps: ApiDeps, employeeId: string): Promise<z.input<typeof caseSchema> | null> {
  const row = await currentCaseOf(deps.pool, employeeId)
  if (!row) return null
  const [item] = await hydrate(deps, [row], await forecastSystems(deps))
  return item ?? null
}

export const CASE_ROUTES = [listCases, caseCounts, getCase]
