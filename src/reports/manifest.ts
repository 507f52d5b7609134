/**
 * The manifest that travels with every export: what was asked, what was produced (SHA-256 of the
 * exact bytes), from which state of the audit chain, by which Tenure, signed with Ed25519 over
 * its RFC 8785 canonical JSON. Verification needs the file, the manifest and (to know who signed)
 * the organisation's public key: no database, no configuration, no network. This module imports
 * nothing from the rest of Tenure beyond the key helpers, so `tenure reports verify` and the
 * standalone snippet in docs/reports.md check exactly the same thing.
 */
import { createHash, sign, verify as verifySignature, type KeyObject } from 'node:crypto'
import { createReadStream } from 'node:fs'
import canonicalize from 'canonicalize'
import { z } from 'zod'
import { keyId, loadPublicKey, rawPublicKey, type PublicKeyInput } from '../audit/keys.ts'

/** Domain separation: a signature over a report manifest can never pass for an audit checkpoint's. */
export const MANIFEST_TYPE = 'tenure.report.manifest/v1'

export const REPORT_FORMATS = ['csv', 'json', 'ndjson', 'html'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]

export const MEDIA_TYPES: Record<ReportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  html: 'text/html; charset=utf-8',
}

const iso = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'ISO 8601 UTC with milliseconds')
const count = z.number().int().nonnegative()
const minutes = z.number().nullable()

