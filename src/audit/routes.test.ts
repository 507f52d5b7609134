/**
 * The audit log's endpoints as the API serves them: route definitions behind the real
 * authentication (an auditor's token), with the API's one error shape.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { realClock, startHarness, type Harness } from '../auth/test-support.ts'
import type { AuditRow } from './record.ts'
import { AUDIT_ROUTES } from './routes.ts'
import { auditTestDb, entry, tamper, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyExport } from './verify.ts'
import { recordAudit } from './writer.ts'

let t: AuditTestDb
let h: Harness
let base: string
let dir: string
let routerPool: pg.Pool
let auditor: string
const { key } = testConfig()
let operator: string
/** Rows 1 and 2 are the tokens' token.created; then 250 test rows, then 3 about Ada by a person. */
const ROWS = 255
const ADA = '6f1c7d4e-8a2b-4c3d-9e5f-0a1b2c3d4e5f'
const PERSON = '=HYPERLINK("https://evil.example","x")'

before(async () => {
  t = await auditTestDb('audit_router', 4)
  dir = await mkdtemp(path.join(tmpdir(), 'tenure-audit-router-'))
  // A one-connection pool for the API: a client leaked by an aborted export would make the next request time out.
  routerPool = new pg.Pool({ connectionString: t.db.url, max: 1, connectionTimeoutMillis: 5000 })
  h = await startHarness({
    pool: routerPool,
    routes: AUDIT_ROUTES,
    clock: realClock(),
    config: { audit: { signingKey: key.privateKey, publish: { file: path.join(dir, 'checkpoints.jsonl') } } },
  })
  auditor = (await h.token('auditor')).token
  operator = (await h.token('operator')).token
  for (let i = 0; i < 250; i += 50) {
    await recordAudit(
      t.pool,
      Array.from({ length: 50 }, (_, j) => entry(i + j, { action: (i + j) % 5 === 0 ? 'job.enqueued' : 'lifecycle.transitioned' })),
    )
  }
  await t.pool.query(`INSERT INTO employees (id, source, external_id, display_name, email) VALUES ($1, 'generic', 'HR-ADA', 'Ada Lovelace', 'Ada@Example.com')`, [ADA])
  await recordAudit(
    t.pool,
    Array.from({ length: 3 }, (_, i) => entry(1000 + i, { actor: { type: 'oidc', id: PERSON }, action: 'exception.requested', subject: { employeeId: ADA, system: 'google', accountId: null } })),
  )
  base = `${h.url}/api/v1/audit`
})
after(async () => {
  await h.close()
  await routerPool.end()
  await t.close()
  await rm(dir, { recursive: true, force: true })
})

const fetch = (url: string, init: RequestInit = {}) =>
  globalThis.fetch(url, { ...init, headers: { authorization: `Bearer ${auditor}`, ...(init.headers as Record<string, string> | undefined) } })

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, init)
  return { status: response.status, body: await response.json() }
}

