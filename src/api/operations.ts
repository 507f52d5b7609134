/**
 * Operational endpoints: manual tasks (list, complete with an attestation), the systems and their status, and failed jobs in the dead-letter queues (with redrive).
 */
import { employeeDisplayNames } from '../db/employees.ts'
import { z } from 'zod'
import { defineRoute, pageOf, pageQuery, encodeCursor, decodeCursor, type ApiDeps } from '../http/routes.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { applyEvent } from '../lifecycle/engine.ts'
import { refreshJoinerCase } from '../lifecycle/projections.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import { rateLimitedCallsLastHour } from '../audit/store.ts'
import { cleanupQueue, deadLetterQueue, systemQueue } from '../jobs/queues.ts'
import { withTransaction, type PoolClient } from '../db/pool.ts'
import { forecastSystems } from '../sla/forecast.ts'
import { HR_INBOX_STATUSES, listInbox } from '../db/hr-inbox.ts'
import { completeOpenTask, listTasks as listTaskRows, openResidualTaskIds, otherOpenResidualTask, taskById, taskWithAccountStatus, type TaskListRow } from '../db/manual-tasks.ts'
import { findException } from '../exceptions/store.ts'
import { labelNames } from './actor-names.ts'
import {
  deadLetterById,
  jobOutput,
  latestSystemJob,
  listDeadLetters as listDeadLetterRows,
  queueDepths,
  settleDeadLetter as markDeadLetterSettled,
  type DeadLetterRow,
} from '../jobs/inspect.ts'
import { HR_SOURCES } from '../../state-machines/events.ts'

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)

// ---------------------------------------------------------------------------------------------
// manual tasks

export const taskSchema = z.object({
  id: z.uuid(),
  system: z.string(),
  employeeExternalId: z.string(),
  employeeId: z.uuid().nullable(),
  employeeName: z.string().nullable(),
  kind: z.string(),
  ownerGroup: z.string(),
  title: z.string(),
  instructions: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  status: z.enum(['open', 'completed', 'cancelled']),
  deadlineAt: z.string().nullable(),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
  completedBy: z.string().nullable().describe('Actor id of the person who completed it (API token id or SSO `sub`).'),
  completedByName: z.string().nullable().describe('Their display name (API token name, SSO name); null: only the id is known.'),
  attestation: z.unknown().nullable(),
  caseId: z.uuid().nullable().describe('Residual tasks: the leaver case the residual access belongs to.'),
  resolution: z.enum(['removed', 'accepted']).nullable().describe('Residual tasks: removed by hand, or kept under the exception in exceptionId.'),
  exceptionId: z.uuid().nullable(),
})

/** The completing actor as the audit trail names it: the attestation's type when it kept one. */
function completedByLabel(t: Pick<TaskListRow, 'completed_by' | 'attestation'>): string | null {
  if (!t.completed_by) return null
  const type = (t.attestation as { byType?: unknown } | null)?.byType
  return typeof type === 'string' ? `${type}:${t.completed_by}` : t.completed_by
}

async function tasksOut(deps: ApiDeps, rows: TaskListRow[]): Promise<Array<z.input<typeof taskSchema>>> {
  const nameOf = await labelNames(deps.pool, rows.map(completedByLabel))
  return rows.map((t) => ({ ...taskOut(t), completedByName: nameOf(completedByLabel(t)) }))
}

function taskOut(t: TaskListRow): z.input<typeof taskSchema> {
  return {
    id: t.id,
    system: t.system,
    employeeExternalId: t.employee_external_id,
    employeeId: t.employee_id,
    employeeName: t.display_name,
    kind: t.kind,
    ownerGroup: t.owner_group,
    title: t.title,
    instructions: t.instructions,
    details: t.details,
    status: t.status,
    deadlineAt: iso((t.kind === 'revoke' || t.kind === 'residual' ? t.case_deadline_at : null) ?? t.deadline_at),
    createdAt: t.created_at.toISOString(),
    completedAt: iso(t.completed_at),
    completedBy: t.completed_by,
    completedByName: null,
    attestation: t.attestation ?? null,
    caseId: t.case_id,
    resolution: t.resolution,
    exceptionId: t.exception_id,
  }
}

