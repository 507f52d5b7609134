/**
 * Read API for employees and their plans: who is in which state, which accounts exist where,
 * what is pending, what happened (one timeline), and the dry-run plan of what policy wants.
 */
import { z } from 'zod'
import { defineRoute, pageOf, pageQuery, encodeCursor, decodeCursor } from '../http/routes.ts'
import { notFound, ApiError } from '../http/errors.ts'
import { evaluatePolicy, diffAccess } from '../policy/index.ts'
import type { EmployeeProfile, AccessGrant } from '../domain/access.ts'
import type { ApiDeps } from '../http/routes.ts'
import { accountsOf, employeeByHrId, employeeById, listEmployees as listEmployeeRows, type EmployeeRecord } from '../db/employees.ts'
import { timelineFacets, timelineOf, type TimelineRow } from '../db/timeline.ts'
import { sealAudit } from '../audit/sealer.ts'
import { actorNames } from './actor-names.ts'
import { caseSchema, currentCase, waitingOnOf, waitingOnSchema } from './cases.ts'
import { pendingJobsOf } from '../jobs/inspect.ts'

const grantSchema = z.record(z.string(), z.unknown())

/** Timeline rows in the employee's detail; the rest are paged (GET …/timeline). */
const DETAIL_TIMELINE = 20

export const accountSchema = z.object({
  system: z.string(),
  accountId: z.string().nullable(),
  login: z.string().nullable(),
  status: z.string(),
  attempts: z.number(),
  lastError: z.unknown().nullable().describe('As the lifecycle recorded it: { action, kind, message, at }. Prefer lastErrorSummary.'),
  lastErrorSummary: z
    .object({
      code: z.string().describe('The error kind: rate_limited, not_found, conflict, auth_failed, permanent, transient …'),
      message: z.string(),
      action: z.string().nullable().describe('What was being done: provision, update, deprovision, verify …'),
      at: z.string().nullable(),
    })
    .nullable()
    .describe('The last error, readable: code and message.'),
  residual: z.array(z.unknown()),
  waitingOn: z.string().nullable().describe('The exception (id) this account waits for.'),
  waitingOnException: waitingOnSchema,
  revokedAt: z.string().nullable(),
  verifiedAt: z.string().nullable(),
  cleanedAt: z.string().nullable(),
  desired: grantSchema.nullable(),
  provisioned: grantSchema.nullable(),
})

export const employeeSummarySchema = z.object({
  id: z.uuid(),
  source: z.string(),
  externalId: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  department: z.string().nullable(),
  state: z.string(),
  startDate: z.string().nullable(),
  nextAction: z.string().nullable(),
  nextActionAt: z.string().nullable(),
  updatedAt: z.string(),
})

export const timelineItem = z.object({
  at: z.string(),
  kind: z.enum(['hr_event', 'audit']),
  action: z.string().describe('The audit action (`target.api_called`) or the HR event type (`employee.hired`).'),
  seq: z.number().nullable().describe('The audit row; null for an HR event.'),
  system: z.string().nullable(),
  actor: z.string().nullable().describe('`type:id`, as the audit trail records it.'),
  actorType: z.string(),
  actorId: z.string(),
  actorName: z.string().nullable().describe('Who, by name (API token name, SSO name, HR source, Tenure); null: only the id is known.'),
  details: z.record(z.string(), z.unknown()),
})

export const timelinePageSchema = pageOf(timelineItem).extend({
  total: z.number().int().describe('Rows matching the filters, on every page.'),
  systems: z.array(z.string()).describe("Every system in this employee's timeline (the filter's choices)."),
  actions: z.array(z.string()).describe("Every action and HR event type in this employee's timeline."),
})

const pendingJob = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.string(),
  action: z.string().nullable(),
  phase: z.string().nullable(),
  startAfter: z.string(),
  retryCount: z.number(),
})

