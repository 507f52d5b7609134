/**
 * Several `tenure worker` processes on one PostgreSQL behave as one (issue 19, point 3). Slack's
 * usergroups.users.update and a PUT-only SCIM app's PUT /Groups/{id} replace a group's whole
 * member list, so a membership change is read-modify-write; two processes changing one group at
 * once lose one of the changes unless something outside the processes orders them (a PostgreSQL
 * advisory lock per system and group, src/db/advisory-locks.ts).
 *
 * Three real worker child processes work a joiner → mover → leaver flow whose people all share the
 * same few groups, and the outcome is read from the emulators' own state, not from Tenure's tables.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runTenure, type Spawned } from '../helpers/process.ts'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { EMULATOR_RATE_LIMITS } from '../../provisioners/slack/limits.ts'
import { ScimEmulator, scimSandboxConfig } from '../../provisioners/scim/emulator.ts'

const WORKERS = 3
const LEAVERS = 20
const MOVERS = 10
const JOINERS = 20
const GENEROUS = { perMinute: 60_000, burst: 1_000 }
const today = () => new Date().toISOString().slice(0, 10)

test(`when ${WORKERS} worker processes apply joiners, movers and leavers that share Slack user groups and SCIM groups at once, then the targets hold exactly the memberships of one process`, async () => {
  // Vendor limits out of the way on both sides: what is tested is ordering, not pacing. A little
  // latency keeps each read-modify-write open long enough for the processes to overlap in it.
  const slackLimits = Object.fromEntries(Object.keys(EMULATOR_RATE_LIMITS).map((bucket) => [bucket, GENEROUS]))
  const slack = new SlackEmulator({ rateLimits: slackLimits, latency: { medianMs: 15, sigma: 0.3 } })
  const slackUrl = await slack.start()
  // A PUT-only app without ETags (both optional in RFC 7644 §3.5.2 and §3.14): membership changes
  // are whole-Group PUTs with nothing on the server to catch a lost update.
  const scim = new ScimEmulator({ patchSupported: false, etagSupported: false, rateLimits: { requests: GENEROUS }, latency: { medianMs: 15, sigma: 0.3 } })
  const scimUrl = await scim.start()

  // Someone outside Tenure is in every group (an admin): every group keeps a member, and an edit
  // that drops someone else's membership drops theirs too.
  const admin = slack.seedUser({ userName: 'groupadmin', email: 'group.admin@example.com', givenName: 'Group', familyName: 'Admin' })
  for (const handle of ['all-staff', 'eng', 'sales']) slack.seedUserGroup({ handle, users: [admin] })
  const scimAdmin = scim.seedUser({ userName: 'group.admin@example.com', active: true })
  for (const name of ['Everyone', 'Engineering', 'Sales']) scim.seedGroup(name, [scimAdmin])

  const scimConfig = { ...scimSandboxConfig(scimUrl, 'app'), quirks: { updateMethod: 'put' as const, filterSupported: true, etag: false, groupMembership: 'put_group' as const } }
  const systems = {
    slack: slackSandboxConfig(slackUrl),
    scim: [scimConfig],
    rateLimits: { slack: slackLimits, 'scim:app': { requests: GENEROUS, read: GENEROUS, write: GENEROUS } },
  }
  const policy = {
    rules: [
      { name: 'everyone', grant: { slack: { userGroups: ['all-staff'] }, 'scim:app': { groups: ['Everyone'] } } },
      { name: 'engineering', match: { department: 'Engineering' }, grant: { slack: { userGroups: ['eng'] }, 'scim:app': { groups: ['Engineering'] } } },
      { name: 'sales', match: { department: 'Sales' }, grant: { slack: { userGroups: ['sales'] }, 'scim:app': { groups: ['Sales'] } } },
    ],
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-multi-worker-'))
  const queue = { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1 }
  const workers = { cleanupSettleSeconds: 1, concurrency: 8 }
  // This process only records HR events and enqueues jobs (workers off); the three children work them.
  let t: TestTenure | undefined
  const children: Spawned[] = []
  try {
    t = await startTestTenure({ systems, policy, queue, workers: { ...workers, enabled: false }, database: { dataDir: dir } })
    const configFile = path.join(dir, 'tenure.yaml')
    await writeFile(
      configFile,
      JSON.stringify({ server: { port: 0 }, systems, policy, queue: { ...queue, poolSize: 4 }, workers, database: { poolSize: 6 }, sandbox: { enabled: false } }),
    )
    const env = { DATABASE_URL: t.db.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'info' }
    for (let i = 0; i < WORKERS; i++) children.push(runTenure(['worker'], env))
    await Promise.all(children.map((c) => c.waitFor(/Tenure worker started/, 60_000)))

    const pool = t.running.pool
    const count = async (sql: string) => (await pool.query<{ n: number }>(sql)).rows[0]!.n
    const pendingJobs = () =>
      count(`SELECT count(*)::int AS n FROM pgboss.job WHERE (name LIKE 'system.%' OR name LIKE 'cleanup.%') AND state IN ('created', 'retry', 'active')`)
    const send = (events: Array<Parameters<typeof applyHrEvent>[1]>) =>
      Promise.all(events.map((e, i) => applyHrEvent(t!.running.engine, e, { actor: SYSTEM_ACTOR, correlationId: `multi-${i}-${e.type}` })))
    const hire = (id: string, department: string) =>
      hrEvent('employee.hired', id, {
        profile: { employeeId: id, firstName: 'Multi', lastName: `Worker${id}`, workEmail: `${id.toLowerCase()}@example.com`, department },
        startDate: today(),
        preHire: false,
      })

    const leavers = Array.from({ length: LEAVERS }, (_, i) => `L${i}`)
    const movers = Array.from({ length: MOVERS }, (_, i) => `M${i}`)
    const joiners = Array.from({ length: JOINERS }, (_, i) => `J${i}`)
    const startedAt = Date.now()

    // Wave 1: everyone who will later leave or move joins at once (all into Engineering).
    await send([...leavers, ...movers].map((id) => hire(id, 'Engineering')))
    await t.until(
      'the first joiners to be provisioned',
      async () => (await count(`SELECT count(*)::int AS n FROM employees WHERE state = 'active'`)) === LEAVERS + MOVERS && (await pendingJobs()) === 0,
      60_000,
    )

    // Wave 2, in the same second: leavers leave, movers move to Sales, new joiners join Engineering.
    await send([
      ...leavers.map((id) => hrEvent('employee.terminated', id, { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' })),
      ...movers.map((id) => hrEvent('employee.updated', id, { changes: { department: 'Sales' } })),
      ...joiners.map((id) => hire(id, 'Engineering')),
    ])
    let settled: unknown
    await t
      .until(
        'leavers offboarded, joiners active and no job pending',
        async () =>
          (await count(`SELECT count(*)::int AS n FROM employees WHERE state = 'offboarded'`)) === LEAVERS &&
          (await count(`SELECT count(*)::int AS n FROM employees WHERE state = 'active'`)) === MOVERS + JOINERS &&
          (await pendingJobs()) === 0,
        60_000,
      )
      .catch((err: unknown) => (settled = err))
    console.log(`# ${WORKERS} workers, ${LEAVERS + MOVERS} joiners then ${LEAVERS} leavers, ${MOVERS} movers and ${JOINERS} joiners: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)

    // What the targets hold, read from the emulators.
    const slackGroups = new Map<string, string[]>()
    for (const account of slack.inventory()) if (account.email) slackGroups.set(account.email, account.access.userGroups ?? [])
    const scimGroups = new Map<string, string[]>()
    for (const account of scim.inventory()) if (account.email) scimGroups.set(account.email, [...(account.access.groups ?? [])].map((g) => g.toLowerCase()))
    const problems: string[] = []
    const expect = (who: string[], system: string, held: Map<string, string[]>, wanted: string[]) => {
      let wrong = 0
      for (const id of who) {
        const email = `${id.toLowerCase()}@example.com`
        const groups = [...(held.get(email) ?? [])].sort()
        if (JSON.stringify(groups) !== JSON.stringify([...wanted].sort())) {
          wrong += 1
          problems.push(`${system} ${id}: in [${groups.join(', ')}], expected [${wanted.join(', ')}]`)
        }
      }
      if (wrong > 0) problems.unshift(`${system}: ${wrong} of ${who.length} ${who[0]!.startsWith('L') ? 'leavers' : who[0]!.startsWith('M') ? 'movers' : 'joiners'} wrong`)
    }
    expect(leavers, 'slack', slackGroups, [])
    expect(movers, 'slack', slackGroups, ['all-staff', 'sales'])
    expect(joiners, 'slack', slackGroups, ['all-staff', 'eng'])
    expect(leavers, 'scim', scimGroups, [])
    expect(movers, 'scim', scimGroups, ['everyone', 'sales'])
    expect(joiners, 'scim', scimGroups, ['engineering', 'everyone'])
    expect(['group.admin'], 'slack', slackGroups, ['all-staff', 'eng', 'sales'])
    expect(['group.admin'], 'scim', scimGroups, ['engineering', 'everyone', 'sales'])
    assert.deepEqual(problems, [], 'memberships in the targets')
    if (settled) throw settled
    assert.equal(await count(`SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'dlq.%'`), 0, 'no job in a dead-letter queue')
    // Every Slack user-group change the workers recorded was applied by some worker's round and read back.
    assert.equal(await count(`SELECT count(*)::int AS n FROM group_membership_changes WHERE state IN ('pending', 'written')`), 0, 'no user-group change left open')
    const slackStats = (await (await fetch(`${slackUrl}/_emulator/stats`)).json()) as { byBucket: Record<string, number> }
    // 30 + 20 joiners into 2 groups each, 10 movers out of one and into another, 20 leavers out of 2: 180 changes.
    console.log(`# slack usergroups.users.update calls for 180 membership changes across ${WORKERS} workers: ${slackStats.byBucket['usergroups.users.update'] ?? 0}`)
    for (const c of children) c.child.kill('SIGTERM')
    for (const c of children) assert.equal((await c.exited).code, 0)
  } finally {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill('SIGKILL')
        await c.exited
      }
    }
    await t?.stop()
    await slack.close()
    await scim.close()
    await rm(dir, { recursive: true, force: true })
  }
})
