import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { silentLogger } from '../log.ts'
import { createCheckpoint, listCheckpoints } from './checkpoints.ts'
import { encodeCursor } from './cursor.ts'
import { streamAudit } from './query.ts'
import { auditTestDb, entry, testConfig, type AuditTestDb } from './test-support.ts'
import { recordAudit } from './writer.ts'

const run = promisify(execFile)
const DOC = fileURLToPath(new URL('../../docs/audit.md', import.meta.url))
const { config, key } = testConfig()
let t: AuditTestDb
let dir: string
let script: string

before(async () => {
  const doc = await readFile(DOC, 'utf8')
  const match = /```js file=verify-audit\.mjs\n([\s\S]*?)\n```/.exec(doc)
  assert.ok(match?.[1], 'docs/audit.md has the verify-audit.mjs block')
  dir = await mkdtemp(path.join(tmpdir(), 'tenure-audit-doc-'))
  script = path.join(dir, 'verify-audit.mjs')
  await writeFile(script, match[1])
  await writeFile(path.join(dir, 'key.pem'), key.publicKeyPem)

  t = await auditTestDb('audit_docs', 2)
  await recordAudit(t.pool, Array.from({ length: 15 }, (_, i) => entry(i, { details: { note: 'Ünïcødé ✓ "quoted"', n: 1e21, f: 0.1, neg: -5 } })))
  await createCheckpoint(t.pool, config, silentLogger)
  await recordAudit(t.pool, Array.from({ length: 15 }, (_, i) => entry(15 + i)))
  await createCheckpoint(t.pool, config, silentLogger)
})
after(async () => {
  await t.close()
  await rm(dir, { recursive: true, force: true })
})

async function exportFiles(name: string, afterSeq: number, edit: (lines: string[]) => string[] = (l) => l) {
  const lines: string[] = []
  for await (const row of streamAudit(t.pool, { cursor: encodeCursor(afterSeq) })) lines.push(JSON.stringify(row))
  const events = path.join(dir, `${name}.ndjson`)
  await writeFile(events, `${edit(lines).join('\n')}\n`)
  const checkpoints = path.join(dir, `${name}-checkpoints.ndjson`)
  await writeFile(checkpoints, (await listCheckpoints(t.pool)).checkpoints.map((c) => JSON.stringify(c)).join('\n'))
  return { events, checkpoints }
}

async function verifyWithScript(events: string, checkpoints: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [script, events, path.join(dir, 'key.pem'), checkpoints])
    return { code: 0, out: stdout.trim() }
  } catch (err) {
    const e = err as { code: number; stdout: string }
    return { code: e.code, out: e.stdout.trim() }
  }
}

describe('the standalone verification script in docs/audit.md', () => {
  test('when an auditor runs it on a full export, then it reports OK with the head', async () => {
    const files = await exportFiles('full', 0)
    const result = await verifyWithScript(files.events, files.checkpoints)
    const head = (await listCheckpoints(t.pool)).checkpoints.at(-1)!.hash
    assert.deepEqual(result, { code: 0, out: `OK 30 events verified up to seq 30, head ${head}, 2 checkpoints` })
  })

  test('when the export starts after a checkpoint, then it anchors on that checkpoint', async () => {
    const files = await exportFiles('tail', 15)
    const result = await verifyWithScript(files.events, files.checkpoints)
    assert.equal(result.code, 0, result.out)
    assert.match(result.out, /^OK 15 events verified up to seq 30/)
  })

  test('when a line was edited, a line dropped or a checkpoint altered, then it fails at the right seq', async () => {
    const edited = await exportFiles('edited', 0, (lines) => lines.map((l, i) => (i === 9 ? l.replace('"neg":-5', '"neg":-6') : l)))
    assert.deepEqual(await verifyWithScript(edited.events, edited.checkpoints), { code: 1, out: 'FAIL at seq 10: content does not match its hash (edited)' })

    const dropped = await exportFiles('dropped', 0, (lines) => lines.filter((_, i) => i !== 20))
    assert.match((await verifyWithScript(dropped.events, dropped.checkpoints)).out, /^FAIL at seq 21: expected seq 21, found 22/)

    const forged = await exportFiles('forged', 0)
    const cps = (await readFile(forged.checkpoints, 'utf8')).split('\n').map((l) => JSON.parse(l) as { seq: number; count: number })
    cps[0]!.seq = 14
    await writeFile(forged.checkpoints, cps.map((c) => JSON.stringify(c)).join('\n'))
    assert.deepEqual(await verifyWithScript(forged.events, forged.checkpoints), { code: 1, out: 'FAIL at seq 14: checkpoint #1 is not validly signed by this key' })
  })
})
