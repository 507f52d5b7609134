/**
 * Start every HR vendor emulator on 127.0.0.1 and return their URLs plus a matching `hr`
 * config block (for the sandbox that `npm start` runs, and for end-to-end tests).
 *
 * Development secrets (sandbox only, never for production; documented in docs/hr-sources.md):
 * the webhook secrets in HR_DEV_WEBHOOK_SECRETS and the API credentials exported by each
 * emulator module (BAMBOOHR_DEV_API_KEY, HIBOB_DEV_TOKEN, …).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import type { HrSource, HrSourceConfigInput } from '../types.ts'
import { BAMBOOHR_DEV_API_KEY, BambooHrEmulator } from './bamboohr.ts'
import { DEEL_DEV_TOKEN, DeelEmulator } from './deel.ts'
import { GUSTO_DEV_TOKEN, GustoEmulator } from './gusto.ts'
import { HIBOB_DEV_SERVICE_USER, HIBOB_DEV_TOKEN, HiBobEmulator } from './hibob.ts'
import { DEFAULT_EMPLOYEES, type EmployeeSeed, type HrEmulatorOptions } from './hr-emulator.ts'
import { MERGE_DEV_ACCOUNT_TOKEN, MERGE_DEV_API_KEY, MergeEmulator } from './merge.ts'
import { PERSONIO_DEV_CLIENT_ID, PERSONIO_DEV_CLIENT_SECRET, PersonioEmulator } from './personio.ts'
import { RIPPLING_DEV_TOKEN, RipplingEmulator } from './rippling.ts'
import {
  WORKDAY_DEV_CLIENT_ID,
  WORKDAY_DEV_CLIENT_SECRET,
  WORKDAY_DEV_PASSWORD,
  WORKDAY_DEV_REFRESH_TOKEN,
  WORKDAY_DEV_USER,
  WorkdayEmulator,
} from './workday.ts'

export { BambooHrEmulator, DeelEmulator, GustoEmulator, HiBobEmulator, MergeEmulator, PersonioEmulator, RipplingEmulator, WorkdayEmulator }
export type { EmulatedEmployee, EmployeeSeed, TerminateOptions } from './hr-emulator.ts'

/** Webhook secrets the sandbox config uses (and a sandbox sender signs with). Development only. */
export const HR_DEV_WEBHOOK_SECRETS: Record<Exclude<HrSource, 'workday'>, string> = {
  // Standard Webhooks: whsec_ + base64 of 32 bytes.
  generic: `whsec_${Buffer.from('tenure-sandbox-standard-webhooks').toString('base64')}`,
  bamboohr: 'dev-bamboohr-webhook-private-key',
  hibob: 'dev-hibob-webhook-secret',
  personio: 'dev-personio-webhook-token',
  merge: 'dev-merge-webhook-signature-key',
  deel: 'dev-deel-webhook-signing-key',
  gusto: 'dev-gusto-verification-token',
  rippling: 'dev-rippling-webhook-bearer-token',
}

export interface HrEmulators {
  bamboohr: BambooHrEmulator
  hibob: HiBobEmulator
  personio: PersonioEmulator
  merge: MergeEmulator
  deel: DeelEmulator
  gusto: GustoEmulator
  rippling: RipplingEmulator
  workday: WorkdayEmulator
  /** Base URL of each emulator. */
  urls: Record<Exclude<HrSource, 'generic'>, string>
  /** An `hr` config block pointing every source at its emulator (parse with hrSourcesConfigSchema). */
  config: Record<HrSource, HrSourceConfigInput>
  close(): Promise<void>
}

/**
 * Each HR system of the sandbox has its own three people. Their ids are the same in every system
 * (1001–1003, as real HR systems number from the same start), but they are different people with
 * their own names and work emails: the sandbox shows that overlapping ids stay apart, and no two
 * seeded people ask the targets for the same address.
 */
const SANDBOX_PEOPLE: Record<Exclude<HrSource, 'generic'>, Array<[string, string]>> = {
  bamboohr: [['Ada', 'Lovelace'], ['Grace', 'Hopper'], ['Alan', 'Turing']],
  hibob: [['Katherine', 'Johnson'], ['Edsger', 'Dijkstra'], ['Barbara', 'Liskov']],
  personio: [['Margaret', 'Hamilton'], ['Donald', 'Knuth'], ['Frances', 'Allen']],
  merge: [['Radia', 'Perlman'], ['Tim', 'Berners-Lee'], ['Shafi', 'Goldwasser']],
  deel: [['Hedy', 'Lamarr'], ['Dennis', 'Ritchie'], ['Adele', 'Goldberg']],
  gusto: [['Annie', 'Easley'], ['Ken', 'Thompson'], ['Sophie', 'Wilson']],
  rippling: [['Joan', 'Clarke'], ['John', 'McCarthy'], ['Mary', 'Kenneth Keller']],
  workday: [['Evelyn', 'Boyd Granville'], ['Niklaus', 'Wirth'], ['Jean', 'Sammet']],
}

function sandboxPeople(source: Exclude<HrSource, 'generic'>): EmployeeSeed[] {
  return DEFAULT_EMPLOYEES.map((seed, i) => {
    const [firstName, lastName] = SANDBOX_PEOPLE[source][i] ?? [`Person${i}`, source]
    const local = `${firstName}.${lastName}`.toLowerCase().replace(/[^a-z.]+/g, '')
    return { ...seed, firstName, lastName, workEmail: `${local}@example.com` }
  })
}

