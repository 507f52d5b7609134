/**
 * When no `audit.signingKey` is configured, Tenure still signs checkpoints, with a key it keeps
 * in the data folder (created once, mode 0600). Fine for the sandbox and for trying Tenure out;
 * in production the key belongs in a secret store (`audit.signingKey: { env: ... }`) and its
 * public key with your auditors, and Tenure says so at every start until it is configured.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { auditConfigSchema, type AuditConfig } from './config.ts'
import { generateSigningKey } from './keys.ts'

export const LOCAL_KEY_FILE = 'audit-signing-key.pem'

export async function localAuditConfig(dataDir: string): Promise<{ config: AuditConfig; file: string; created: boolean }> {
  const file = path.resolve(dataDir, LOCAL_KEY_FILE)
  let created = false
  try {
    await readFile(file, 'utf8')
  } catch {
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, generateSigningKey().privateKeyPem, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      // Another process created it first: use theirs.
      if (err.code !== 'EEXIST') throw err
    })
    created = true
  }
  return { config: auditConfigSchema.parse({ signingKey: { file } }), file, created }
}
