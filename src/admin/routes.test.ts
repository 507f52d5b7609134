/**
 * The administration API over real HTTP on a whole Tenure (real PostgreSQL, pg-boss, the sandbox
 * system and HiBob's HR emulator as a source with API access). Workers are off, so a run queued
 * now stays queued and "two clicks are one run" can be seen.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, type TestTenure } from '../../test/helpers/tenure.ts'
import { apiAs, type ApiCall } from '../../test/helpers/api.ts'
import { startHrEmulators, type HrEmulators } from '../hr/emulators/index.ts'
import type { SourceHealth, SystemHealth } from './health.ts'
import { recordAudit } from '../audit/writer.ts'
import { sealAudit } from '../audit/sealer.ts'
import { HR_RECONCILE_QUEUE, TARGET_RECONCILE_QUEUE } from '../jobs/queues.ts'

describe('administration API', () => {
  let t: TestTenure
  let hr: HrEmulators
  let api: ApiCall
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    t = await startTestTenure({
      hr: { hibob: hr.config.hibob },
      systems: { sandbox: { enabled: true } },
      workers: { enabled: false },
      auth: { oidc: { issuer: 'http://127.0.0.1:9/realms/acme', audience: 'tenure', rolesClaim: 'groups', roleMapping: { admin: ['it-admins'], auditor: ['audit', 'risk'] } } },
    })
    api = await apiAs(t, ['admin', 'operator', 'auditor', 'approver'])
  })
  after(async () => {
    await t?.stop()
    await hr?.close()
  })

  const post = (role: 'admin' | 'operator', path: string) => api<Record<string, unknown>>(role, path, { method: 'POST' })
  const jobsOf = async (queue: string) =>
    (await t.running.pool.query<{ id: string; data: Record<string, unknown> }>(`SELECT id, data FROM ${t.running.config.queue.schema}.job WHERE name = $1 ORDER BY created_on`, [queue])).rows
  const runAudits = async () => {
    await sealAudit(t.running.pool)
    return (
      await t.running.pool.query<{ actor_type: string; actor_id: string; system: string | null; details: Record<string, unknown> }>(
        `SELECT actor_type, actor_id, system, details FROM audit_events WHERE action = 'reconciliation.run_requested' ORDER BY seq`,
      )
    ).rows
  }

  test('when a role other than admin calls an administration route, then it is refused with 403', async () => {
    for (const role of ['operator', 'auditor', 'approver'] as const) {
      for (const path of ['/api/v1/admin/access', '/api/v1/admin/sources', '/api/v1/admin/systems']) {
        const res = await api(role, path)
        assert.equal(res.status, 403, `${role} GET ${path}`)
      }
      for (const path of ['/api/v1/admin/sources/hibob/reconcile', '/api/v1/admin/systems/sandbox/reconcile']) {
        const res = await api<{ error: { code: string } }>(role, path, { method: 'POST' })
        assert.equal(res.status, 403, `${role} POST ${path}`)
        assert.equal(res.body.error.code, 'forbidden')
      }
    }
    assert.equal((await jobsOf(TARGET_RECONCILE_QUEUE)).filter((j) => j.data.system).length, 0, 'nothing was queued')
  })

  test('when the access screen is read, then it shows the claim → role mapping and the API token holders', async () => {
    const res = await api<{
      oidc: { issuer: string; rolesClaim: string } | null
      roles: Array<{ role: string; claimValues: string[] | null; description: string }>
      tokenHolders: Array<{ name: string; role: string; prefix: string }>
    }>('admin', '/api/v1/admin/access')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.oidc, { issuer: 'http://127.0.0.1:9/realms/acme', rolesClaim: 'groups' })
    const byRole = Object.fromEntries(res.body.roles.map((r) => [r.role, r.claimValues]))
    assert.deepEqual(byRole, { admin: ['it-admins'], approver: [], operator: [], auditor: ['audit', 'risk'] })
    const holders = res.body.tokenHolders.map((h) => `${h.name}:${h.role}`).sort()
    for (const expected of ['test-admin:admin', 'test-operator:operator', 'test-auditor:auditor', 'test-approver:approver']) assert.ok(holders.includes(expected), expected)
    assert.ok(res.body.tokenHolders.every((h) => h.prefix.startsWith('tnr_') && !('token' in h)), 'never a secret')
  })

  test('when nothing was recorded for a system or source, then its health says unknown, never ok', async () => {
    const systems = await api<{ items: SystemHealth[] }>('admin', '/api/v1/admin/systems')
    assert.equal(systems.status, 200)
    const sandbox = systems.body.items.find((s) => s.system === 'sandbox')!
    assert.equal(sandbox.enabled, true)
    assert.equal(sandbox.lastCall, null)
    assert.match(sandbox.lastCallUnknown ?? '', /no vendor call recorded/)
    assert.equal(sandbox.lastError, null)
    assert.deepEqual(
      sandbox.rateLimit.buckets.map((b) => [b.bucket, b.state, b.tokens]),
      [['default', 'unknown', null]],
      'a bucket never used has no state to show',
    )
    const sources = await api<{ items: SourceHealth[] }>('admin', '/api/v1/admin/sources')
    assert.equal(sources.status, 200)
    const hibob = sources.body.items.find((s) => s.source === 'hibob')!
    assert.equal(hibob.api, true)
    assert.equal(hibob.reconcile.enabled, true)
    assert.equal(hibob.lastCall, null)
    assert.equal(hibob.rateLimit, null)
    assert.ok(hibob.unknown.some((u) => /last call/.test(u)))
    assert.equal(hibob.lastDelivery, null)
  })

  test('when vendor calls and limiter use are recorded, then the system shows its last call, last error and bucket balance', async () => {
    const call = (status: number | null, errorKind: string | null, operation: string) => ({
      actor: { type: 'system' as const, id: 'tenure' },
      action: 'target.api_called' as const,
      subject: { system: 'sandbox' },
      details: { operation, method: 'POST', path: '/users', status, errorKind, durationMs: 12 },
    })
    await recordAudit(t.running.pool, [call(429, 'RateLimited', 'createUser'), call(500, 'Transient', 'createUser'), call(200, null, 'getUser')])
    // The health page reads the chain as sealed (a second behind at most, by the backstop); sealed now.
    await sealAudit(t.running.pool)
    await t.running.pool.query(`INSERT INTO rate_limit_buckets (system, bucket, tokens, capacity, per_minute) VALUES ('sandbox', 'default', -50, 1000, 0.001)`)
    const systems = await api<{ items: SystemHealth[] }>('admin', '/api/v1/admin/systems')
    const sandbox = systems.body.items.find((s) => s.system === 'sandbox')!
    assert.equal(sandbox.lastCall?.operation, 'getUser')
    assert.equal(sandbox.lastCall?.status, 200)
    assert.equal(sandbox.lastCallUnknown, null)
    assert.equal(sandbox.lastError?.status, 500)
    assert.equal(sandbox.lastError?.errorKind, 'Transient')
    assert.equal(sandbox.rateLimit.rateLimitedLastHour, 1)
    const bucket = sandbox.rateLimit.buckets[0]!
    assert.equal(bucket.state, 'booked_ahead')
    assert.ok(bucket.tokens !== null && bucket.tokens < 0)
  })

  test('when an admin clicks "reconcile now" twice for one system, then one run is queued and both clicks are audited with its job id', async () => {
    // Two clicks at once (a double click, two admins): one run.
    const answers = await Promise.all([post('admin', '/api/v1/admin/systems/sandbox/reconcile'), post('admin', '/api/v1/admin/systems/sandbox/reconcile')])
    const [first, second] = answers.sort((a, b) => b.status - a.status)
    assert.ok(first && second)
    assert.equal(first.status, 202)
    assert.equal(first.body.status, 'queued')
    assert.equal(second.status, 200)
    assert.equal(second.body.status, 'already_queued')
    assert.equal(second.body.jobId, first.body.jobId)
    const jobs = (await jobsOf(TARGET_RECONCILE_QUEUE)).filter((j) => j.data.system === 'sandbox')
    assert.deepEqual(
      jobs.map((j) => j.id),
      [first.body.jobId],
    )
    const audits = (await runAudits()).filter((a) => a.details.kind === 'targets')
    assert.equal(audits.length, 2)
    assert.ok(audits.every((a) => a.actor_type === 'api_token' && a.system === 'sandbox' && a.details.jobId === first.body.jobId))
    assert.deepEqual(audits.map((a) => a.details.outcome).sort(), ['already_queued', 'queued'])
    const health = await api<{ items: SystemHealth[] }>('admin', '/api/v1/admin/systems')
    assert.equal(health.body.items.find((s) => s.system === 'sandbox')!.reconcile.queued?.id, first.body.jobId)
  })

  test('when an admin runs HR reconciliation now for a source, then the hr.reconcile job is queued once for it', async () => {
    const first = await post('admin', '/api/v1/admin/sources/hibob/reconcile')
    assert.equal(first.status, 202)
    const second = await post('admin', '/api/v1/admin/sources/hibob/reconcile')
    assert.equal(second.status, 200)
    assert.equal(second.body.jobId, first.body.jobId)
    const jobs = (await jobsOf(HR_RECONCILE_QUEUE)).filter((j) => j.id === first.body.jobId)
    assert.equal(jobs.length, 1)
    assert.equal(jobs[0]!.data.source, 'hibob')
    const audits = (await runAudits()).filter((a) => a.details.kind === 'hr')
    assert.deepEqual(
      audits.map((a) => [a.details.source, a.details.jobId, a.details.outcome]),
      [
        ['hibob', first.body.jobId, 'queued'],
        ['hibob', first.body.jobId, 'already_queued'],
      ],
    )
  })

  test('when the source or system is not valid, then 400 validation_failed; unknown or unusable ones are 404 and 409', async () => {
    const badSource = await api<{ error: { code: string; details: { issues: Array<{ path: string }> } } }>('admin', '/api/v1/admin/sources/nope/reconcile', { method: 'POST' })
    assert.equal(badSource.status, 400)
    assert.equal(badSource.body.error.code, 'validation_failed')
    assert.equal(badSource.body.error.details.issues[0]!.path, 'params.source')
    const badSystem = await api<{ error: { code: string } }>('admin', `/api/v1/admin/systems/${encodeURIComponent('Bad System!')}/reconcile`, { method: 'POST' })
    assert.equal(badSystem.status, 400)
    assert.equal(badSystem.body.error.code, 'validation_failed')
    const unknownSystem = await api<{ error: { code: string } }>('admin', '/api/v1/admin/systems/jira/reconcile', { method: 'POST' })
    assert.equal(unknownSystem.status, 409, 'jira is known but not configured, so disabled')
    assert.equal(unknownSystem.body.error.code, 'reconcile_unavailable')
    const noSuch = await api<{ error: { code: string } }>('admin', '/api/v1/admin/systems/nosuch/reconcile', { method: 'POST' })
    assert.equal(noSuch.status, 404)
    const unconfigured = await api<{ error: { code: string } }>('admin', '/api/v1/admin/sources/workday/reconcile', { method: 'POST' })
    assert.equal(unconfigured.status, 404)
  })
})

describe('reconcile now, with workers running', () => {
  let t: TestTenure
  let hr: HrEmulators
  let api: ApiCall
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    t = await startTestTenure({ hr: { hibob: hr.config.hibob }, systems: { sandbox: { enabled: true } } })
    api = await apiAs(t, ['admin'])
  })
  after(async () => {
    await t?.stop()
    await hr?.close()
  })

  test('when an admin reconciles a system and a source now, then the workers run them and the health shows the finished runs', async () => {
    const system = await api<{ jobId: string }>('admin', '/api/v1/admin/systems/sandbox/reconcile', { method: 'POST' })
    assert.equal(system.status, 202)
    const source = await api<{ jobId: string }>('admin', '/api/v1/admin/sources/hibob/reconcile', { method: 'POST' })
    assert.equal(source.status, 202)
    const ran = await t.until('the system run to complete', async () => {
      const res = await api<{ items: SystemHealth[] }>('admin', '/api/v1/admin/systems')
      const run = res.body.items.find((s) => s.system === 'sandbox')?.reconcile
      return run?.lastRun?.id === system.body.jobId && run.lastRun.state === 'completed' && run.queued === null ? run.lastRun : null
    })
    assert.deepEqual((ran.output as { summaries: Array<{ system: string }> }).summaries.map((s) => s.system), ['sandbox'], 'that system only')
    await t.until('the source run to complete', async () => {
      const res = await api<{ items: SourceHealth[] }>('admin', '/api/v1/admin/sources')
      const run = res.body.items.find((s) => s.source === 'hibob')?.reconcile.lastRun
      return run?.id === source.body.jobId && run.state === 'completed'
    })
  })
})
