/**
 * The HR intake contract. Everything the HTTP route, the inbox, the jobs and the reconciliation
 * cron need from an HR source goes through these types; they carry no express and no database.
 *
 * Flow: route builds a `RawDelivery` from the exact request bytes → `adapter.verify()` (401 on
 * failure) → `adapter.parse()` (400/415 on failure, else one or more `HrNotice`s stored in the
 * inbox keyed by `dedupeKey`) → job: `adapter.normalize(notice, { client })` re-fetches the
 * employee and returns canonical events. Reconciliation: `client.listRoster()` →
 * `adapter.fromRecord(record, lastKnown)`.
 */
import { z } from 'zod'
import { secretSchema, type Secret } from '../config/secret.ts'
import { hrSourceSchema, type CanonicalEvent, type CanonicalEventType, type EmployeeProfileInput, type HrSource } from '../../state-machines/events.ts'
import type { Logger } from '../log.ts'

export type { HrSource, CanonicalEvent, CanonicalEventType }

/** One HTTP delivery exactly as received. Signatures are computed over `body`, never a re-serialisation. */
export interface RawDelivery {
  source: HrSource
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>
  /** The exact raw bytes of the request body. */
  body: Buffer
  contentType: string | undefined
  receivedAt: Date
  method: string
}

export type VerificationFailureReason =
  | 'missing_signature'
  | 'bad_signature'
  | 'timestamp_out_of_tolerance'
  | 'missing_credentials'
  | 'bad_credentials'

/** Every failure maps to HTTP 401; `secretIndex` says which configured secret matched (rotation telemetry). */
export type Verification =
  | { ok: true; secretIndex: number }
  | { ok: false; reason: VerificationFailureReason; message: string }

export interface HrNotice {
  /** Vendor event/delivery id, or sha256 of the raw payload (element) where the vendor has none. */
  dedupeKey: string
  vendorEventType: string
  employeeId: string
  /** ISO 8601 date-time: when HR says the change happened (or when the vendor sent it). */
  occurredAt: string
  /** The vendor-specific part of the notice the adapter needs in normalize(); JSON-serialisable. */
  data: unknown
}

export type Parsed =
  | { ok: true; notices: HrNotice[] }
  | { ok: false; status: 400 | 415; code: string; message: string; path?: string }

export type EmploymentStatus = 'pending' | 'active' | 'inactive' | 'terminated'

/** The authoritative state of one person in HR, as read through the vendor's API. */
export interface HrEmployeeRecord {
  source: HrSource
  employeeId: string
  profile: EmployeeProfileInput
  /** pending = hired, not started; inactive = not working but not terminated (e.g. suspended). */
  employmentStatus: EmploymentStatus
  /** First day of work, YYYY-MM-DD. */
  startDate?: string
  termination?: {
    /** Last day of employment, YYYY-MM-DD. */
    date?: string
    /** Exact moment, when the vendor records one. */
    at?: string
    voluntary?: 'voluntary' | 'involuntary' | 'unknown'
    /** For cause / walk-out: revoke now whatever the date says. */
    immediate?: boolean
    reason?: string
  }
  /** IANA zone used to interpret date-only values. */
  timeZone?: string
  leave?: {
    onLeave: boolean
    startDate?: string
    expectedReturnDate?: string
  }
  /** When HR last changed the record (ISO 8601), where the vendor says. */
  updatedAt?: string
}

export interface ListRosterOptions {
  /** Page size hint; clients clamp it to the vendor's maximum. */
  pageSize?: number
  /** Include people who have left (reconciliation needs them). Default true. */
  includeTerminated?: boolean
  signal?: AbortSignal
}

/**
 * Read access to one vendor's employee API. Every failure is a `ProvisionerError`
 * (provisioners/errors.ts) classified as RateLimited / NotFound / AuthFailed / Transient /
 * Permanent, with `system` = `hr:<source>`, so the job layer's single retry policy applies.
 */
export interface HrApiClient {
  readonly source: HrSource
  /** undefined when the vendor says the person does not exist (404 / deleted). */
  getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined>
  listRoster(opts?: ListRosterOptions): AsyncIterable<HrEmployeeRecord>
  /** Ids of people changed since `since`, where the vendor has such an endpoint. */
  listChangesSince?(since: Date, signal?: AbortSignal): Promise<Array<{ employeeId: string; changedAt?: string; deleted?: boolean }>>
}

