/**
 * A year of 10,000 leavers (two systems each, with their audit trail) exported with flat memory.
 * The rows are generated in SQL in the shape the engine projects them (cases, case_systems,
 * hr_events, and the audit rows the report reads), then exported as JSON, the largest format.
 * Live memory (heap after a forced GC plus Buffers, sampled while the export runs) must stay far below
 * the size of the output: an implementation that built the rows or the file in memory could not.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { validateConfig } from '../config/load.ts'
import { migrate } from '../db/migrate.ts'
import { createPool, type Pool } from '../db/pool.ts'
import { silentLogger } from '../log.ts'
import { generateSigningKey } from '../audit/keys.ts'
import { writeAccessRevocationReport } from './export.ts'
import { verifyReportFile } from './manifest.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const LEAVERS = 10_000
const MB = 1024 * 1024
/**
 * Generous: the streaming export holds a cursor batch and a write chunk, a few MB at most. Live
 * memory is the JS heap after a forced GC plus external memory (Buffers), so output queued in a
 * write stream that ignored backpressure would count too.
 */
const LIVE_BOUND = 16 * MB
/** RSS also carries heap V8 reserved for short-lived garbage; this only catches gross retention. */
const RSS_CEILING = 256 * MB

/** Everything in SQL, so 10,000 leavers take seconds to create. */
const SEED = `
INSERT INTO employees (id, source, external_id, display_name, email, state, generation, profile)
SELECT md5('emp' || i)::uuid, 'generic', 'L' || lpad(i::text, 5, '0'), 'Leaver Number ' || i, 'leaver' || i || '@example.com', 'offboarded', 1,
       jsonb_build_object('timeZone', 'Europe/London')
  FROM generate_series(1, $1::int) i;

INSERT INTO hr_events (event_id, source, source_event_id, employee_external_id, employee_id, type, occurred_at, received_at, found_by, payload, outcome)
SELECT md5('hr' || i)::uuid, 'generic', 'evt-' || i, 'L' || lpad(i::text, 5, '0'), md5('emp' || i)::uuid, 'employee.terminated',
       $2::timestamptz + (i * interval '52 minutes') - interval '1 hour', $2::timestamptz + (i * interval '52 minutes') - interval '1 hour',
       CASE WHEN i % 10 = 0 THEN 'reconciliation' ELSE 'webhook' END,
       jsonb_build_object('type', 'employee.terminated', 'employeeId', 'L' || i, 'effectiveAt', $2::timestamptz + (i * interval '52 minutes')), 'applied'
  FROM generate_series(1, $1::int) i;

INSERT INTO cases (id, employee_id, kind, generation, status, hr_event_id, effective_at, received_at, late_by_hr_seconds, deadline_at, opened_at, closed_at)
SELECT md5('case' || i)::uuid, md5('emp' || i)::uuid, 'leaver', 1, 'closed', md5('hr' || i)::uuid,
       $2::timestamptz + (i * interval '52 minutes'), $2::timestamptz + (i * interval '52 minutes') - interval '1 hour', 0,
       $2::timestamptz + (i * interval '52 minutes') + interval '4 hours', $2::timestamptz + (i * interval '52 minutes'),
       $2::timestamptz + (i * interval '52 minutes') + interval '30 minutes'
  FROM generate_series(1, $1::int) i;

INSERT INTO case_systems (case_id, system, status, account_id, deadline_at, cutoff_at, verified_at, cleanup_at, residual)
SELECT md5('case' || i)::uuid, s.system, 'done', s.system || '-account-' || i,
       $2::timestamptz + (i * interval '52 minutes') + interval '4 hours',
       $2::timestamptz + (i * interval '52 minutes') + ((i % 300) * interval '1 minute'),
       $2::timestamptz + (i * interval '52 minutes') + ((i % 300) * interval '1 minute') + interval '20 seconds',
       $2::timestamptz + (i * interval '52 minutes') + interval '30 minutes',
       CASE WHEN i % 7 = 0 THEN '[{"kind":"shared_drive","id":"drive-owned-by-leaver","reason":"the leaver owns a shared drive; ownership needs a person"}]'::jsonb ELSE '[]'::jsonb END
  FROM generate_series(1, $1::int) i CROSS JOIN (VALUES ('google'), ('sandbox')) s(system);

ALTER TABLE audit_events DISABLE TRIGGER audit_events_check_append;
INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details, prev_hash, hash)
SELECT n, date_trunc('milliseconds', $2::timestamptz + (i * interval '52 minutes') + (k * interval '1 second')), 'system', 'tenure', g.action,
       md5('emp' || i)::uuid::text, g.system, CASE WHEN g.system IS NULL THEN NULL ELSE g.system || '-account-' || i END, 'corr-' || i, g.details,
       CASE WHEN n = 1 THEN repeat('0', 64) ELSE md5((n - 1)::text) || md5('h' || (n - 1)) END, md5(n::text) || md5('h' || n)
  FROM (
    SELECT i, k, a.action, a.system, a.details, row_number() OVER (ORDER BY i, k) AS n
      FROM generate_series(1, $1::int) i
      CROSS JOIN LATERAL (VALUES
        (0, 'lifecycle.case_opened', NULL, jsonb_build_object('generation', 1, 'reason', 'offboarded')),
        (1, 'job.enqueued', 'google', jsonb_build_object('action', 'deprovision', 'phase', 'cutoff', 'deadlineAt', $2::timestamptz + (i * interval '52 minutes') + interval '4 hours')),
        (2, 'job.enqueued', 'sandbox', jsonb_build_object('action', 'deprovision', 'phase', 'cutoff', 'deadlineAt', $2::timestamptz + (i * interval '52 minutes') + interval '4 hours')),
        (3, 'target.revoked', 'google', jsonb_build_object('phase', 'cutoff', 'residual', '[]'::jsonb, 'steps', jsonb_build_array(
              jsonb_build_object('step', 'disable', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '1 minute', 'detail', 'users.update suspended=true via the Admin SDK Directory API (PUT /admin/directory/v1/users/{userKey}); request id 7f3e9b2a-' || i),
              jsonb_build_object('step', 'revoke_sessions', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '1 minute', 'detail', 'users.signOut: every web and device session ended, cookies invalidated (POST /admin/directory/v1/users/{userKey}/signOut); request id 1c2d3e4f-' || i),
              jsonb_build_object('step', 'revoke_tokens', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '1 minute', 'detail', 'tokens.delete for 3 OAuth clients and 2 app passwords, request id 99aa88bb-' || i)))),
        (4, 'target.verified', 'google', jsonb_build_object('revoked', true, 'exists', true, 'active', false)),
        (5, 'target.revoked', 'sandbox', jsonb_build_object('phase', 'cutoff', 'residual', '[]'::jsonb, 'steps', jsonb_build_array(
              jsonb_build_object('step', 'disable', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '2 minutes', 'detail', 'account disabled'),
              jsonb_build_object('step', 'revoke_sessions', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '2 minutes', 'detail', 'sessions invalidated')))),
        (6, 'target.verified', 'sandbox', jsonb_build_object('revoked', true, 'exists', true, 'active', false)),
        (7, 'target.revoked', 'google', jsonb_build_object('phase', 'cleanup', 'residual', '[]'::jsonb, 'steps', jsonb_build_array(
              jsonb_build_object('step', 'remove_groups', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '30 minutes', 'detail', 'removed from 12 groups: everyone@, engineering@, oncall@, …'),
              jsonb_build_object('step', 'transfer_data', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '30 minutes', 'detail', 'Drive and Calendar transferred to the manager, transfer id tr-' || i),
              jsonb_build_object('step', 'move_org_unit', 'status', 'done', 'at', $2::timestamptz + (i * interval '52 minutes') + interval '30 minutes', 'detail', 'moved to /Leavers'))))
      ) a(k, action, system, details)
  ) g;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_check_append;
ANALYZE;
`

