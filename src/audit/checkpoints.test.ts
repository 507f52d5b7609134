import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { silentLogger } from '../log.ts'
import { signedCheckpointSchema } from './checkpoint-format.ts'
import { checkpointIfHeadMoved, createCheckpoint, listCheckpoints } from './checkpoints.ts'
import { auditConfigSchema, checkpointCron, headCheckpointCron } from './config.ts'
import { generateSigningKey, keyId, loadPrivateKey, loadPublicKey } from './keys.ts'
import { auditTestDb, entry, tamper, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit } from './verify.ts'
import { recordAudit } from './writer.ts'
import { sealAudit } from './sealer.ts'

let dir: string
const open: AuditTestDb[] = []
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tenure-audit-'))
})
after(async () => {
  await Promise.all(open.map((t) => t.close()))
  await rm(dir, { recursive: true, force: true })
})

async function freshDb(): Promise<AuditTestDb> {
  const t = await auditTestDb('audit_checkpoints', 6)
  open.push(t)
  return t
}

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
}

/** A webhook receiver on loopback that answers with `status` and hands each delivery to the test. */
async function receiver(status: number): Promise<{ url: string; deliveries: Delivery[]; next: Promise<Delivery>; close(): Promise<void> }> {
  const deliveries: Delivery[] = []
  let resolveNext: (d: Delivery) => void = () => {}
  const next = new Promise<Delivery>((resolve) => (resolveNext = resolve))
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const delivery = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      deliveries.push(delivery)
      resolveNext(delivery)
      res.statusCode = status
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/audit`,
    deliveries,
    next,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('createCheckpoint', () => {
  test('when checkpoints are made, then each is signed, chained to the previous one, stored and appended to the publish file', async () => {
    const t = await freshDb()
    const file = path.join(dir, 'checkpoints.jsonl')
    const { config, key } = testConfig({ publish: { file } })
    await recordAudit(t.pool, Array.from({ length: 7 }, (_, i) => entry(i)))
    const first = await createCheckpoint(t.pool, config, silentLogger)
    await recordAudit(t.pool, [entry(8), entry(9)])
    const second = await createCheckpoint(t.pool, config, silentLogger)
    const idle = await createCheckpoint(t.pool, config, silentLogger)

    assert.deepEqual(
      [first, second, idle].map(({ checkpoint: c }) => [c.id, c.seq, c.count]),
      [
        [1, 7, 7],
        [2, 9, 2],
        [3, 9, 0],
      ],
    )
    assert.equal(first.checkpoint.previous_signature, null)
    assert.equal(second.checkpoint.previous_signature, first.checkpoint.signature)
    assert.equal(idle.checkpoint.previous_signature, second.checkpoint.signature)
    assert.equal(first.checkpoint.key_id, key.keyId)
    assert.deepEqual(first.published, { file: { ok: true } })

    const published = (await readFile(file, 'utf8')).trim().split('\n').map((l) => signedCheckpointSchema.parse(JSON.parse(l)))
    assert.deepEqual(published, [first.checkpoint, second.checkpoint, idle.checkpoint])
    assert.deepEqual((await listCheckpoints(t.pool)).checkpoints, published)
    const result = await verifyAudit(t.pool, { publicKey: key.publicKey, publishedCheckpoints: published })
    assert.deepEqual(result.ok && [result.count, result.checkpoints, result.uncheckpointed], [9, 3, 0])
  })

  test('when a webhook is configured, then the checkpoint is POSTed with a Standard Webhooks signature', async () => {
    const t = await freshDb()
    const hook = await receiver(204)
    const webhookSecret = `whsec_${randomBytes(32).toString('base64')}`
    const { config } = testConfig({ publish: { webhookUrl: hook.url, webhookSecret } })
    try {
      await recordAudit(t.pool, [entry(1)])
      const created = await createCheckpoint(t.pool, config, silentLogger)
      const delivery = await hook.next
      assert.deepEqual(created.published, { webhook: { ok: true } })
      assert.deepEqual(JSON.parse(delivery.body), { type: 'audit.checkpoint_created', timestamp: created.checkpoint.created_at, data: created.checkpoint })
      const id = String(delivery.headers['webhook-id'])
      const timestamp = String(delivery.headers['webhook-timestamp'])
      const expected = createHmac('sha256', Buffer.from(webhookSecret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${delivery.body}`).digest('base64')
      assert.equal(delivery.headers['webhook-signature'], `v1,${expected}`)
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 300)
      assert.equal(delivery.headers['content-type'], 'application/json')
    } finally {
      await hook.close()
    }
  })

  test('when the webhook fails, then the checkpoint is still stored and the failure is reported', async () => {
    const t = await freshDb()
    const hook = await receiver(503)
    const { config } = testConfig({ publish: { webhookUrl: hook.url, webhookSecret: `whsec_${randomBytes(24).toString('base64')}` } })
    try {
      const created = await createCheckpoint(t.pool, config, silentLogger)
      assert.deepEqual(created.published, { webhook: { ok: false, error: 'HTTP 503' } })
      assert.equal((await listCheckpoints(t.pool)).checkpoints.length, 1)
    } finally {
      await hook.close()
    }
  })

  test('when several schedulers make checkpoints at once, then they form one chain', async () => {
    const t = await freshDb()
    const { config, key } = testConfig()
    await recordAudit(t.pool, [entry(1)])
    const made = await Promise.all(Array.from({ length: 4 }, () => createCheckpoint(t.pool, config, silentLogger)))
    assert.deepEqual(made.map((m) => m.checkpoint.id).sort(), [1, 2, 3, 4])
    const result = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.equal(result.ok && result.checkpoints, 4)
  })

  test('when the rows since the last checkpoint were tampered with, then no new checkpoint is signed over them', async () => {
    const t = await freshDb()
    const { config } = testConfig()
    await recordAudit(t.pool, [entry(1), entry(2)])
    await createCheckpoint(t.pool, config, silentLogger)
    await recordAudit(t.pool, [entry(3), entry(4), entry(5)])
    await sealAudit(t.pool)
    await tamper(t.pool, ["UPDATE audit_events SET details = '{}' WHERE seq = 4"])
    await assert.rejects(createCheckpoint(t.pool, config, silentLogger), { code: 'chain_invalid', message: /edited at seq 4/ })
    await tamper(t.pool, ["UPDATE audit_events SET details = '{}' WHERE seq = 2"])
    await assert.rejects(createCheckpoint(t.pool, config, silentLogger), { code: 'chain_invalid', message: /row 2 no longer matches checkpoint #1/ })
    assert.equal((await listCheckpoints(t.pool)).checkpoints.length, 1)
  })

  test('when rows covered by the last checkpoint were cut off the end, then no checkpoint is signed', async () => {
    const t = await freshDb()
    const { config } = testConfig()
    await recordAudit(t.pool, [entry(1), entry(2), entry(3)])
    await createCheckpoint(t.pool, config, silentLogger)
    await tamper(t.pool, ['DELETE FROM audit_events WHERE seq = 3'])
    await assert.rejects(createCheckpoint(t.pool, config, silentLogger), { code: 'chain_regressed' })
  })

  test('when the head moved since the newest checkpoint, then the per-minute job signs one; in a quiet minute it signs nothing', async () => {
    const t = await freshDb()
    const { config } = testConfig()
    assert.equal(await checkpointIfHeadMoved(t.pool, config, silentLogger), null, 'an empty log has nothing to sign')
    await recordAudit(t.pool, [entry(0), entry(1)])
    const first = await checkpointIfHeadMoved(t.pool, config, silentLogger)
    assert.deepEqual(first && [first.checkpoint.id, first.checkpoint.seq], [1, 2])
    assert.equal(await checkpointIfHeadMoved(t.pool, config, silentLogger), null, 'the head has not moved')
    await recordAudit(t.pool, [entry(2)])
    const second = await checkpointIfHeadMoved(t.pool, config, silentLogger)
    assert.deepEqual(second && [second.checkpoint.id, second.checkpoint.seq, second.checkpoint.previous_signature], [2, 3, first?.checkpoint.signature])
    // The same refusal as the heartbeat's: a tail deleted before it was signed is not signed over.
    await recordAudit(t.pool, [entry(3), entry(4)])
    await sealAudit(t.pool)
    await tamper(t.pool, ['DELETE FROM audit_events WHERE seq = 4'])
    await assert.rejects(checkpointIfHeadMoved(t.pool, config, silentLogger), { code: 'chain_invalid' })
  })
})

