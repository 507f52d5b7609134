/**
 * Manual systems: no API, so every lifecycle step becomes a task for a person in the owner group.
 * A revocation task counts as the system's revocation only once someone attests it is done
 * (POST /api/v1/tasks/:id/complete), and it carries the same deadline as the automated systems:
 * an overdue task escalates like any other system.
 *
 * `verify` reads the task: revoked = the revocation task was completed with an attestation.
 */
import { z } from 'zod'
import type { Queryable } from '../../src/db/pool.ts'
import { ensureManualTask, latestRevokeTask } from '../../src/db/manual-tasks.ts'
import type {
  AccessChange,
  AccountRef,
  AccountSpec,
  AccountState,
  Ctx,
  EmployeeProfile,
  Page,
  Provisioner,
  RevocationEvidence,
  RevocationPlan,
} from '../types.ts'

export const manualSystemSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "-" and "_"')
      .describe('Short name; the system id becomes manual:<name>.'),
    title: z.string().min(1).max(200).describe('What the system is, shown on tasks, e.g. "Office badge".'),
    ownerGroup: z.string().min(1).max(200).describe('Who does the work, e.g. "facilities"; tasks are listed and filtered by it.'),
    instructions: z
      .object({
        provision: z.string().max(2000).optional(),
        revoke: z.string().max(2000).default('Remove all access and confirm.'),
      })
      .prefault({})
      .describe('What the person should do, per kind of task.'),
    provisionTasks: z.boolean().default(true).describe('Create a task for joiners too (false: only leavers get a task).'),
  })
  .strict()

export const manualConfigSchema = z
  .array(manualSystemSchema)
  .default([])
  .describe('Systems without an API; each is its own system manual:<name> handled through tasks.')

export type ManualSystemConfig = z.output<typeof manualSystemSchema>

export function createManualProvisioner(db: Queryable, config: ManualSystemConfig): Provisioner {
  const system = `manual:${config.name}`

  async function task(ctx: Ctx, employeeId: string, kind: string, instructions: string | undefined, details: Record<string, unknown>): Promise<string> {
    const started = Date.now()
    const id = await ensureManualTask(db, {
      system,
      employeeExternalId: employeeId,
      kind,
      idempotencyKey: `${ctx.idempotencyKey}:${kind}`,
      ownerGroup: config.ownerGroup,
      title: `${config.title}: ${kind}`,
      instructions: instructions ?? null,
      details,
    })
    ctx.recordCall({ operation: `task.${kind}`, method: 'POST', path: 'manual_tasks', status: 201, requestId: id, durationMs: Date.now() - started })
    return id
  }

  const ref = (employeeId: string): AccountRef => ({ system, accountId: employeeId, employeeId })

  const provisioner: Provisioner = {
    system,
    kind: 'manual',
    rateLimitBuckets: { default: { perMinute: 60_000, burst: 1000 } },
    async lookup(_ctx, employee: EmployeeProfile) {
      return ref(employee.employeeId)
    },
    async provision(ctx, spec: AccountSpec) {
      if (config.provisionTasks) {
        await task(ctx, spec.employee.employeeId, 'provision', config.instructions.provision, {
          name: `${spec.employee.firstName} ${spec.employee.lastName}`,
          access: spec.access,
          enabledFromDayOne: !spec.enabled,
        })
      }
      return ref(spec.employee.employeeId)
    },
    async update(ctx, account, change: AccessChange) {
      await task(ctx, account.employeeId, 'change', undefined, { add: change.add, remove: change.remove })
    },
    async enable(ctx, account) {
      await task(ctx, account.employeeId, 'enable', undefined, {})
    },
    async suspend(ctx, account) {
      await task(ctx, account.employeeId, 'suspend', undefined, {})
    },
    async deprovision(ctx, account, plan: RevocationPlan): Promise<RevocationEvidence> {
      const at = new Date().toISOString()
      if (plan.phase === 'cleanup') {
        // The revocation task covers the whole system; there is nothing separate to clean up.
        return { steps: plan.steps.map((step) => ({ step, status: 'not_supported', at, detail: 'covered by the revocation task' })), residual: [] }
      }
      const id = await task(ctx, account.employeeId, 'revoke', config.instructions.revoke, { steps: plan.steps, legalHold: plan.options.legalHold ?? false })
      return { steps: plan.steps.map((step) => ({ step, status: 'done', at, detail: `task ${id} assigned to ${config.ownerGroup}` })), residual: [] }
    },
    async verify(ctx, account): Promise<AccountState> {
      const started = Date.now()
      const latest = await latestRevokeTask(db, system, account.employeeId)
      ctx.recordCall({ operation: 'task.read', method: 'GET', path: 'manual_tasks', status: 200, requestId: latest?.id, durationMs: Date.now() - started })
      const attested = latest?.status === 'completed'
      return {
        accountId: account.accountId,
        exists: !attested,
        active: !attested,
        groups: [],
        licences: [],
        roles: [],
        checks: [{ name: 'revocation_attested', ok: attested, detail: latest ? `task ${latest.id} is ${latest.status}` : 'no revocation task' }],
        revoked: attested,
      }
    },
    async listAccounts(_ctx, _page?: string): Promise<Page<AccountState>> {
      // A system without an API has no account list to reconcile against.
      return { items: [] }
    },
  }
  return provisioner
}
