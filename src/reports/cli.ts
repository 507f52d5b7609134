/**
 * `tenure reports access-revocations | history | verify`.
 *
 * The export reads the database directly (DATABASE_URL or the data folder's embedded PostgreSQL,
 * like `tenure tokens`) and runs writeAccessRevocationReport(), the same function the API runs:
 * one code path, so a file made here and one downloaded from the API are the same report with the
 * same kind of manifest, and an export works with no server running and no API token to hand.
 *
 * `verify` needs neither the database nor a configuration: only the file, the manifest and,
 * to know who signed, the public key.
 */
import { randomBytes } from 'node:crypto'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import path from 'node:path'
import { Option, type Command } from 'commander'
import type { Config } from '../config/index.ts'
import { migrate } from '../db/migrate.ts'
import { createPool } from '../db/pool.ts'
import { sealAudit } from '../audit/sealer.ts'
import { createLogger } from '../log.ts'
import { openDatabase } from '../db/open.ts'
import { signingKeyOf } from '../audit/checkpoints.ts'
import { keyId } from '../audit/keys.ts'
import { effectiveAuditConfig } from '../audit/local-key.ts'
import { ReportEmployeeNotFound, reportQuerySchema, writeAccessRevocationReport, type ReportActor } from './export.ts'
import { reportHistory, type HistoryPosition } from './history.ts'
import { REPORT_FORMATS, verifyReportFile } from './manifest.ts'

export interface ReportCommandsDeps {
  /** The CLI's configuration loader (honours --config and TENURE_CONFIG). */
  loadConfig: () => Promise<{ config: Config }>
  stdout?: (text: string) => void
  stderr?: (text: string) => void
  now?: () => Date
  /** How a failed verification is reported to the shell (default: process.exitCode = code). */
  setExitCode?: (code: number) => void
}

function cliActor(): ReportActor {
  let user = 'unknown'
  try {
    user = userInfo().username || user
  } catch {
    // No passwd entry (some containers): the actor is still marked as the CLI.
  }
  return { type: 'system', id: `cli:${user}`, name: `${user} (command line)` }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}

/** A key given as a path to a PEM file, or the key itself (PEM text or base64). */
async function readKey(value: string): Promise<string> {
  if (value.trim().startsWith('-----BEGIN') || !(await exists(value))) return value
  return readFile(value, 'utf8')
}

