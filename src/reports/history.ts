/**
 * The report history: every export made (API, console or CLI), newest first, from
 * report_exports. One function shared by GET /api/v1/reports and `tenure reports history`.
 *
 * Each item says whether its stored manifest is signed and whether that signature still checks
 * out against the key inside it (it would not if the row had been edited), and whether that key is
 * the one that signs now, and whether its file is kept (reports.keepDays) to be downloaded again.
 */
import { verify as verifySignature } from 'node:crypto'
import { z } from 'zod'
import { loadPublicKey } from '../audit/keys.ts'
import type { Queryable } from '../db/pool.ts'
import { manifestSchema, manifestSigningBytes, REPORT_FORMATS } from './manifest.ts'
import { reportHistoryRows, type HistoryDbRow } from './store.ts'

const iso = z.iso.datetime()

export const reportHistoryItemSchema = z
  .object({
    id: z.uuid(),
    report: z.string(),
    format: z.enum(REPORT_FORMATS),
    scope: z.enum(['period', 'employee']).describe('`period`: every leaver of the period. `employee`: one employee (with or without a period).'),
    from: iso.nullable().describe('Start of the period (inclusive); null on a one-employee report over all time.'),
    to: iso.nullable().describe('End of the period (exclusive); null on a one-employee report over all time.'),
    employee: z
      .object({
        named: z.string().describe('As the requester named them (Tenure id, HR id or e-mail).'),
        employeeIds: z.array(z.string()).describe('The Tenure ids that resolved to (empty: only HR terminations Tenure never applied).'),
        name: z.string().nullable().describe("The first employee's display name today."),
      })
      .nullable(),
    rowCount: z.number().int(),
    bytes: z.number().int(),
    sha256: z.string().describe('SHA-256 of the report file, as its manifest states.'),
    generatedAt: iso,
    generatedBy: z
      .object({
        id: z.string().describe('The actor: `api_token:<id>`, `oidc:<sub>`, `system:cli:<os user>`.'),
        name: z.string().nullable().describe('Their name when the report was made (null for exports older than the history).'),
      })
      .strict(),
    signature: z
      .object({
        status: z
          .enum(['valid', 'invalid', 'unsigned'])
          .describe('`valid`: the stored manifest is signed and its Ed25519 signature checks out. `invalid`: it does not (the stored manifest was changed). `unsigned`: made without a signing key.'),
        keyId: z.string().nullable(),
        currentKey: z.boolean().describe('Signed with the key that signs reports now (GET /api/v1/reports/signing-key).'),
      })
      .strict(),
    manifestUrl: z.string().describe('The signed manifest, byte for byte as handed out.'),
    file: z
      .object({
        status: z
          .enum(['kept', 'pruned', 'not_kept'])
          .describe('`kept`: downloadable again at `url`, the same bytes. `pruned`: kept until `keptUntil` (reports.keepDays), then removed. `not_kept`: made before files were kept, or with reports.keepDays 0.'),
        keptUntil: iso.nullable(),
        url: z.string().nullable().describe('GET it for the same file again (null unless kept).'),
      })
      .strict(),
  })
  .meta({ id: 'ReportHistoryItem' })

export type ReportHistoryItem = z.output<typeof reportHistoryItemSchema>

function signatureOf(manifestText: string, currentKeyId: string | null): ReportHistoryItem['signature'] {
  let manifest: z.output<typeof manifestSchema>
  try {
    manifest = manifestSchema.parse(JSON.parse(manifestText))
  } catch {
    return { status: 'invalid', keyId: null, currentKey: false }
  }
  if (manifest.signer === null || manifest.signature === null) return { status: 'unsigned', keyId: null, currentKey: false }
  let valid: boolean
  try {
    valid = verifySignature(null, manifestSigningBytes(manifest), loadPublicKey(manifest.signer.publicKey), Buffer.from(manifest.signature, 'base64'))
  } catch {
    valid = false
  }
  return { status: valid ? 'valid' : 'invalid', keyId: manifest.signer.keyId, currentKey: manifest.signer.keyId === currentKeyId }
}

function item(row: HistoryDbRow, currentKeyId: string | null, now: Date): ReportHistoryItem {
  return {
    id: row.id,
    report: row.report,
    format: z.enum(REPORT_FORMATS).parse(row.format),
    scope: row.employee === null ? 'period' : 'employee',
    from: row.period_from?.toISOString() ?? null,
    to: row.period_to?.toISOString() ?? null,
    employee: row.employee === null ? null : { named: row.employee, employeeIds: row.employee_ids ?? [], name: row.employee_name },
    rowCount: row.row_count,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    generatedAt: row.generated_at.toISOString(),
    generatedBy: { id: row.generated_by, name: row.generated_by_name },
    signature: signatureOf(row.manifest, currentKeyId),
    manifestUrl: `/api/v1/reports/exports/${row.id}/manifest`,
    file: fileOf(row, now),
  }
}

function fileOf(row: HistoryDbRow, now: Date): ReportHistoryItem['file'] {
  if (row.file_kept_until === null) return { status: 'not_kept', keptUntil: null, url: null }
  const keptUntil = row.file_kept_until.toISOString()
  if (row.file_pruned_at !== null || row.file_kept_until.getTime() <= now.getTime()) return { status: 'pruned', keptUntil, url: null }
  return { status: 'kept', keptUntil, url: `/api/v1/reports/exports/${row.id}/file` }
}

export interface HistoryPosition {
  generatedAt: string
  id: string
}

/** A page of the history, newest first, and the position after its last item (null on the last page). */
export async function reportHistory(
  db: Queryable,
  options: { after: HistoryPosition | null; limit: number; currentKeyId: string | null; now?: Date },
): Promise<{ items: ReportHistoryItem[]; next: HistoryPosition | null; total: number }> {
  const { rows, total } = await reportHistoryRows(db, options.after, options.limit + 1)
  const items = rows.slice(0, options.limit).map((r) => item(r, options.currentKeyId, options.now ?? new Date()))
  const last = items[items.length - 1]
  return { items, next: rows.length > options.limit && last ? { generatedAt: last.generatedAt, id: last.id } : null, total }
}
