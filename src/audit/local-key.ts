/**
 * When no `audit.signingKey` is configured, Tenure still signs checkpoints and report manifests, with a key it keeps
 * in the data folder (created once, mode 0600). Fine for the sandbox and for trying Tenure out;
 * in production the key belongs in a secret store (`audit.signingKey: { env: ... }`) and its
 * public key with your auditors, and Tenure says so at every start until it is configured.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { auditConfigSchema, type AuditConfig, type AuditSection } from './config.ts'
import { generateSigningKey } from './keys.ts'

export const LOCAL_KEY_FILE = 'audit-signing-key.pem'

export async function localAuditConfig(dataDir: string): Promise<{ config: AuditConfig; file: string; created: boolean }> {
  const file = path.resolve(dataDir, LOCAL_KEY_FILE)
  let created = false
  try {
    await readFile(file, 'utf8')
  } catch {
    await mkdir(path.dirname(file), { recursive: true })
    // Written whole under a temporary name, then linked into place: link() fails if the key
    // exists, so a concurrent first use (two requests, a worker and the API) never reads a
    // half-written key, and the first key made is the one everybody keeps.
    const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
    await writeFile(temporary, generateSigningKey().privateKeyPem, { mode: 0o600, flag: 'wx' })
    try {
      await link(temporary, file)
      created = true
    } catch (err) {
      // Another process or request created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      await unlink(temporary).catch(() => {})
    }
  }
  return { config: auditConfigSchema.parse({ signingKey: { file } }), file, created }
}

/** Said at every start (and by the CLI) while the data folder's key is in use. */
export const LOCAL_KEY_WARNING =
  'audit.signingKey is not configured: audit checkpoints and report manifests are signed with a key kept in the data folder; configure one from a secret store for production (docs/audit.md)'

export interface EffectiveAuditConfig {
  config: AuditConfig
  /** The data folder's key when none is configured: where it is, and whether this call created it. */
  local: { file: string; created: boolean } | null
}

/**
 * The signing key in effect: the configured `audit.signingKey`, else the data folder's key. Every
 * signer (checkpoints, report manifests, the CLI) resolves it here, so a sandbox's checkpoints and
 * reports carry the same key id and `GET /api/v1/reports/signing-key` serves the key that signed them.
 */
export async function effectiveAuditConfig(config: { audit?: AuditSection | undefined; database: { dataDir: string } }): Promise<EffectiveAuditConfig> {
  const { audit } = config
  if (audit?.signingKey) return { config: audit as AuditConfig, local: null }
  const local = await localAuditConfig(config.database.dataDir)
  // The section's other settings (publishing, intervals, retention) with the data folder's key.
  return { config: audit ? { ...audit, signingKey: local.config.signingKey } : local.config, local: { file: local.file, created: local.created } }
}