export async function startHrEmulators(options: HrEmulatorOptions & { sandboxPeople?: boolean } = {}): Promise<HrEmulators> {
  const opts = (source: Exclude<HrSource, 'generic'>): HrEmulatorOptions =>
    options.sandboxPeople && !options.employees ? { ...options, employees: sandboxPeople(source) } : options
  const emulators = {
    bamboohr: new BambooHrEmulator(opts('bamboohr')),
    hibob: new HiBobEmulator(opts('hibob')),
    personio: new PersonioEmulator(opts('personio')),
    merge: new MergeEmulator(opts('merge')),
    deel: new DeelEmulator(opts('deel')),
    gusto: new GustoEmulator(opts('gusto')),
    rippling: new RipplingEmulator(opts('rippling')),
    workday: new WorkdayEmulator(opts('workday')),
  }
  const started: Array<{ close(): Promise<void> }> = []
  try {
    for (const emu of Object.values(emulators)) {
      await emu.listen()
      started.push(emu)
    }
  } catch (err) {
    await Promise.all(started.map((e) => e.close()))
    throw err
  }
  const { bamboohr, hibob, personio, merge, deel, gusto, rippling, workday } = emulators
  const s = HR_DEV_WEBHOOK_SECRETS
  const config: Record<HrSource, HrSourceConfigInput> = {
    generic: { secrets: [s.generic], reconcile: { enabled: false } },
    bamboohr: {
      secrets: [s.bamboohr],
      api: { baseUrl: bamboohr.apiBaseUrl, credentials: { type: 'api_key', apiKey: BAMBOOHR_DEV_API_KEY } },
      bamboohr: { companyDomain: bamboohr.companyDomain },
    },
    hibob: {
      secrets: [s.hibob],
      api: { baseUrl: hibob.apiBaseUrl, credentials: { type: 'basic', username: HIBOB_DEV_SERVICE_USER, password: HIBOB_DEV_TOKEN } },
    },
    personio: {
      secrets: [s.personio],
      api: {
        baseUrl: personio.apiBaseUrl,
        credentials: { type: 'oauth_client_credentials', clientId: PERSONIO_DEV_CLIENT_ID, clientSecret: PERSONIO_DEV_CLIENT_SECRET },
      },
    },
    merge: {
      secrets: [s.merge],
      api: { baseUrl: merge.apiBaseUrl, credentials: { type: 'bearer', token: MERGE_DEV_API_KEY } },
      merge: { accountToken: MERGE_DEV_ACCOUNT_TOKEN },
    },
    deel: { secrets: [s.deel], api: { baseUrl: deel.apiBaseUrl, credentials: { type: 'bearer', token: DEEL_DEV_TOKEN } } },
    gusto: {
      secrets: [s.gusto],
      api: { baseUrl: gusto.apiBaseUrl, credentials: { type: 'bearer', token: GUSTO_DEV_TOKEN } },
      gusto: { companyUuid: gusto.companyUuid },
    },
    rippling: {
      secrets: [s.rippling],
      api: { baseUrl: rippling.apiBaseUrl, credentials: { type: 'bearer', token: RIPPLING_DEV_TOKEN } },
      rippling: { authMode: 'bearer' },
    },
    workday: {
      api: {
        credentials: {
          type: 'oauth_refresh_token',
          tokenUrl: workday.tokenUrl,
          clientId: WORKDAY_DEV_CLIENT_ID,
          clientSecret: WORKDAY_DEV_CLIENT_SECRET,
          refreshToken: WORKDAY_DEV_REFRESH_TOKEN,
        },
      },
      workday: { reportUrl: workday.reportUrl, employeeIdPrompt: 'Employee_ID', changedSincePrompt: 'Updated_From' },
    },
  }
  return {
    ...emulators,
    urls: {
      bamboohr: bamboohr.url,
      hibob: hibob.url,
      personio: personio.url,
      merge: merge.url,
      deel: deel.url,
      gusto: gusto.url,
      rippling: rippling.url,
      workday: workday.url,
    },
    config,
    close: async () => {
      await Promise.all(Object.values(emulators).map((e) => e.close()))
    },
  }
}

/** Basic-auth user and password of the Workday emulator, for a config that prefers Basic over OAuth. */
export const WORKDAY_DEV_BASIC = { username: `${WORKDAY_DEV_USER}@tenure_sandbox`, password: WORKDAY_DEV_PASSWORD }

/**
 * Where a running sandbox tells `tenure hr send --sandbox` how to reach its HR emulators:
 * <dataDir>/sandbox-hr.json, written at start and removed at shutdown. Thin-payload vendors
 * re-fetch the employee, so `hr send` registers the change in the emulator before it sends the
 * webhook (docs/sandbox.md).
 */
export const SANDBOX_HR_STATE_FILE = 'sandbox-hr.json'

const sandboxHrStateSchema = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  emulators: z.record(z.string(), z.url()),
})
export type SandboxHrState = z.infer<typeof sandboxHrStateSchema>

export async function writeSandboxHrState(dataDir: string, urls: HrEmulators['urls']): Promise<string> {
  const file = path.join(dataDir, SANDBOX_HR_STATE_FILE)
  await mkdir(dataDir, { recursive: true })
  const state: SandboxHrState = { pid: process.pid, startedAt: new Date().toISOString(), emulators: urls }
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`)
  return file
}

export async function removeSandboxHrState(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, SANDBOX_HR_STATE_FILE), { force: true })
}

/** The running sandbox's HR emulator URLs, or undefined when no sandbox wrote them. */
export async function readSandboxHrState(dataDir: string): Promise<SandboxHrState | undefined> {
  let text: string
  try {
    text = await readFile(path.join(dataDir, SANDBOX_HR_STATE_FILE), 'utf8')
  } catch {
    return undefined
  }
  const parsed = sandboxHrStateSchema.safeParse(JSON.parse(text))
  return parsed.success ? parsed.data : undefined
}
