/**
 * API endpoints of the compliance reports (auditor and admin).
 *
 *   GET /api/v1/reports/access-revocations?from=&to=&employee=&format=   the export itself
 *   GET /api/v1/reports                                        the report history
 *   GET /api/v1/reports/exports/:id/manifest                   its signed manifest
 *   GET /api/v1/reports/exports/:id/file                       the same report again, byte for byte
 *   GET /api/v1/reports/signing-key                            the public key that signs manifests
 *
 * The export is written to a temporary file while it is hashed, its manifest is signed and
 * stored, and only then is the file sent: with Content-Length, a Repr-Digest (RFC 9530) of the
 * bytes, and a Link to the manifest. So the manifest exists before the first byte leaves, needs
 * no HTTP trailer (which proxies and most clients drop), and a client that fetches the manifest
 * after a complete download always finds it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { z } from 'zod'
import { createHash } from 'node:crypto'
import { signingKeyOf } from '../audit/checkpoints.ts'
import { keyId, publicKeyDer, publicKeyPem } from '../audit/keys.ts'
import { effectiveAuditConfig, LOCAL_KEY_WARNING } from '../audit/local-key.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery } from '../http/routes.ts'
import { findExportManifest, reportFileName, reportQuerySchema, ReportEmployeeNotFound, writeAccessRevocationReport } from './export.ts'
import { reportHistory, reportHistoryItemSchema } from './history.ts'
import { MEDIA_TYPES, manifestSchema } from './manifest.ts'
import { OUTCOME_MEANINGS } from './rows.ts'
import { keptFileOf, reportChunks } from './store.ts'
import { recordAudit } from '../audit/index.ts'

/** Exports run at once per process; more wait for a slot (429) instead of piling up snapshots and temp files. */
export const MAX_CONCURRENT_EXPORTS = 2
let running = 0

const outcomes = Object.entries(OUTCOME_MEANINGS)
  .map(([k, v]) => `\`${k}\`: ${v}`)
  .join(' ')

