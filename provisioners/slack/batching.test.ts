/**
 * Slack user-group batching across jobs and processes: joiners and leavers of one group record
 * their change in PostgreSQL (group_membership_changes), and whichever job next gets Slack's Tier-2
 * tokens applies every pending change in one usergroups.users.update. Real PostgreSQL, real
 * advisory locks, two provisioner instances on two pools (two worker processes), real
 * @slack/web-api against the emulator over HTTP; call counts are the emulator's own.
 *
 * A rate-limit hand-back is modelled as the job layer does it: the provisioner call rejects with
 * RateLimitedError, and the job runs again later from the start with the same idempotency key.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { migrate } from '../../src/db/migrate.ts'
import { advisoryLocks } from '../../src/db/advisory-locks.ts'
import { groupChangeStore } from '../../src/db/group-changes.ts'
import { silentLogger } from '../../src/log.ts'
import { RateLimitedError } from '../errors.ts'
import type { AccountRef, Ctx, Provisioner, RevocationEvidence } from '../types.ts'
import { slackConfigSchema } from './config.ts'
import { SlackEmulator, slackSandboxConfig } from './emulator.ts'
import { createSlackProvisioner } from './provisioner.ts'
import { EMULATOR_RATE_LIMITS } from './limits.ts'

let db: TestDatabase
const pools: pg.Pool[] = []
before(async () => {
  db = await createTestDatabase('slackbatch')
  for (let i = 0; i < 2; i++) pools.push(new pg.Pool({ connectionString: db.url, max: 6 }))
  await migrate(pools[0]!, silentLogger)
})
after(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await db.drop()
})

/** Tier-2 user-group methods closed (every call refused by the limiter, as when its line is long) or open. */
class Gate {
  closed = true
  refusals = 0
  ctx(key: string): Ctx {
    return {
      idempotencyKey: key,
      correlationId: key,
      signal: new AbortController().signal,
      log: silentLogger,
      throttle: async (bucket) => {
        if (this.closed && bucket.startsWith('usergroups.users.')) {
          this.refusals += 1
          throw new RateLimitedError(`local limiter: slack/${bucket} is booked`, 3_000, { system: 'slack', operation: `limiter.${bucket}` })
        }
      },
      recordCall: () => {},
    }
  }
}

interface Harness {
  emu: SlackEmulator
  url: string
  /** One provisioner per "worker process": own pool, own advisory locks, the shared table. */
  workers: Provisioner[]
}

async function setup(): Promise<Harness> {
  // Each emulator numbers its users and groups from the start: one test's changes must not meet the next's.
  await pools[0]!.query('TRUNCATE group_membership_changes')
  // SCIM out of the way (its 180/min, burst 20, is not what is tested); the Web API tiers stay Slack's.
  const generous = { perMinute: 60_000, burst: 1_000 }
  const emu = new SlackEmulator({ rateLimits: { ...EMULATOR_RATE_LIMITS, scim_write: generous, scim_read: generous, scim_get_user: generous } })
  const url = await emu.start()
  const config = slackConfigSchema.parse({ ...slackSandboxConfig(url), defaultChannels: [] })
  const workers = pools.map((pool) => createSlackProvisioner(config, { lock: advisoryLocks(pool), groupChanges: groupChangeStore(pool) }))
  return { emu, url, workers }
}

async function stats(h: Harness, method: string): Promise<number> {
  const res = await fetch(`${h.url}/_emulator/stats`)
  const body = (await res.json()) as { byBucket: Record<string, number> }
  return body.byBucket[method] ?? 0
}

function joinerSpec(n: number, group: string) {
  return {
    employee: { employeeId: `J${n}`, firstName: 'Joiner', lastName: `N${n}`, workEmail: `joiner${n}@example.com` },
    access: { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], userGroups: [group] },
    enabled: true,
  }
}