export const employeeDetailSchema = employeeSummarySchema.extend({
  profile: z.record(z.string(), z.unknown()),
  generation: z.number(),
  version: z.number(),
  accounts: z.array(accountSchema),
  pendingJobs: z.array(pendingJob),
  manager: z
    .object({ id: z.uuid().nullable().describe("Tenure's id of the manager, when Tenure knows them."), externalId: z.string(), name: z.string().nullable() })
    .nullable()
    .describe("The manager from the HR profile (managerId), by name when Tenure knows them."),
  currentCase: caseSchema.nullable().describe('The open case (else scheduled, else the newest) with its deadline and health; null: never had one.'),
  timeline: z.array(timelineItem).describe(`The newest ${DETAIL_TIMELINE} timeline rows; the whole timeline, filtered and paged: GET /api/v1/employees/{id}/timeline.`),
})

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)
const dateOnly = (d: Date | string | null) => (d === null ? null : typeof d === 'string' ? d : d.toISOString().slice(0, 10))

function summary(r: EmployeeRecord): z.input<typeof employeeSummarySchema> {
  return {
    id: r.id,
    source: r.source,
    externalId: r.external_id,
    displayName: r.display_name,
    email: r.email,
    department: r.department,
    state: r.state,
    startDate: dateOnly(r.start_date),
    nextAction: r.next_action,
    nextActionAt: iso(r.next_action_at),
    updatedAt: r.updated_at.toISOString(),
  }
}

/** lastError as the lifecycle keeps it ({ action, kind, message, at }), or whatever older rows hold, as code + message. */
export function errorSummary(e: unknown): z.input<typeof accountSchema>['lastErrorSummary'] {
  if (e === null || e === undefined) return null
  if (typeof e === 'string') return { code: 'error', message: e, action: null, at: null }
  if (typeof e !== 'object') return { code: 'error', message: String(e), action: null, at: null }
  const o = e as Record<string, unknown>
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
  const code = text(o.kind) ?? text(o.code) ?? text(o.name) ?? 'error'
  const message = text(o.message) ?? text(o.error) ?? text(o.reason) ?? 'no message was recorded'
  return { code, message, action: text(o.action), at: text(o.at) }
}

export async function loadAccounts(deps: ApiDeps, employeeId: string): Promise<Array<z.input<typeof accountSchema>>> {
  const rows = await accountsOf(deps.pool, employeeId)
  const waiting = await waitingOnOf(deps.pool, rows.map((a) => a.waiting_on))
  return rows.map((a) => ({
    system: a.system,
    accountId: a.account_id,
    login: a.login,
    status: a.status,
    attempts: a.attempts,
    lastError: a.last_error,
    lastErrorSummary: errorSummary(a.last_error),
    residual: a.residual,
    waitingOn: a.waiting_on,
    waitingOnException: a.waiting_on ? (waiting.get(a.waiting_on) ?? null) : null,
    revokedAt: iso(a.revoked_at),
    verifiedAt: iso(a.verified_at),
    cleanedAt: iso(a.cleaned_at),
    desired: a.desired,
    provisioned: a.provisioned,
  }))
}

const cursorShape = z.object({ u: z.string(), i: z.string() })

export const listEmployees = defineRoute({
  method: 'get',
  path: '/api/v1/employees',
  summary: 'Employees, newest change first',
  description: 'Filter by lifecycle state, department, HR source or start date. Paginated with `limit` and `cursor`.',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: {
    query: pageQuery().extend({
      state: z.string().max(50).optional(),
      department: z.string().max(200).optional(),
      source: z.string().max(50).optional(),
      q: z.string().max(200).optional().describe('Matches name, email or HR id (case-insensitive substring).'),
      startsFrom: z.iso.date().optional().describe('Only employees whose start date is on or after this date (joiners starting soon: with startsBefore).'),
      startsBefore: z.iso.date().optional().describe('Only employees whose start date is before this date.'),
    }),
  },
  responses: {
    200: { description: 'A page of employees', schema: pageOf(employeeSummarySchema).extend({ total: z.number().int().describe('Employees matching the filters, on every page.') }) },
  },
  handler: async ({ query, deps }) => {
    const after = decodeCursor(query.cursor, cursorShape)
    const { rows, total } = await listEmployeeRows(deps.pool, {
      state: query.state,
      department: query.department,
      source: query.source,
      startsFrom: query.startsFrom,
      startsBefore: query.startsBefore,
      q: query.q,
      after: after ? { updatedAt: after.u, id: after.i } : undefined,
      limit: query.limit + 1,
    })
    const items = rows.slice(0, query.limit)
    const last = items[items.length - 1]
    return {
      items: items.map(summary),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ u: last.updated_at.toISOString(), i: last.id }) : null,
      total,
    }
  },
})