export const accessRevocationsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reports/access-revocations',
  summary: 'Access-revocation report: every leaver, every system, with evidence',
  description:
    'One row per leaver per system for terminations effective in [from, to), or (with `employee`) for one employee\'s leaver cases: HR notice, each revocation step with its time, the verification, ' +
    'the SLA deadline and outcome, exceptions, manual attestations, residual access, and the audit sequence numbers behind each fact. ' +
    'Terminations HR reported that have no case are listed as gaps. Every export is recorded in the report history (GET /api/v1/reports) and on the audit trail (`report.exported`). ' +
    `Outcomes: ${outcomes} ` +
    'The response carries `Link: <…/manifest>; rel="describedby"` to the signed manifest (SHA-256 of these bytes, the query, the audit chain head, an Ed25519 signature), ' +
    'and `Repr-Digest` with the SHA-256. Check both offline with `tenure reports verify FILE MANIFEST --public-key KEY.pem` (docs/reports.md).',
  tags: ['reports'],
  roles: ['auditor'],
  request: { query: reportQuerySchema },
  responses: {
    200: {
      description: 'The export (text/csv, application/json, application/x-ndjson or text/html, per `format`).',
      contentType: 'text/csv',
      schema: z.string(),
    },
    404: { description: '`employee_not_found`: `employee` names no employee and no HR termination (an unknown name is said, never answered with an empty report).' },
  },
  handler: async ({ query, res, actor, principal, deps, log }) => {
    if (running >= MAX_CONCURRENT_EXPORTS) {
      throw new ApiError(429, 'exports_busy', `${MAX_CONCURRENT_EXPORTS} exports are already running; retry shortly`, null, { 'Retry-After': '30' })
    }
    running += 1
    let dir: string | undefined
    try {
      dir = await mkdtemp(path.join(tmpdir(), 'tenure-report-'))
      const fileName = reportFileName(query)
      const file = path.join(dir, fileName)
      let manifest
      try {
        ;({ manifest } = await writeAccessRevocationReport(
          { pool: deps.pool, config: deps.config, log, now: deps.now },
          query,
          file,
          { actor: { ...actor, name: principal.name }, fileName },
        ))
      } catch (err) {
        if (err instanceof ReportEmployeeNotFound) throw new ApiError(404, 'employee_not_found', err.message, { employee: err.employee })
        throw err
      }
      const manifestPath = `/api/v1/reports/exports/${manifest.id}/manifest`
      res.status(200)
      res.setHeader('Content-Type', MEDIA_TYPES[query.format])
      res.setHeader('Content-Length', String(manifest.file.bytes))
      res.setHeader('Content-Disposition', `${query.format === 'html' ? 'inline' : 'attachment'}; filename="${fileName}"`)
      res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(manifest.file.sha256, 'hex').toString('base64')}:`)
      res.setHeader('Link', `<${manifestPath}>; rel="describedby"; type="application/json"`)
      res.setHeader('X-Report-Id', manifest.id)
      // Personal data: no shared cache may keep it.
      res.setHeader('Cache-Control', 'no-store')
      try {
        await pipeline(createReadStream(file), res)
      } catch (err) {
        // The client went away mid-download: the export and its manifest stand, nothing to answer.
        log.info({ reportId: manifest.id, err: (err as Error).message }, 'report download interrupted')
      }
    } finally {
      running -= 1
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    }
    return ''
  },
})

export const exportManifestRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reports/exports/:id/manifest',
  summary: 'The signed manifest of an export',
  description:
    'Exactly the bytes stored when the export was made (also what `tenure reports access-revocations` writes to FILE.manifest.json). ' +
    'The `Link` header of an export points here.',
  tags: ['reports'],
  roles: ['auditor'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'The manifest', schema: manifestSchema.meta({ id: 'ReportManifest' }) },
    404: { description: 'No export with this id' },
  },
  handler: async ({ params, res, deps }) => {
    const text = await findExportManifest(deps.pool, params.id)
    if (text === undefined) throw notFound(`export ${params.id}`)
    res.status(200).type('application/json').setHeader('Cache-Control', 'no-store')
    res.send(text)
    return JSON.parse(text) as z.input<typeof manifestSchema>
  },
})

/** Sends the kept file of a past export: the same bytes, checked against its signed manifest first. */
export const exportFileRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reports/exports/:id/file',
  summary: 'Download a past report again: the same bytes its signed manifest describes',
  description:
    'The file of an export from the report history, exactly as first handed out: the stored bytes are hashed before anything is sent and served only when they match the SHA-256 and size ' +
    'in the stored, signed manifest (so `tenure reports verify FILE MANIFEST` passes on it as on the original). Same headers as the export (Repr-Digest, Link to the manifest, X-Report-Id). ' +
    'Files are kept for `reports.keepDays` (docs/reports.md); the manifest and the history row stay for good. Recorded on the audit trail (`report.downloaded_again`).',
  tags: ['reports'],
  roles: ['auditor'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'The report file (text/csv, application/json, application/x-ndjson or text/html, as first exported).', contentType: 'text/csv', schema: z.string() },
    404: { description: 'No export with this id' },
    409: { description: '`report_file_mismatch`: the stored bytes no longer hash to the signed manifest (changed in the database); nothing is sent.' },
    410: {
      description: '`report_file_not_kept`: no file was kept for this export (made before files were kept, or with reports.keepDays 0). `report_file_pruned`: it was kept until `keptUntil` and removed by the retention sweep.',
    },
  },
  handler: async ({ params, res, actor, deps, log }) => {
    const kept = await keptFileOf(deps.pool, params.id)
    if (!kept) throw notFound(`export ${params.id}`)
    const manifest = manifestSchema.parse(JSON.parse(kept.manifest))
    if (kept.kept_until === null) {
      throw new ApiError(410, 'report_file_not_kept', `the file of export ${params.id} was not kept (made before report files were kept, or with reports.keepDays 0); its manifest still verifies a copy you saved`, {
        manifestUrl: `/api/v1/reports/exports/${params.id}/manifest`,
      })
    }
    if (kept.pruned_at !== null || kept.kept_until.getTime() <= deps.now().getTime()) {
      throw new ApiError(410, 'report_file_pruned', `the file of export ${params.id} was kept until ${kept.kept_until.toISOString()} (reports.keepDays) and has been removed; its manifest still verifies a copy you saved`, {
        keptUntil: kept.kept_until.toISOString(),
        manifestUrl: `/api/v1/reports/exports/${params.id}/manifest`,
      })
    }
    // Hashed before the first byte leaves: a status can still say the bytes are not the signed ones.
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of reportChunks(deps.pool, params.id)) {
      hash.update(chunk)
      bytes += chunk.length
    }
    const digest = hash.digest('hex')
    if (digest !== manifest.file.sha256 || bytes !== manifest.file.bytes) {
      log.error({ reportId: params.id, bytes, sha256: digest, expectedBytes: manifest.file.bytes, expectedSha256: manifest.file.sha256 }, 'a kept report file no longer matches its signed manifest')
      throw new ApiError(409, 'report_file_mismatch', `the stored file of export ${params.id} no longer matches its signed manifest (${bytes} bytes, sha256 ${digest}); it is not served`, {
        expected: { bytes: manifest.file.bytes, sha256: manifest.file.sha256 },
        found: { bytes, sha256: digest },
      })
    }
    await recordAudit(deps.pool, [
      {
        actor,
        action: 'report.downloaded_again',
        correlationId: manifest.id,
        ...(manifest.query.employee?.employeeIds.length === 1 ? { subject: { employeeId: manifest.query.employee.employeeIds[0]! } } : {}),
        details: { reportId: manifest.id, sha256: manifest.file.sha256, bytes: manifest.file.bytes, generatedAt: manifest.generatedAt },
      },
    ])
    res.status(200)
    res.setHeader('Content-Type', manifest.file.mediaType)
    res.setHeader('Content-Length', String(manifest.file.bytes))
    res.setHeader('Content-Disposition', `${manifest.query.format === 'html' ? 'inline' : 'attachment'}; filename="${manifest.file.name}"`)
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(manifest.file.sha256, 'hex').toString('base64')}:`)
    res.setHeader('Link', `</api/v1/reports/exports/${manifest.id}/manifest>; rel="describedby"; type="application/json"`)
    res.setHeader('X-Report-Id', manifest.id)
    res.setHeader('Cache-Control', 'no-store')
    try {
      await pipeline(Readable.from(reportChunks(deps.pool, params.id)), res)
    } catch (err) {
      log.info({ reportId: manifest.id, err: (err as Error).message }, 'report download interrupted')
    }
    return ''
  },
})