export interface NormalizeContext {
  /** The vendor API client; thin-payload sources need it to re-fetch. */
  client?: HrApiClient
  receivedAt: Date
  foundBy: 'webhook' | 'reconciliation' | 'manual'
  /** Clock for "is the start date in the future"; defaults to receivedAt. */
  now?: Date
  /** The source's config, for vendor options that shape normalisation (BambooHR termination fields, HiBob garden leave, default zone). */
  config?: HrSourceConfig
}

export interface FromRecordContext {
  /** When reconciliation saw the record; becomes receivedAt. Defaults to now. */
  foundAt?: Date
  foundBy?: 'reconciliation' | 'manual'
}

export interface ClientOptions {
  log?: Logger
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch
  now?: () => number
}

/**
 * What makes a sample a new delivery: `tenure hr send` passes a fresh event id and the current
 * time, so a second send is not a duplicate of the first. Omitted (docs, fixtures): the fixed
 * example values.
 */
export interface SampleOptions {
  now?: Date
  /** A fresh id for vendors whose payload carries an event id (Gusto uuid, Deel tracking_id, Merge hook id). */
  eventId?: string
}

export interface SampleDelivery {
  body: Buffer
  contentType: string
  notes?: string
}

export interface HrSourceAdapter {
  readonly source: HrSource
  /** Content types parse() accepts (first is what the vendor sends). */
  readonly contentTypes: readonly string[]
  /** True when the vendor pushes to Tenure; false for poll-only sources (Workday). */
  readonly pushes: boolean
  verify(delivery: RawDelivery, config: HrSourceConfig): Verification
  parse(delivery: RawDelivery): Parsed
  normalize(notice: HrNotice, ctx: NormalizeContext): Promise<CanonicalEvent[]>
  /**
   * Reconciliation: a roster record (and what Tenure last knew of it) → the canonical events
   * that bring Tenure up to date. Deterministic: the same inputs give the same event ids.
   */
  fromRecord(record: HrEmployeeRecord, previous?: HrEmployeeRecord, ctx?: FromRecordContext): CanonicalEvent[]
  /** A realistic delivery body for `kind` (sandbox, docs, tests). */
  buildSample(kind: CanonicalEventType, employeeId: string, options?: SampleOptions): SampleDelivery
  /** The headers the vendor would send for `body`, signed with `secret`. */
  sign(body: Buffer, secret: string, now: Date): Record<string, string>
  /** Build the vendor API client from config; undefined when `api` is not configured. */
  createClient(config: HrSourceConfig, options?: ClientOptions): HrApiClient | undefined
}

// ---------------------------------------------------------------------------------------------
// Configuration (one source). Every key is described: the config docs are generated from here.

const urlSchema = z.url({ protocol: /^https?$/ })

export const hrCredentialsSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('api_key').describe('An API key sent as HTTP Basic user name with password "x" (BambooHR)'),
        apiKey: secretSchema.describe('The API key'),
      })
      .strict(),
    z
      .object({
        type: z.literal('basic').describe('HTTP Basic (HiBob service user id + token; Workday integration system user)'),
        username: z.string().min(1).describe('User name (HiBob service user id; Workday ISU as user@tenant)'),
        password: secretSchema.describe('Password or token'),
      })
      .strict(),
    z
      .object({
        type: z.literal('bearer').describe('A static bearer token (Merge API key, Deel, Gusto, Rippling API tokens)'),
        token: secretSchema.describe('The bearer token'),
      })
      .strict(),
    z
      .object({
        type: z.literal('oauth_client_credentials').describe('OAuth 2.0 client-credentials grant (Personio API v2)'),
        tokenUrl: urlSchema.optional().describe('Token endpoint; defaults to the vendor standard one'),
        clientId: z.string().min(1).describe('OAuth client id'),
        clientSecret: secretSchema.describe('OAuth client secret'),
        scope: z.string().optional().describe('Space-separated scopes to request'),
      })
      .strict(),
    z
      .object({
        type: z.literal('oauth_refresh_token').describe('OAuth 2.0 refresh-token grant (Workday API client for integrations)'),
        tokenUrl: urlSchema.describe('Token endpoint, e.g. https://wd2-impl-services1.workday.com/ccx/oauth2/<tenant>/token'),
        clientId: z.string().min(1).describe('OAuth client id'),
        clientSecret: secretSchema.describe('OAuth client secret'),
        refreshToken: secretSchema.describe('Non-expiring refresh token issued to the API client'),
      })
      .strict(),
  ])
  .describe('How Tenure authenticates to the vendor API')
export type HrCredentials = z.infer<typeof hrCredentialsSchema>