describe('signing keys and configuration', () => {
  test('when a key is generated, then its base64 seed and PEM forms are the same key', () => {
    const key = generateSigningKey()
    const fromSeed = loadPrivateKey(key.privateKey)
    const fromPem = loadPrivateKey(key.privateKeyPem)
    assert.equal(keyId(fromSeed), key.keyId)
    assert.equal(keyId(fromPem), key.keyId)
    assert.equal(keyId(loadPublicKey(key.publicKey)), key.keyId)
    assert.equal(keyId(loadPublicKey(key.publicKeyPem)), key.keyId)
  })

  test('when the audit config is parsed, then defaults apply and bad keys or unsigned webhooks are named by path', () => {
    const key = generateSigningKey()
    const config = auditConfigSchema.parse({ signingKey: key.privateKeyPem })
    assert.deepEqual([config.checkpointIntervalMinutes, config.headCheckpointMinutes, config.retentionDays, config.publish], [60, 1, null, {}])
    // By default the unsigned tail is at most a minute long.
    assert.equal(headCheckpointCron(config), '* * * * *')
    assert.equal(headCheckpointCron(auditConfigSchema.parse({ signingKey: key.privateKey, headCheckpointMinutes: 5 })), '*/5 * * * *')
    assert.equal(headCheckpointCron(auditConfigSchema.parse({ signingKey: key.privateKey, headCheckpointMinutes: null })), null)
    assert.equal(auditConfigSchema.safeParse({ signingKey: key.privateKey, headCheckpointMinutes: 7 }).success, false)
    assert.equal(JSON.stringify(config.signingKey), '"[redacted]"')

    const bad = auditConfigSchema.safeParse({ signingKey: 'not-a-key', publish: { webhookUrl: 'https://siem.example/hook' } })
    assert.equal(bad.success, false)
    const paths = bad.error?.issues.map((i) => i.path.join('.'))
    assert.deepEqual(paths?.sort(), ['publish.webhookSecret', 'signingKey'])

    assert.deepEqual(
      [5, 60, 360].map((m) => checkpointCron(auditConfigSchema.parse({ signingKey: key.privateKey, checkpointIntervalMinutes: m }))),
      ['*/5 * * * *', '0 * * * *', '0 */6 * * *'],
    )
    assert.equal(auditConfigSchema.safeParse({ signingKey: key.privateKey, checkpointIntervalMinutes: 45 }).success, false)

    const badPublish = auditConfigSchema.safeParse({ signingKey: key.privateKey, publish: { webhookUrl: 'ftp://x', webhookSecret: 'short' } })
    assert.deepEqual(badPublish.error?.issues.map((i) => i.path.join('.')).sort(), ['publish.webhookSecret', 'publish.webhookUrl'])
  })
})
