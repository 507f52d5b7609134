import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { migrate } from '../../src/db/migrate.ts'
import { silentLogger } from '../../src/log.ts'
import { testCtx, type ApiCallRecord } from '../types.ts'
import { createSandboxProvisioner, sandboxConfigSchema } from './provisioner.ts'

let db: TestDatabase
let pool: pg.Pool
before(async () => {
  db = await createTestDatabase('sandbox')
  pool = new pg.Pool({ connectionString: db.url })
  await migrate(pool, silentLogger)
})
after(async () => {
  await pool.end()
  await db.drop()
})

const employee = { employeeId: 'E-1', firstName: 'Zoë', lastName: "O'Neil" }
const grant = { account: true, groups: ['staff', 'eng'], licences: [], channels: [], projects: [], roles: [] }

test('when an account is provisioned twice, then there is one account with the union of groups', async () => {
  const p = createSandboxProvisioner(pool, sandboxConfigSchema.parse({}))
  const calls: ApiCallRecord[] = []
  const ctx = testCtx(silentLogger, calls)
  const a = await p.provision(ctx, { employee, access: grant, enabled: true })
  const b = await p.provision(ctx, { employee, access: { ...grant, groups: ['ops'] }, enabled: true })
  assert.equal(a.accountId, b.accountId)
  assert.equal(a.login, 'zoe.oneil@sandbox.example')
  const state = await p.verify(ctx, a)
  assert.deepEqual(state.groups, ['eng', 'ops', 'staff'])
  assert.equal(state.active, true)
  assert.equal(state.revoked, false)
  assert.ok(calls.every((c) => c.status === 200))
})

test('when a leaver is deprovisioned, then verify reads back disabled with sessions revoked, and a second run is already done', async () => {
  const p = createSandboxProvisioner(pool, sandboxConfigSchema.parse({}))
  const ctx = testCtx(silentLogger)
  const ref = await p.provision(ctx, { employee: { ...employee, employeeId: 'E-2' }, access: grant, enabled: true })
  const cutoff = await p.deprovision(ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} })
  assert.deepEqual(
    cutoff.steps.map((s) => [s.step, s.status]),
    [
      ['disable', 'done'],
      ['revoke_sessions', 'done'],
      ['revoke_tokens', 'not_supported'],
    ],
  )
  const state = await p.verify(ctx, ref)
  assert.equal(state.revoked, true)
  const again = await p.deprovision(ctx, ref, { phase: 'cutoff', steps: ['disable'], options: {} })
  assert.equal(again.steps[0]!.status, 'already_done')
  const hold = await p.deprovision(ctx, ref, { phase: 'cleanup', steps: ['remove_groups', 'delete'], options: { legalHold: true } })
  assert.deepEqual(hold.steps.map((s) => s.status), ['done', 'skipped'])
  assert.equal((await p.verify(ctx, ref)).exists, true, 'legal hold kept the account')
})

test('when accounts are listed, then pages follow until the last', async () => {
  const p = createSandboxProvisioner(pool, sandboxConfigSchema.parse({ pageSize: 2 }), { systemId: 'sandbox-list' })
  const ctx = testCtx(silentLogger)
  for (let i = 0; i < 5; i++) await p.provision(ctx, { employee: { ...employee, employeeId: `L-${i}` }, access: grant, enabled: true })
  const seen: string[] = []
  let page: string | undefined
  do {
    const result = await p.listAccounts(ctx, page)
    seen.push(...result.items.map((i) => i.employeeId!))
    page = result.nextPage
  } while (page)
  assert.deepEqual(seen.sort(), ['L-0', 'L-1', 'L-2', 'L-3', 'L-4'])
})
