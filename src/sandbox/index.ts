/**
 * The sandbox `npm start` runs: every target system answered by its local emulator on
 * 127.0.0.1, seeded with the groups, channels and products the sandbox policy
 * (config/sandbox.yaml) grants, and the provisioners pointed at them with development
 * credentials that are public on purpose. Nothing here ever leaves the machine.
 */
import type { Logger } from '../log.ts'
import { GoogleEmulator, googleSandboxConfig, SANDBOX_GROUPS } from '../../provisioners/google/emulator.ts'
import { EntraEmulator, entraSandboxConfig } from '../../provisioners/entra/emulator.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { JiraEmulator, jiraSandboxConfig } from '../../provisioners/jira/emulator.ts'
import { ScimEmulator, scimSandboxConfig } from '../../provisioners/scim/emulator.ts'
import type { SystemsConfig } from '../../provisioners/registry.ts'
import { systemsConfigSchema } from '../../provisioners/registry.ts'

/** Entra groups the sandbox policy names by object id. */
export const SANDBOX_ENTRA_GROUPS = {
  allStaff: { id: '11111111-1111-4111-8111-111111111111', displayName: 'All Staff' },
  engineering: { id: '22222222-2222-4222-8222-222222222222', displayName: 'Engineering' },
  sales: { id: '33333333-3333-4333-8333-333333333333', displayName: 'Sales' },
}

export interface SandboxEmulators {
  google: GoogleEmulator
  entra: EntraEmulator
  slack: SlackEmulator
  jira: JiraEmulator
  scim: ScimEmulator
  urls: Record<string, string>
  close(): Promise<void>
}

export interface SandboxOptions {
  log: Logger
  /** Simulated vendor latency (the benchmarks set realistic values); none by default. */
  latency?: boolean
}

export async function startSandboxEmulators(options: SandboxOptions): Promise<SandboxEmulators> {
  const latency = (medianMs: number) => (options.latency ? { latency: { medianMs, sigma: 0.5 } } : {})
  const google = new GoogleEmulator({ groups: SANDBOX_GROUPS, ...latency(120) })
  const entra = new EntraEmulator({ ...latency(120) })
  const slack = new SlackEmulator({ ...latency(200) })
  const jira = new JiraEmulator({ ...latency(250) })
  const scim = new ScimEmulator({ ...latency(150) })
  for (const g of Object.values(SANDBOX_ENTRA_GROUPS)) entra.seedGroup({ id: g.id, displayName: g.displayName, securityEnabled: true, mailEnabled: false })
  seedSlackSandbox(slack)
  for (const group of ['engineering', 'sales']) jira.seedGroup(group)
  for (const group of ['everyone', 'engineering']) scim.seedGroup(group)
  const urls = {
    google: await google.start(),
    entra: await entra.start(),
    slack: await slack.start(),
    jira: await jira.start(),
    scim: await scim.start(),
  }
  options.log.info({ emulators: urls }, 'sandbox emulators started')
  return {
    google,
    entra,
    slack,
    jira,
    scim,
    urls,
    close: async () => {
      await Promise.all([google.close(), entra.close(), slack.close(), jira.close(), scim.close()])
    },
  }
}

/**
 * The channels and user groups config/sandbox.yaml grants. Each user group starts with the org
 * owner in it, as a group someone created in Slack would: Slack cannot empty a group through
 * usergroups.users.update (https://docs.slack.dev/reference/methods/usergroups.users.update), so a
 * group whose only member is the sandbox's one mover or leaver could never let them go.
 */
export function seedSlackSandbox(slack: SlackEmulator): void {
  for (const name of ['general', 'engineering', 'sales', 'random']) slack.seedChannel({ name, isGeneral: name === 'general' })
  for (const handle of ['engineers', 'sellers']) slack.seedUserGroup({ handle, users: [slack.ownerId] })
}

/** The systems block for the sandbox: the built-in table target plus every emulator. */
export function sandboxSystems(urls: Record<string, string>, configured: SystemsConfig): SystemsConfig {
  const parsed = systemsConfigSchema.parse({
    sandbox: { enabled: true },
    google: googleSandboxConfig(urls.google!),
    entra: entraSandboxConfig(urls.entra!),
    slack: slackSandboxConfig(urls.slack!),
    jira: jiraSandboxConfig(urls.jira!),
    scim: [scimSandboxConfig(urls.scim!, 'sandbox')],
  })
  // Manual systems, SCIM apps, overrides and switches come from the sandbox config file. Every
  // SCIM app the file configures is kept (a sandbox pointed at a real SCIM test tenant, or at a
  // third-party SCIM server, must not lose it); the emulated `scim:sandbox` is added beside them
  // and takes the place of a configured app of the same name.
  return {
    ...parsed,
    scim: [...configured.scim.filter((app) => app.name !== 'sandbox'), ...parsed.scim],
    manual: configured.manual,
    disabled: configured.disabled,
    rateLimits: configured.rateLimits,
  }
}