export const listTasks = defineRoute({
  method: 'get',
  path: '/api/v1/tasks',
  summary: 'Manual tasks for systems without an API (open ones by deadline)',
  tags: ['tasks'],
  roles: ['approver', 'operator', 'auditor'],
  request: {
    query: pageQuery().extend({
      status: z.enum(['open', 'completed', 'cancelled']).optional(),
      kind: z.enum(['provision', 'revoke', 'suspend', 'enable', 'change', 'residual']).optional(),
      ownerGroup: z.string().max(200).optional(),
      system: z.string().max(200).optional(),
      employeeId: z.uuid().optional().describe("Only this employee's tasks."),
      sort: z.enum(['deadline', 'created', '-created']).default('deadline').describe('deadline: open ones first, least time left first (default); created / -created: oldest / newest first.'),
    }),
  },
  responses: { 200: { description: 'A page of tasks', schema: pageOf(taskSchema).extend({ total: z.number().int().describe('Tasks matching the filters, on every page.') }) } },
  handler: async ({ query, deps }) => {
    const offset = decodeCursor(query.cursor, z.object({ o: z.number() }))?.o ?? 0
    const { rows, total } = await listTaskRows(deps.pool, {
      status: query.status,
      kind: query.kind,
      ownerGroup: query.ownerGroup,
      system: query.system,
      employeeId: query.employeeId,
      sort: query.sort,
      limit: query.limit + 1,
      offset,
    })
    return { items: await tasksOut(deps, rows.slice(0, query.limit)), nextCursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null, total }
  },
})