export const manifestSchema = z
  .object({
    type: z.literal(MANIFEST_TYPE),
    id: z.uuid(),
    report: z.literal('access-revocations'),
    // from and to are null only on a one-employee report over all time; `employee` is there only
    // on a one-employee report (a period report's manifest is unchanged since v1 began).
    query: z
      .object({
        from: iso.nullable(),
        to: iso.nullable(),
        format: z.enum(REPORT_FORMATS),
        employee: z.object({ named: z.string().min(1), employeeIds: z.array(z.string()) }).strict().optional(),
      })
      .strict(),
    file: z.object({ name: z.string().min(1), mediaType: z.string().min(1), bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    generatedAt: iso,
    generatedBy: z.string().min(1),
    rowCount: count,
    totals: z
      .object({
        leavers: count,
        rows: count,
        systems: count,
        outcomes: z.record(z.string(), count),
        minutesToRevoke: z.object({ count, median: minutes, p95: minutes, max: minutes }).strict(),
      })
      .strict(),
    population: z.object({ terminations: count, inReport: count, duplicate: count, superseded: count, gap: count }).strict(),
    auditChainHead: z.object({ seq: count, hash: z.string().regex(/^[0-9a-f]{64}$/), occurredAt: iso.nullable() }).strict(),
    tenureVersion: z.string().min(1),
    signer: z.object({ algorithm: z.literal('Ed25519'), keyId: z.string().min(1), publicKey: z.string().min(1) }).strict().nullable(),
    signature: z.string().min(1).nullable(),
  })
  .strict()

export type ReportManifest = z.infer<typeof manifestSchema>
export type UnsignedManifest = Omit<ReportManifest, 'signer' | 'signature'>

/** The bytes that are signed: RFC 8785 canonical JSON of every field but `signature`. */
export function manifestSigningBytes(manifest: Omit<ReportManifest, 'signature'> & { signature?: unknown }): Buffer {
  const { signature: _signature, ...payload } = manifest
  const text = canonicalize(payload)
  if (text === undefined) throw new Error('the manifest cannot be canonicalised')
  return Buffer.from(text, 'utf8')
}

/** Sign with the Ed25519 private key; without a key the manifest is left unsigned (and says so). */
export function signManifest(unsigned: UnsignedManifest, privateKey: KeyObject | null): ReportManifest {
  if (privateKey === null) return { ...unsigned, signer: null, signature: null }
  const signer = { algorithm: 'Ed25519' as const, keyId: keyId(privateKey), publicKey: rawPublicKey(privateKey).toString('base64') }
  const withSigner = { ...unsigned, signer }
  // Ed25519 takes no digest algorithm: node:crypto wants null.
  return { ...withSigner, signature: sign(null, manifestSigningBytes(withSigner), privateKey).toString('base64') }
}

/** The manifest as written to FILE.manifest.json and served by the API: pretty, one trailing newline. */
export function manifestText(manifest: ReportManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`
}

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer
    hash.update(buf)
    bytes += buf.length
  }
  return { sha256: hash.digest('hex'), bytes }
}

/** "2025-01-01T00:00:00.000Z to 2025-04-01T00:00:00.000Z", "for employee R-ADA (all time)". */
export function scopeText(query: ReportManifest['query']): string {
  const period = query.from !== null && query.to !== null ? `${query.from} to ${query.to}` : null
  if (!query.employee) return period ?? 'all time'
  return `for employee ${query.employee.named} ${period ? `from ${period}` : '(all time)'}`
}

export interface VerifyCheck {
  name: 'manifest' | 'sha256' | 'size' | 'signature' | 'signer'
  ok: boolean
  message: string
}

export interface ManifestVerification {
  /** True when the file is the one the manifest describes and a trusted key signed the manifest. */
  ok: boolean
  checks: VerifyCheck[]
  manifest?: ReportManifest
}

export interface VerifyOptions {
  /** The organisation's published key (PEM or base64). Without it the key inside the manifest is used, which proves integrity but not who signed. */
  publicKey?: PublicKeyInput
  /** Accept a manifest made without a signing key (integrity of the file only). */
  allowUnsigned?: boolean
}

/** Check a file against its manifest, offline. Every check is reported, not just the first failure. */
export async function verifyReportFile(filePath: string, manifestInput: unknown, options: VerifyOptions = {}): Promise<ManifestVerification> {
  const checks: VerifyCheck[] = []
  const parsed = manifestSchema.safeParse(manifestInput)
  if (!parsed.success) {
    checks.push({ name: 'manifest', ok: false, message: `not a Tenure report manifest: ${z.prettifyError(parsed.error)}` })
    return { ok: false, checks }
  }
  const manifest = parsed.data
  checks.push({ name: 'manifest', ok: true, message: `${manifest.report} ${scopeText(manifest.query)} (${manifest.query.format}), ${manifest.rowCount} rows, generated ${manifest.generatedAt}` })

  const actual = await sha256File(filePath)
  checks.push({
    name: 'sha256',
    ok: actual.sha256 === manifest.file.sha256,
    message: actual.sha256 === manifest.file.sha256 ? `SHA-256 ${actual.sha256} matches` : `SHA-256 of the file is ${actual.sha256}, the manifest says ${manifest.file.sha256}: the file was changed`,
  })
  checks.push({
    name: 'size',
    ok: actual.bytes === manifest.file.bytes,
    message: actual.bytes === manifest.file.bytes ? `${actual.bytes} bytes` : `the file has ${actual.bytes} bytes, the manifest says ${manifest.file.bytes}`,
  })

  if (manifest.signature === null || manifest.signer === null) {
    checks.push({
      name: 'signature',
      ok: options.allowUnsigned === true,
      message: 'the manifest is not signed (no signing key was configured when it was made): nothing proves who made it',
    })
    return { ok: checks.every((c) => c.ok), checks, manifest }
  }

  let key: KeyObject
  try {
    key = options.publicKey !== undefined ? loadPublicKey(options.publicKey) : loadPublicKey(manifest.signer.publicKey)
  } catch (err) {
    checks.push({ name: 'signer', ok: false, message: (err as Error).message })
    return { ok: false, checks, manifest }
  }
  const id = keyId(key)
  if (id !== manifest.signer.keyId) {
    checks.push({ name: 'signer', ok: false, message: `the manifest was signed with key ${manifest.signer.keyId}, not with the given key ${id}` })
  } else if (options.publicKey === undefined) {
    checks.push({
      name: 'signer',
      ok: true,
      message: `checked against the key inside the manifest (${id}); pass the organisation's published public key to prove who signed it`,
    })
  } else {
    checks.push({ name: 'signer', ok: true, message: `signed by the given key ${id}` })
  }
  let valid: boolean
  try {
    valid = verifySignature(null, manifestSigningBytes(manifest), key, Buffer.from(manifest.signature, 'base64'))
  } catch {
    valid = false
  }
  checks.push({ name: 'signature', ok: valid, message: valid ? 'Ed25519 signature over the manifest is valid' : 'the signature does not match the manifest: it was altered after signing, or forged' })
  return { ok: checks.every((c) => c.ok), checks, manifest }
}
