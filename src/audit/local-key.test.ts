import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { auditPublicKey } from './checkpoints.ts'
import { auditSectionSchema } from './config.ts'
import { effectiveAuditConfig, LOCAL_KEY_FILE } from './local-key.ts'

const dirs: string[] = []
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

describe('the data folder key (no audit.signingKey configured)', () => {
  test('when many first uses race (report exports, checkpoints), then one key is made, whole, mode 0600, and every caller signs with it', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-local-key-'))
    dirs.push(dataDir)
    const results = await Promise.all(Array.from({ length: 24 }, () => effectiveAuditConfig({ database: { dataDir } })))
    const keyIds = new Set(results.map((r) => auditPublicKey(r.config).keyId))
    assert.equal(keyIds.size, 1)
    assert.equal(results.filter((r) => r.local?.created).length, 1, 'exactly one caller created it')
    assert.deepEqual(await readdir(dataDir), [LOCAL_KEY_FILE], 'no temporary file left behind')
    assert.equal((await stat(path.join(dataDir, LOCAL_KEY_FILE))).mode & 0o777, 0o600)
  })

  test('when a key is configured, then it wins and the data folder is not touched', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-local-key-'))
    dirs.push(dataDir)
    const local = await effectiveAuditConfig({ database: { dataDir: path.join(dataDir, 'a') } })
    const configured = await effectiveAuditConfig({ audit: local.config, database: { dataDir: path.join(dataDir, 'b') } })
    assert.equal(configured.local, null)
    assert.equal(configured.config, local.config)
    assert.deepEqual(await readdir(dataDir), ['a'])
  })

  test('when the audit section sets publishing but no key, then the data folder key signs and the publishing settings stay', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-local-key-'))
    dirs.push(dataDir)
    const audit = auditSectionSchema.parse({ publish: { file: path.join(dataDir, 'published.ndjson') }, headCheckpointMinutes: 5 })
    const effective = await effectiveAuditConfig({ audit, database: { dataDir } })
    assert.notEqual(effective.local, null)
    assert.equal(effective.config.publish.file, path.join(dataDir, 'published.ndjson'))
    assert.equal(effective.config.headCheckpointMinutes, 5)
    assert.equal(effective.config.signingKey.reveal(), (await effectiveAuditConfig({ database: { dataDir } })).config.signingKey.reveal())
  })
})