export const completeTask = defineRoute({
  method: 'post',
  path: '/api/v1/tasks/:id/complete',
  summary: 'Complete a manual task with an attestation',
  description:
    'Records who attests, when, a note and an optional evidence reference. Completing a revocation task counts as the verified revocation of that system in the leaver case. ' +
    'A residual-access task needs a decision: `resolution: "removed"` (taken away by hand) or `resolution: "accepted"` with the id of an approved or active retain_account, legal_hold or extra_access exception of the same person. ' +
    'When the system had failed for good, the decision also resolves it on the case, so the case can close.',
  tags: ['tasks'],
  roles: ['approver'],
  request: {
    params: z.object({ id: z.uuid() }),
    body: z.object({
      note: z.string().min(1).max(2000).describe('What was done.'),
      evidenceRef: z.string().max(500).optional().describe('Where the evidence is (ticket, photo, door-system log id).'),
      doneAt: z.iso.datetime({ offset: true }).optional().describe('When it was done, if earlier than now.'),
      resolution: z.enum(['removed', 'accepted']).optional().describe('Residual-access tasks only (and required there).'),
      exceptionId: z.uuid().optional().describe('With resolution "accepted": the exception under which the access is kept.'),
    }),
  },
  responses: {
    200: { description: 'The completed task', schema: taskSchema },
    400: { description: 'A residual task without a resolution, "accepted" without an exception, or a resolution on another kind of task' },
    404: { description: 'No such task' },
    409: { description: 'The task is not open, or the exception does not cover this access' },
  },
  handler: async ({ params, body, deps, actor, log }) => {
    const attestation = { by: actor.id, byType: actor.type, at: deps.now().toISOString(), doneAt: body.doneAt ?? deps.now().toISOString(), note: body.note, evidenceRef: body.evidenceRef ?? null }
    const task = await taskWithAccountStatus(deps.pool, params.id)
    if (!task) throw notFound(`task ${params.id}`)
    if (task.status !== 'open') throw new ApiError(409, 'task_not_open', `task ${params.id} is ${task.status}`)
    const residual = task.kind === 'residual'
    if (!residual && (body.resolution || body.exceptionId)) {
      throw new ApiError(400, 'resolution_not_applicable', `a ${task.kind} task takes no resolution; only residual-access tasks do`)
    }
    if (residual && !body.resolution) throw new ApiError(400, 'resolution_required', 'residual access needs a decision: resolution "removed" or "accepted" (with exceptionId)')
    if (residual && body.resolution === 'accepted') {
      if (!body.exceptionId) throw new ApiError(400, 'exception_required', 'resolution "accepted" keeps access, which needs the id of the approved exception that allows it')
      const e = await findException(deps.pool, body.exceptionId)
      if (!e || e.employeeId !== task.employee_id) throw new ApiError(409, 'exception_not_applicable', `exception ${body.exceptionId} is not one of this person's`)
      if (!['retain_account', 'legal_hold', 'extra_access'].includes(e.kind)) {
        throw new ApiError(409, 'exception_not_applicable', `a ${e.kind} exception does not allow keeping access (retain_account, legal_hold or extra_access do)`)
      }
      if (e.status !== 'approved' && e.status !== 'active') throw new ApiError(409, 'exception_not_applicable', `exception ${body.exceptionId} is ${e.status}, not approved or active`)
      if (e.system !== null && e.system !== task.system) throw new ApiError(409, 'exception_not_applicable', `exception ${body.exceptionId} covers ${e.system}, not ${task.system}`)
    }
    const decision = residual ? { resolution: body.resolution ?? null, exceptionId: body.exceptionId ?? null } : {}
    const complete = async (client: PoolClient) => {
      const completed = await completeOpenTask(client, { id: params.id, by: actor.id, attestation, resolution: body.resolution ?? null, exceptionId: body.exceptionId ?? null })
      if (!completed) throw new ApiError(409, 'task_not_open', `task ${params.id} was completed meanwhile`)
    }
    const audit: AuditEntryInput = {
      actor,
      action: 'task.completed',
      subject: { employeeId: task.employee_id, system: task.system, accountId: task.employee_external_id },
      correlationId: null,
      details: { taskId: params.id, kind: task.kind, ...decision, ...(residual ? { residual: task.details.residual ?? null } : {}), ...attestation },
    }
    const systemFailed = task.system_status === 'failed' || task.system_status === 'verify_failed'
    // A failed system is resolved on the case once every residual item of it has a decision.
    const othersOpen = residual ? await otherOpenResidualTask(deps.pool, { id: params.id, system: task.system, employeeId: task.employee_id, caseId: task.case_id }) : false
    if (residual && systemFailed && !othersOpen && task.employee_id && deps.engine) {
      // The person's decision is what the failed system was waiting for: it is resolved on the case.
      await applyEvent(
        deps.engine,
        task.employee_id,
        { type: 'operator.resolved', system: task.system, actor: actor.id, note: `${body.resolution}: ${body.note}`, now: deps.now().toISOString() },
        { actor, correlationId: `task:${params.id}`, audit: [audit], within: complete },
      )
    } else if (task.kind === 'revoke' && task.employee_id && deps.engine) {
      // The attestation is the verification of a system without an API.
      await applyEvent(
        deps.engine,
        task.employee_id,
        { type: 'account.verified', system: task.system, revoked: true, checks: [{ name: 'revocation_attested', ok: true }], now: deps.now().toISOString() },
        { actor, correlationId: `task:${params.id}`, audit: [audit], within: complete },
      )
    } else {
      await withTransaction(deps.pool, async (client) => {
        await complete(client)
        // An attested provision task is the joiner's access being ready in that system.
        if (task.kind === 'provision' && task.employee_id) await refreshJoinerCase(client, task.employee_id, deps.now())
        await appendAudit(client, [audit])
      })
    }
    log.info({ taskId: params.id, system: task.system }, 'manual task completed')
    const out = await taskById(deps.pool, params.id)
    return (await tasksOut(deps, [out!]))[0]!
  },
})

// Reconciliation findings: src/reconciliation/routes.ts.

// ---------------------------------------------------------------------------------------------
// systems and failed jobs

