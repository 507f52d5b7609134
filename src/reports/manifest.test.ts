import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { generateSigningKey, loadPrivateKey } from '../audit/keys.ts'
import { MANIFEST_TYPE, manifestText, signManifest, verifyReportFile, type UnsignedManifest } from './manifest.ts'

describe('report manifest', () => {
  let dir: string
  const key = generateSigningKey()
  const content = Buffer.from('case_id,name\r\nc1,Ada Lovelace\r\n', 'utf8')
  let file: string

  function unsigned(bytes: Buffer): UnsignedManifest {
    return {
      type: MANIFEST_TYPE,
      id: randomUUID(),
      report: 'access-revocations',
      query: { from: '2025-01-01T00:00:00.000Z', to: '2025-04-01T00:00:00.000Z', format: 'csv' },
      file: { name: 'r.csv', mediaType: 'text/csv', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
      generatedAt: '2025-04-02T08:00:00.000Z',
      generatedBy: 'system:cli:auditor',
      rowCount: 1,
      totals: { leavers: 1, rows: 1, systems: 1, outcomes: { met: 1 }, minutesToRevoke: { count: 1, median: 12.5, p95: 12.5, max: 12.5 } },
      population: { terminations: 1, inReport: 1, duplicate: 0, superseded: 0, gap: 0 },
      auditChainHead: { seq: 42, hash: 'a'.repeat(64), occurredAt: '2025-04-02T07:59:59.123Z' },
      tenureVersion: '0.1.0',
    }
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-manifest-'))
    file = path.join(dir, 'r.csv')
    await writeFile(file, content)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('when the file and the manifest are untouched, then verification passes against the published key', async () => {
    const manifest = signManifest(unsigned(content), loadPrivateKey(key.privateKey))
    const result = await verifyReportFile(file, JSON.parse(manifestText(manifest)), { publicKey: key.publicKeyPem })
    assert.equal(result.ok, true, JSON.stringify(result.checks))
    assert.equal(manifest.signer?.keyId, key.keyId)
  })

  test('when one byte of the file changes, then verification fails on the SHA-256', async () => {
    const manifest = signManifest(unsigned(content), loadPrivateKey(key.privateKey))
    const tampered = Buffer.from(content)
    tampered[tampered.length - 3]! ^= 0x01
    const other = path.join(dir, 'tampered.csv')
    await writeFile(other, tampered)
    const result = await verifyReportFile(other, manifest, { publicKey: key.publicKeyPem })
    assert.equal(result.ok, false)
    assert.equal(result.checks.find((c) => c.name === 'sha256')?.ok, false)
    assert.equal(result.checks.find((c) => c.name === 'signature')?.ok, true, 'the manifest itself is intact')
  })

  test('when the manifest is edited to match a changed file, then the signature fails', async () => {
    const manifest = signManifest(unsigned(content), loadPrivateKey(key.privateKey))
    const forged = { ...manifest, rowCount: 0 }
    const result = await verifyReportFile(file, forged, { publicKey: key.publicKeyPem })
    assert.equal(result.ok, false)
    assert.equal(result.checks.find((c) => c.name === 'signature')?.ok, false)
  })

  test('when another key signed it, then the signer check fails against the published key', async () => {
    const other = generateSigningKey()
    const manifest = signManifest(unsigned(content), loadPrivateKey(other.privateKey))
    const result = await verifyReportFile(file, manifest, { publicKey: key.publicKeyPem })
    assert.equal(result.ok, false)
    assert.match(result.checks.find((c) => c.name === 'signer')?.message ?? '', /not with the given key/)
    const selfChecked = await verifyReportFile(file, manifest)
    assert.equal(selfChecked.ok, true, 'integrity holds against the embedded key')
    assert.match(selfChecked.checks.find((c) => c.name === 'signer')?.message ?? '', /pass the organisation's published public key/)
  })

  test('when the manifest is unsigned, then it fails unless unsigned manifests are allowed', async () => {
    const manifest = signManifest(unsigned(content), null)
    assert.equal((await verifyReportFile(file, manifest)).ok, false)
    assert.equal((await verifyReportFile(file, manifest, { allowUnsigned: true })).ok, true)
  })

  test('when the manifest is not a manifest, then it says so', async () => {
    const result = await verifyReportFile(file, { hello: 'world' })
    assert.equal(result.ok, false)
    assert.equal(result.checks[0]?.name, 'manifest')
  })

  test('when the documented standalone snippet checks a manifest, then it agrees with the verifier', async () => {
    // docs/reports.md gives auditors a dependency-free script; run its logic here so it cannot rot.
    const docs = await readFile(new URL('../../docs/reports.md', import.meta.url), 'utf8')
    const snippet = /```js verify-report\.mjs\n([\s\S]*?)```/.exec(docs)?.[1]
    assert.ok(snippet, 'docs/reports.md has the verify-report.mjs snippet')
    const manifest = signManifest(unsigned(content), loadPrivateKey(key.privateKey))
    const manifestPath = path.join(dir, 'r.csv.manifest.json')
    const keyPath = path.join(dir, 'key.pem')
    await writeFile(manifestPath, manifestText(manifest))
    await writeFile(keyPath, key.publicKeyPem)
    const script = path.join(dir, 'verify-report.mjs')
    await writeFile(script, snippet)
    const { spawnSync } = await import('node:child_process')
    const ok = spawnSync(process.execPath, [script, file, manifestPath, keyPath], { encoding: 'utf8' })
    assert.equal(ok.status, 0, ok.stderr + ok.stdout)
    assert.match(ok.stdout, /OK/)
    const tampered = path.join(dir, 'r2.csv')
    await writeFile(tampered, Buffer.concat([content, Buffer.from(' ')]))
    const bad = spawnSync(process.execPath, [script, tampered, manifestPath, keyPath], { encoding: 'utf8' })
    assert.equal(bad.status, 1)
  })
})
