/**
 * The webhook intake's group-commit transaction (commitNoticeBatch) on real PostgreSQL and real
 * pg-boss: what a batch stores, what it leaves when it fails, and how many round trips it costs.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestTenure, type TestTenure } from '../../test/helpers/tenure.ts'
import { silentLogger } from '../log.ts'
import { HR_EVENT_QUEUE } from '../jobs/queues.ts'
import { createPool, type Pool, type PoolClient } from './pool.ts'
import { commitNoticeBatch, createInboxWriter, storeNoticeBatch, type StoreInput } from './hr-inbox.ts'
import { sealAudit } from '../audit/sealer.ts'

let counter = 0
function delivery(notices: Array<{ key: string; employee: string; occurredAt?: string }>): StoreInput {
  counter += 1
  return {
    source: 'generic',
    foundBy: 'webhook',
    body: Buffer.from(JSON.stringify({ n: counter })),
    contentType: 'application/json',
    headers: { 'content-type': 'application/json' },
    receivedAt: new Date(),
    correlationId: `corr-${counter}`,
    actor: { type: 'hr_source', id: 'generic' },
    notices: notices.map((n) => ({ dedupeKey: n.key, employeeId: n.employee, vendorEventType: 'employee.updated', occurredAt: n.occurredAt, notice: { employeeId: n.employee } })),
  }
}

/**
 * Round trips a pool's clients make (a statement sent while none of that client's statements is
 * waiting for its answer starts one; pipelined statements ride on the round trip in progress), and
 * the writes to their sockets (what the socket's stream hands to the system: _write or _writev).
 */
function countRoundTrips(pool: Pool): { trips: () => number; writes: () => number; reset: () => void } {
  let trips = 0
  let writes = 0
  const wrapped = new WeakSet<PoolClient>()
  pool.on('acquire', (client) => {
    if (wrapped.has(client)) return
    wrapped.add(client)
    let inFlight = 0
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>
    ;(client as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
      if (inFlight === 0) trips += 1
      inFlight += 1
      const result = query(...args)
      const done = () => {
        inFlight -= 1
      }
      result.then(done, done)
      return result
    }
    const stream = (client as unknown as { connection: { stream: Record<'_write' | '_writev', (...args: unknown[]) => unknown> } }).connection.stream
    for (const method of ['_write', '_writev'] as const) {
      const original = stream[method].bind(stream)
      stream[method] = (...args: unknown[]) => {
        writes += 1
        return original(...args)
      }
    }
  })
  return { trips: () => trips, writes: () => writes, reset: () => (trips = writes = 0) }
}