export const systemSchema = z.object({
  system: z.string(),
  kind: z.string(),
  enabled: z.boolean(),
  reason: z.string().nullable(),
  limits: z.record(z.string(), z.object({ perMinute: z.number(), burst: z.number(), window: z.enum(['token-bucket', 'sliding-minute']).optional().describe('sliding-minute: at most perMinute calls in any 60 s (burst is then the whole minute); absent: a token bucket') })),
  queued: z.number(),
  deadLetters: z.number(),
  rateLimitedLastHour: z.number(),
  forecastDoneAt: z.string().nullable(),
})

export const listSystems = defineRoute({
  method: 'get',
  path: '/api/v1/systems',
  summary: 'Target systems: enabled or why not, rate limits, queue depth, dead letters, forecast',
  tags: ['systems'],
  roles: ['operator', 'auditor', 'approver'],
  responses: { 200: { description: 'Every known system', schema: z.object({ items: z.array(systemSchema) }) } },
  handler: async ({ deps }) => {
    const registry = deps.registry
    if (!registry) return { items: [] }
    const counts = await queueDepths(deps.pool, deps.config.queue.schema)
    const limited = await rateLimitedCallsLastHour(deps.pool)
    const forecasts = await forecastSystems(deps)
    return {
      items: registry.systems.map((info) => {
        const p = registry.get(info.system)
        const limits = Object.fromEntries(Object.keys(p?.rateLimitBuckets ?? {}).map((b) => [b, registry.limitFor(info.system, b)]))
        return {
          system: info.system,
          kind: info.kind,
          enabled: info.enabled,
          reason: info.reason ?? null,
          limits,
          queued: counts.filter((c) => c.name === systemQueue(info.system) || c.name === cleanupQueue(info.system)).reduce((n, c) => n + c.n, 0),
          deadLetters: counts.find((c) => c.name === deadLetterQueue(info.system))?.n ?? 0,
          rateLimitedLastHour: limited.find((r) => r.system === info.system)?.n ?? 0,
          forecastDoneAt: forecasts.get(info.system)?.doneAt ?? null,
        }
      }),
    }
  },
})

export const deadLetterSchema = z.object({
  id: z.uuid(),
  system: z.string(),
  employeeId: z.string(),
  externalId: z.string(),
  employeeName: z.string().nullable().describe("The employee's display name; null when Tenure has none."),
  action: z.string(),
  phase: z.string().nullable(),
  failure: z.unknown(),
  createdAt: z.string(),
})

export const listDeadLetters = defineRoute({
  method: 'get',
  path: '/api/v1/jobs/dead-letters',
  summary: 'Jobs that failed for good, per system, waiting for a person',
  tags: ['jobs'],
  roles: ['operator', 'auditor'],
  request: {
    query: pageQuery().extend({
      system: z.string().max(200).optional(),
      employeeId: z.uuid().optional().describe("Only this employee's failed jobs."),
      action: z.string().max(100).optional().describe('Only this action (provision, deprovision, ...).'),
      sort: z.enum(['-created', 'created']).default('-created').describe('-created: newest first (default); created: oldest first.'),
    }),
  },
  responses: {
    200: { description: 'A page of failed jobs', schema: pageOf(deadLetterSchema).extend({ total: z.number().int().describe('Dead letters matching the filters, on every page.') }) },
  },
  handler: async ({ query, deps }) => {
    const offset = decodeCursor(query.cursor, z.object({ o: z.number() }))?.o ?? 0
    const { rows, total } = await listDeadLetterRows(deps.pool, deps.config.queue.schema, {
      queue: query.system ? deadLetterQueue(query.system) : 'dlq.%',
      ...(query.employeeId ? { employeeId: query.employeeId } : {}),
      ...(query.action ? { action: query.action } : {}),
      sort: query.sort,
      limit: query.limit + 1,
      offset,
    })
    const page = rows.slice(0, query.limit)
    const people = await employeeDisplayNames(deps.pool, page.map((j) => j.data.employeeId))
    return {
      items: page.map((j) => ({
        id: j.id,
        system: j.data.request.system,
        employeeId: j.data.employeeId,
        externalId: j.data.externalId,
        employeeName: people.get(j.data.employeeId) ?? null,
        action: j.data.request.action,
        phase: j.data.request.phase ?? null,
        failure: j.data.failure ?? null,
        createdAt: j.created_on.toISOString(),
      })),
      nextCursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null,
      total,
    }
  },
})

