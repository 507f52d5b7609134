/**
 * The `sandbox` target: the simplest system, with accounts kept in Tenure's own table
 * (sandbox_accounts). It implements the whole contract, so the engine can be run end to end
 * with no emulator at all, and it stays as the sandbox's simplest target.
 */
import { z } from 'zod'
import type { Queryable } from '../../src/db/pool.ts'
import * as store from './store.ts'
import { NotFoundError } from '../errors.ts'
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
  StepEvidence,
} from '../types.ts'

export const sandboxConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Provision into the built-in sandbox table.'),
    domain: z.string().default('sandbox.example').describe('Domain for generated logins: first.last@domain.'),
    pageSize: z.number().int().min(1).max(1000).default(100).describe('Accounts per page when listing.'),
  })
  .strict()
export type SandboxConfig = z.output<typeof sandboxConfigSchema>

type Row = store.SandboxAccountRow

function toState(row: Row): AccountState {
  const exists = row.deleted_at === null
  const checks = [
    { name: 'account_disabled', ok: !row.active || !exists },
    { name: 'sessions_revoked', ok: row.sessions_valid_from !== null || !exists },
  ]
  return {
    accountId: row.id,
    exists,
    active: exists && row.active,
    login: row.login,
    employeeId: row.employee_external_id,
    groups: row.groups,
    licences: [],
    roles: [],
    checks,
    revoked: checks.every((c) => c.ok),
  }
}

export function loginFor(profile: EmployeeProfile, domain: string): string {
  const part = (s: string) =>
    s
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '')
  return `${part(profile.firstName)}.${part(profile.lastName)}@${domain}`
}

export function createSandboxProvisioner(db: Queryable, config: SandboxConfig, options: { systemId?: string } = {}): Provisioner {
  const system = options.systemId ?? 'sandbox'

  async function call<T>(ctx: Ctx, operation: string, method: string, fn: () => Promise<T>): Promise<T> {
    await ctx.throttle('default')
    const started = Date.now()
    try {
      const result = await fn()
      ctx.recordCall({ operation, method, path: `sandbox_accounts/${operation}`, status: 200, requestId: undefined, durationMs: Date.now() - started })
      return result
    } catch (err) {
      ctx.recordCall({ operation, method, path: `sandbox_accounts/${operation}`, status: 500, requestId: undefined, durationMs: Date.now() - started, errorKind: 'Transient' })
      throw err
    }
  }

  async function read(ctx: Ctx, ref: AccountRef): Promise<Row | undefined> {
    const rows = await call(ctx, 'get', 'GET', () => store.accountById(db, system, ref.accountId))
    return rows[0]
  }

  async function mustRead(ctx: Ctx, ref: AccountRef): Promise<Row> {
    const row = await read(ctx, ref)
    if (!row || row.deleted_at) throw new NotFoundError(`sandbox account ${ref.accountId} does not exist`, { system, operation: 'get', status: 404 })
    return row
  }

  const provisioner: Provisioner = {
    system,
    kind: 'sandbox',
    rateLimitBuckets: { default: { perMinute: 60_000, burst: 1000 } },

    async lookup(ctx, employee) {
      const rows = await call(ctx, 'lookup', 'GET', () => store.liveAccountOf(db, system, employee.employeeId))
      const row = rows[0]
      return row ? { system, accountId: row.id, login: row.login, employeeId: row.employee_external_id } : undefined
    },

    async provision(ctx, spec: AccountSpec) {
      // Idempotent: one account per employee; a second call returns it (reactivating a deleted one).
      const login = spec.employee.workEmail ?? loginFor(spec.employee, config.domain)
      const rows = await call(ctx, 'create', 'POST', () =>
        store.upsertAccount(db, { system, employeeExternalId: spec.employee.employeeId, login, enabled: spec.enabled, groups: [...new Set(spec.access.groups)].sort() }),
      )
      const row = rows[0]!
      return { system, accountId: row.id, login: row.login, employeeId: row.employee_external_id }
    },

    async update(ctx, ref, change: AccessChange) {
      const row = await mustRead(ctx, ref)
      const groups = new Set(row.groups)
      for (const g of change.add.groups ?? []) groups.add(g)
      for (const g of change.remove.groups ?? []) groups.delete(g)
      await call(ctx, 'update', 'PATCH', () =>
        store.setGroups(db, ref.accountId, [...groups].sort()),
      )
    },

    async enable(ctx, ref) {
      await mustRead(ctx, ref)
      await call(ctx, 'enable', 'PATCH', () =>
        store.enableAccount(db, ref.accountId),
      )
    },

    async suspend(ctx, ref) {
      await mustRead(ctx, ref)
      await call(ctx, 'suspend', 'PATCH', () =>
        store.suspendAccount(db, ref.accountId),
      )
    },

    async deprovision(ctx, ref, plan: RevocationPlan): Promise<RevocationEvidence> {
      const row = await read(ctx, ref)
      const at = () => new Date().toISOString()
      if (!row || row.deleted_at) {
        return { steps: plan.steps.map((step) => ({ step, status: 'already_done', at: at(), detail: 'account does not exist' })), residual: [] }
      }
      const steps: StepEvidence[] = []
      for (const step of plan.steps) {
        switch (step) {
          case 'disable':
            await call(ctx, 'disable', 'PATCH', () => store.disableAccount(db, ref.accountId))
            steps.push({ step, status: row.active ? 'done' : 'already_done', at: at() })
            break
          case 'revoke_sessions':
            await call(ctx, 'revoke_sessions', 'POST', () =>
              store.revokeSessions(db, ref.accountId),
            )
            steps.push({ step, status: 'done', at: at() })
            break
          case 'remove_groups':
            await call(ctx, 'remove_groups', 'PATCH', () => store.clearGroups(db, ref.accountId))
            steps.push({ step, status: row.groups.length > 0 ? 'done' : 'already_done', at: at(), detail: row.groups.join(', ') || undefined })
            break
          case 'delete':
            if (plan.options.legalHold || plan.options.retainAccount) {
              steps.push({ step, status: 'skipped', at: at(), detail: plan.options.legalHold ? 'legal hold' : 'retain_account exception' })
              break
            }
            await call(ctx, 'delete', 'DELETE', () => store.deleteAccount(db, ref.accountId))
            steps.push({ step, status: 'done', at: at() })
            break
          default:
            steps.push({ step, status: 'not_supported', at: at(), detail: 'the sandbox has no such thing' })
        }
      }
      return { steps, residual: [] }
    },

    async verify(ctx, ref): Promise<AccountState> {
      const row = await read(ctx, ref)
      if (!row) {
        return { accountId: ref.accountId, exists: false, active: false, groups: [], licences: [], roles: [], checks: [{ name: 'account_absent', ok: true }], revoked: true }
      }
      return toState(row)
    },

    async listAccounts(ctx, page?: string): Promise<Page<AccountState>> {
      const offset = page ? Number(page) : 0
      const rows = await call(ctx, 'list', 'GET', () => store.accountPage(db, system, config.pageSize + 1, offset))
      const items = rows.slice(0, config.pageSize).map(toState)
      return rows.length > config.pageSize ? { items, nextPage: String(offset + config.pageSize) } : { items }
    },
  }
  return provisioner
}
