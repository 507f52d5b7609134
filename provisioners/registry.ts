/**
 * Which target systems exist, from configuration: one provisioner per configured system. A system
 * kind with no block in the config is listed as not configured (the API shows it as disabled with
 * the reason); a configured system can be switched off with `systems.disabled` without deleting
 * its block.
 *
 * Two views of it:
 *   - `Registry` (buildRegistry): the provisioners themselves, with their vendor SDKs. Only a
 *     process that runs the system workers builds it (`tenure worker`, the child of `tenure serve`,
 *     or `tenure serve` with `workers.inProcess`).
 *   - `SystemCatalog` (catalogFromFacts): what the HTTP process needs to answer the API (which
 *     systems, their kind, their limiter buckets, their revocation order), built from the
 *     configuration and the facts the worker process sends when it is ready. No provisioner module
 *     and no vendor SDK is loaded for it: the webhook intake and the API do not call targets.
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

/** What a provisioner says about itself without a call to its target: plain data, sent over IPC. */
export type SystemFacts = Pick<Provisioner, 'system' | 'kind' | 'rateLimitBuckets' | 'revocationOrder' | 'unsupportedSteps'>

/** The configured systems and their facts: what the API reads. */
export interface SystemCatalog {
  /** Every known system, enabled or not, with why not. */
  systems: SystemInfo[]
  enabledIds(): string[]
  /** The facts of an enabled system (undefined while the worker process has not yet said them). */
  get(system: string): SystemFacts | undefined
  /** The limit to pace a bucket at: config override, else the provisioner's published default. */
  limitFor(system: string, bucket: string): RateLimitSpec
  /** The enabled systems' facts, as plain data (what the worker process sends to `tenure serve`). */
  facts(): SystemFacts[]
}

export interface Registry extends SystemCatalog {
  /** Enabled provisioners by system id. */
  provisioners: Map<string, Provisioner>
  get(system: string): Provisioner | undefined
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

  const catalog = catalogOf(config, systems, () => [...provisioners.values()])
  return { ...catalog, provisioners, get: (system) => provisioners.get(system) }
}

/**
 * The systems the configuration names, in the order buildRegistry lists them, from the
 * configuration alone (no provisioner module loaded). The system ids follow the provisioners'
 * own: `scim:<name>`, `manual:<name>` (provisioners/scim/provisioner.ts, provisioners/manual/provisioner.ts).
 */
export function configuredSystems(config: SystemsConfig): SystemInfo[] {
  const systems: SystemInfo[] = []
  const add = (system: string, kind: SystemKind) => {
    const disabled = config.disabled.includes(system)
    systems.push({ system, kind, enabled: !disabled, ...(disabled ? { reason: 'listed in systems.disabled' } : {}) })
  }
  const missing = (system: string, kind: SystemKind) => systems.push({ system, kind, enabled: false, reason: `no systems.${system} block in the configuration` })
  if (config.sandbox?.enabled) add('sandbox', 'sandbox')
  for (const kind of ['google', 'entra', 'slack', 'jira'] as const) {
    if (config[kind]) add(kind, kind)
    else missing(kind, kind)
  }
  for (const app of config.scim) add(`scim:${app.name}`, 'scim')
  for (const manual of config.manual) add(`manual:${manual.name}`, 'manual')
  return systems
}

/**
 * The catalog for a process that does not run the system workers (`tenure serve` with its worker
 * process): the systems from the configuration, their facts from `facts()` (the worker process's
 * latest report, read on each call so that a restarted worker's report replaces the last one).
 */
export function catalogFromFacts(config: SystemsConfig, facts: () => readonly SystemFacts[] | undefined): SystemCatalog {
  return catalogOf(config, configuredSystems(config), () => facts() ?? [])
}

function catalogOf(config: SystemsConfig, systems: SystemInfo[], all: () => readonly SystemFacts[]): SystemCatalog {
  const enabled = new Set(systems.filter((s) => s.enabled).map((s) => s.system))
  const find = (system: string) => (enabled.has(system) ? all().find((f) => f.system === system) : undefined)
  return {
    systems,
    enabledIds: () => systems.filter((s) => s.enabled).map((s) => s.system),
    get: find,
    facts: () =>
      all()
        .filter((f) => enabled.has(f.system))
        .map((f) => ({
          system: f.system,
          kind: f.kind,
          rateLimitBuckets: f.rateLimitBuckets,
          ...(f.revocationOrder ? { revocationOrder: f.revocationOrder } : {}),
          ...(f.unsupportedSteps ? { unsupportedSteps: f.unsupportedSteps } : {}),
        })),
    limitFor: (system, bucket) => {
      const configured = config.rateLimits[system]?.[bucket]
      const published = find(system)?.rateLimitBuckets[bucket]
      // An override changes the figures, not how the vendor counts them (a sliding minute stays one).
      const window = published?.window ? { window: published.window } : {}
      if (configured) return { ...window, ...configured }
      if (!published) return UNLIMITED
      // Pace a little under the vendor's published figure: clock skew and network jitter between
      // our bucket and theirs would otherwise shave the edge into 429s. Config values are exact.
      return { ...window, perMinute: published.perMinute * PUBLISHED_LIMIT_HEADROOM, burst: Math.max(1, Math.floor(published.burst * PUBLISHED_LIMIT_HEADROOM)) }
    },
  }
}