/** How a dead letter was settled, kept on its pg-boss row (state completed, `output`). */
const settledSchema = z.object({
  settled: z.enum(['redriven', 'accepted', 'resolved_by_hand']),
  by: z.string(),
  at: z.string(),
  reason: z.string(),
})
type Settled = z.infer<typeof settledSchema>

/** What a settled dead letter's `output` says (null when it says nothing readable). */
function howSettled(output: unknown): Partial<Settled> | null {
  const read = settledSchema.partial().safeParse(output)
  return read.success ? read.data : null
}

/**
 * The dead letter, still waiting for a person. One that was settled already (retried, accepted or
 * resolved by hand) answers 409 `dead_letter_settled` with how and by whom: a second click never
 * does the work twice.
 */
async function openDeadLetter(deps: ApiDeps, id: string): Promise<Pick<DeadLetterRow, 'id' | 'name' | 'data'>> {
  const dead = await deadLetterById(deps.pool, deps.config.queue.schema, id)
  if (!dead) throw notFound(`failed job ${id}`)
  if (dead.state !== 'created') throw alreadySettled(id, howSettled(dead.output))
  return dead
}

function alreadySettled(id: string, how: Partial<Settled> | null | undefined): ApiError {
  const what = how?.settled ? `${how.settled.replaceAll('_', ' ')} by ${how.by ?? 'someone'} at ${how.at ?? '?'}` : 'settled meanwhile'
  return new ApiError(409, 'dead_letter_settled', `failed job ${id} was already ${what}: nothing was done`, how ?? null)
}

/**
 * Marks the dead letter settled in the caller's transaction (the row stays, state completed, until
 * pg-boss's retention removes it). Of two concurrent clicks only the first one's update matches.
 */
async function settleDeadLetter(client: PoolClient, deps: ApiDeps, dead: { id: string; name: string }, how: Settled): Promise<void> {
  const schema = deps.config.queue.schema
  if (!(await markDeadLetterSettled(client, schema, dead, how))) {
    throw alreadySettled(dead.id, howSettled(await jobOutput(client, schema, dead.id)))
  }
}

export const redriveDeadLetter = defineRoute({
  method: 'post',
  path: '/api/v1/jobs/dead-letters/:id/redrive',
  summary: 'Run a failed job again (after the cause was fixed)',
  description:
    "Tells the case the system is being retried (operator.retry); the case queues the one job that brings the system where it should be, and the dead letter is settled in the same transaction. The action is audited with the operator as actor. A dead letter that was already settled (retried, accepted or resolved by hand; e.g. a second click) answers 409 `dead_letter_settled`; a retry of a system that is already being retried or is done changes nothing and answers 409 `nothing_to_retry` with the system's status.",
  tags: ['jobs'],
  roles: ['operator'],
  request: { params: z.object({ id: z.uuid() }), body: z.object({ reason: z.string().min(1).max(1000) }) },
  responses: {
    202: { description: 'Queued again', schema: z.object({ jobId: z.string().nullable(), system: z.string() }) },
    404: { description: 'No such failed job' },
    409: { description: 'The dead letter was already settled (dead_letter_settled), or there is nothing to retry (nothing_to_retry); nothing was queued' },
    503: { description: 'No queue in this process' },
  },
  handler: async ({ params, body, deps, actor }) => {
    const boss = deps.boss
    if (!boss || !deps.engine) throw new ApiError(503, 'queue_unavailable', 'the job queue is not running in this process')
    const dead = await openDeadLetter(deps, params.id)
    const { failure: _failure, ...data } = dead.data
    const request = data.request
    // The case alone queues the retry (its operator.retry handler starts the job the system needs
    // now). Queueing the dead letter's copy as well ran the step twice: one click on "Retry job"
    // turned 2 dead letters into 3.
    let queued: string | null = null
    // Filled inside the transaction (the engine appends these after `within`, queued for the sealer with its own entries).
    const audit: AuditEntryInput[] = []
    const result = await applyEvent(
      deps.engine,
      data.employeeId,
      { type: 'operator.retry', system: request.system, actor: actor.id, now: deps.now().toISOString() },
      {
        actor,
        correlationId: data.correlationId,
        audit,
        within: async (client, applied) => {
          if (!applied.applied) return
          // Locked with the employee: of two clicks, only the first settles the dead letter.
          await settleDeadLetter(client, deps, dead, { settled: 'redriven', by: actor.id, at: deps.now().toISOString(), reason: body.reason })
          queued = await latestSystemJob(boss, client, data.employeeId, request.system)
          audit.push({
            actor,
            action: 'job.redriven',
            subject: { employeeId: data.employeeId, system: request.system },
            correlationId: data.correlationId,
            details: { deadLetterId: params.id, jobId: queued, key: request.key, reason: body.reason },
          })
        },
      },
    )
    if (!result.applied) {
      const status = result.view.systems.find((s) => s.system === request.system)?.status ?? 'unknown'
      throw new ApiError(409, 'nothing_to_retry', `${request.system} is not waiting for a retry (status ${status}): nothing was queued; ${result.ignoredReason ?? ''}`.trim(), {
        system: request.system,
        status,
      })
    }
    return { jobId: queued, system: request.system }
  },
})

