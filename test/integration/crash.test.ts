/**
 * Durability: kill -9 the server while it fans out jobs for a batch of joiners, start it again,
 * and every joiner ends with exactly one account and every job key ran to completion once in
 * effect (one `job.enqueued` per key; no duplicate accounts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { prepareServe } from '../helpers/process.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const SECRET = `whsec_${Buffer.from('crash-test-secret-of-thirty-two!!').toString('base64')}`
const N = 40

test('when the server is killed with -9 during fan-out and restarted, then every job is done exactly once in effect', async () => {
  const setup = await prepareServe('crash', SECRET)
  const { pool } = setup
  try {
    const first = setup.serve()
    const [, url] = await first.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 60_000)
    const accepted = await Promise.all(
      Array.from({ length: N }, (_, i) => setup.hire(url!, `K${i}`, { firstName: 'Kill', lastName: `Nine${i}` }, `msg_crash_${i}`)),
    )
    assert.ok(accepted.every((s) => s === 202))
    // Kill it while the work is under way (some processed, most not).
    const until = Date.now() + 20_000
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM hr_inbox WHERE status = 'processed'`)
      if (rows[0]!.n >= 3 || Date.now() > until) break
      await new Promise((r) => setTimeout(r, 20))
    }
    first.child.kill('SIGKILL')
    await first.exited

    const second = setup.serve()
    await second.waitFor(/Tenure is listening on/, 60_000)
    const deadline = Date.now() + 120_000
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE state = 'active'`)
      if (rows[0]!.n === N) break
      // Jobs held by the killed process are retried after their expiry; don't wait forever.
      if (Date.now() > deadline) assert.fail(`only ${rows[0]!.n} of ${N} joiners became active after the restart`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const accounts = await pool.query<{ n: number; distinct: number }>(`SELECT count(*)::int AS n, count(DISTINCT employee_external_id)::int AS distinct FROM sandbox_accounts`)
    assert.equal(accounts.rows[0]!.n, N, 'one account per joiner, none twice')
    const enqueued = await sealedQuery<{ key: string; n: number }>(pool,
      `SELECT details->>'key' AS key, count(*)::int AS n FROM audit_events WHERE action = 'job.enqueued' GROUP BY 1 HAVING count(*) > 1`,
    )
    assert.deepEqual(enqueued.rows, [], 'no job key was enqueued twice')
    const inbox = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM hr_inbox WHERE status = 'processed'`)
    assert.equal(inbox.rows[0]!.n, N)
    second.child.kill('SIGTERM')
    assert.equal((await second.exited).code, 0)
  } finally {
    await setup.cleanup()
  }
})
