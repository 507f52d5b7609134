/**
 * The target systems of the invariant check: every emulator in this process (so their state
 * survives Tenure's deaths), the systems config that points Tenure at them, and a reader of what
 * each one holds, taken from the emulator's own store (never from Tenure's tables). The sandbox
 * table target is a target too: its store happens to be a table in the same database.
 */
import type pg from 'pg'
import { startSandboxEmulators, type SandboxEmulators, SANDBOX_ENTRA_GROUPS } from '../../src/sandbox/index.ts'
import { googleSandboxConfig, SANDBOX_DOMAIN } from '../../provisioners/google/emulator.ts'
import { entraSandboxConfig, ENTRA_SKUS } from '../../provisioners/entra/emulator.ts'
import { slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { jiraSandboxConfig } from '../../provisioners/jira/emulator.ts'
import { ScimEmulator, scimSandboxConfig, SCIM_DEV_TOKEN } from '../../provisioners/scim/emulator.ts'
import type { InventoryAccount } from '../../src/sandbox/emulator-kit.ts'
import { silentLogger } from '../../src/log.ts'

export const SYSTEMS = ['sandbox', 'google', 'entra', 'slack', 'jira', 'scim:sandbox', 'scim:minimal'] as const
export type TargetSystem = (typeof SYSTEMS)[number]
export const FAULTABLE = ['google', 'entra', 'slack', 'jira', 'scim:sandbox', 'scim:minimal'] as const

export type Department = 'Engineering' | 'Sales' | 'Support'
export const DEPARTMENTS: Department[] = ['Engineering', 'Sales', 'Support']

/**
 * The birthright policy of the scenarios, and the same grants as the targets name them (Entra
 * licences by SKU id): the checker's expectation is written here, not derived from Tenure's own
 * policy evaluation.
 */
const E = SANDBOX_ENTRA_GROUPS
export const POLICY = {
  rules: [
    {
      name: 'everyone',
      grant: {
        sandbox: { groups: ['staff'] },
        google: { groups: [`everyone@${SANDBOX_DOMAIN}`] },
        entra: { groups: [E.allStaff.id], licences: ['Microsoft 365 E3'] },
        slack: { channels: ['general'] },
        'scim:sandbox': { groups: ['everyone'] },
        'scim:minimal': { groups: ['everyone'] },
      },
    },
    {
      name: 'engineering',
      match: { department: 'Engineering' },
      grant: {
        google: { groups: [`engineering@${SANDBOX_DOMAIN}`] },
        entra: { groups: [E.engineering.id] },
        slack: { channels: ['engineering'], userGroups: ['engineers'] },
        jira: { groups: ['engineering'] },
        'scim:sandbox': { groups: ['engineering'] },
        'scim:minimal': { groups: ['engineering'] },
      },
    },
    {
      name: 'sales',
      match: { department: 'Sales' },
      grant: {
        google: { groups: [`sales@${SANDBOX_DOMAIN}`] },
        entra: { groups: [E.sales.id] },
        slack: { channels: ['sales'], userGroups: ['sellers'] },
        jira: { groups: ['sales'] },
        'scim:sandbox': { groups: ['sales'] },
        'scim:minimal': { groups: ['sales'] },
      },
    },
  ],
  systems: { sandbox: { leaver: { delete: true } } },
}

/** What a person in `department` must hold in each system, as the target spells it. */
export function expectedAccess(department: Department): Record<TargetSystem, Record<string, string[]> | undefined> {
  const eng = department === 'Engineering'
  const sales = department === 'Sales'
  return {
    sandbox: { groups: ['staff'] },
    google: { groups: [`everyone@${SANDBOX_DOMAIN}`, ...(eng ? [`engineering@${SANDBOX_DOMAIN}`] : []), ...(sales ? [`sales@${SANDBOX_DOMAIN}`] : [])] },
    entra: { groups: [E.allStaff.id, ...(eng ? [E.engineering.id] : []), ...(sales ? [E.sales.id] : [])], licences: [ENTRA_SKUS.M365_E3] },
    slack: { channels: ['general', ...(eng ? ['engineering'] : []), ...(sales ? ['sales'] : [])], userGroups: [...(eng ? ['engineers'] : []), ...(sales ? ['sellers'] : [])] },
    jira: eng || sales ? { groups: [eng ? 'engineering' : 'sales'] } : undefined,
    'scim:sandbox': { groups: ['everyone', ...(eng ? ['engineering'] : []), ...(sales ? ['sales'] : [])] },
    'scim:minimal': { groups: ['everyone', ...(eng ? ['engineering'] : []), ...(sales ? ['sales'] : [])] },
  }
}

/** Items a policy can grant, per system and list: what "exactly what the policy grants" is judged on. */
export const MANAGED: Record<TargetSystem, Record<string, Set<string>>> = (() => {
  const out = {} as Record<TargetSystem, Record<string, Set<string>>>
  for (const system of SYSTEMS) out[system] = {}
  for (const dept of DEPARTMENTS) {
    for (const [system, lists] of Object.entries(expectedAccess(dept)) as Array<[TargetSystem, Record<string, string[]> | undefined]>) {
      for (const [list, items] of Object.entries(lists ?? {})) for (const item of items) (out[system][list] ??= new Set()).add(item)
    }
  }
  return out
})()

export interface Targets {
  emulators: SandboxEmulators
  /** The `systems` config block for Tenure. */
  systemsConfig: Record<string, unknown>
  inventory(pool: pg.Pool): Promise<Record<TargetSystem, InventoryAccount[]>>
  injectFault(system: (typeof FAULTABLE)[number], fault: Parameters<SandboxEmulators['google']['kit']['injectFault']>[0]): void
  clearFaults(): void
  close(): Promise<void>
}

export async function startTargets(): Promise<Targets> {
  const emulators = await startSandboxEmulators({ log: silentLogger })
  emulators.scim.seedGroup('sales')
  // A second SCIM app with the capabilities RFC 7643/7644 leave optional switched off: no `groups`
  // on User (§4.1.2), eq-only filters (a members.value filter is refused, §3.4.2.2), PATCH answered
  // 204, no ETags. Tenure is given no quirks for it: it must discover them.
  const minimal = new ScimEmulator({ userGroupsAttribute: false, filterSupport: 'eq', patchResponse: 'noContent', etagSupported: false })
  for (const group of ['everyone', 'engineering', 'sales']) minimal.seedGroup(group)
  const minimalUrl = await minimal.start()
  const u = emulators.urls
  const systemsConfig = {
    sandbox: { enabled: true },
    google: googleSandboxConfig(u.google!),
    entra: entraSandboxConfig(u.entra!),
    slack: slackSandboxConfig(u.slack!),
    jira: jiraSandboxConfig(u.jira!),
    scim: [scimSandboxConfig(u.scim!, 'sandbox'), { name: 'minimal', baseUrl: `${minimalUrl}/scim/v2`, auth: { type: 'bearer', token: SCIM_DEV_TOKEN } }],
  }
  const bySystem = {
    google: emulators.google,
    entra: emulators.entra,
    slack: emulators.slack,
    jira: emulators.jira,
    'scim:sandbox': emulators.scim,
    'scim:minimal': minimal,
  } as const
  return {
    emulators,
    systemsConfig,
    async inventory(pool) {
      const { rows } = await pool.query<{ id: string; employee_external_id: string; login: string; active: boolean; groups: string[]; deleted_at: Date | null }>(
        'SELECT id, employee_external_id, login, active, groups, deleted_at FROM sandbox_accounts',
      )
      const sandbox: InventoryAccount[] = rows
        .filter((r) => r.deleted_at === null)
        .map((r) => ({ accountId: r.id, key: r.employee_external_id, email: r.login, active: r.active, access: { groups: r.groups } }))
      return {
        sandbox,
        google: emulators.google.inventory(),
        entra: emulators.entra.inventory(),
        slack: emulators.slack.inventory(),
        jira: emulators.jira.inventory(),
        'scim:sandbox': emulators.scim.inventory(),
        'scim:minimal': minimal.inventory(),
      }
    },
    injectFault(system, fault) {
      bySystem[system].kit.injectFault(fault)
    },
    clearFaults() {
      for (const e of Object.values(bySystem)) e.kit.clearFaults()
    },
    close: async () => {
      await Promise.all([emulators.close(), minimal.close()])
    },
  }
}
