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
import { accountsOf, employeeById, listEmployees as listEmployeeRows, type EmployeeRecord } from '../db/employees.ts'
import { hrEventsOfEmployee } from '../db/hr-inbox.ts'
import { auditEventsOfEmployee } from '../audit/store.ts'
import { pendingJobsOf } from '../jobs/inspect.ts'

const grantSchema = z.record(z.string(), z.unknown())

export const accountSchema = z.object({
  system: z.string(),
  accountId: z.string().nullable(),
  login: z.string().nullable(),
  status: z.string(),
  attempts: z.number(),
  lastError: z.unknown().nullable(),
  residual: z.array(z.unknown()),
  waitingOn: z.string().nullable(),
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
  action: z.string(),
  seq: z.number().nullable(),
  system: z.string().nullable(),
  actor: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
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
  timeline: z.array(timelineItem),
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

export async function loadAccounts(deps: ApiDeps, employeeId: string): Promise<Array<z.input<typeof accountSchema>>> {
  const rows = await accountsOf(deps.pool, employeeId)
  return rows.map((a) => ({
    system: a.system,
    accountId: a.account_id,
    login: a.login,
    status: a.status,
    attempts: a.attempts,
    lastError: a.last_error,
    residual: a.residual,
    waitingOn: a.waiting_on,
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
  summary: 'One employee: state, accounts per system, pending jobs, next action and the timeline',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: 'The employee', schema: employeeDetailSchema }, 404: { description: 'No such employee' } },
  handler: async ({ params, deps }) => {
    const row = await employeeById(deps.pool, params.id)
    if (!row) throw notFound(`employee ${params.id}`)
    const accounts = await loadAccounts(deps, row.id)
    const jobs = await pendingJobsOf(deps.pool, deps.config.queue.schema, row.id)
    const hr = await hrEventsOfEmployee(deps.pool, row.id)
    const audit = await auditEventsOfEmployee(deps.pool, row.id)
    const timeline = [
      ...hr.map((e) => ({
        at: e.received_at.toISOString(),
        kind: 'hr_event' as const,
        action: e.type,
        seq: null,
        system: null,
        actor: e.source,
        details: { eventId: e.event_id, occurredAt: e.occurred_at.toISOString(), foundBy: e.found_by, outcome: e.outcome, reason: e.outcome_reason },
      })),
      ...audit.map((a) => ({
        at: a.occurred_at.toISOString(),
        kind: 'audit' as const,
        action: a.action,
        seq: a.seq,
        system: a.system,
        actor: `${a.actor_type}:${a.actor_id}`,
        details: a.details,
      })),
    ].sort((x, y) => x.at.localeCompare(y.at) || (x.seq ?? 0) - (y.seq ?? 0))
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
      timeline,
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

export const EMPLOYEE_ROUTES = [listEmployees, getEmployee, getEmployeePlan]