describe('GET /events', () => {
  test('when paging with the cursor, then every row comes exactly once, in seq order', async () => {
    const seen: number[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const url: string = `${base}/events?limit=100${cursor ? `&cursor=${cursor}` : ''}`
      const { status, body } = await getJson(url)
      assert.equal(status, 200)
      const page = body as { events: AuditRow[]; nextCursor: string | null }
      seen.push(...page.events.map((e) => e.seq))
      cursor = page.nextCursor
      pages += 1
    } while (cursor !== null)
    assert.equal(pages, 3)
    assert.deepEqual(seen, Array.from({ length: ROWS }, (_, i) => i + 1))
  })

  test('when filtering by employee and action prefix, or asking newest first, then only those rows come back', async () => {
    const { body } = await getJson(`${base}/events?employeeId=emp-3&action=job.*&limit=1000`)
    const events = (body as { events: AuditRow[] }).events
    assert.ok(events.length > 0)
    assert.ok(events.every((e) => e.subject.employee_id === 'emp-3' && e.action === 'job.enqueued'))
    const expected = Array.from({ length: 250 }, (_, i) => i).filter((i) => i % 7 === 3 && i % 5 === 0).length
    assert.equal(events.length, expected)

    const newest = (await getJson(`${base}/events?order=desc&limit=3`)).body as { events: AuditRow[] }
    assert.deepEqual(newest.events.map((e) => e.seq), [ROWS, ROWS - 1, ROWS - 2])
    const from = newest.events[0]!.occurred_at
    const since = (await getJson(`${base}/events?from=${encodeURIComponent(from)}&limit=1000`)).body as { events: AuditRow[] }
    assert.ok(since.events.every((e) => e.occurred_at >= from) && since.events.some((e) => e.seq === ROWS))
  })

  test('when searching by employee as people name them (HR id, e-mail, Tenure id) and by actor, then only their rows come back, and an unknown employee is said to be unknown', async () => {
    for (const employee of ['HR-ADA', 'ada@example.com', ADA]) {
      const { status, body } = await getJson(`${base}/events?employee=${encodeURIComponent(employee)}`)
      assert.equal(status, 200, employee)
      const page = body as { events: AuditRow[]; employees: string[] }
      assert.deepEqual(page.employees, [ADA], employee)
      assert.deepEqual(page.events.map((e) => [e.subject.employee_id, e.actor.id]), Array(3).fill([ADA, PERSON]), employee)
    }
    const unknown = (await getJson(`${base}/events?employee=HR-NOBODY`)).body as { events: AuditRow[]; employees: string[] }
    assert.deepEqual([unknown.events, unknown.employees], [[], []], 'no such employee, not merely no events')
    const byActor = (await getJson(`${base}/events?actor=${encodeURIComponent(PERSON)}&system=google&action=exception.*`)).body as { events: AuditRow[]; employees: null }
    assert.deepEqual([byActor.events.length, byActor.employees], [3, null])
  })

  test('when the search is exported as CSV, then every matching row is one RFC 4180 line with a header, downloaded as an attachment, cells guarded against formulas', async () => {
    const res = await fetch(`${base}/events?employee=HR-ADA&format=csv`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/)
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="audit-events\.csv"/)
    const lines = (await res.text()).split('\r\n').filter(Boolean)
    assert.equal(lines[0], 'seq,occurred_at,actor_type,actor_id,action,employee_id,system,account_id,correlation_id,details,prev_hash,hash')
    assert.equal(lines.length, 4)
    assert.ok(lines.slice(1).every((l) => l.includes(`"'=HYPERLINK(""https://evil.example"",""x"")"`)), 'the actor cell starts with a quote, so no spreadsheet runs it')
    const all = await fetch(`${base}/events`, { headers: { accept: 'text/csv' } })
    assert.equal((await all.text()).split('\r\n').filter(Boolean).length, ROWS + 1, 'Accept: text/csv exports every row')
  })

  test('when the query is invalid, then the answer is 400 with the error shape and the field named', async () => {
    for (const query of ['limit=abc', 'limit=5000', 'employee_id=emp-1', 'from=yesterday', 'action=DROP%20TABLE', 'cursor=bm9wZQ']) {
      const { status, body } = await getJson(`${base}/events?${query}`)
      assert.equal(status, 400, query)
      const error = (body as { error: { code: string; message: string; details: unknown } }).error
      assert.ok(['validation_failed', 'invalid_cursor'].includes(error.code), `${query}: ${error.code}`)
      assert.ok(error.message.length > 0)
    }
    // The schema states the handler's own bound (at most 1000 rows a page): the document and the 400 agree.
    const { body } = await getJson(`${base}/events?limit=5000`)
    assert.deepEqual((body as { error: { details: { issues: Array<{ path: string }> } } }).error.details.issues.map((d) => d.path), ['query.limit'])
  })

  test('when the caller is not an auditor or admin, then the log is refused', async () => {
    const res = await globalThis.fetch(`${base}/events`, { headers: { authorization: `Bearer ${operator}` } })
    assert.equal(res.status, 403)
    assert.equal((await globalThis.fetch(`${base}/verify`)).status, 401)
  })

  test('when NDJSON is asked for (Accept or format=ndjson), then every row streams as one JSON line and the export verifies offline', async () => {
    const response = await fetch(`${base}/events`, { headers: { accept: 'application/x-ndjson' } })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^application\/x-ndjson/)
    const lines = (await response.text()).trim().split('\n')
    assert.equal(lines.length, ROWS)
    const result = await verifyExport(lines, key.publicKeyPem, null)
    assert.deepEqual(result.ok && [result.count, result.head.seq], [ROWS, ROWS])

    const filtered = (await (await fetch(`${base}/events?format=ndjson&employeeId=emp-1`)).text()).trim().split('\n')
    assert.ok(filtered.length > 0 && filtered.every((l) => (JSON.parse(l) as AuditRow).subject.employee_id === 'emp-1'))
  })

})

