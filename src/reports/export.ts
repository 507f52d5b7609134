/**
 * Generating an access-revocation export: the one code path behind both the API and the CLI.
 *
 *   open a REPEATABLE READ, READ ONLY transaction (one snapshot for every pass and the chain head)
 *   → read the audit chain head → stream rows from server-side cursors (pg-query-stream) straight
 *   into the output file, hashing the bytes as they are written → build, sign and store the
 *   manifest, and record `report.exported` on the audit chain.
 *
 * Nothing is held per row but one number for the percentiles, so memory stays flat for any
 * period; the database sorts, the cursor hands rows over in batches.
 */
import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import type pg from 'pg'
import { z } from 'zod'
import { appendAudit, sealAudit } from '../audit/index.ts'
import { employeeIdsNamed } from '../audit/store.ts'
import { signingKeyOf } from '../audit/checkpoints.ts'
import { effectiveAuditConfig, LOCAL_KEY_WARNING } from '../audit/local-key.ts'
import type { Config } from '../config/index.ts'
import { withTransaction, type Pool, type Queryable } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { csvHeader, csvRow } from './csv.ts'
import { HTML_SECTIONS, htmlFoot, htmlHead, htmlSectionEnd, htmlSectionRow, htmlSectionStart, type HtmlMeta } from './html.ts'
import { MANIFEST_TYPE, MEDIA_TYPES, REPORT_FORMATS, manifestText, signManifest, type ReportManifest } from './manifest.ts'
import {
  fromCaseRow,
  fromPopulationRow,
  fromUncoveredTermination,
  type PopulationEvent,
  type ReportRow,
} from './rows.ts'
import {
  abandonReportSnapshot,
  beginReportSnapshot,
  caseRowsOf,
  endReportSnapshot,
  employeeNames,
  exportManifestById,
  hasHrTerminations,
  insertExportRow,
  insertReportChunk,
  insertReportFile,
  populationEventRows,
  reportChainHead,
  uncoveredTerminationRows,
} from './store.ts'
import { PopulationAccumulator, TotalsAccumulator, type PopulationTotals, type ReportTotals } from './totals.ts'
import { rootPath } from '../paths.ts'

export const REPORT_NAME = 'access-revocations'
/** Longest period one export covers; ask for consecutive periods beyond it. */
export const MAX_PERIOD_DAYS = 1096
/** Output is written in chunks of about this size (fewer syscalls, same flat memory). */
const CHUNK_BYTES = 64 * 1024
/** A year of a large company takes seconds; this only stops a runaway export holding a snapshot. */
const EXPORT_STATEMENT_TIMEOUT = '30min'

const GENESIS = '0'.repeat(64)

export const TENURE_VERSION: string = z
  .object({ version: z.string().min(1) })
  .parse(JSON.parse(readFileSync(rootPath('package.json'), 'utf8'))).version

