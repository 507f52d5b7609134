/**
 * Checkpoints published to an S3-compatible object store: against an emulator that follows the
 * S3 API Reference (test/helpers/s3-emulator.ts: Object Lock, conditional writes, versions, delete
 * markers) and against s3rver, a third-party S3 server on npm, with the real AWS SDK over HTTP.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { silentLogger } from '../log.ts'
import { startS3Emulator, type S3Emulator } from '../../test/helpers/s3-emulator.ts'
import { createCheckpoint } from './checkpoints.ts'
import { auditConfigSchema } from './config.ts'
import { checkpointObjectKey } from './object-store.ts'
import { readPublished } from './published.ts'
import { auditTestDb, entry, tamper, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit } from './verify.ts'
import { recordAudit } from './writer.ts'

const open: Array<{ close(): Promise<void> }> = []
after(async () => {
  await Promise.all(open.map((t) => t.close()))
})

async function fresh(): Promise<{ db: AuditTestDb; s3: S3Emulator }> {
  const db = await auditTestDb('audit_s3', 4)
  const s3 = await startS3Emulator()
  open.push(db, s3)
  s3.createBucket('audit-worm', { objectLock: true })
  return { db, s3 }
}

function storeFor(s3: { url: string; accessKeyId: string; secretAccessKey: string }, overrides: Record<string, unknown> = {}) {
  return { bucket: 'audit-worm', endpoint: s3.url, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...overrides }
}

const DAY = 86_400_000

describe('publishing checkpoints to an object store', () => {
  test('when a checkpoint is signed, then it becomes one COMPLIANCE-locked object under the prefix, retained for retentionDays', async () => {
    const { db, s3 } = await fresh()
    const { config } = testConfig({ publish: { objectStore: storeFor(s3, { retentionDays: 30 }) } })
    await recordAudit(db.pool, [entry(1), entry(2), entry(3)])
    const before = Date.now()
    const created = await createCheckpoint(db.pool, config, silentLogger)
    assert.deepEqual(created.published, { objectStore: { ok: true } })

    const key = checkpointObjectKey('tenure/audit-checkpoints/', created.checkpoint)
    assert.equal(key, `tenure/audit-checkpoints/000000000003-${created.checkpoint.id}.json`)
    const [version, ...others] = s3.versions('audit-worm')
    assert.equal(others.length, 0)
    assert.equal(version!.key, key)
    assert.equal(version!.lockMode, 'COMPLIANCE')
    const days = (version!.retainUntil!.getTime() - before) / DAY
    assert.ok(days > 29.99 && days < 30.01, `locked for ${days} days`)
    assert.deepEqual(JSON.parse(version!.body.toString('utf8')), JSON.parse(JSON.stringify(created.checkpoint)))
  })

  test('when the same checkpoint is published again (a retry after a lost answer), then the store keeps one version and the retry is not an error', async () => {
    const { db, s3 } = await fresh()
    const { config } = testConfig({ publish: { objectStore: storeFor(s3) } })
    await recordAudit(db.pool, [entry(1)])
    const created = await createCheckpoint(db.pool, config, silentLogger)
    const { publishToObjectStore } = await import('./object-store.ts')
    const again = await publishToObjectStore(JSON.parse(JSON.stringify(created.checkpoint)) as typeof created.checkpoint, config.publish.objectStore!)
    assert.deepEqual(again, { ok: true, key: checkpointObjectKey('tenure/audit-checkpoints/', created.checkpoint), alreadyPublished: true })
    assert.equal(s3.versions('audit-worm').length, 1)
    assert.ok(s3.requests.some((r) => r.method === 'PUT' && r.status === 412), 'the second PUT was refused by If-None-Match')

    const forged = await publishToObjectStore({ ...created.checkpoint, signature: 'forged' }, config.publish.objectStore!)
    assert.equal(forged.ok, false)
    assert.match(!forged.ok ? forged.error : '', /a different object already exists/)
    assert.equal(s3.versions('audit-worm').length, 1)
  })

  test('when the bucket has no Object Lock configuration, then the checkpoint is stored, the publication reports the store\'s refusal and it is logged', async () => {
    const { db, s3 } = await fresh()
    s3.createBucket('plain', { objectLock: false })
    const { config } = testConfig({ publish: { objectStore: storeFor(s3, { bucket: 'plain' }) } })
    await recordAudit(db.pool, [entry(1)])
    const logged: string[] = []
    const log = { ...silentLogger, error: (_: unknown, msg: string) => void logged.push(msg) } as typeof silentLogger
    const created = await createCheckpoint(db.pool, config, log)
    assert.equal(created.published.objectStore?.ok, false)
    assert.match(created.published.objectStore?.ok === false ? created.published.objectStore.error : '', /Object Lock Configuration/)
    assert.deepEqual(logged, ['audit checkpoint could not be put in the object store'])
    assert.equal(s3.versions('plain').length, 0)
    // lockMode null: no lock headers, the bucket's own default retention applies.
    const unlocked = testConfig({ publish: { objectStore: storeFor(s3, { bucket: 'plain', lockMode: null }) } }).config
    assert.deepEqual((await createCheckpoint(db.pool, unlocked, silentLogger)).published, { objectStore: { ok: true } })
  })

  test('when someone deletes the published objects and the database tail, then the locked versions survive the delete markers and verification names the deleted rows', async () => {
    const { db, s3 } = await fresh()
    s3.setPageSize(2) // the listing is paged: three checkpoints take two pages
    const { config, key } = testConfig({ publish: { objectStore: storeFor(s3) } })
    for (let round = 0; round < 3; round++) {
      await recordAudit(db.pool, [entry(round * 2), entry(round * 2 + 1)])
      await createCheckpoint(db.pool, config, silentLogger)
    }
    const source = 's3://audit-worm/tenure/audit-checkpoints/'
    const published = await readPublished(source, { objectStore: config.publish.objectStore! })
    assert.equal(published.length, 3)
    assert.equal((await verifyAudit(db.pool, { publicKey: key.publicKey, publishedCheckpoints: published })).ok, true)

    // With Tenure's credentials: a versioned delete of a locked checkpoint is refused; a plain delete only adds a marker.
    const { DeleteObjectCommand, S3Client } = await import('@aws-sdk/client-s3')
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } })
    const newest = s3.versions('audit-worm').at(-1)!
    await assert.rejects(client.send(new DeleteObjectCommand({ Bucket: 'audit-worm', Key: newest.key, VersionId: newest.versionId })), { name: 'AccessDenied' })
    await client.send(new DeleteObjectCommand({ Bucket: 'audit-worm', Key: newest.key }))
    await tamper(db.pool, ['DELETE FROM audit_events WHERE seq > 4', 'DELETE FROM audit_checkpoints WHERE id = 3'])

    assert.equal((await verifyAudit(db.pool, { publicKey: key.publicKey })).ok, true, 'the database alone cannot show it')
    const after = await readPublished(source, { objectStore: config.publish.objectStore! })
    assert.equal(after.length, 3, 'the version under the delete marker is still read')
    const result = await verifyAudit(db.pool, { publicKey: key.publicKey, publishedCheckpoints: after })
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.reason, 'deleted')
    assert.equal(!result.ok && result.firstBadSeq, 5)
  })

  test('when the store cannot be read, then reading the published checkpoints is an error, never "nothing published"', async () => {
    const { s3 } = await fresh()
    const objectStore = auditConfigSchema.shape.publish.unwrap().shape.objectStore.unwrap().parse(storeFor(s3))
    await assert.rejects(readPublished('s3://no-such-bucket/x/', { objectStore }), { code: 'published_unreadable', message: /NoSuchBucket/ })
    const wrongKey = { ...objectStore, accessKeyId: objectStore.secretAccessKey }
    await assert.rejects(readPublished('s3://audit-worm/x/', { objectStore: wrongKey }), { code: 'published_unreadable', message: /InvalidAccessKeyId/ })
  })

  test('when the config names half a credential pair, then it is refused by path', () => {
    const parsed = auditConfigSchema.safeParse({ signingKey: testConfig().key.privateKey, publish: { objectStore: { bucket: 'b-1', accessKeyId: 'AKIA' } } })
    assert.equal(parsed.success, false)
    assert.deepEqual(parsed.error?.issues.map((i) => i.path.join('.')), ['publish.objectStore.secretAccessKey'])
  })
})

describe('against s3rver, a third-party S3 implementation', () => {
  test('when checkpoints are published to s3rver (no versioning, no Object Lock), then they are read back from the current listing and verify', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-s3rver-'))
    const { default: S3rver } = await import('s3rver')
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'audit-plain', configs: [] }] })
    const { port } = (await server.run()) as AddressInfo
    const db = await auditTestDb('audit_s3rver', 4)
    try {
      // s3rver accepts any credentials of its default pair.
      const store = { bucket: 'audit-plain', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', lockMode: null }
      const { config, key } = testConfig({ publish: { objectStore: store } })
      await recordAudit(db.pool, [entry(1), entry(2)])
      const first = await createCheckpoint(db.pool, config, silentLogger)
      await recordAudit(db.pool, [entry(3)])
      const second = await createCheckpoint(db.pool, config, silentLogger)
      assert.deepEqual([first.published, second.published], [{ objectStore: { ok: true } }, { objectStore: { ok: true } }])
      const published = await readPublished('s3://audit-plain/tenure/audit-checkpoints/', { objectStore: config.publish.objectStore! })
      assert.deepEqual(published, JSON.parse(JSON.stringify([first.checkpoint, second.checkpoint])))
      const result = await verifyAudit(db.pool, { publicKey: key.publicKey, publishedCheckpoints: published })
      assert.deepEqual(result.ok && [result.count, result.checkpoints], [3, 2])
    } finally {
      await server.close()
      await db.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