export const getEmployee = defineRoute({
  method: 'get',
  path: '/api/v1/employees/:id',
  summary: 'One employee: state, manager, current case, accounts per system, pending jobs, next action and the newest timeline rows',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: 'The employee', schema: employeeDetailSchema }, 404: { description: 'No such employee' } },
  handler: async ({ params, deps }) => {
    const row = await employeeById(deps.pool, params.id)
    if (!row) throw notFound(`employee ${params.id}`)
    const accounts = await loadAccounts(deps, row.id)
    const jobs = await pendingJobsOf(deps.pool, deps.config.queue.schema, row.id)
    // The timeline shows audit seqs: entries committed before the request are sealed first.
    await sealAudit(deps.pool)
    const { rows: recent } = await timelineOf(deps.pool, row.id, {}, { limit: DETAIL_TIMELINE })
    const timeline = await timelineItems(deps, recent)
    const managerExternalId = typeof row.profile.managerId === 'string' && row.profile.managerId !== '' ? row.profile.managerId : null
    const manager = managerExternalId ? await managerOf(deps, row, managerExternalId) : null
    const current = await currentCase(deps, row.id)
    return {
      ...summary(row),
      profile: row.profile,
      generation: row.generation,
      version: row.version,
      accounts,
      pendingJobs: jobs.map((j) => ({
        id: j.id,
        queue: j.name,
        state: j.state,
        action: j.action,
        phase: j.phase,
        startAfter: j.start_after.toISOString(),
        retryCount: j.retry_count,
      })),
      manager,
      currentCase: current,
      timeline,
    }
  },
})

/** Rows of db/timeline.ts as the API shows them, each actor with a name. */
async function timelineItems(deps: ApiDeps, rows: TimelineRow[]): Promise<Array<z.input<typeof timelineItem>>> {
  const names = await actorNames(deps.pool, rows.map((r) => ({ type: r.actor_type, id: r.actor_id })))
  return rows.map((r) => ({
    at: r.at.toISOString(),
    kind: r.kind,
    action: r.action,
    seq: r.seq,
    system: r.system,
    actor: `${r.actor_type}:${r.actor_id}`,
    actorType: r.actor_type,
    actorId: r.actor_id,
    actorName: names.get(`${r.actor_type}:${r.actor_id}`) ?? null,
    details: r.details,
  }))
}

/** The manager named by the HR profile: Tenure's employee of the same HR source and id, else only the HR id. */
async function managerOf(deps: ApiDeps, row: EmployeeRecord, externalId: string): Promise<z.input<typeof employeeDetailSchema>['manager']> {
  const found = await employeeByHrId(deps.pool, row.source, externalId)
  return { id: found?.id ?? null, externalId, name: found?.displayName ?? null }
}

const timelineCursor = z.object({ a: z.string(), k: z.string() })