describe('a year of 10,000 leavers', () => {
  let db: TestDatabase
  let pool: Pool
  let dir: string
  const start = new Date('2025-01-01T00:00:00.000Z')

  before(async () => {
    db = await createTestDatabase('reports_mem')
    pool = createPool({ url: db.url, max: 4, statementTimeoutMs: 60_000, log: silentLogger })
    await migrate(pool, silentLogger)
    // One round trip per statement: the seed has two parameters and many statements.
    const client = await pool.connect()
    try {
      for (const statement of SEED.split(';\n').map((s) => s.trim()).filter(Boolean)) {
        const uses = statement.includes('$2') ? [LEAVERS, start.toISOString()] : statement.includes('$1') ? [LEAVERS] : []
        await client.query(statement, uses)
      }
    } finally {
      client.release()
    }
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-reports-mem-'))
  })
  after(async () => {
    await pool?.end()
    await db?.drop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('when it is exported as JSON, then live memory stays flat while the file grows far beyond it', async () => {
    const key = generateSigningKey()
    const config = validateConfig({ audit: { signingKey: key.privateKey } })
    const file = path.join(dir, 'year.json')
    const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external
    gc()
    const baseline = process.memoryUsage()
    let peakLive = live(baseline)
    let peakRss = baseline.rss
    let samples = 0
    // Live memory is what survives a full collection. V8 frees the memory of dead Buffers on a
    // background thread after the collection (concurrent ArrayBuffer sweeping), so `external` read
    // straight after gc() still counts Buffers that are already garbage: storing the file in the
    // database churns several copies of every chunk through pg's protocol writer, and a sample
    // taken mid-sweep showed 30-40 MB of them. Each sample gives the sweeper a moment first.
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        await new Promise((r) => setTimeout(r, 250))
        gc()
        await new Promise((r) => setTimeout(r, 10))
        gc()
        const m = process.memoryUsage()
        samples += 1
        peakLive = Math.max(peakLive, live(m))
        peakRss = Math.max(peakRss, m.rss)
      }
    })()
    const started = Date.now()
    let result
    try {
      result = await writeAccessRevocationReport(
        { pool, config, log: silentLogger, now: () => new Date('2026-01-15T00:00:00.000Z') },
        { from: '2025-01-01T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z', format: 'json' },
        file,
        { actor: { type: 'system', id: 'memory-test' } },
      )
    } finally {
      sampling = false
      await sampler
    }
    const seconds = (Date.now() - started) / 1000
    const { size } = await stat(file)
    const liveGrowth = peakLive - live(baseline)
    const rssGrowth = peakRss - baseline.rss
    const facts = `${(size / MB).toFixed(1)} MB written in ${seconds.toFixed(1)} s; live memory grew ${(liveGrowth / MB).toFixed(1)} MB, RSS ${(rssGrowth / MB).toFixed(1)} MB (${samples} samples)`
    console.log(facts)

    assert.equal(result.manifest.totals.leavers, LEAVERS)
    assert.equal(result.manifest.rowCount, 2 * LEAVERS)
    // The seed verifies revocations (i mod 300) minutes after the effective moment: 60 in every 300 are past the 4 h deadline.
    const late = 2 * 60 * Math.floor(LEAVERS / 300) + 2 * Math.max(0, (LEAVERS % 300) - 239)
    assert.deepEqual([result.manifest.totals.outcomes.met, result.manifest.totals.outcomes.breached], [2 * LEAVERS - late, late])
    assert.equal(result.manifest.population.terminations, LEAVERS)
    assert.equal(result.manifest.population.inReport, LEAVERS)
    assert.ok(samples >= 5, `the heap was sampled during the export (${facts})`)
    assert.ok(size > 2 * LIVE_BOUND, `the output (${(size / MB).toFixed(1)} MB) is far larger than the bound, so holding it would exceed it`)
    assert.ok(liveGrowth < LIVE_BOUND, `live memory growth stays under ${LIVE_BOUND / MB} MB: ${facts}`)
    assert.ok(rssGrowth < RSS_CEILING, `RSS growth stays under ${RSS_CEILING / MB} MB: ${facts}`)
    assert.equal((await verifyReportFile(file, result.manifest, { publicKey: key.publicKeyPem })).ok, true)
  })
})