describe('checkpoints and verification over HTTP', () => {
  test('when a checkpoint is requested, listed and verified, then the API reports a signed, intact log', async () => {
    const created = await getJson(`${base}/checkpoints`, { method: 'POST' })
    assert.equal(created.status, 201)
    const checkpoint = (created.body as { checkpoint: { id: number; seq: number; key_id: string }; published: unknown }).checkpoint
    assert.deepEqual([checkpoint.id, checkpoint.seq, checkpoint.key_id], [1, ROWS, key.keyId])
    assert.deepEqual((created.body as { published: unknown }).published, { file: { ok: true } })

    const listed = (await getJson(`${base}/checkpoints`)).body as { checkpoints: unknown[]; nextCursor: string | null }
    assert.deepEqual(listed, { checkpoints: [checkpoint], nextCursor: null })
    const ndjson = (await (await fetch(`${base}/checkpoints?format=ndjson`)).text()).trim().split('\n')
    assert.deepEqual(ndjson.map((l) => JSON.parse(l) as unknown), [checkpoint])

    const publicKey = (await getJson(`${base}/public-key`)).body as { keyId: string; pem: string }
    assert.equal(publicKey.keyId, key.keyId)
    assert.equal(publicKey.pem.trim(), key.publicKeyPem.trim())

    const verified = await getJson(`${base}/verify`)
    const createdAt = (checkpoint as unknown as { created_at: string }).created_at
    assert.deepEqual(verified, {
      status: 200,
      body: {
        ok: true,
        count: ROWS,
        head: { seq: ROWS, hash: (checkpoint as unknown as { hash: string }).hash },
        checkpoints: 1,
        anchor: { seq: 0, hash: '0'.repeat(64) },
        uncheckpointed: 0,
        covered: ROWS,
        coverage: 'full',
        newestCheckpoint: { id: 1, seq: ROWS, createdAt },
        summary: `chain intact; ${ROWS} of ${ROWS} entries covered by 1 signed checkpoint; last checkpoint ${createdAt}`,
      },
    })
  })

  test('when a row was tampered with, then GET /verify says which and why', async () => {
    await tamper(t.pool, ["UPDATE audit_events SET correlation_id = 'changed' WHERE seq = 123"])
    const { status, body } = await getJson(`${base}/verify`)
    assert.equal(status, 200)
    assert.deepEqual({ ...(body as object), message: undefined }, { ok: false, firstBadSeq: 123, reason: 'edited', message: undefined })
  })
})

describe('exports', () => {
  test('when a client abandons an NDJSON download, then the database connection is returned', async () => {
    // Megabytes of rows, so the server is still writing (held back by the socket) when the client goes.
    const padding = 'x'.repeat(1000)
    for (let i = 0; i < 4000; i += 500) {
      await recordAudit(t.pool, Array.from({ length: 500 }, (_, j) => entry(i + j, { details: { padding } })))
    }
    const controller = new AbortController()
    const response = await fetch(`${base}/events?format=ndjson`, { signal: controller.signal })
    const reader = response.body!.getReader()
    const first = await reader.read()
    assert.equal(first.done, false)
    controller.abort()
    await reader.read().catch(() => {})
    // The API's pool has one connection: this only answers if the export released it.
    const { status } = await getJson(`${base}/events?limit=1`)
    assert.equal(status, 200)
  })
})
