/**
 * The sandbox's ready-made credentials: on the first `serve --sandbox`, one API token per role
 * (`sandbox-admin`, `sandbox-approver`, …), saved to <dataDir>/sandbox-tokens.json (mode 0600)
 * so a newcomer can call the API at once; `npm start` prints them from that file in its start-up
 * summary (src/sandbox/summary.ts), so main.ts turns this function's own notice off. Later
 * starts find them and create nothing. A revoked or expired sandbox token is replaced on the next start.
 */
import { randomUUID } from 'node:crypto'
import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { withTransaction, type Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { ROLES, type Role } from './roles.ts'
import { activeTokenRowsNamed, lockSandboxTokenSet } from './store.ts'
import { insertApiToken } from './tokens.ts'

export interface SandboxToken {
  role: Role
  name: string
  id: string
  token: string
}

export interface SandboxTokenOptions {
  /** Where sandbox-tokens.json goes (config.database.dataDir). Omit to write no file. */
  dataDir?: string
  /** The API URL, for the example command that is printed. */
  url?: string
  /** Where the one-time notice goes; default stderr. */
  write?: (text: string) => void
  now?: () => Date
}

export const SANDBOX_TOKENS_FILE = 'sandbox-tokens.json'

const fileSchema = z.object({
  tokens: z.record(z.string(), z.object({ id: z.string(), name: z.string(), token: z.string() })),
})

/** Create the sandbox tokens that do not exist yet; returns those created now (empty on later starts). */
export async function ensureSandboxTokens(pool: Pool, log: Logger, options: SandboxTokenOptions = {}): Promise<SandboxToken[]> {
  const now = (options.now ?? (() => new Date()))()
  const { created, active } = await withTransaction(pool, async (client) => {
    // Two processes starting on one database at once must not both create a set.
    await lockSandboxTokenSet(client)
    const created: SandboxToken[] = []
    const active = new Map<Role, string[]>()
    for (const role of ROLES) {
      const name = `sandbox-${role}`
      const rows = await activeTokenRowsNamed(client, name, now)
      if (rows.length > 0) {
        active.set(
          role,
          rows.map((r) => r.id),
        )
        continue
      }
      const result = await insertApiToken(client, { name, role, createdBy: { type: 'system', id: 'sandbox' }, now })
      created.push({ role, name, id: result.apiToken.id, token: result.token })
    }
    return { created, active }
  })
  if (created.length === 0) return created

  let file: string | undefined
  if (options.dataDir) {
    file = path.join(options.dataDir, SANDBOX_TOKENS_FILE)
    await saveTokens(file, created, active)
  }
  log.info({ roles: created.map((t) => t.role), file }, 'sandbox API tokens created')
  const write = options.write ?? ((text: string) => void process.stderr.write(text))
  const width = Math.max(...created.map((t) => t.role.length))
  const admin = created.find((t) => t.role === 'admin')
  write(
    [
      '',
      `Sandbox API tokens (shown once${file ? `; also saved to ${file}` : ''}):`,
      ...created.map((t) => `  ${t.role.padEnd(width)}  ${t.token}`),
      ...(admin ? [`Try: curl -H "Authorization: Bearer ${admin.token}" ${options.url ?? 'http://127.0.0.1:8080'}/api/v1/whoami`] : []),
      '',
      '',
    ].join('\n'),
  )
  return created
}

/** Merge into the file: entries for tokens that still work are kept, new ones replace old ones. */
async function saveTokens(file: string, created: SandboxToken[], active: Map<Role, string[]>): Promise<void> {
  let previous: z.output<typeof fileSchema>['tokens'] = {}
  try {
    const parsed = fileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')))
    if (parsed.success) previous = parsed.data.tokens
  } catch {
    // No file yet, or an unreadable one: it is rewritten.
  }
  const tokens: Record<string, { id: string; name: string; token: string }> = {}
  for (const role of ROLES) {
    const fresh = created.find((t) => t.role === role)
    const kept = previous[role]
    if (fresh) tokens[role] = { id: fresh.id, name: fresh.name, token: fresh.token }
    else if (kept && active.get(role)?.includes(kept.id)) tokens[role] = kept
  }
  const body = {
    note: 'Sandbox API tokens, one per role. Development only: anyone who can read this file can call the API. Send as: Authorization: Bearer <token>.',
    tokens,
  }
  // Written beside the target with 0600 and renamed over it: never a moment with a readable file.
  const temp = `${file}.${randomUUID()}.tmp`
  await writeFile(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, file)
}