/** `2025-01-01` (midnight UTC) or an ISO 8601 date-time with offset; normalised to UTC with milliseconds. */
export const reportMoment = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00.000Z` : v).toISOString())

/** How a person names an employee: Tenure's id, an HR employee id (any source) or a work e-mail. */
export const reportEmployee = z
  .string()
  .trim()
  .min(1)
  .max(320)
  .describe(
    "A report for one employee: Tenure's id, the HR employee id (any source) or the work e-mail, resolved like the audit log's `employee` filter. " +
      'Without `from` and `to` the report covers every leaver case of that person, whenever it took effect. An employee nobody by that name is a 404 (`employee_not_found`), never an empty report.',
  )

export const reportQuerySchema = z
  .object({
    from: reportMoment.optional().describe('Start of the period, inclusive: terminations effective at or after it. A date means midnight UTC. Required unless `employee` is given.'),
    to: reportMoment.optional().describe('End of the period, exclusive. A date means midnight UTC, so to=2025-04-01 covers all of 31 March. Required unless `employee` is given.'),
    employee: reportEmployee.optional(),
    format: z.enum(REPORT_FORMATS).default('csv').describe('csv (default), json, ndjson, or html (the human summary).'),
  })
  .superRefine((q, ctx) => {
    if (q.from === undefined || q.to === undefined) {
      if (q.employee === undefined) {
        ctx.addIssue({ code: 'custom', path: [q.from === undefined ? 'from' : 'to'], message: 'required for a period report (or give employee for one employee\'s report)' })
      } else if (q.from !== undefined || q.to !== undefined) {
        ctx.addIssue({ code: 'custom', path: [q.from === undefined ? 'from' : 'to'], message: 'give both from and to, or neither (all time)' })
      }
      return
    }
    const span = Date.parse(q.to) - Date.parse(q.from)
    if (span <= 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' })
    else if (span > MAX_PERIOD_DAYS * 86_400_000 && q.employee === undefined) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `the period may span at most ${MAX_PERIOD_DAYS} days; export consecutive periods` })
    }
  })

export type ReportQuery = z.output<typeof reportQuerySchema>

export interface ReportActor {
  type: 'hr_source' | 'api_token' | 'oidc' | 'system'
  id: string
  /** The name people know the actor by (an API token's name, the SSO user's name), kept in the report history. */
  name?: string | null
}

/** An `employee` that names nobody: no employee row and no HR termination under that id. */
export class ReportEmployeeNotFound extends Error {
  readonly employee: string
  constructor(employee: string) {
    super(`no employee matches "${employee}" (by Tenure id, HR employee id or e-mail), and HR reported no termination under that id`)
    this.name = 'ReportEmployeeNotFound'
    this.employee = employee
  }
}

export interface ReportDeps {
  pool: Pool
  config: Pick<Config, 'lifecycle' | 'audit' | 'database'> & Partial<Pick<Config, 'reports'>>
  log: Logger
  now: () => Date
}

export interface ExportResult {
  manifest: ReportManifest
  /** The manifest as served and written next to the file (the signed object, pretty-printed). */
  manifestText: string
}

export function reportFileName(query: ReportQuery): string {
  const day = (iso: string) => (iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace(/[:.]/g, '').replace(/000Z$/, 'Z'))
  const period = query.from !== undefined && query.to !== undefined ? `_${day(query.from)}_${day(query.to)}` : ''
  // The name as given (an HR id, an e-mail), reduced to characters every file system takes.
  const who = query.employee !== undefined ? `_employee-${query.employee.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80)}` : ''
  return `${REPORT_NAME}${who}${period}.${query.format}`
}

/** Bytes to a file, hashed on the way, with backpressure honoured. */
class HashingFile {
  readonly #out: WriteStream
  readonly #hash = createHash('sha256')
  #bytes = 0
  #pending: string[] = []
  #pendingLength = 0
  #error: Error | undefined

  constructor(path: string) {
    // 'wx': never overwrite; the callers hand a fresh path.
    this.#out = createWriteStream(path, { flags: 'wx' })
    // Kept and rethrown by the next write: an unheard 'error' event would crash the process.
    this.#out.on('error', (err) => {
      this.#error ??= err
    })
  }

  async write(text: string): Promise<void> {
    if (this.#error) throw this.#error
    this.#pending.push(text)
    this.#pendingLength += text.length
    if (this.#pendingLength >= CHUNK_BYTES) await this.#flush()
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return
    const buf = Buffer.from(this.#pending.join(''), 'utf8')
    this.#pending = []
    this.#pendingLength = 0
    this.#hash.update(buf)
    this.#bytes += buf.length
    if (this.#error) throw this.#error
    if (!this.#out.write(buf)) await once(this.#out, 'drain')
  }

  async close(): Promise<{ sha256: string; bytes: number }> {
    await this.#flush()
    if (this.#error) throw this.#error
    this.#out.end()
    await finished(this.#out)
    return { sha256: this.#hash.digest('hex'), bytes: this.#bytes }
  }

  destroy(): void {
    this.#out.destroy()
  }
}

interface Pass {
  client: pg.PoolClient
  caseParams: unknown[]
  populationParams: unknown[]
  asOf: string
  period: { from: string; to: string }
}

/** Every report row in order: the leaver cases of the period, then the terminations no case accounts for. */
async function* reportRows(pass: Pass): AsyncGenerator<ReportRow> {
  for await (const row of caseRowsOf(pass.client, pass.caseParams)) yield fromCaseRow(normaliseSeqs(row), pass.asOf)
  for await (const row of uncoveredTerminationRows(pass.client, pass.populationParams)) yield fromUncoveredTermination(normaliseSeqs(row), pass.asOf)
}

async function* populationEvents(pass: Pass): AsyncGenerator<PopulationEvent> {
  for await (const row of populationEventRows(pass.client, pass.populationParams)) yield fromPopulationRow(normaliseSeqs(row), pass.period)
}

/** bigint columns arrive as strings unless the pool's int8 parser is installed; seqs are always numbers here. */
function normaliseSeqs<T extends object>(row: T): T {
  const out = row as Record<string, unknown>
  for (const key of Object.keys(out)) {
    if (key.endsWith('_seq') && typeof out[key] === 'string') out[key] = Number(out[key])
  }
  return row
}

async function populationTotals(pass: Pass): Promise<PopulationTotals> {
  const acc = new PopulationAccumulator()
  for await (const event of populationEvents(pass)) acc.add(event.status)
  return acc.result()
}

async function writeCsv(pass: Pass, out: HashingFile, totals: TotalsAccumulator): Promise<PopulationTotals> {
  await out.write(csvHeader())
  for await (const row of reportRows(pass)) {
    totals.add(row)
    await out.write(csvRow(row))
  }
  return populationTotals(pass)
}

async function writeNdjson(pass: Pass, out: HashingFile, totals: TotalsAccumulator): Promise<PopulationTotals> {
  for await (const row of reportRows(pass)) {
    totals.add(row)
    await out.write(`${JSON.stringify(row)}\n`)
  }
  return populationTotals(pass)
}

async function writeJson(pass: Pass, out: HashingFile, totals: TotalsAccumulator, head: Record<string, unknown>): Promise<PopulationTotals> {
  const preamble = JSON.stringify(head)
  await out.write(`${preamble.slice(0, -1)},\n"rows":[`)
  let first = true
  for await (const row of reportRows(pass)) {
    totals.add(row)
    await out.write(`${first ? '\n' : ',\n'}${JSON.stringify(row)}`)
    first = false
  }
  await out.write(`${first ? '' : '\n'}],\n"population":{"events":[`)
  const population = new PopulationAccumulator()
  first = true
  for await (const event of populationEvents(pass)) {
    population.add(event.status)
    await out.write(`${first ? '\n' : ',\n'}${JSON.stringify(event)}`)
    first = false
  }
  const result = population.result()
  await out.write(`${first ? '' : '\n'}],\n"totals":${JSON.stringify(result)}},\n"totals":${JSON.stringify(totals.result())}\n}\n`)
  return result
}

async function writeHtml(pass: Pass, out: HashingFile, totals: TotalsAccumulator, meta: HtmlMeta): Promise<PopulationTotals> {
  // The totals head the page, so a first pass counts; each section with rows is one more pass
  // over the same snapshot (sections are usually short, and nothing is held in memory).
  for await (const row of reportRows(pass)) totals.add(row)
  const population = await populationTotals(pass)
  const result = totals.result()
  await out.write(htmlHead(meta, result, population))
  for (const section of HTML_SECTIONS) {
    const count = result.outcomes[section.outcome]
    if (count === 0) continue
    await out.write(htmlSectionStart(section, count))
    for await (const row of reportRows(pass)) if (row.outcome === section.outcome) await out.write(htmlSectionRow(row))
    await out.write(htmlSectionEnd())
  }
  await out.write(htmlFoot(meta))
  return population
}

export interface WriteOptions {
  actor: ReportActor
  /** The file name recorded in the manifest (default: reportFileName(query)). */
  fileName?: string
}

function actorLabel(actor: ReportActor): string {
  return `${actor.type}:${actor.id}`
}

/**
 * Write the report for `query` to `path` (which must not exist) and return its signed manifest,
 * already stored in report_exports and recorded on the audit chain. On failure the partial file
 * is left for the caller to remove; no manifest is stored for it.
 */
export async function writeAccessRevocationReport(deps: ReportDeps, query: ReportQuery, path: string, options: WriteOptions): Promise<ExportResult> {
  const reportId = randomUUID()
  const asOf = deps.now().toISOString()
  const totals = new TotalsAccumulator()
  const out = new HashingFile(path)
  let chainHead: ReportManifest['auditChainHead']
  let population: PopulationTotals
  let employee: ResolvedEmployee | null = null
  // The report names the audit rows of its facts: every entry committed before it was asked for is sealed first.
  await sealAudit(deps.pool)
  const client = await deps.pool.connect()
  let failed: Error | undefined
  try {
    // One snapshot for the chain head and every pass: the report describes exactly the state
    // the head names, whatever is written while it runs.
    await beginReportSnapshot(client, EXPORT_STATEMENT_TIMEOUT)
    const head = await reportChainHead(client)
    chainHead = head ? { seq: Number(head.seq), hash: head.hash, occurredAt: head.occurred_at } : { seq: 0, hash: GENESIS, occurredAt: null }
    // Resolved in the same snapshot as the rows: the ids the manifest names are the ids read.
    if (query.employee !== undefined) employee = await resolveEmployee(client, query.employee)
    // No period (a one-employee report over all time): PostgreSQL's infinite timestamps bound it.
    const from = query.from ?? '-infinity'
    const to = query.to ?? 'infinity'
    const pass: Pass = {
      client,
      caseParams: [from, to, asOf, employee?.ids ?? null],
      populationParams: [from, to, deps.config.lifecycle.dateOnlyTerminationMeans, deps.config.lifecycle.defaultTimeZone, employee?.ids ?? null, employee?.named ?? null],
      asOf,
      // ISO strings compare in time order; '' and '~' sort before and after every one of them.
      period: { from: query.from ?? '', to: query.to ?? '~' },
    }
    switch (query.format) {
      case 'csv':
        population = await writeCsv(pass, out, totals)
        break
      case 'ndjson':
        population = await writeNdjson(pass, out, totals)
        break
      case 'json':
        population = await writeJson(pass, out, totals, {
          report: REPORT_NAME,
          reportId,
          period: { from: query.from ?? null, to: query.to ?? null },
          ...(employee ? { employee: { named: employee.named, employeeIds: employee.ids, names: employee.names } } : {}),
          generatedAt: asOf,
          generatedBy: actorLabel(options.actor),
          auditChainHead: chainHead,
          tenureVersion: TENURE_VERSION,
        })
        break
      case 'html':
        population = await writeHtml(pass, out, totals, {
          from: query.from ?? null,
          to: query.to ?? null,
          employee: employee ? { named: employee.named, names: employee.names } : null,
          generatedAt: asOf,
          generatedBy: actorLabel(options.actor),
          auditChainHead: chainHead,
          tenureVersion: TENURE_VERSION,
          reportId,
        })
        break
    }
    await endReportSnapshot(client)
  } catch (err) {
    failed = err as Error
    await abandonReportSnapshot(client)
    out.destroy()
    throw err
  } finally {
    // A client whose cursor failed mid-way is discarded rather than returned to the pool.
    client.release(failed)
  }
  const file = await out.close()
  const result = totals.result()

  // Signed out of the box: without audit.signingKey, with the data folder's key that also signs
  // the audit checkpoints (an unsigned manifest proves nothing about who made it).
  const audit = await effectiveAuditConfig(deps.config)
  const signingKey = signingKeyOf(audit.config)
  if (audit.local) deps.log.warn({ reportId, file: audit.local.file }, LOCAL_KEY_WARNING)
  const manifest = signManifest(
    {
      type: MANIFEST_TYPE,
      id: reportId,
      report: REPORT_NAME,
      query: {
        from: query.from ?? null,
        to: query.to ?? null,
        format: query.format,
        // Only on one-employee reports: a period report's manifest is exactly what it was before.
        ...(employee ? { employee: { named: employee.named, employeeIds: employee.ids } } : {}),
      },
      file: { name: options.fileName ?? reportFileName(query), mediaType: MEDIA_TYPES[query.format], bytes: file.bytes, sha256: file.sha256 },
      generatedAt: asOf,
      generatedBy: actorLabel(options.actor),
      rowCount: result.rows,
      totals: result,
      population,
      auditChainHead: chainHead,
      tenureVersion: TENURE_VERSION,
    },
    signingKey,
  )
  const text = manifestText(manifest)
  await storeExport(deps.pool, manifest, text, options.actor, { path, keepDays: deps.config.reports?.keepDays ?? 0 })
  deps.log.info(
    { reportId, format: query.format, from: query.from, to: query.to, employeeIds: employee?.ids, rows: result.rows, bytes: file.bytes, chainHeadSeq: chainHead.seq },
    'access-revocation report exported',
  )
  return { manifest, manifestText: text }
}

/** Chunks of a kept report file: small enough to stream, large enough to keep rows few. */
export const FILE_CHUNK_BYTES = 1024 * 1024

/**
 * The file's bytes into report_file_chunks, hashed again on the way: what is kept is exactly what
 * the manifest signed, or the export fails (nothing is stored for it, as for any failed export).
 */
async function keepFile(client: Queryable, manifest: ReportManifest, path: string, keptUntil: Date): Promise<void> {
  await insertReportFile(client, manifest.id, keptUntil)
  const hash = createHash('sha256')
  let seq = 0
  let bytes = 0
  for await (const chunk of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    hash.update(chunk)
    bytes += chunk.length
    await insertReportChunk(client, manifest.id, seq++, chunk)
  }
  const digest = hash.digest('hex')
  if (digest !== manifest.file.sha256 || bytes !== manifest.file.bytes) {
    throw new Error(`report ${manifest.id}: the file changed after it was hashed (${bytes} bytes, sha256 ${digest}; the manifest says ${manifest.file.bytes}, ${manifest.file.sha256})`)
  }
}

async function storeExport(pool: Pool, manifest: ReportManifest, text: string, actor: ReportActor, file: { path: string; keepDays: number }): Promise<void> {
  const employee = manifest.query.employee
  await withTransaction(pool, async (client) => {
    await insertExportRow(client, manifest, text, actor.name ?? null)
    // Kept for reports.keepDays so the history can hand out the same bytes again (docs/reports.md).
    if (file.keepDays > 0) await keepFile(client, manifest, file.path, new Date(Date.parse(manifest.generatedAt) + file.keepDays * 86_400_000))
    await appendAudit(client, [
      {
        actor: { type: actor.type, id: actor.id },
        action: 'report.exported',
        correlationId: manifest.id,
        // A report about one person is on that person's audit trail too.
        ...(employee?.employeeIds.length === 1 ? { subject: { employeeId: employee.employeeIds[0]! } } : {}),
        details: {
          reportId: manifest.id,
          report: manifest.report,
          format: manifest.query.format,
          from: manifest.query.from,
          to: manifest.query.to,
          ...(employee ? { employee: employee.named, employeeIds: employee.employeeIds } : {}),
          sha256: manifest.file.sha256,
          bytes: manifest.file.bytes,
          rowCount: manifest.rowCount,
          chainHeadSeq: manifest.auditChainHead.seq,
          signed: manifest.signature !== null,
        },
      },
    ])
  })
}

export interface ResolvedEmployee {
  /** As the caller named them. */
  named: string
  /** The Tenure ids that name matched (empty: only HR terminations under that id, never applied). */
  ids: string[]
  /** Their display names, for the HTML summary (personal data: not in the manifest). */
  names: string[]
}

/**
 * Resolve `employee` the way the audit log's filter does (employeeIdsNamed: Tenure id, HR id in
 * any source, e-mail). A name that matches no employee but an HR termination Tenure never applied
 * still has a report (its gap rows); a name that matches neither is refused, never an empty report.
 */
async function resolveEmployee(client: pg.PoolClient, named: string): Promise<ResolvedEmployee> {
  const ids = await employeeIdsNamed(client, named)
  if (ids.length === 0 && !(await hasHrTerminations(client, named))) throw new ReportEmployeeNotFound(named)
  return { named, ids, names: ids.length > 0 ? await employeeNames(client, ids) : [] }
}

/** The stored manifest text of an export, or undefined. */
export async function findExportManifest(pool: Pool, id: string): Promise<string | undefined> {
  return exportManifestById(pool, id)
}

export type { ReportTotals }
