/**
 * Which target systems exist, from configuration: one provisioner per configured system. A system
 * kind with no block in the config is listed as not configured (the API shows it as disabled with
 * the reason); a configured system can be switched off with `systems.disabled` without deleting
 * its block.
 */
import type { Pool } from '../src/db/pool.ts'
import { advisoryLocks } from '../src/db/advisory-locks.ts'
import type { Provisioner, RateLimitSpec, SystemKind } from './types.ts'
import { createSandboxProvisioner } from './sandbox/provisioner.ts'
import { createGoogleProvisioner } from './google/provisioner.ts'
import { createEntraProvisioner } from './entra/provisioner.ts'
import { createSlackProvisioner } from './slack/provisioner.ts'
import { createJiraProvisioner } from './jira/provisioner.ts'
import { createScimProvisioner } from './scim/provisioner.ts'
import { createManualProvisioner } from './manual/provisioner.ts'

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

export function buildRegistry(config: SystemsConfig, deps: { db: Pool }): Registry {
  // One set of advisory locks for the process: user-group and SCIM Group edits across processes (docs/operations.md).
  const lock = advisoryLocks(deps.db)
  const provisioners = new Map<string, Provisioner>()
  const systems: SystemInfo[] = []
  const add = (p: Provisioner) => {
    const disabled = config.disabled.includes(p.system)
    systems.push({ system: p.system, kind: p.kind, enabled: !disabled, ...(disabled ? { reason: 'listed in systems.disabled' } : {}) })
    if (!disabled) provisioners.set(p.system, p)
  }
  const missing = (system: string, kind: SystemKind) => systems.push({ system, kind, enabled: false, reason: `no systems.${system} block in the configuration` })

  if (config.sandbox?.enabled) add(createSandboxProvisioner(deps.db, config.sandbox))
  if (config.google) add(createGoogleProvisioner(config.google))
  else missing('google', 'google')
  if (config.entra) add(createEntraProvisioner(config.entra))
  else missing('entra', 'entra')
  if (config.slack) add(createSlackProvisioner(config.slack, { lock }))
  else missing('slack', 'slack')
  if (config.jira) add(createJiraProvisioner(config.jira))
  else missing('jira', 'jira')
  for (const app of config.scim) add(createScimProvisioner(app, { lock }))
  for (const manual of config.manual) add(createManualProvisioner(deps.db, manual))

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
