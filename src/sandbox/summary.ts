/**
 * What `npm start` prints once the sandbox is ready: the few things a newcomer needs, in a dozen
 * lines on stderr, apart from the log lines on stdout. Printed whether or not stdout is a
 * terminal, so a piped or CI run shows the tokens too.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { SANDBOX_TOKENS_FILE } from '../auth/sandbox.ts'
import { ROLES } from '../auth/roles.ts'

export interface SandboxSummary {
  url: string
  /** Absolute data folder (config.database.dataDir). */
  dataDir: string
  /** The embedded cluster's folder when it is not inside dataDir (root, private parents). */
  postgresDir?: string
  /** True when DATABASE_URL points at an external PostgreSQL. */
  externalDatabase?: boolean
  consoleEnabled: boolean
  /** role → token, from sandbox-tokens.json. */
  tokens: Record<string, string>
  tokensFile?: string
  /** Target-system emulators, name → base URL. */
  emulators: Record<string, string>
  /** HR emulators, name → base URL. */
  hrEmulators: Record<string, string>
  /** The SMTP sink's port, when the sandbox catches e-mail (no notify.email configured). */
  mailPort?: number
}

/** The tokens saved by ensureSandboxTokens (every active sandbox token, one per role). */
export async function readSandboxTokens(dataDir: string): Promise<{ file: string; tokens: Record<string, string> }> {
  const file = path.join(dataDir, SANDBOX_TOKENS_FILE)
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { tokens?: Record<string, { token?: unknown }> }
    const tokens: Record<string, string> = {}
    for (const role of ROLES) {
      const token = parsed.tokens?.[role]?.token
      if (typeof token === 'string') tokens[role] = token
    }
    return { file, tokens }
  } catch {
    return { file, tokens: {} }
  }
}

/** "name url" pairs, several to a line, each line under `width` characters. */
function columns(entries: Record<string, string>, indent: string, width = 110): string[] {
  const items = Object.entries(entries).map(([name, url]) => `${name} ${url}`)
  const lines: string[] = []
  let line = ''
  for (const item of items) {
    if (line && indent.length + line.length + 2 + item.length > width) {
      lines.push(line)
      line = ''
    }
    line = line ? `${line}  ${item}` : item
  }
  if (line) lines.push(line)
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`))
}

export function formatSandboxSummary(s: SandboxSummary): string {
  const label = (name: string) => `  ${name.padEnd(14)}`
  const indent = ' '.repeat(16)
  const lines = ['', `Tenure is listening on ${s.url} (sandbox ready)`]
  if (s.consoleEnabled) lines.push(`${label('Console')}${s.url}/  (sign in with a token below)`)
  const roles = Object.keys(s.tokens)
  if (roles.length > 0) {
    const width = Math.max(...roles.map((r) => r.length))
    lines.push(`${label('API tokens')}one per role${s.tokensFile ? `, also in ${s.tokensFile}` : ''}:`)
    for (const role of roles) lines.push(`${indent}${role.padEnd(width)}  ${s.tokens[role]}`)
    const admin = s.tokens.admin
    if (admin) lines.push(`${label('Try')}curl -H "Authorization: Bearer ${admin}" ${s.url}/api/v1/whoami`)
  } else {
    lines.push(`${label('API tokens')}none active: create one with \`node bin/tenure.js tokens create --role admin --name me\``)
  }
  if (Object.keys(s.emulators).length > 0) lines.push(`${label('Emulators')}${columns(s.emulators, indent).join('\n')}`)
  if (Object.keys(s.hrEmulators).length > 0) lines.push(`${label('HR emulators')}${columns(s.hrEmulators, indent).join('\n')}`)
  if (s.mailPort !== undefined) {
    lines.push(`${label('E-mail')}caught by an SMTP sink on 127.0.0.1:${s.mailPort}: ${s.consoleEnabled ? 'the console\'s Sandbox page, ' : ''}GET /api/v1/sandbox/mail`)
  }
  lines.push(`${label('Data')}${s.dataDir} (delete it to start from scratch)`)
  if (s.externalDatabase) lines.push(`${label('PostgreSQL')}DATABASE_URL`)
  else if (s.postgresDir) lines.push(`${label('PostgreSQL')}${s.postgresDir} (outside the private folder, for the postgres user)`)
  lines.push(`${label('Stop')}Ctrl-C: running jobs finish, then ${s.externalDatabase ? 'Tenure exits' : 'PostgreSQL stops'}`)
  lines.push('', '')
  return lines.join('\n')
}
