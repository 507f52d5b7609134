/**
 * A leaver's cut-off never waits in a dead-letter queue for a person while its failures are
 * transient, including attempts that end without the job's handler: the process holding it died,
 * its heartbeat was missed, the database went away mid-run. pg-boss counts those attempts against
 * the job's retry limit and dead-letters the job by itself when they run out, before the system
 * worker's "retry a leaver's cut-off for ever" rule can see the job. The first full chaos run
 * (docs/reliability.md) ended with three leavers keeping Jira that way.
 *
 * Here the attempts are ended from outside with pg-boss's own `fail`, which is what its monitor
 * does to a job whose heartbeat stopped. A joiner's provisioning, ended the same way, still goes
 * to the dead-letter queue: that is where an operator finds it.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { deadLetterQueue, systemQueue } from '../../src/jobs/queues.ts'

const today = () => new Date().toISOString().slice(0, 10)
const RETRY_LIMIT = 1

describe('attempts that end without the handler', () => {
  let t: TestTenure
  let slack: SlackEmulator

  before(async () => {
    slack = new SlackEmulator()
    const url = await slack.start()
    t = await startTestTenure({
      systems: { slack: slackSandboxConfig(url) },
      policy: { rules: [{ name: 'everyone', grant: { slack: {} } }] },
      queue: { retryLimit: RETRY_LIMIT, retryDelaySeconds: 1, retryDelayMaxSeconds: 1 },
    })
  })
  after(async () => {
    await t.stop()
    await slack.close()
  })

  const hire = (id: string) =>
    applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'Re', lastName: `Try${id}`, workEmail: `${id.toLowerCase()}@example.com` }, startDate: today(), preHire: false }), {
      actor: SYSTEM_ACTOR,
      correlationId: `hire-${id}`,
    })

  /** The job of `action` for the employee with HR id `externalId`, once a worker has taken its attempt `n` (from 0). */
  const activeAttempt = (externalId: string, action: string, n: number) =>
    t.until(`attempt ${n + 1} of ${externalId}'s ${action} job`, async () => {
      const { rows } = await t.running.pool.query<{ id: string }>(
        `SELECT j.id FROM pgboss.job j JOIN employees e ON e.id = (j.data->>'employeeId')::uuid
          WHERE j.name = $1 AND j.state = 'active' AND j.retry_count >= $4 AND e.external_id = $2 AND j.data->'request'->>'action' = $3`,
        [systemQueue('slack'), externalId, action, n],
      )
      return rows[0]?.id
    })

  const deadLetters = async (externalId: string) =>
    (await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND data->>'externalId' = $2`, [deadLetterQueue('slack'), externalId])).rows[0]!.n

  /** End `times` attempts of the job from outside while they run. */
  async function killAttempts(externalId: string, action: string, times: number): Promise<void> {
    for (let n = 0; n < times; n++) {
      const id = await activeAttempt(externalId, action, n)
      await t.running.boss.fail(systemQueue('slack'), id, { message: 'the process holding the job died (simulated heartbeat loss)' })
    }
  }

  test("when a leaver's cut-off attempts keep dying outside the handler, then pg-boss retries it instead of dead-lettering it, and the account is deactivated once the target answers", async () => {
    await hire('R1')
    await t.until('R1 active', async () => (await t.employeeState('R1')) === 'active')
    // Every Slack call hangs for a while and then gets no answer: the attempt is still running when
    // it is ended from outside, and it could not have succeeded on its own either (an attempt that
    // succeeds after pg-boss wrote it off moves the machine on, and the retry then stops as superseded).
    slack.kit.injectFault({ hangMs: 3000, times: Number.POSITIVE_INFINITY })
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'R1', { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'leave-R1',
    })
    // One more than pg-boss's retry limit allows.
    await killAttempts('R1', 'deprovision', RETRY_LIMIT + 2)
    assert.equal(await deadLetters('R1'), 0, "a leaver's cut-off is not in the dead-letter queue")

    slack.kit.clearFaults()
    await t.until('R1 offboarded', async () => (await t.employeeState('R1')) === 'offboarded', 60_000)
    const account = slack.inventory().find((a) => a.key === 'R1' || a.email === 'r1@example.com')
    assert.ok(account, 'the Slack account is still listed (Slack deactivates, never deletes)')
    assert.equal(account.active, false, 'and it is deactivated, read from the emulator')
    assert.equal(await deadLetters('R1'), 0)
  })

  test("when a joiner's provisioning attempts die the same way, then it still goes to the dead-letter queue, where an operator finds it", async () => {
    slack.kit.injectFault({ delayMs: 3000, times: Number.POSITIVE_INFINITY })
    try {
      await hire('J1')
      await killAttempts('J1', 'provision', RETRY_LIMIT + 1)
      await t.until('J1 in the dead-letter queue', async () => (await deadLetters('J1')) === 1)
    } finally {
      slack.kit.clearFaults()
    }
  })
})