export function registerReportCommands(program: Command, deps: ReportCommandsDeps): Command {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t))
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t))
  const reports = program.command('reports').description('compliance reports and their offline verification (docs/reports.md)')

  reports
    .command('access-revocations')
    .description('export the access-revocation report for a period or for one employee: writes FILE and FILE.manifest.json')
    .option('--from <date>', 'start of the period, inclusive (YYYY-MM-DD = midnight UTC, or an ISO 8601 date-time); required without --employee')
    .option('--to <date>', 'end of the period, exclusive (to=2025-04-01 covers all of March); required without --employee')
    .option('--employee <who>', "one employee's report: Tenure id, HR employee id or e-mail (all time unless --from and --to are given)")
    .addOption(new Option('--format <format>', 'file format').choices(REPORT_FORMATS).default('csv'))
    .requiredOption('--out <file>', 'where to write the report; the manifest goes to <file>.manifest.json')
    .option('--force', 'overwrite <file> and its manifest if they exist')
    .action(async (opts: { from?: string; to?: string; employee?: string; format: string; out: string; force?: boolean }, command: Command) => {
      const parsed = reportQuerySchema.safeParse({ from: opts.from, to: opts.to, employee: opts.employee, format: opts.format })
      if (!parsed.success) {
        const issue = parsed.error.issues[0]
        command.error(`error: --${String(issue?.path[0] ?? 'from')}: ${issue?.message ?? 'invalid'}`, { exitCode: 2 })
        return
      }
      const file = path.resolve(opts.out)
      const manifestFile = `${file}.manifest.json`
      if (!opts.force && ((await exists(file)) || (await exists(manifestFile)))) {
        command.error(`error: ${await exists(file) ? file : manifestFile} exists; pass --force to overwrite it`, { exitCode: 1 })
        return
      }
      const { config } = await deps.loadConfig()
      const log = createLogger({ level: 'warn', destination: process.stderr })
      const db = await openDatabase(config, log)
      const pool = createPool({ url: db.url, max: 2, statementTimeoutMs: config.database.statementTimeoutMs, log, applicationName: 'tenure-cli' })
      // Written under a temporary name and renamed when complete: a file named FILE is always whole.
      const partial = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.partial`)
      try {
        await migrate(pool, log)
        let written
        try {
          written = await writeAccessRevocationReport({ pool, config, log, now: deps.now ?? (() => new Date()) }, parsed.data, partial, {
            actor: cliActor(),
            fileName: path.basename(file),
          })
        } catch (e) {
          if (!(e instanceof ReportEmployeeNotFound)) throw e
          err(`error: ${e.message}\n`)
          ;(deps.setExitCode ?? ((code: number) => void (process.exitCode = code)))(1)
          return
        }
        const { manifest, manifestText } = written
        await rename(partial, file)
        await writeFile(manifestFile, manifestText, 'utf8')
        const t = manifest.totals
        err(
          `Wrote ${file} (${manifest.file.bytes} bytes, ${manifest.rowCount} rows) and ${manifestFile}.\n` +
            `Leavers ${t.leavers}: met ${t.outcomes.met ?? 0}, breached ${t.outcomes.breached ?? 0}, waived ${t.outcomes.waived ?? 0}, ` +
            `pending ${t.outcomes.pending ?? 0}, gaps ${t.outcomes.gap ?? 0}. HR terminations in the period: ${manifest.population.terminations}.\n` +
            `SHA-256 ${manifest.file.sha256}; ${manifest.signature ? `signed by ${manifest.signer?.keyId}` : 'NOT signed (no audit.signingKey configured)'}.\n`,
        )
        out(`${file}\n`)
      } finally {
        await rm(partial, { force: true })
        // The report.exported entry this command queued: chained now rather than by the next running process.
        await sealAudit(pool).catch(() => undefined)
        await pool.end()
        if (db.embedded?.owned) await db.embedded.stop()
      }
    })

  reports
    .command('history')
    .description('list the reports generated (API, console and command line), newest first')
    .option('--limit <n>', 'how many to list (1-100)', '20')
    .option('--cursor <cursor>', 'continue after this position (printed at the end of a full page)')
    .option('--json', 'print the page as JSON (the items of GET /api/v1/reports)')
    .action(async (opts: { limit: string; cursor?: string; json?: boolean }, command: Command) => {
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
        command.error('error: --limit: an integer from 1 to 100', { exitCode: 2 })
        return
      }
      let after: HistoryPosition | null = null
      if (opts.cursor !== undefined) {
        const [generatedAt, id] = opts.cursor.split('/')
        if (!generatedAt || !id || Number.isNaN(Date.parse(generatedAt)) || !/^[0-9a-f-]{36}$/.test(id)) {
          command.error('error: --cursor: not a cursor this command printed', { exitCode: 2 })
          return
        }
        after = { generatedAt, id }
      }
      const { config } = await deps.loadConfig()
      const log = createLogger({ level: 'warn', destination: process.stderr })
      const db = await openDatabase(config, log)
      const pool = createPool({ url: db.url, max: 2, statementTimeoutMs: config.database.statementTimeoutMs, log, applicationName: 'tenure-cli' })
      try {
        await migrate(pool, log)
        const signingKey = signingKeyOf((await effectiveAuditConfig(config)).config)
        const page = await reportHistory(pool, { after, limit, currentKeyId: signingKey ? keyId(signingKey) : null })
        if (opts.json) {
          out(`${JSON.stringify({ items: page.items, total: page.total, nextCursor: page.next ? `${page.next.generatedAt}/${page.next.id}` : null }, null, 2)}\n`)
          return
        }
        if (page.items.length === 0) {
          out(after ? 'No more reports.\n' : 'No report has been generated yet.\n')
          return
        }
        for (const r of page.items) {
          const scope = r.employee
            ? `employee ${r.employee.name ? `${r.employee.name} (${r.employee.named})` : r.employee.named}${r.from ? ` ${r.from.slice(0, 10)}..${r.to?.slice(0, 10)}` : ', all time'}`
            : `${r.from?.slice(0, 10)}..${r.to?.slice(0, 10)}`
          const by = r.generatedBy.name ? `${r.generatedBy.name} [${r.generatedBy.id}]` : r.generatedBy.id
          const signed = r.signature.status === 'valid' ? `signed ${r.signature.keyId}${r.signature.currentKey ? '' : ' (not the current key)'}` : r.signature.status.toUpperCase()
          out(`${r.generatedAt}  ${r.id}  ${r.format.padEnd(6)} ${String(r.rowCount).padStart(6)} rows  ${scope}  by ${by}  ${signed}\n`)
        }
        out(`${page.items.length} of ${page.total} report${page.total === 1 ? '' : 's'}.${page.next ? ` More: --cursor ${page.next.generatedAt}/${page.next.id}` : ''}\n`)
      } finally {
        await pool.end()
        if (db.embedded?.owned) await db.embedded.stop()
      }
    })

  reports
    .command('verify')
    .description('check a report file against its manifest, offline: the SHA-256 of the bytes and the Ed25519 signature')
    .argument('<file>', 'the report file')
    .argument('<manifest>', 'its manifest (FILE.manifest.json, or the one the API links to)')
    .option('--public-key <key>', "the organisation's published public key: a PEM file, or the key itself (PEM or base64)")
    .option('--allow-unsigned', 'accept a manifest made without a signing key (checks the bytes only)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, manifestPath: string, opts: { publicKey?: string; allowUnsigned?: boolean; json?: boolean }, command: Command) => {
      let manifest: unknown
      try {
        manifest = JSON.parse(await readFile(manifestPath, 'utf8'))
      } catch (e) {
        command.error(`error: cannot read the manifest ${manifestPath}: ${(e as Error).message}`, { exitCode: 2 })
        return
      }
      if (!(await exists(file))) {
        command.error(`error: cannot read the report file ${file}`, { exitCode: 2 })
        return
      }
      const result = await verifyReportFile(file, manifest, {
        ...(opts.publicKey !== undefined ? { publicKey: await readKey(opts.publicKey) } : {}),
        allowUnsigned: Boolean(opts.allowUnsigned),
      })
      if (opts.json) {
        out(`${JSON.stringify({ ok: result.ok, checks: result.checks }, null, 2)}\n`)
      } else {
        for (const c of result.checks) out(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.message}\n`)
        out(result.ok ? 'VERIFIED: the file is the report the manifest describes.\n' : 'NOT VERIFIED.\n')
      }
      if (!result.ok) (deps.setExitCode ?? ((code: number) => void (process.exitCode = code)))(1)
    })
  return reports
}
