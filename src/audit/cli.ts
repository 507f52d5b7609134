/**
 * `tenure audit verify [--published <file|url>] | export | checkpoint`: the same operations as GET /api/v1/audit/verify,
 * GET /api/v1/audit/events and POST /api/v1/audit/checkpoints, run straight against the database
 * (DATABASE_URL, or the data folder's embedded PostgreSQL) so an auditor or an operator needs no
 * server and no token.
 */
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Readable, Transform } from 'node:stream'
import { Option, type Command } from 'commander'
import type { Config } from '../config/index.ts'
import type { Logger } from '../log.ts'
import { openDatabase } from '../db/open.ts'
import { createPool } from '../db/pool.ts'
import { csvRows } from './csv.ts'
import { effectiveAuditConfig, LOCAL_KEY_WARNING } from './local-key.ts'
import { auditPublicKey } from './checkpoints.ts'
import { createCheckpoint, streamAudit, verifyAudit, type AuditConfig } from './index.ts'
import { AuditError } from './errors.ts'
import { readPublished } from './published.ts'

export interface AuditCliDeps {
  loadConfig: () => Promise<{ config: Config; log: Logger }>
}

async function withPool<T>(deps: AuditCliDeps, fn: (pool: ReturnType<typeof createPool>, audit: AuditConfig, log: Logger) => Promise<T>): Promise<T> {
  const { config, log } = await deps.loadConfig()
  const db = await openDatabase(config, log)
  const pool = createPool({ url: db.url, max: 2, statementTimeoutMs: 0, log })
  try {
    const audit = await effectiveAuditConfig(config)
    if (audit.local) log.warn({ file: audit.local.file }, LOCAL_KEY_WARNING)
    return await fn(pool, audit.config, log)
  } finally {
    await pool.end()
    if (db.embedded?.owned) await db.embedded.stop()
  }
}

function isMissingFile(err: unknown): boolean {
  return err instanceof AuditError && err.code === 'published_unreadable' && /ENOENT/.test(err.message)
}

export function registerAuditCommands(program: Command, deps: AuditCliDeps): void {
  const audit = program.command('audit').description('the tamper-evident audit trail')

  audit
    .command('verify')
    .description('recompute the hash chain and check every checkpoint signature; exit 0 when intact, 1 with the first bad row')
    .option('--public-key <file>', 'PEM public key to trust (default: the configured signing key)')
    .option(
      '--published <file|url|s3-url>',
      'checkpoints as published outside the database, to compare with the chain: a file of JSON lines, an http(s) URL serving them (JSON lines or an array; webhook bodies accepted), or s3://bucket/prefix (one object per checkpoint; endpoint and credentials from audit.publish.objectStore). Default: audit.publish.file when it exists, else the configured object store',
    )
    .action(async (opts: { publicKey?: string; published?: string }) => {
      const result = await withPool(deps, async (pool, config) => {
        const publicKey = opts.publicKey ? await readFile(opts.publicKey, 'utf8') : auditPublicKey(config).pem
        // Named on the command line: it must be read. The configured file may not exist yet (nothing published).
        const store = config.publish.objectStore
        const source = opts.published ?? config.publish.file ?? (store ? `s3://${store.bucket}/${store.prefix}` : undefined)
        let publishedCheckpoints: unknown[] = []
        try {
          if (source !== undefined) publishedCheckpoints = await readPublished(source, store ? { objectStore: store } : {})
        } catch (err) {
          if (!(err instanceof AuditError)) throw err
          if (opts.published !== undefined || !isMissingFile(err)) return { unreadable: err.message }
        }
        const verified = await verifyAudit(pool, { publicKey, publishedCheckpoints })
        return source === undefined ? verified : { ...verified, published: { source, checkpoints: publishedCheckpoints.length } }
      })
      if ('unreadable' in result) {
        // Exit 2, not 1: the published copy could not be compared, which is not a verdict on the chain.
        process.stderr.write(`${result.unreadable}\n`)
        process.exitCode = 2
        return
      }
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      if (!result.ok) process.exitCode = 1
    })

  audit
    .command('export')
    .description('write audit rows as NDJSON (one row per line, with seq, prev_hash and hash) for a period')
    .option('--from <iso>', 'occurred at or after (ISO 8601)')
    .option('--to <iso>', 'occurred before (ISO 8601)')
    .option('--employee <id>', "only rows about this employee: Tenure's id, the HR employee id or the work e-mail")
    .option('--actor <id>', 'only rows by this actor (an API token id, an SSO subject, tenure)')
    .option('--system <name>', 'only rows about this target system')
    .option('--action <name>', 'an action, or a prefix like lifecycle.*')
    .addOption(new Option('--format <format>', 'ndjson (verifiable: seq, prev_hash, hash) or csv (for a spreadsheet)').choices(['ndjson', 'csv']).default('ndjson'))
    .option('--out <file>', 'write here instead of stdout')
    .action(async (opts: { from?: string; to?: string; employee?: string; actor?: string; system?: string; action?: string; format: 'ndjson' | 'csv'; out?: string }) => {
      await withPool(deps, async (pool) => {
        const rows = streamAudit(pool, {
          ...(opts.from ? { from: opts.from } : {}),
          ...(opts.to ? { to: opts.to } : {}),
          ...(opts.employee ? { employee: opts.employee } : {}),
          ...(opts.actor ? { actorId: opts.actor } : {}),
          ...(opts.system ? { system: opts.system } : {}),
          ...(opts.action ? { action: opts.action } : {}),
        })
        const destination = opts.out ? createWriteStream(opts.out) : process.stdout
        if (opts.format === 'csv') {
          await pipeline(Readable.from(csvRows(rows)), destination)
          return
        }
        const lines = new Transform({
          writableObjectMode: true,
          transform(row: unknown, _enc, cb) {
            cb(null, `${JSON.stringify(row)}\n`)
          },
        })
        await pipeline(rows, lines, destination)
      })
    })

  audit
    .command('checkpoint')
    .description('sign the current head of the chain now and publish it (as the scheduled job does)')
    .action(async () => {
      const created = await withPool(deps, (pool, config, log) => createCheckpoint(pool, config, log))
      process.stdout.write(`${JSON.stringify(created, null, 2)}\n`)
    })
}