export const hrApiConfigSchema = z
  .object({
    baseUrl: urlSchema.optional().describe('API base URL; defaults to the vendor production URL (set it to the emulator in the sandbox)'),
    credentials: hrCredentialsSchema,
    timeoutMs: z.number().int().min(500).max(120_000).default(10_000).describe('Per-request timeout in ms'),
    pageSize: z.number().int().min(1).max(1000).optional().describe('Roster page size (clamped to the vendor maximum)'),
  })
  .strict()
  .describe('Vendor API access used to re-fetch employees and to reconcile; optional for full-payload sources')


const vendorOptionsSchema = z
  .object({
    bamboohr: z
      .object({
        companyDomain: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]*$/i, 'the sub-domain of <company>.bamboohr.com')
          .describe('Your BambooHR sub-domain: <companyDomain>.bamboohr.com'),
        terminationFields: z
          .array(z.string().min(1))
          .default(['Status', 'Employment Status', 'Employment Status: Date', 'status', 'employmentHistoryStatus', 'terminationDate'])
          .describe('Monitored field names whose change may mean a termination; such notices re-fetch and check the record'),
        terminatedStatuses: z
          .array(z.string().min(1))
          .default(['Terminated'])
          .describe('Employment Status values that mean the person has left'),
        leaveStatuses: z
          .array(z.string().min(1))
          .default(['Leave of Absence', 'On Leave'])
          .describe('Employment Status values that mean a leave of absence'),
      })
      .strict()
      .optional()
      .describe('BambooHR options'),
    hibob: z
      .object({
        gardenLeaveIsTermination: z
          .boolean()
          .default(true)
          .describe('Bob sends employee.left for garden leave too; true revokes access then, false waits for the termination date'),
      })
      .strict()
      .optional()
      .describe('HiBob options'),
    personio: z
      .object({
        authHeader: z
          .string()
          .regex(/^[a-z0-9-]+$/i)
          .default('authorization')
          .describe('Header carrying the shared token: "authorization" for auth_type TOKEN, or the custom header name for auth_type CUSTOM'),
      })
      .strict()
      .optional()
      .describe('Personio options'),
    merge: z
      .object({
        accountToken: secretSchema.describe('The linked account token (X-Account-Token) for this customer'),
      })
      .strict()
      .optional()
      .describe('Merge.dev options'),
    gusto: z
      .object({
        companyUuid: z.string().min(1).describe('The Gusto company UUID whose employees Tenure reads'),
        apiVersion: z.string().default('2024-04-01').describe('X-Gusto-API-Version header value'),
      })
      .strict()
      .optional()
      .describe('Gusto options'),
    rippling: z
      .object({
        authMode: z
          .literal('bearer')
          .default('bearer')
          .describe('Rippling partner webhooks are unsigned; Tenure requires the Bearer token option (Basic is not offered by Rippling)'),
      })
      .strict()
      .optional()
      .describe('Rippling options'),
    deel: z
      .object({
        apiVersion: z.string().optional().describe('Optional API version header value for Deel'),
      })
      .strict()
      .optional()
      .describe('Deel options'),
    workday: z
      .object({
        reportUrl: urlSchema.describe(
          'Report-as-a-Service URL, e.g. https://wd2-impl-services1.workday.com/ccx/service/customreport2/<tenant>/<owner>/<report>',
        ),
        employeeIdPrompt: z
          .string()
          .optional()
          .describe('Report prompt name that filters to one worker (speeds up single-employee reads)'),
        changedSincePrompt: z
          .string()
          .optional()
          .describe('Report prompt name that limits rows to workers changed since a date-time'),
        fields: z
          .object({
            employeeId: z.string().default('Employee_ID'),
            firstName: z.string().default('First_Name'),
            lastName: z.string().default('Last_Name'),
            workEmail: z.string().default('Email_-_Work'),
            department: z.string().default('Supervisory_Organization'),
            title: z.string().default('Business_Title'),
            managerId: z.string().default('Manager_ID'),
            location: z.string().default('Location'),
            countryCode: z.string().default('Country_ISO_Code'),
            timeZone: z.string().default('Time_Zone'),
            hireDate: z.string().default('Hire_Date'),
            terminationDate: z.string().default('Termination_Date'),
            terminationMoment: z.string().default('Termination_Moment'),
            terminationVoluntary: z.string().default('Termination_Voluntary'),
            terminationReason: z.string().default('Termination_Reason'),
            active: z.string().default('Active'),
            onLeave: z.string().default('On_Leave'),
            leaveStartDate: z.string().default('Leave_Start_Date'),
            leaveEstimatedEndDate: z.string().default('Leave_Estimated_Last_Day'),
            lastUpdated: z.string().default('Last_Updated'),
          })
          .strict()
          .prefault({})
          .describe('Report column (alias) names for each attribute'),
      })
      .strict()
      .optional()
      .describe('Workday options'),
  })
  .strict()