export const settleDeadLetterRoute = defineRoute({
  method: 'post',
  path: '/api/v1/jobs/dead-letters/:id/settle',
  summary: 'Settle a job that failed for good without retrying it: accept the failure, or record it as resolved by hand',
  description:
    '`outcome: "accepted"`: the failure stands. For a leaver the access may still be there, so it becomes residual access on the case, with a residual-access task on which a person decides ' +
    '(removed by hand, or kept under an approved exception: `POST /api/v1/tasks/{id}/complete`); for a joiner or a mover the person goes without that access and the case stops waiting for it. ' +
    '`outcome: "resolved_by_hand"`: someone did by hand what the job could not (the failed system is resolved on the case and recorded as such). ' +
    'Either way the dead letter is settled in the same transaction and the decision is on the audit trail (`job.settled`) with the operator and the reason. ' +
    'A dead letter whose system is no longer failed (left over after a retry) can only be resolved by hand: it is settled and the case is left as it is (`caseChanged: false`).',
  tags: ['jobs'],
  roles: ['operator'],
  request: {
    params: z.object({ id: z.uuid() }),
    body: z.object({
      outcome: z.enum(['accepted', 'resolved_by_hand']),
      reason: z.string().trim().min(10).max(1000).describe('Why (at least 10 characters): what was done by hand, or why the failure is accepted.'),
    }),
  },
  responses: {
    200: {
      description: 'Settled',
      schema: z.object({
        system: z.string(),
        outcome: z.enum(['accepted', 'resolved_by_hand']),
        caseChanged: z.boolean().describe('false: the system was not failed any more, so only the dead letter was settled.'),
        residualTaskIds: z.array(z.uuid()).describe('accepted, for a leaver: the residual-access tasks to decide on.'),
      }),
    },
    404: { description: 'No such failed job' },
    409: { description: 'Already settled (dead_letter_settled), or "accepted" for a system that is not failed any more (nothing_to_settle)' },
    503: { description: 'No lifecycle engine in this process' },
  },
  handler: async ({ params, body, deps, actor }) => {
    if (!deps.engine) throw new ApiError(503, 'queue_unavailable', 'the lifecycle engine is not running in this process')
    const dead = await openDeadLetter(deps, params.id)
    const data = dead.data
    const system = data.request.system
    const audit: AuditEntryInput[] = []
    let residualTaskIds: string[] = []
    const result = await applyEvent(
      deps.engine,
      data.employeeId,
      { type: 'operator.resolved', system, actor: actor.id, note: body.reason, outcome: body.outcome, now: deps.now().toISOString() },
      {
        actor,
        correlationId: data.correlationId,
        audit,
        within: async (client, applied) => {
          // Accepting a failure the case no longer has would record nothing: refused, nothing changes.
          if (!applied.applied && body.outcome === 'accepted') return
          await settleDeadLetter(client, deps, dead, { settled: body.outcome, by: actor.id, at: deps.now().toISOString(), reason: body.reason })
          if (applied.applied && body.outcome === 'accepted') {
            residualTaskIds = await openResidualTaskIds(client, data.employeeId, system)
          }
          audit.push({
            actor,
            action: 'job.settled',
            subject: { employeeId: data.employeeId, system },
            correlationId: data.correlationId,
            details: { deadLetterId: params.id, outcome: body.outcome, reason: body.reason, key: data.request.key, failure: data.failure ?? null, caseChanged: applied.applied, residualTaskIds },
          })
        },
      },
    )
    if (!result.applied && body.outcome === 'accepted') {
      const status = result.view.systems.find((s) => s.system === system)?.status ?? 'unknown'
      throw new ApiError(409, 'nothing_to_settle', `${system} has not failed (status ${status}): there is no failure to accept; resolve the dead letter by hand instead`, { system, status })
    }
    return { system, outcome: body.outcome, caseChanged: result.applied, residualTaskIds }
  },
})

