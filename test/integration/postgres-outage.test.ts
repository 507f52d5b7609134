/**
 * PostgreSQL restarts under load: a `tenure serve` process on a PostgreSQL of the test's own
 * (not the shared one `npm test` starts, which other files use) is applying a wave of
 * terminations when PostgreSQL stops for 20 s (a fast shutdown: every connection gets
 * `57P01 terminating connection due to administrator command`, as in a restart or fail-over).
 *
 * Tenure must stay up; while PostgreSQL is away it answers webhooks 503 with Retry-After and
 * `/readyz` 503; once PostgreSQL is back (same data folder, same port) the work resumes by
 * itself: every delivery it acknowledged with 202 is processed and every leaver is cut off.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { startEmbedded, type EmbeddedDatabase } from '../../src/db/embedded.ts'
import { silentLogger } from '../../src/log.ts'
import { runTenure, type Spawned } from '../helpers/process.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'

const SECRET = `whsec_${Buffer.from('outage-test-secret-of-thirty-two').toString('base64')}`
const N = 24
const OUTAGE_MS = 20_000

test('when PostgreSQL stops for 20 s during a termination wave and comes back, then Tenure stays up, answers 503 meanwhile and finishes every acknowledged delivery', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-pg-outage-'))
  const pgData = path.join(dir, 'pg-data')
  let pgServer: EmbeddedDatabase | undefined = await startEmbedded({ dataDir: pgData, log: silentLogger })
  const port = pgServer.port
  const clusterOutside = !pgServer.pgDir.startsWith(dir + path.sep) ? path.dirname(pgServer.pgDir) : undefined
  const configFile = path.join(dir, 'tenure.yaml')
  await writeFile(
    configFile,
    [
      'server: { port: 0 }',
      'queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1, retryDelayMaxSeconds: 4 }',
      'workers: { cleanupSettleSeconds: 1 }',
      `hr: { generic: { secrets: ['${SECRET}'] } }`,
      'systems: { sandbox: { enabled: true } }',
      'policy: { rules: [ { name: everyone, grant: { sandbox: { groups: [staff] } } } ] }',
      '',
    ].join('\n'),
  )
  const env = { DATABASE_URL: pgServer.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: path.join(dir, 'tenure'), PORT: '0' }
  let tenure: Spawned | undefined
  // The test's own reads; errors while PostgreSQL is down are expected and must not end the test.
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 2 })
  pool.on('error', () => {})
  const count = async (sql: string, params: unknown[] = []) => (await pool.query<{ n: number }>(sql, params)).rows[0]!.n
  // What is left, for the failure message.
  const explain = async () => {
    const inbox = await pool.query(`SELECT status, count(*)::int AS n FROM hr_inbox GROUP BY 1`).catch(() => ({ rows: [] }))
    const jobs = await pool.query(`SELECT name, state, count(*)::int AS n FROM pgboss.job WHERE state NOT IN ('completed') GROUP BY 1, 2`).catch(() => ({ rows: [] }))
    return `\ninbox: ${JSON.stringify(inbox.rows)}\njobs: ${JSON.stringify(jobs.rows)}`
  }
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (await check().catch(() => false)) return
      if (Date.now() > deadline || (tenure && tenure.child.exitCode !== null)) {
        const exit = tenure && tenure.child.exitCode !== null ? `; tenure exited with ${tenure.child.exitCode}:\n${tenure.stderr().slice(-4000)}\n${tenure.stdout().slice(-4000)}` : ''
        assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${exit}${await explain()}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    tenure = runTenure(['serve'], env)
    const [, url] = await tenure.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 60_000)
    const post = async (payload: object, messageId: string) => {
      const body = Buffer.from(JSON.stringify(payload))
      const res = await fetch(`${url}/webhooks/hr/generic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date(), messageId) },
        body,
      })
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code?: string } } }
    }
    const ids = Array.from({ length: N }, (_, i) => `PG${i}`)
    const today = new Date().toISOString().slice(0, 10)
    const hires = await Promise.all(
      ids.map((id) => post({ type: 'employee.hired', timestamp: new Date().toISOString(), data: { employeeId: id, profile: { firstName: 'Out', lastName: id }, startDate: today } }, `msg_hire_${id}`)),
    )
    assert.deepEqual(hires.map((h) => h.status), ids.map(() => 202))
    await until('every joiner to have an active sandbox account', async () => (await count(`SELECT count(*)::int AS n FROM sandbox_accounts WHERE active`)) === N, 60_000)

    // The wave: each leaver's termination as its own delivery, the way a vendor sends them.
    const acknowledged = new Set<string>()
    const terminate = async (id: string) => {
      const answer = await post({ type: 'employee.terminated', timestamp: new Date().toISOString(), data: { employeeId: id, effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' } }, `msg_term_${id}`)
      if (answer.status === 202 || answer.status === 200) acknowledged.add(id)
      return answer
    }
    const firstHalf = ids.slice(0, N / 2)
    const secondHalf = ids.slice(N / 2)
    assert.deepEqual((await Promise.all(firstHalf.map(terminate))).map((a) => a.status), firstHalf.map(() => 202))
    // Stop PostgreSQL while that half is being applied: some cut off, some not yet.
    await until('the wave to be under way', async () => (await count(`SELECT count(*)::int AS n FROM sandbox_accounts WHERE NOT active`)) >= 1, 30_000)
    await pgServer.stop()
    pgServer = undefined
    const stoppedAt = Date.now()

    // During the outage: the process lives on, webhooks and /readyz answer 503.
    await until('/readyz to answer 503', async () => (await fetch(`${url}/readyz`)).status === 503, 10_000)
    const during = await terminate(secondHalf[0]!)
    assert.equal(during.status, 503, 'a delivery during the outage is refused, for the vendor to retry')
    assert.ok(Number(during.retryAfter) > 0, 'with Retry-After')
    assert.equal(during.body.error?.code, 'storage_unavailable')
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))))
    assert.equal(tenure.child.exitCode, null, `tenure exited during the outage:\n${tenure.stderr().slice(-3000)}${tenure.stdout().slice(-3000)}`)
    assert.equal(tenure.child.signalCode, null)

    pgServer = await startEmbedded({ dataDir: pgData, log: silentLogger, port })
    assert.equal(pgServer.port, port, 'PostgreSQL came back where it was')
    const backAt = Date.now()
    await until('/readyz to answer 200 again', async () => (await fetch(`${url}/readyz`)).status === 200, 15_000)
    // The vendor retries what was refused, and the rest of the wave arrives.
    await until('the refused and remaining terminations to be accepted', async () => {
      for (const id of secondHalf) if (!acknowledged.has(id)) await terminate(id)
      return acknowledged.size === N
    }, 15_000)

    await until(
      'every acknowledged delivery to be processed and every leaver cut off',
      async () =>
        (await count(`SELECT count(*)::int AS n FROM hr_inbox WHERE status <> 'processed'`)) === 0 &&
        (await count(`SELECT count(*)::int AS n FROM sandbox_accounts WHERE active AND employee_external_id = ANY($1)`, [ids])) === 0,
      60_000,
    )
    assert.equal(await count(`SELECT count(*)::int AS n FROM hr_inbox WHERE vendor_event_type = 'employee.terminated'`), N, 'one stored notice per leaver, none lost, none twice')
    assert.equal(tenure.child.exitCode, null)
    tenure.child.kill('SIGTERM')
    assert.equal((await tenure.exited).code, 0)
    // For the record in the test output: how long after PostgreSQL returned the wave was done.
    console.log(`outage ${Math.round((backAt - stoppedAt) / 1000)} s; work finished ${Math.round((Date.now() - backAt) / 1000)} s after PostgreSQL returned`)
  } finally {
    if (tenure && tenure.child.exitCode === null && tenure.child.signalCode === null) {
      tenure.child.kill('SIGKILL')
      await tenure.exited
    }
    await pool.end().catch(() => {})
    await pgServer?.stop()
    await rm(dir, { recursive: true, force: true })
    if (clusterOutside) await rm(clusterOutside, { recursive: true, force: true })
  }
})
