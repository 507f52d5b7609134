/**
 * Which target systems exist, from configuration: one provisioner per configured system. A system
 * kind with no block in the config is listed as not configured (the API shows it as disabled with
 * the reason); a configured system can be switched off with `systems.disabled` without deleting
 * its block.
 */
import type { Pool } from '../src/db/pool.ts'
import { advisoryLocks } from '../src/db/advisory-locks.ts'
import { groupChangeStore } from '../src/db/group-changes.ts'
import type { Provisioner, RateLimitSpec, SystemKind } from './types.ts'

export { systemsConfigSchema, type SystemsConfig } from './config.ts'
import type { SystemsConfig } from './config.ts'

export interface SystemInfo {
  system: string
  kind: SystemKind
  enabled: boolean
  reason?: string
}

export interface Registry {
  /** Enabled provisioners by system id. */
  provisioners: Map<string, Provisioner>
  /** Every known system, enabled or not, with why not. */
  systems: SystemInfo[]
  enabledIds(): string[]
  get(system: string): Provisioner | undefined
  /** The limit to pace a bucket at: config override, else the provisioner's published default. */
  limitFor(system: string, bucket: string): RateLimitSpec
}

const UNLIMITED: RateLimitSpec = { perMinute: 600_000, burst: 10_000 }

/** The share of a vendor's published limit Tenure paces at by default. */
export const PUBLISHED_LIMIT_HEADROOM = 0.95

/**
 * Each provisioner module (and the vendor SDK it loads: googleapis alone is tens of MB) is imported
 * only when its system is configured.
 */
export async function buildRegistry(config: SystemsConfig, deps: { db: Pool }): Promise<Registry> {
  // One set of advisory locks for the process: user-group and SCIM Group edits across processes (docs/operations.md).
  const lock = advisoryLocks(deps.db)
  // Slack user-group changes wait here for one round per group, whichever process runs it.
  const groupChanges = groupChangeStore(deps.db)
  const provisioners = new Map<string, Provisioner>()
  const systems: SystemInfo[] = []
  const add = (p: Provisioner) => {
    const disabled = config.disabled.includes(p.system)
    systems.push({ system: p.system, kind: p.kind, enabled: !disabled, ...(disabled ? { reason: 'listed in systems.disabled' } : {}) })
    if (!disabled) provisioners.set(p.system, p)
  }
  const missing = (system: string, kind: SystemKind) => systems.push({ system, kind, enabled: false, reason: `no systems.${system} block in the configuration` })

  if (config.sandbox?.enabled) add((await import('./sandbox/provisioner.ts')).createSandboxProvisioner(deps.db, config.sandbox))
  if (config.google) add((await import('./google/provisioner.ts')).createGoogleProvisioner(config.google))
  else missing('google', 'google')
  if (config.entra) add((await import('./entra/provisioner.ts')).createEntraProvisioner(config.entra))
  else missing('entra', 'entra')
  if (config.slack) add((await import('./slack/provisioner.ts')).createSlackProvisioner(config.slack, { lock, groupChanges }))
  else missing('slack', 'slack')
  if (config.jira) add((await import('./jira/provisioner.ts')).createJiraProvisioner(config.jira))
  else missing('jira', 'jira')
  if (config.scim.length > 0) {
    const { createScimProvisioner } = await import('./scim/provisioner.ts')
    for (const app of config.scim) add(createScimProvisioner(app, { lock }))
  }
  if (config.manual.length > 0) {
    const { createManualProvisioner } = await import('./manual/provisioner.ts')
    for (const manual of config.manual) add(createManualProvisioner(deps.db, manual))
  }

  return {
    provisioners,
    systems,
    enabledIds: () => [...provisioners.keys()],
    get: (system) => provisioners.get(system),
    limitFor: (system, bucket) => {
      const configured = config.rateLimits[system]?.[bucket]
      if (configured) return configured
      const published = provisioners.get(system)?.rateLimitBuckets[bucket]
      if (!published) return UNLIMITED
      // Pace a little under the vendor's published figure: clock skew and network jitter between
      // our bucket and theirs would otherwise shave the edge into 429s. Config values are exact.
      return { perMinute: published.perMinute * PUBLISHED_LIMIT_HEADROOM, burst: Math.max(1, Math.floor(published.burst * PUBLISHED_LIMIT_HEADROOM)) }
    },
  }
}