export const signingKeySchema = z
  .object({
    algorithm: z.literal('Ed25519'),
    keyId: z.string().describe('`ed25519:` + the first 32 hex digits of SHA-256 of the raw public key; also in every manifest signed with it (`signer.keyId`).'),
    fingerprint: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('SHA-256 (hex) of the key\'s DER (SPKI) encoding: what `openssl pkey -pubin -in KEY.pem -outform DER | openssl dgst -sha256` prints. Compare it with the one your organisation published.'),
    pem: z.string().describe('SPKI PEM: save it as KEY.pem and pass it to `tenure reports verify --public-key KEY.pem`.'),
    source: z
      .enum(['configured', 'data_folder'])
      .describe('`configured`: audit.signingKey. `data_folder`: none is configured and the key kept in the data folder signs (the sandbox, a trial); configure one from a secret store for production.'),
    warning: z.string().nullable().describe('Set while the data folder\'s key signs: say so to whoever relies on these reports.'),
  })
  .meta({ id: 'ReportSigningKey' })

export const signingKeyRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reports/signing-key',
  summary: 'The public key that signs report manifests',
  description:
    'The Ed25519 public key that signs report manifests and audit checkpoints: `audit.signingKey`, or (none configured: the sandbox, a trial) the key Tenure keeps in its data folder. ' +
    'Publish it to your auditors through a channel they trust; they verify a report offline with `tenure reports verify FILE FILE.manifest.json --public-key KEY.pem` (docs/reports.md).',
  tags: ['reports'],
  roles: ['auditor'],
  responses: {
    200: { description: 'The public key', schema: signingKeySchema },
  },
  handler: async ({ deps }) => {
    const audit = await effectiveAuditConfig(deps.config)
    const key = signingKeyOf(audit.config)
    const spki = publicKeyDer(key)
    return {
      algorithm: 'Ed25519' as const,
      keyId: keyId(key),
      fingerprint: createHash('sha256').update(spki).digest('hex'),
      pem: publicKeyPem(key),
      source: audit.local ? ('data_folder' as const) : ('configured' as const),
      warning: audit.local ? LOCAL_KEY_WARNING : null,
    }
  },
})

const historyCursor = z.object({ g: z.iso.datetime(), i: z.uuid() })

export const reportHistoryRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reports',
  summary: 'Report history: every report generated, newest first',
  description:
    'Every export made through the API, the console or `tenure reports access-revocations`: who generated it (id and name), when, its scope (a period or one employee), format, row count, ' +
    'the SHA-256 of the file and the state of its signed manifest (`valid`, `invalid` when the stored manifest no longer matches its signature, `unsigned`). ' +
    '`manifestUrl` serves the manifest byte for byte; `file.url` serves the report itself again, the same bytes, while it is kept (reports.keepDays). Paginated with `limit` and `cursor`.',
  tags: ['reports'],
  roles: ['auditor'],
  request: { query: pageQuery({ defaultLimit: 20, maxLimit: 100 }) },
  responses: {
    200: {
      description: 'A page of the history',
      schema: pageOf(reportHistoryItemSchema).extend({ total: z.number().int().describe('Reports in the history, on every page.') }),
    },
  },
  handler: async ({ query, deps }) => {
    const after = decodeCursor(query.cursor, historyCursor)
    const audit = await effectiveAuditConfig(deps.config)
    const key = signingKeyOf(audit.config)
    const page = await reportHistory(deps.pool, {
      after: after ? { generatedAt: after.g, id: after.i } : null,
      limit: query.limit,
      currentKeyId: key ? keyId(key) : null,
      now: deps.now(),
    })
    return { items: page.items, nextCursor: page.next ? encodeCursor({ g: page.next.generatedAt, i: page.next.id }) : null, total: page.total }
  },
})

export const REPORT_ROUTES = [reportHistoryRoute, accessRevocationsRoute, exportManifestRoute, exportFileRoute, signingKeyRoute]