describe('slack user-group batching', () => {
  test('when 50 joiners of one user group are handed back by the rate limiter and come back one at a time, then one usergroups.users.update adds all 50 and each joiner completes from the read-back', async () => {
    const h = await setup()
    try {
      const owner = h.emu.seedUser({ userName: 'owner', email: 'owner@example.com' })
      const group = h.emu.seedUserGroup({ handle: 'engineering', users: [owner] })
      const gate = new Gate()
      const key = (n: number) => `J${n}:slack:provision`

      // First pass, Tier-2 methods booked: every joiner's change is recorded, every job handed back.
      const first = await Promise.allSettled(Array.from({ length: 50 }, (_, n) => h.workers[n % 2]!.provision(gate.ctx(key(n)), joinerSpec(n, 'engineering'))))
      for (const r of first) assert.ok(r.status === 'rejected' && r.reason instanceof RateLimitedError, 'handed back')
      assert.equal(await stats(h, 'usergroups.users.update'), 0)
      const { rows } = await pools[0]!.query<{ n: number }>(`SELECT count(*)::int AS n FROM group_membership_changes WHERE state = 'pending'`)
      assert.equal(rows[0]!.n, 50, 'every change waits in the table, not in a job')

      // The jobs come back at their slots, one after another, alternating between the two processes.
      gate.closed = false
      const refs: AccountRef[] = []
      for (let n = 0; n < 50; n++) refs.push(await h.workers[n % 2]!.provision(gate.ctx(key(n)), joinerSpec(n, 'engineering')))

      const updates = await stats(h, 'usergroups.users.update')
      const reads = await stats(h, 'usergroups.users.list')
      console.log(`# 50 joiners into one group, handed back once: ${updates} usergroups.users.update, ${reads} usergroups.users.list`)
      assert.equal(updates, 1, 'the first job back applies all 50 changes; the other 49 take their settled outcome')
      assert.equal(reads, 1, 'and reads the group once (the update answers with the list it stored)')
      assert.deepEqual(new Set(h.emu.userGroupMembers(group)), new Set([owner, ...refs.map((r) => r.accountId)]))
      const left = await pools[0]!.query<{ n: number }>(`SELECT count(*)::int AS n FROM group_membership_changes WHERE state <> 'changed'`)
      assert.equal(left.rows[0]!.n, 0, 'every change settled as changed from the read-back')
    } finally {
      await h.emu.close()
    }
  })

  test('when 40 leavers of one group are cleaned up by two processes at once after a hand-back, then they leave in one round, verified by read-back, and nobody else leaves', async () => {
    const h = await setup()
    try {
      const stayers = [1, 2].map((n) => h.emu.seedUser({ userName: `stayer${n}`, email: `stayer${n}@example.com` }))
      const leavers: AccountRef[] = Array.from({ length: 40 }, (_, n) => {
        const email = `leaver${n}@example.com`
        return { system: 'slack', accountId: h.emu.seedUser({ userName: `leaver${n}`, email, externalId: `L${n}` }), login: email, employeeId: `L${n}` }
      })
      const group = h.emu.seedUserGroup({ handle: 'support', users: [stayers[0]!, ...leavers.map((l) => l.accountId), stayers[1]!] })
      // As in a layoff: every cut-off ran first, so the list Slack holds names deactivated people.
      for (const l of leavers) h.emu.setActive(l.accountId, false)
      const gate = new Gate()
      const cleanup = (n: number): Promise<RevocationEvidence> =>
        h.workers[n % 2]!.deprovision(gate.ctx(`L${n}:slack:deprovision:cleanup`), leavers[n]!, { phase: 'cleanup', steps: ['remove_groups'], options: {} })

      const first = await Promise.allSettled(leavers.map((_, n) => cleanup(n)))
      assert.ok(first.every((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError))
      gate.closed = false
      const evidence = await Promise.all(leavers.map((_, n) => cleanup(n)))

      assert.deepEqual(h.emu.userGroupMembers(group).sort(), [...stayers].sort())
      for (const [n, e] of evidence.entries()) {
        const step = e.steps.find((s) => s.step === 'remove_groups')!
        assert.equal(step.status, 'done', `leaver ${n}: ${step.status} ${step.detail}`)
        assert.ok((step.requestIds?.length ?? 0) >= 2, 'evidence cites the round read and write')
        assert.deepEqual(e.residual, [])
      }
      const updates = await stats(h, 'usergroups.users.update')
      console.log(`# 40 leavers out of one group, two processes: ${updates} usergroups.users.update`)
      // The list without the 40 names nobody deactivated, so Slack takes it at once: one update,
      // at most a second when the other process's round overlaps.
      assert.ok(updates <= 2, `${updates} usergroups.users.update calls for 40 removals`)
    } finally {
      await h.emu.close()
    }
  })

  test('when joiners and leavers of shared groups run concurrently in two processes, then every membership ends as asked and the group keeps its other members', async () => {
    const h = await setup()
    try {
      const admin = h.emu.seedUser({ userName: 'groupadmin', email: 'admin@example.com' })
      const leavers = Array.from({ length: 20 }, (_, n) => h.emu.seedUser({ userName: `old${n}`, email: `old${n}@example.com`, externalId: `O${n}` }))
      const groups = ['all-staff', 'eng'].map((handle) => h.emu.seedUserGroup({ handle, users: [admin, ...leavers] }))
      const gate = new Gate()
      gate.closed = false
      const joins = Array.from({ length: 20 }, (_, n) =>
        h.workers[n % 2]!.provision(gate.ctx(`J${n}:slack:provision`), { ...joinerSpec(n, 'all-staff'), access: { ...joinerSpec(n, 'all-staff').access, userGroups: ['all-staff', 'eng'] } }),
      )
      const leaves = leavers.map((id, n) =>
        h.workers[(n + 1) % 2]!.update(gate.ctx(`O${n}:slack:update`), { system: 'slack', accountId: id, employeeId: `O${n}` }, { add: {}, remove: { userGroups: ['all-staff', 'eng'] } }),
      )
      // Both waves settle before anything is asserted: no call may outlive the test's emulator.
      const [joinResults, leaveResults] = await Promise.all([Promise.allSettled(joins), Promise.allSettled(leaves)])
      for (const r of [...joinResults, ...leaveResults]) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '')
      const joined = joinResults.map((r) => (r as PromiseFulfilledResult<AccountRef>).value)
      for (const g of groups) {
        assert.deepEqual(new Set(h.emu.userGroupMembers(g)), new Set([admin, ...joined.map((r) => r.accountId)]), 'joiners in, leavers out, admin kept')
      }
      const updates = await stats(h, 'usergroups.users.update')
      console.log(`# 20 joiners and 20 leavers on 2 groups, two processes: ${updates} usergroups.users.update for 80 changes`)
      assert.ok(updates < 20, `${updates} updates for 80 membership changes`)
    } finally {
      await h.emu.close()
    }
  })

  test('when 20 joiners with channels start at once on a cold cache, then conversations.list is sent once, and a channel that does not exist is not re-listed per joiner within 30 s', async () => {
    const h = await setup()
    try {
      h.emu.seedChannel({ name: 'engineering' })
      const gate = new Gate()
      gate.closed = false
      const spec = (n: number, channels: string[]) => ({ ...joinerSpec(n, 'eng'), access: { ...joinerSpec(n, 'eng').access, userGroups: [], channels } })
      await Promise.all(Array.from({ length: 20 }, (_, n) => h.workers[0]!.provision(gate.ctx(`C${n}:slack:provision`), spec(n, ['engineering']))))
      assert.equal(await stats(h, 'conversations.list'), 1, 'one listing shared by the 20 jobs that needed it at once (was one each: 429 after 20)')

      // A channel nobody created, asked for within 30 s of a complete listing: not re-listed per
      // joiner (before: one conversations.list per joiner, each Tier 2).
      const failed = await Promise.allSettled(Array.from({ length: 10 }, (_, n) => h.workers[0]!.provision(gate.ctx(`M${n}:slack:provision`), spec(100 + n, ['no-such-channel']))))
      for (const r of failed) assert.ok(r.status === 'rejected' && /no-such-channel \(channel_not_found\)/.test(String(r.reason)), String(r.status === 'rejected' ? r.reason : 'fulfilled'))
      assert.equal(await stats(h, 'conversations.list'), 1, 'no re-listing per miss within 30 s of a complete listing')
    } finally {
      await h.emu.close()
    }
  })

  test("when usergroups.users.update takes effect but its answer is lost, then the jobs' retries find their changes applied and settle them as changed without writing again", async () => {
    const h = await setup()
    try {
      const owner = h.emu.seedUser({ userName: 'owner', email: 'owner@example.com' })
      const group = h.emu.seedUserGroup({ handle: 'design', users: [owner] })
      const gate = new Gate()
      gate.closed = false
      const people = [1, 2].map((n) => h.emu.seedUser({ userName: `p${n}`, email: `p${n}@example.com`, externalId: `P${n}` }))
      const ref = (n: number): AccountRef => ({ system: 'slack', accountId: people[n]!, employeeId: `P${n}` })
      const add = (n: number) => h.workers[n % 2]!.update(gate.ctx(`P${n}:slack:update`), ref(n), { add: { userGroups: ['design'] }, remove: {} })
      // The first round carries person 0 alone; its answer is lost (the write took effect at Slack).
      h.emu.kit.injectFault({ pathIncludes: '/api/usergroups.users.update', loseResponse: true })
      await assert.rejects(add(0))
      assert.deepEqual(new Set(h.emu.userGroupMembers(group)), new Set([owner, people[0]]))
      const { rows } = await pools[0]!.query<{ state: string }>(`SELECT state FROM group_membership_changes`)
      assert.deepEqual(rows.map((r) => r.state), ['written'], 'sent, not read back: still open')
      // The retry and a second joiner: one read settles the lost write, one update adds person 1.
      await Promise.all([add(0), add(1)])
      assert.deepEqual(new Set(h.emu.userGroupMembers(group)), new Set([owner, ...people]))
      assert.equal(await stats(h, 'usergroups.users.update'), 2, 'the lost write is not sent again')
      const left = await pools[0]!.query<{ state: string }>(`SELECT state FROM group_membership_changes ORDER BY user_id`)
      assert.deepEqual(left.rows.map((r) => r.state), ['changed', 'changed'], 'the lost write settled as changed by the next read')
    } finally {
      await h.emu.close()
    }
  })

  test('when a joiner of two groups is handed back after the first group is done, then on return the first group is not read again', async () => {
    const h = await setup()
    try {
      const owner = h.emu.seedUser({ userName: 'owner', email: 'owner@example.com' })
      const [first, second] = ['alpha', 'beta'].map((handle) => h.emu.seedUserGroup({ handle, users: [owner] }))
      let refuseSecond = true
      const ctx = (key: string): Ctx => ({
        ...new Gate().ctx(key),
        throttle: async (bucket) => {
          // The second group's round is refused by the limiter once (its line is long).
          if (refuseSecond && bucket === 'usergroups.users.list' && (await stats(h, 'usergroups.users.update')) === 1) {
            refuseSecond = false
            throw new RateLimitedError('local limiter: slack/usergroups.users.list is booked', 3_000, { system: 'slack', operation: 'limiter.usergroups.users.list' })
          }
        },
      })
      const spec = { ...joinerSpec(7, 'alpha'), access: { ...joinerSpec(7, 'alpha').access, userGroups: ['alpha', 'beta'] } }
      await assert.rejects(h.workers[0]!.provision(ctx('J7:slack:provision:g1'), spec), RateLimitedError)
      assert.equal(await stats(h, 'usergroups.users.list'), 1)
      const ref = await h.workers[1]!.provision(ctx('J7:slack:provision:g1'), spec)
      assert.equal(await stats(h, 'usergroups.users.list'), 2, 'one read for beta on return; alpha is settled for this job')
      for (const g of [first!, second!]) assert.ok(h.emu.userGroupMembers(g).includes(ref.accountId))
    } finally {
      await h.emu.close()
    }
  })
})