export const hrSourceConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Accept deliveries from and reconcile against this source'),
    secrets: z
      .array(secretSchema)
      .max(2)
      .default([])
      .describe(
        'Webhook secrets; two during rotation (either verifies). Standard Webhooks whsec_… key, vendor signing key, or the shared token (Personio, Rippling)',
      ),
    timestampToleranceSeconds: z
      .number()
      .int()
      .min(30)
      .max(3600)
      .default(300)
      .describe('Maximum age (and clock skew) of a signed timestamp, where the vendor signs one (Standard Webhooks, BambooHR)'),
    futureTimestampToleranceSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(300)
      .describe(
        'How far ahead of the receipt time a vendor timestamp may lie (clock skew). A later one is clamped to the receipt time and flagged (timestampClamped), so a clock running ahead cannot make the changes after it look stale',
      ),
    defaultTimeZone: z
      .string()
      .default('UTC')
      .describe('IANA zone for date-only HR values when neither the employee nor the vendor gives one'),
    api: hrApiConfigSchema.optional().describe('Vendor API access (re-fetch and reconciliation); required for thin-payload vendors and for Workday'),
    reconcile: z
      .object({
        enabled: z.boolean().default(true).describe('Poll the roster to catch changes whose webhook never arrived'),
        intervalMinutes: z.number().int().min(5).max(1440).default(30).describe('How often the reconciliation poll runs'),
        lookbackHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 90)
          .default(72)
          .describe('Window for incremental change lists where the vendor has one (longer than the vendor retry window)'),
      })
      .strict()
      .prefault({})
      .describe('Reconciliation poll'),
    trustedForBulk: z
      .boolean()
      .default(false)
      .describe('Allow this source to terminate many people at once without the mass-termination hold (see docs/hr-sources.md)'),
    bulkHoldThresholdPerHour: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(50)
      .describe(
        'Mass-termination hold: terminations this source may apply in a rolling hour; the ones over it wait, in one batch, until an approver confirms or rejects them (`tenure hr holds`). Ignored when trustedForBulk is true',
      ),
    ...vendorOptionsSchema.shape,
  })
  .strict()
  .describe('One HR source')

export type HrSourceConfig = z.output<typeof hrSourceConfigSchema>
export type HrSourceConfigInput = z.input<typeof hrSourceConfigSchema>

/** Options each source needs, checked when the whole `hr` block is parsed. */
function checkSource(source: HrSource, cfg: HrSourceConfig, ctx: z.RefinementCtx): void {
  if (!cfg.enabled) return
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: [source, ...path], message })
  // Gusto may start without one: its secret is the verification token Gusto POSTs when the
  // subscription is created, and Tenure accepts that handshake only while no secret is set.
  // Until then every Gusto event is refused (401).
  if (source !== 'workday' && source !== 'gusto' && cfg.secrets.length === 0) issue(['secrets'], `${source} needs at least one webhook secret`)
  if (source === 'generic') {
    for (const [i, s] of cfg.secrets.entries()) {
      if (!/^whsec_[A-Za-z0-9+/=]+$/.test(s.reveal()) || Buffer.from(s.reveal().slice(6), 'base64').length < 24)
        issue(['secrets', i], 'a Standard Webhooks secret: whsec_ followed by at least 24 base64-encoded random bytes')
    }
  }
  if (source === 'bamboohr' && cfg.api && !cfg.bamboohr) issue(['bamboohr', 'companyDomain'], 'required when api is set')
  if (source === 'merge' && cfg.api && !cfg.merge) issue(['merge', 'accountToken'], 'required when api is set')
  if (source === 'gusto' && cfg.api && !cfg.gusto) issue(['gusto', 'companyUuid'], 'required when api is set')
  if (source === 'workday') {
    if (!cfg.workday) issue(['workday', 'reportUrl'], 'Workday is polled: the report URL is required')
    if (!cfg.api) issue(['api'], 'Workday is polled: api credentials are required')
  }
}

/** The `hr` block of Tenure's config file: one optional entry per source. */
export const hrSourcesConfigSchema = z
  .partialRecord(hrSourceSchema, hrSourceConfigSchema)
  .superRefine((sources, ctx) => {
    for (const [source, cfg] of Object.entries(sources)) if (cfg) checkSource(source as HrSource, cfg, ctx)
  })
  .describe('HR sources, keyed by source name')
export type HrSourcesConfig = z.output<typeof hrSourcesConfigSchema>

export type { Secret }
