/**
 * `tenure tokens create | list | revoke`: API tokens from the command line, against the same
 * database as the server (DATABASE_URL or the data folder's embedded PostgreSQL). `create`
 * prints the token alone on stdout, so `TOKEN=$(tenure tokens create …)` works; everything else
 * a person should read goes to stderr. Logs go to stderr too, at warn and above.
 */
import { userInfo } from 'node:os'
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { Config } from '../config/index.ts'
import { migrate } from '../db/migrate.ts'
import { createPool, type Pool } from '../db/pool.ts'
import { createLogger, type Logger } from '../log.ts'
import { openDatabase } from '../db/open.ts'
import { ROLES, type Role } from './roles.ts'
import { parseDuration } from './token-format.ts'
import { createApiToken, listApiTokens, resolveTokenReference, revokeApiToken, tokenStatus, type ApiToken, type TokenActor } from './tokens.ts'
import { sealAudit } from '../audit/sealer.ts'

export interface TokenCommandsDeps {
  /** The CLI's configuration loader (honours --config and TENURE_CONFIG). */
  loadConfig: () => Promise<{ config: Config }>
  stdout?: (text: string) => void
  stderr?: (text: string) => void
  now?: () => Date
}

function cliActor(): TokenActor {
  let user = 'unknown'
  try {
    user = userInfo().username || user
  } catch {
    // No passwd entry (some containers): the actor is still marked as the CLI.
  }
  return { type: 'system', id: `cli:${user}` }
}

function parseExpiry(value: string): number {
  try {
    return parseDuration(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

async function withPool<T>(deps: TokenCommandsDeps, fn: (pool: Pool, log: Logger) => Promise<T>): Promise<T> {
  const { config } = await deps.loadConfig()
  const log = createLogger({ level: 'warn', destination: process.stderr })
  const db = await openDatabase(config, log)
  const pool = createPool({ url: db.url, max: 2, statementTimeoutMs: config.database.statementTimeoutMs, log, applicationName: 'tenure-cli' })
  try {
    // Safe to run every time (advisory lock, no-op when current), and `tokens create` on a fresh
    // installation should not need a separate `tenure migrate` first.
    await migrate(pool, log)
    return await fn(pool, log)
  } finally {
    // The token.* entries this command queued: chained now rather than by the next running process.
    await sealAudit(pool).catch(() => undefined)
    await pool.end()
    if (db.embedded?.owned) await db.embedded.stop()
  }
}

function iso(date: Date | null): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-'
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function summary(token: ApiToken, now: Date): Record<string, unknown> {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    prefix: token.prefix,
    status: tokenStatus(token, now),
    createdBy: token.createdBy,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    revokedBy: token.revokedBy,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
  }
}

export function registerTokenCommands(program: Command, deps: TokenCommandsDeps): Command {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t))
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t))
  const now = deps.now ?? (() => new Date())
  const tokens = program.command('tokens').description('issue, list and revoke API tokens (docs/security.md)')

  tokens
    .command('create')
    .description('issue an API token and print it once (only its hash is stored)')
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .requiredOption('--name <label>', 'what it is for, e.g. terraform or siem-export')
    .addOption(new Option('--expires <duration>', 'lifetime: 30m, 12h, 90d, 2w, 1y (default: never)').argParser(parseExpiry))
    .option('--json', 'print the token and its record as JSON')
    .action(async (opts: { role: Role; name: string; expires?: number; json?: boolean }, command: Command) => {
      const name = opts.name.trim()
      if (name === '' || name.length > 200) command.error('error: --name must be 1 to 200 characters', { exitCode: 1 })
      await withPool(deps, async (pool) => {
        const at = now()
        const created = await createApiToken(pool, {
          name,
          role: opts.role,
          expiresAt: opts.expires ? new Date(at.getTime() + opts.expires) : null,
          createdBy: cliActor(),
          now: at,
        })
        if (opts.json) {
          out(`${JSON.stringify({ token: created.token, apiToken: summary(created.apiToken, at) }, null, 2)}\n`)
        } else {
          out(`${created.token}\n`)
          err(
            `Created API token ${created.apiToken.id} "${created.apiToken.name}" (role ${created.apiToken.role}, ` +
              `${created.apiToken.expiresAt ? `expires ${iso(created.apiToken.expiresAt)}` : 'does not expire'}).\n` +
              'This is the only time the token is shown: store it in a secret manager now.\n',
          )
        }
      })
    })

  tokens
    .command('list')
    .description('list API tokens (never their secrets)')
    .option('--all', 'include revoked tokens')
    .option('--json', 'one JSON array')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      await withPool(deps, async (pool) => {
        const at = now()
        const items: ApiToken[] = []
        let after: { createdAt: Date; id: string } | null = null
        do {
          const page = await listApiTokens(pool, { includeRevoked: Boolean(opts.all), limit: 200, after, now: at })
          items.push(...page.items)
          after = page.next
        } while (after)
        if (opts.json) {
          out(`${JSON.stringify(items.map((t) => summary(t, at)), null, 2)}\n`)
          return
        }
        if (items.length === 0) {
          err(opts.all ? 'No API tokens.\n' : 'No API tokens (add --all to include revoked ones).\n')
          return
        }
        out(
          table([
            ['ID', 'NAME', 'ROLE', 'PREFIX', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED', 'CREATED BY'],
            ...items.map((t) => [t.id, t.name, t.role, t.prefix, tokenStatus(t, at), iso(t.createdAt), iso(t.expiresAt), iso(t.lastUsedAt), t.createdBy]),
          ]),
        )
      })
    })

  tokens
    .command('revoke')
    .description('revoke an API token at once (by id, prefix, or the token itself)')
    .argument('<token>', 'the token id, its 16-character prefix, or the whole token')
    .action(async (reference: string, _opts: unknown, command: Command) => {
      const found = await withPool(deps, async (pool) => {
        const at = now()
        const token = await resolveTokenReference(pool, reference.trim())
        if (!token) return false
        if (token.revokedAt) {
          err(`API token ${token.id} "${token.name}" was already revoked at ${iso(token.revokedAt)} by ${token.revokedBy ?? 'unknown'}.\n`)
          return true
        }
        const revoked = await revokeApiToken(pool, token.id, { revokedBy: cliActor(), now: at })
        err(`Revoked API token ${token.id} "${token.name}" (role ${token.role}) at ${iso(revoked?.revokedAt ?? at)}.\n`)
        return true
      })
      // Reported after the database is closed: command.error() exits the process.
      if (!found) command.error(`error: no API token matches "${reference.length > 16 ? `${reference.slice(0, 16)}…` : reference}"`, { exitCode: 1 })
    })
  return tokens
}