export const getEmployeeTimeline = defineRoute({
  method: 'get',
  path: '/api/v1/employees/:id/timeline',
  summary: "One employee's timeline: HR events and audit rows, newest first, filtered and paged",
  description:
    'Filter by `kind` (hr_event, audit), `action` (an action or HR event type, or a prefix such as `target.*`; several comma-separated), `system` and a period (`from`, `to`). ' +
    'Paged with `limit` and `cursor`; `total` counts every matching row. `systems` and `actions` list what the whole timeline holds (for a filter).',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: {
    params: z.object({ id: z.uuid() }),
    query: pageQuery().extend({
      kind: z.enum(['hr_event', 'audit']).optional(),
      action: z
        .string()
        .max(500)
        .regex(/^[a-z0-9_.*,]+$/, 'actions are dotted names such as target.api_called or job.*, comma-separated')
        .optional()
        .describe('`target.api_called`, `employee.hired`, `job.*` …; several comma-separated.'),
      system: z.string().max(200).optional(),
      from: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional().describe('On or after this moment (a date: its start, UTC).'),
      to: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional().describe('Before this moment (a date: its start, UTC).'),
    }),
  },
  responses: { 200: { description: 'A page of the timeline', schema: timelinePageSchema }, 404: { description: 'No such employee' } },
  handler: async ({ params, query, deps }) => {
    const row = await employeeById(deps.pool, params.id)
    if (!row) throw notFound(`employee ${params.id}`)
    const after = decodeCursor(query.cursor, timelineCursor)
    const filters = {
      kind: query.kind,
      actions: query.action ? query.action.split(',').filter((a) => a !== '') : undefined,
      system: query.system,
      from: query.from,
      to: query.to,
    }
    await sealAudit(deps.pool)
    const { rows, total } = await timelineOf(deps.pool, row.id, filters, { limit: query.limit + 1, after: after ? { at: after.a, key: after.k } : undefined })
    const items = rows.slice(0, query.limit)
    const last = items[items.length - 1]
    const facets = await timelineFacets(deps.pool, row.id)
    return {
      items: await timelineItems(deps, items),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ a: last.at_text, k: last.key }) : null,
      total,
      systems: facets.systems.sort(),
      actions: facets.actions.sort(),
    }
  },
})

export const planSystem = z.object({
  system: z.string(),
  desired: grantSchema.nullable(),
  provisioned: grantSchema.nullable(),
  create: z.boolean(),
  remove: z.boolean(),
  add: z.record(z.string(), z.array(z.string())),
  removeItems: z.record(z.string(), z.array(z.string())),
  rules: z.array(z.string()),
})

export const getEmployeePlan = defineRoute({
  method: 'get',
  path: '/api/v1/employees/:id/plan',
  summary: 'Dry run: the access policy wants for this employee, and the difference from what is provisioned',
  description: 'Changes nothing. Evaluates the birthright policy for the current HR profile.',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'The plan per system', schema: z.object({ employeeId: z.uuid(), state: z.string(), systems: z.array(planSystem) }) },
    404: { description: 'No such employee' },
    409: { description: 'The employee has no HR profile yet' },
  },
  handler: async ({ params, deps }) => {
    if (!deps.engine) throw new ApiError(503, 'engine_unavailable', 'the lifecycle engine is not running in this process')
    const row = await employeeById(deps.pool, params.id)
    if (!row) throw notFound(`employee ${params.id}`)
    const profile = row.profile as unknown as EmployeeProfile
    if (!profile.firstName) throw new ApiError(409, 'no_profile', 'this employee has no HR profile yet')
    const evaluation = evaluatePolicy({ ...profile, employeeId: row.external_id }, deps.engine.policy, deps.engine.systems())
    const accounts = await loadAccounts(deps, row.id)
    const systems = new Set([...Object.keys(evaluation.plan), ...accounts.map((a) => a.system)])
    const gone = new Set(['offboarded', 'cancelled', 'deprovisioning'])
    return {
      employeeId: row.id,
      state: row.state,
      systems: [...systems].sort().map((system) => {
        const desired = gone.has(row.state) ? undefined : evaluation.plan[system]
        const account = accounts.find((a) => a.system === system)
        const provisioned = (account?.provisioned ?? undefined) as AccessGrant | undefined
        const diff = diffAccess(desired, provisioned)
        return {
          system,
          desired: (desired ?? null) as Record<string, unknown> | null,
          provisioned: (provisioned ?? null) as Record<string, unknown> | null,
          create: diff.create,
          remove: diff.remove,
          add: diff.change.add as Record<string, string[]>,
          removeItems: diff.change.remove as Record<string, string[]>,
          rules: evaluation.explain[system] ?? [],
        }
      }),
    }
  },
})

export const EMPLOYEE_ROUTES = [listEmployees, getEmployee, getEmployeeTimeline, getEmployeePlan]
