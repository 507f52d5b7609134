/**
 * How the engine scenario turns pg_stat_statements' totals into PostgreSQL's cost per transition
 * by step (bench/engine.ts, `npm run bench -- --scenario engine --pg-statements`). Statement texts
 * as pg_stat_statements normalises them (constants become $n), from a run of 2026-12-07.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statementProfile, stepOf } from '../bench/engine.ts'

const SEAL = 'SELECT audit_seal_pending($1::bigint[], $2::bigint[], $3::text[], $4::text[])::text AS sealed'
const CASES = 'WITH prev AS ( SELECT id, deadline_at FROM cases WHERE employee_id = $2 AND kind = $24 AND generation = $3 ), known AS (SELECT 1)'
const PERSIST = 'WITH accounts AS (INSERT INTO employee_accounts (employee_id, system) VALUES ($1, $2)) UPDATE employees SET snapshot = $3 WHERE id = $4'
const LOCK = 'SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE id = $1 FOR UPDATE'

test('when the audit sealer moves pending rows, then its statement counts as audit, not as other', () => {
  assert.equal(stepOf(SEAL), 'audit')
  assert.equal(stepOf('SELECT head_seq::text AS head_seq, head_hash, now_at, xact_id FROM audit_chain_head()'), 'audit')
  assert.equal(stepOf(CASES), 'project')
  assert.equal(stepOf(PERSIST), 'persist')
  assert.equal(stepOf(LOCK), 'lock+restore')
  assert.equal(stepOf('COMMIT'), 'begin/commit')
})

test('when a phase of 100 transitions ran these statements, then each step gets its ms and WAL bytes per transition and the costliest come first', () => {
  const totals = new Map([
    ['1', { query: SEAL, calls: 25, ms: 60, walBytes: 400_000 }],
    ['2', { query: CASES, calls: 100, ms: 62, walBytes: 45_000 }],
    ['3', { query: PERSIST, calls: 100, ms: 54, walBytes: 330_000 }],
    ['4', { query: LOCK, calls: 100, ms: 12, walBytes: 6_000 }],
    ['5', { query: 'COMMIT', calls: 100, ms: 0.5, walBytes: 0 }],
  ])
  const p = statementProfile(totals, 100)
  assert.equal(p.execMsPerTransition, 1.885)
  assert.equal(p.walBytesPerTransition, 7810)
  assert.deepEqual(p.execMsByStep, { 'begin/commit': 0.005, 'lock+restore': 0.12, persist: 0.54, project: 0.62, enqueue: 0, audit: 0.6, other: 0 })
  assert.deepEqual(p.walBytesByStep, { 'begin/commit': 0, 'lock+restore': 60, persist: 3300, project: 450, enqueue: 0, audit: 4000, other: 0 })
  assert.deepEqual(
    p.top.map((t) => [t.step, t.execMsPerTransition, t.callsPerTransition, t.msPerCall, t.walBytesPerCall]),
    [
      ['project', 0.62, 1, 0.62, 450],
      ['audit', 0.6, 0.25, 2.4, 16000],
      ['persist', 0.54, 1, 0.54, 3300],
      ['lock+restore', 0.12, 1, 0.12, 60],
      ['begin/commit', 0.005, 1, 0.005, 0],
    ],
  )
  assert.ok(p.top[1]!.text.startsWith('SELECT audit_seal_pending('))
})