describe('the intake transaction (commitNoticeBatch)', () => {
  let t: TestTenure
  let pool: Pool
  const rows = async (sql: string, values: unknown[] = []) => (await t.running.pool.query(sql, values)).rows
  const inboxKeys = async (prefix: string) =>
    (await rows(`SELECT dedupe_key FROM hr_inbox WHERE dedupe_key LIKE $1 ORDER BY seq`, [`${prefix}%`])).map((r: { dedupe_key: string }) => r.dedupe_key)
  const storedAudit = async (inboxIds: string[]) => {
    // The intake queues its entries; the sealer chains them after the commit.
    await sealAudit(t.running.pool)
    return (await rows(`SELECT details->>'inboxId' AS id FROM audit_events WHERE action = 'hr.event_stored' AND details->>'inboxId' = ANY($1) ORDER BY seq`, [inboxIds])).map(
      (r: { id: string }) => r.id,
    )
  }
  const job = (id: string) => t.running.boss.getJobById(HR_EVENT_QUEUE, id)
  const commit = (on: Pool, inputs: StoreInput[]) => commitNoticeBatch(on, t.running.boss, inputs, t.running.config.queue.schema)

  before(async () => {
    // No workers: the jobs stay where the intake put them.
    t = await startTestTenure({ hr: { generic: { secrets: ['whsec_dGVzdC1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyEh'] } }, workers: { enabled: false } })
    pool = createPool({ url: t.db.url, max: 2, statementTimeoutMs: 10_000, log: silentLogger })
  })
  after(async () => {
    await pool.end()
    await t.stop()
  })

  test('when a batch mixes new notices with duplicates, then only the new ones are stored, each with its job and its hr.event_stored row, and a duplicate leaves no job', async () => {
    const [first] = await commit(pool, [delivery([{ key: 'mix-a', employee: 'M1' }])])
    assert.equal(first!.stored.length, 1)
    const batch = [
      delivery([{ key: 'mix-a', employee: 'M1' }]), // stored before
      delivery([
        { key: 'mix-b', employee: 'M2' },
        { key: 'mix-b', employee: 'M2' }, // twice in one delivery: the first one counts
      ]),
      delivery([{ key: 'mix-c', employee: 'M3' }]),
    ]
    const results = await commit(pool, batch)
    assert.deepEqual(
      results.map((r) => ({ stored: r.stored.map((s) => s.dedupeKey), duplicates: r.duplicates })),
      [
        { stored: [], duplicates: ['mix-a'] },
        { stored: ['mix-b'], duplicates: ['mix-b'] },
        { stored: ['mix-c'], duplicates: [] },
      ],
    )
    assert.deepEqual(await inboxKeys('mix-'), ['mix-a', 'mix-b', 'mix-c'])
    const storedIds = [first!.stored[0]!.inboxId, ...results.flatMap((r) => r.stored.map((s) => s.inboxId))]
    assert.deepEqual(await storedAudit(storedIds), storedIds, 'one audit row per stored notice, in order')
    for (const id of storedIds) assert.ok(await job(id), `the job of ${id}`)
    // The duplicates' jobs (sent before the inbox said they were duplicates) were deleted before COMMIT.
    for (const employee of ['M1', 'M2', 'M3']) {
      const jobs = await t.running.boss.findJobs(HR_EVENT_QUEUE, { key: `generic:${employee}` })
      assert.equal(jobs.length, 1, `one job for ${employee}`)
    }
    // The chain links up across the batches.
    const broken = await rows(`SELECT a.seq FROM audit_events a JOIN audit_events b ON b.seq = a.seq - 1 WHERE a.prev_hash <> b.hash`)
    assert.deepEqual(broken, [])
  })

  test('when every notice of a batch is a duplicate, then the batch leaves nothing behind and answers duplicates', async () => {
    await commit(pool, [delivery([{ key: 'dup-a', employee: 'D1' }])])
    await sealAudit(t.running.pool)
    const headBefore = await rows('SELECT max(seq) AS seq FROM audit_events')
    const results = await commit(pool, [delivery([{ key: 'dup-a', employee: 'D1' }]), delivery([{ key: 'dup-a', employee: 'D1' }])])
    assert.deepEqual(
      results.map((r) => [r.stored.length, r.duplicates]),
      [
        [0, ['dup-a']],
        [0, ['dup-a']],
      ],
    )
    assert.deepEqual(await rows(`SELECT id FROM audit_pending WHERE correlation_id = ANY($1)`, [['corr-' + (counter - 1), 'corr-' + counter]]), [], 'no audit entry queued')
    await sealAudit(t.running.pool)
    assert.deepEqual(await rows('SELECT max(seq) AS seq FROM audit_events'), headBefore, 'no audit row')
    assert.deepEqual(await inboxKeys('dup-'), ['dup-a'])
    assert.equal((await t.running.boss.findJobs(HR_EVENT_QUEUE, { key: 'generic:D1' })).length, 1, 'the duplicates left no job')
  })

  test('when a statement of the batch fails, the first or the audit INSERT behind the others, then nothing of the batch is stored and the connection goes back to the pool usable', async () => {
    // The first: a timestamp PostgreSQL refuses fails the inbox INSERT.
    await assert.rejects(
      commit(pool, [delivery([{ key: 'fail-a', employee: 'F1' }]), delivery([{ key: 'fail-b', employee: 'F2', occurredAt: 'not a time' }])]),
      /invalid input syntax for type timestamp/,
    )
    // The last before COMMIT: the audit INSERT fails (a trigger of this test), with the COMMIT already sent behind it.
    await t.running.pool.query(`CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.correlation_id = 'refuse-me' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`)
    await t.running.pool.query('CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()')
    const refused = { ...delivery([{ key: 'fail-d', employee: 'F4' }]), correlationId: 'refuse-me' }
    await assert.rejects(commit(pool, [delivery([{ key: 'fail-c', employee: 'F3' }]), refused]), /refused by the test/)
    await t.running.pool.query('DROP TRIGGER test_refuse_audit ON audit_pending')
    assert.deepEqual(await inboxKeys('fail-'), [], 'nothing stored')
    await sealAudit(t.running.pool)
    assert.deepEqual(await rows(`SELECT seq FROM audit_events WHERE correlation_id IN ('refuse-me', $1)`, [`corr-${counter - 1}`]), [])
    assert.deepEqual(await rows(`SELECT id FROM audit_pending WHERE correlation_id IN ('refuse-me', $1)`, [`corr-${counter - 1}`]), [])
    // Each client of the pool is idle and out of pipeline mode, and the next batch goes through.
    const clients = await Promise.all([pool.connect(), pool.connect()])
    for (const c of clients) {
      assert.equal((c as unknown as { pipeline: boolean }).pipeline, false)
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1)
      c.release()
    }
    const [ok] = await commit(pool, [delivery([{ key: 'fail-a', employee: 'F1' }])])
    assert.equal(ok!.stored.length, 1)
    assert.ok(await job(ok!.stored[0]!.inboxId))
  })

  test('when a batch is stored, then it costs one round trip and one write to PostgreSQL (the statements one after another take five of each)', async () => {
    const counted = createPool({ url: t.db.url, max: 1, statementTimeoutMs: 10_000, log: silentLogger })
    try {
      const trips = countRoundTrips(counted)
      await commit(counted, [delivery([{ key: 'rt-a', employee: 'R1' }])]) // warms the named statements
      trips.reset()
      await commit(counted, [delivery([{ key: 'rt-a', employee: 'R1' }]), delivery([{ key: 'rt-b', employee: 'R2' }]), delivery([{ key: 'rt-c', employee: 'R3' }])])
      assert.deepEqual([trips.trips(), trips.writes()], [1, 1], 'with a duplicate in the batch')
      trips.reset()
      await commit(counted, [delivery([{ key: 'rt-d', employee: 'R4' }])])
      assert.deepEqual([trips.trips(), trips.writes()], [1, 1])
      // The same batch, statement after statement (storeNoticeBatch in a transaction), for comparison.
      trips.reset()
      const client = await counted.connect()
      try {
        await client.query('BEGIN')
        await storeNoticeBatch(client, t.running.boss, [delivery([{ key: 'rt-e', employee: 'R5' }])])
        await client.query('COMMIT')
      } finally {
        client.release()
      }
      assert.deepEqual([trips.trips(), trips.writes()], [5, 5])
    } finally {
      await counted.end()
    }
  })

  test('when the intake stores a webhook while another session holds the audit chain lock, then it commits without waiting (its transaction takes no chain lock)', async () => {
    const holder = await t.running.pool.connect()
    try {
      // Held by the sealer of another process mid-seal, or formerly by any writer up to its COMMIT.
      await holder.query('SELECT pg_advisory_lock(7402519401)')
      const started = performance.now()
      const [result] = await Promise.race([
        commit(pool, [delivery([{ key: 'nolock-a', employee: 'N1' }])]),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the intake waited for the chain lock')), 5_000).unref()),
      ])
      assert.equal(result!.stored.length, 1)
      assert.ok(performance.now() - started < 5_000)
      // Committed: the notice, its job and its audit entry (pending until the lock is free again).
      assert.deepEqual(await inboxKeys('nolock-'), ['nolock-a'])
      assert.ok(await job(result!.stored[0]!.inboxId))
      assert.equal((await rows(`SELECT 1 FROM audit_pending WHERE details->>'inboxId' = $1`, [result!.stored[0]!.inboxId])).length, 1)
    } finally {
      await holder.query('SELECT pg_advisory_unlock(7402519401)')
      holder.release()
    }
    const inboxId = (await rows(`SELECT id::text AS id FROM hr_inbox WHERE dedupe_key = 'nolock-a'`))[0].id as string
    assert.deepEqual(await storedAudit([inboxId]), [inboxId], 'sealed once the lock is free')
  })

  test('when a delivery waits for an earlier one of the same employee, then a later delivery that shares another employee with it waits too', async () => {
    const writer = createInboxWriter({ pool, boss: t.running.boss, jobSchema: t.running.config.queue.schema })
    const seqOf = async (key: string) => Number((await rows('SELECT seq FROM hr_inbox WHERE dedupe_key = $1', [key]))[0].seq)
    // The first delivery starts a transaction at once; the next three arrive while it commits.
    const stored = await Promise.all([
      writer.store(delivery([{ key: 'ord-z', employee: 'O9' }])),
      writer.store(delivery([{ key: 'ord-a1', employee: 'O1' }])),
      writer.store(delivery([
        { key: 'ord-b1', employee: 'O1' },
        { key: 'ord-b2', employee: 'O2' },
      ])),
      writer.store(delivery([{ key: 'ord-c2', employee: 'O2' }])),
    ])
    assert.deepEqual(
      stored.map((r) => r.stored.length),
      [1, 1, 2, 1],
    )
    assert.ok((await seqOf('ord-a1')) < (await seqOf('ord-b1')), 'O1 in the order accepted')
    assert.ok((await seqOf('ord-b2')) < (await seqOf('ord-c2')), 'O2 in the order accepted: the last delivery waited for the one before it')
  })
})