// ---------------------------------------------------------------------------------------------
// HR inbox

export { HR_INBOX_STATUSES }

export const hrInboxItemSchema = z.object({
  id: z.uuid(),
  source: z.string(),
  hrEmployeeId: z.string().describe("The HR system's id for the person."),
  vendorEventType: z.string(),
  foundBy: z.string(),
  status: z
    .enum(HR_INBOX_STATUSES)
    .describe('not_found: the re-fetch found no such employee in the HR system, nothing was applied; failed: the notice could not be read'),
  occurredAt: z.string().nullable(),
  receivedAt: z.string(),
  processedAt: z.string().nullable(),
  eventsCount: z.number(),
  error: z.unknown().nullable(),
  timestampsClamped: z
    .array(z.object({ eventId: z.string(), type: z.string(), vendorOccurredAt: z.string(), clampedTo: z.string() }))
    .nullable()
    .describe("Vendor timestamps further in the future than the source's tolerance, clamped to the receipt time."),
})

export const listHrInbox = defineRoute({
  method: 'get',
  path: '/api/v1/hr/inbox',
  summary: 'HR notices as received and what became of them (not found in HR, failed, clamped timestamps)',
  tags: ['hr'],
  roles: ['operator', 'auditor'],
  request: {
    query: pageQuery().extend({
      status: z.enum(HR_INBOX_STATUSES).optional(),
      source: z.enum(HR_SOURCES).optional(),
      attention: z
        .enum(['true', 'false'])
        .default('false')
        .describe('true: only notices a person should look at (failed, not_found, or with a clamped timestamp)'),
    }),
  },
  responses: { 200: { description: 'A page of inbox rows, newest first', schema: pageOf(hrInboxItemSchema) } },
  handler: async ({ query, deps }) => {
    const offset = decodeCursor(query.cursor, z.object({ o: z.number() }))?.o ?? 0
    const rows = await listInbox(deps.pool, {
      ...(query.status ? { status: query.status } : {}),
      ...(query.source ? { source: query.source } : {}),
      attention: query.attention === 'true',
      limit: query.limit + 1,
      offset,
    })
    return {
      items: rows.slice(0, query.limit).map((r) => ({
        id: r.id,
        source: r.source,
        hrEmployeeId: r.employee_external_id,
        vendorEventType: r.vendor_event_type,
        foundBy: r.found_by,
        status: r.status,
        occurredAt: iso(r.occurred_at),
        receivedAt: r.received_at.toISOString(),
        processedAt: iso(r.processed_at),
        eventsCount: r.events_count,
        error: r.error ?? null,
        timestampsClamped: r.timestamps_clamped ?? null,
      })),
      nextCursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null,
    }
  },
})

export const OPERATION_ROUTES = [listTasks, completeTask, listSystems, listDeadLetters, redriveDeadLetter, settleDeadLetterRoute, listHrInbox]
