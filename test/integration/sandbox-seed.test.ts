/**
 * The sandbox a newcomer starts with `npm start`: its own config (config/sandbox.yaml), every
 * target emulator and the eight HR emulators, each seeded with three people whose ids (1001–1003)
 * are the same in every HR system. Before the account keys, 20 of those 24 stayed in provisioning;
 * the sandbox panel's joiner, mover and leaver, sent in any order, must then leave no dead letter
 * and no residual task either.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import YAML from 'yaml'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { ROOT } from '../helpers/process.ts'

const LAST_NAMES: Record<string, string> = { S1: 'Alpha', S2: 'Bravo', S3: 'Charlie', S4: 'Delta' }

describe('the sandbox as npm start runs it', () => {
  let t: TestTenure
  let token = ''
  const count = async (sql: string, params: unknown[] = []) => (await t.running.pool.query<{ n: number }>(sql, params)).rows[0]!.n
  const deadLetters = () => count(`SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'dlq.%'`)
  const residualTasks = () => count(`SELECT count(*)::int AS n FROM manual_tasks WHERE kind = 'residual'`)
  const busy = () =>
    count(
      `SELECT ((SELECT count(*) FROM pgboss.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() + interval '120 seconds'
                  AND (name IN ('hr.event', 'lifecycle.timer') OR name LIKE 'system.%' OR name LIKE 'cleanup.%'))
             + (SELECT count(*) FROM hr_inbox WHERE status = 'received'))::int AS n`,
    )
  const settle = async () => {
    let quiet = 0
    await t.until('the pipeline to settle', async () => {
      quiet = (await busy()) === 0 ? quiet + 1 : 0
      return quiet >= 4
    }, 120_000)
  }

  before(async () => {
    const config = YAML.parse(await readFile(path.join(ROOT, 'config/sandbox.yaml'), 'utf8')) as Record<string, unknown>
    delete config.server
    delete config.database
    t = await startTestTenure({ ...config, sandbox: { enabled: true, readHrAtStart: true }, log: { level: 'silent' } })
    const tokens = JSON.parse(await readFile(path.join(t.running.config.database.dataDir, 'sandbox-tokens.json'), 'utf8')) as { tokens: Record<string, { token: string }> }
    token = tokens.tokens.operator!.token
  })
  after(async () => {
    await t?.stop()
  })

  test('when the sandbox starts, then all 24 seeded HR people are read at once and provisioned, with no dead letter and no residual task', async () => {
    await t.until('24 seeded people', async () => (await count(`SELECT count(*)::int AS n FROM employees`)) === 24, 90_000)
    await settle()
    const states = await t.running.pool.query<{ source: string; external_id: string; state: string }>(`SELECT source, external_id, state FROM employees ORDER BY source, external_id`)
    const wrong = states.rows.filter((r) => r.state !== (r.external_id === '1003' ? 'preHire' : 'active'))
    assert.deepEqual(wrong, [], 'every seeded person is active (1003 starts in 2030: pre-hire)')
    assert.equal(new Set((await t.running.pool.query<{ account_key: string }>('SELECT account_key FROM employees')).rows.map((r) => r.account_key)).size, 24)
    assert.equal(await deadLetters(), 0)
    assert.equal(await residualTasks(), 0)
  })

  test("when the sandbox panel's joiner, mover and leaver are sent in any order, then no dead letter and no residual task is left", async () => {
    const send = async (event: string, employeeId: string) => {
      const before = await count(`SELECT count(*)::int AS n FROM hr_inbox`)
      const res = await fetch(`${t.url}/api/v1/sandbox/hr-events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ event, employeeId, ...(event === 'joiner' ? { firstName: 'Panel', lastName: LAST_NAMES[employeeId] } : {}) }),
      })
      assert.equal(res.status, 202, `${event} ${employeeId}: ${await res.text()}`)
      await t.until(`${event} ${employeeId} applied`, async () => (await count(`SELECT count(*)::int AS n FROM hr_inbox WHERE status <> 'received'`)) > before)
      await settle()
    }
    for (const [id, order] of [
      ['S1', ['joiner', 'mover', 'leaver']],
      ['S2', ['leaver', 'joiner', 'mover']],
      ['S3', ['mover', 'joiner', 'leaver']],
      ['S4', ['joiner', 'leaver', 'mover']],
    ] as const) {
      for (const event of order) await send(event, id)
    }
    await settle()
    const dead = await t.running.pool.query(`SELECT name, data->'request'->>'key' AS key, data->'failure' AS failure FROM pgboss.job WHERE name LIKE 'dlq.%'`)
    assert.deepEqual(dead.rows, [], 'no dead letters')
    const residual = await t.running.pool.query(`SELECT system, title FROM manual_tasks WHERE kind = 'residual'`)
    assert.deepEqual(residual.rows, [], 'no residual tasks')
  })
})
