/**
 * What every vendor adapter shares: notice-data re-validation (notices come back from the
 * inbox as `unknown`), reading a JSON delivery, the vendor API client's set-up and single-record
 * read, the re-fetch step, and the sandbox's sample people.
 */
import { z } from 'zod'
import { PermanentError } from '../../provisioners/errors.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'
import { eventsForIntent, eventsFromDiff, type DeriveOptions, type EventBase, type Intent } from './derive.ts'
import { authFromCredentials, VendorHttp } from './http.ts'
import { matchSecrets } from './crypto.ts'
import { checkContentType, header, parseJson, validate, type BodyResult } from './parsing.ts'
import type { ClientOptions, HrNotice, HrSource, HrSourceAdapter, HrSourceConfig, NormalizeContext, Parsed, RawDelivery, Verification } from './types.ts'

/** A vendor id that may arrive as a string or a number; Tenure keeps it as a string. */
export const idLike = z.union([z.string().min(1).max(200), z.number().int().nonnegative()]).transform(String)

/** The content type, JSON and schema checks every JSON webhook starts with; a failure is the 4xx answer. */
export function readJsonDelivery<S extends z.ZodType>(
  delivery: RawDelivery,
  contentTypes: readonly string[],
  schema: S,
): Extract<Parsed, { ok: false }> | BodyResult<z.output<S>> {
  const ct = checkContentType(delivery, contentTypes)
  if (ct) return ct
  const json = parseJson(delivery.body)
  if (!json.ok) return json
  return validate(schema, json.value)
}

/**
 * The check of a vendor that signs each delivery with one HMAC in one header: no header is
 * `missing_signature`; otherwise the decoded value must equal `sign(secret)` for one of the
 * configured secrets (constant-time, every secret tried: key rotation).
 */
export function verifySignatureHeader(
  delivery: RawDelivery,
  config: HrSourceConfig,
  spec: { headers: readonly string[]; label: string; decode: (text: string) => Buffer | undefined; sign: (secret: string) => Buffer },
): Verification {
  const signature = spec.headers.map((name) => header(delivery, name)).find((v) => v !== undefined)
  if (!signature) return { ok: false, reason: 'missing_signature', message: `${spec.label} is required` }
  const sig = spec.decode(signature)
  return matchSecrets(config.secrets, sig ? [sig] : [], spec.sign)
}

export interface VendorApiSettings {
  /** The error when the source has no `api` section (or lacks what the vendor needs). */
  required: string
  /** The vendor's API root; `api.baseUrl` overrides it unless `fixedBaseUrl`. */
  baseUrl: string
  /** The root comes from elsewhere in the config (Workday's report URL): `api.baseUrl` plays no part. */
  fixedBaseUrl?: boolean
  /** Personio: the root loses its trailing slashes (the token URL is built from it). */
  trimTrailingSlash?: boolean
  /** Where an OAuth client-credentials token is fetched, relative to the root (Personio). */
  tokenPath?: string
  headers?: Record<string, string>
  /** `api.pageSize` is clamped to `max`; `default` when unset. */
  pageSize?: { default: number; max: number }
}

/**
 * The set-up every vendor API client shares: one VendorHttp with the configured credentials and
 * timeout, the default time zone, and the clamped page size; and the single-record read that
 * treats 404 as "no such employee".
 */
export abstract class VendorApiClient {
  abstract readonly source: HrSource
  protected readonly http: VendorHttp
  protected readonly defaultTimeZone: string
  protected readonly pageSize: number

  constructor(source: HrSource, config: HrSourceConfig, options: ClientOptions, settings: VendorApiSettings) {
    if (!config.api) throw new Error(settings.required)
    const root = settings.fixedBaseUrl ? settings.baseUrl : (config.api.baseUrl ?? settings.baseUrl)
    const baseUrl = settings.trimTrailingSlash ? root.replace(/\/+$/, '') : root
    this.http = new VendorHttp({
      source,
      baseUrl,
      auth: authFromCredentials(config.api.credentials, settings.tokenPath ? `${baseUrl}${settings.tokenPath}` : undefined),
      timeoutMs: config.api.timeoutMs,
      ...(settings.headers ? { headers: settings.headers } : {}),
      ...options,
    })
    this.defaultTimeZone = config.defaultTimeZone
    const pageSize = settings.pageSize ?? { default: 100, max: 100 }
    this.pageSize = Math.min(config.api.pageSize ?? pageSize.default, pageSize.max)
  }

  /** GET one record; undefined when the vendor answers 404. */
  protected async getOne<S extends z.ZodType>(
    operation: string,
    path: string,
    schema: S,
    signal?: AbortSignal,
    query?: Record<string, string | number | undefined>,
  ): Promise<z.output<S> | undefined> {
    const res = await this.http.request({ operation, path, schema, allowNotFound: true, signal, ...(query ? { query } : {}) })
    return res?.data
  }
}

/** Notice data is stored as JSON and read back as unknown: validate before trusting it. */
export function readNoticeData<S extends z.ZodType>(source: HrSource, schema: S, notice: HrNotice): z.output<S> {
  const parsed = schema.safeParse(notice.data)
  if (parsed.success) return parsed.data
  throw new PermanentError(`hr:${source} notice ${notice.dedupeKey} has unreadable data`, {
    system: `hr:${source}`,
    operation: 'normalize',
    vendorCode: 'invalid_notice',
    cause: parsed.error,
  })
}

export function eventBase(source: HrSource, notice: HrNotice, ctx: NormalizeContext): EventBase {
  return {
    source,
    sourceEventId: notice.dedupeKey,
    employeeId: notice.employeeId,
    occurredAt: notice.occurredAt,
    receivedAt: ctx.receivedAt.toISOString(),
    foundBy: ctx.foundBy,
  }
}

/**
 * Thin webhooks are triggers: re-fetch the person through the vendor API and let the record
 * decide. Without a client there is nothing authoritative to act on, so this is a Permanent
 * error (a configuration problem surfaced in the dead-letter queue) rather than a guess.
 */
export async function refetchAndDerive(
  source: HrSource,
  intent: Intent,
  notice: HrNotice,
  ctx: NormalizeContext,
  opts: Omit<DeriveOptions, 'now'> = {},
): Promise<CanonicalEvent[]> {
  if (!ctx.client) {
    throw new PermanentError(`hr:${source}: ${notice.vendorEventType} needs the ${source} API to re-fetch the employee, and no api is configured`, {
      system: `hr:${source}`,
      operation: 'normalize',
      vendorCode: 'api_not_configured',
    })
  }
  const record = await ctx.client.getEmployee(notice.employeeId)
  const events = eventsForIntent(intent, record, { ...eventBase(source, notice, ctx), confirmed: true }, {
    now: ctx.now ?? ctx.receivedAt,
    defaultTimeZone: ctx.config?.defaultTimeZone,
    ...opts,
  })
  if (!record && events.length === 0) throw new HrEmployeeNotFoundError(source, notice)
  return events
}

/**
 * normalize() of a vendor whose webhooks are thin triggers: read the notice data, let the
 * adapter say what the notice means (an intent, or undefined for an event Tenure ignores), then
 * re-fetch the person and let the record decide.
 */
export function normalizeByRefetch<S extends z.ZodType>(
  source: HrSource,
  schema: S,
  intentOf: (data: z.output<S>, ctx: NormalizeContext) => Intent | undefined,
): HrSourceAdapter['normalize'] {
  return async (notice, ctx) => {
    const intent = intentOf(readNoticeData(source, schema, notice), ctx)
    return intent ? refetchAndDerive(source, intent, notice, ctx) : []
  }
}

/** fromRecord() of every adapter: the events are the difference between the record and the last one seen. */
export const fromRecordByDiff: HrSourceAdapter['fromRecord'] = (record, previous, ctx) => eventsFromDiff(record, previous, ctx ?? {})

/**
 * A thin notice (a joiner, a change, a leave) whose re-fetch found no such employee in HR: the
 * record decides, and there is none, so nothing is applied. Not a retryable failure and not
 * "processed" either: the HR worker records the inbox row as `not_found`, logs a warning and the
 * console lists it (a mistyped id, an employee outside the API user's scope, or a vendor whose
 * API lags its webhooks; the reconciliation poll picks a real joiner up later).
 */
export class HrEmployeeNotFoundError extends Error {
  readonly source: HrSource
  readonly employeeId: string
  readonly vendorEventType: string

  constructor(source: HrSource, notice: Pick<HrNotice, 'employeeId' | 'vendorEventType'>) {
    super(`hr:${source}: ${notice.vendorEventType} for employee ${notice.employeeId}, but the ${source} API has no such employee`)
    this.name = 'HrEmployeeNotFoundError'
    this.source = source
    this.employeeId = notice.employeeId
    this.vendorEventType = notice.vendorEventType
  }
}

/** Map a vendor's termination type/reason text to voluntary/involuntary. */
export function voluntaryFrom(text: string | null | undefined): 'voluntary' | 'involuntary' | 'unknown' {
  if (!text) return 'unknown'
  const t = text.toLowerCase()
  if (/invol|dismiss|employer|fired|for cause|layoff|redundan|terminat/.test(t)) return 'involuntary'
  if (/volunt|resign|employee|quit|retire/.test(t)) return 'voluntary'
  return 'unknown'
}

/** Zero-date placeholders some vendors use for "no date" (BambooHR: 0000-00-00). */
export function realDate(value: string | null | undefined): string | undefined {
  if (!value || value.startsWith('0000-00-00')) return undefined
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : undefined
}

/** Sample person used by buildSample() across vendors, so docs and fixtures tell one story. */
export const SAMPLE_PERSON = {
  firstName: 'Ada',
  lastName: 'Lovelace',
  workEmail: 'ada.lovelace@example.com',
  department: 'Engineering',
  title: 'Staff Engineer',
  timeZone: 'Europe/London',
  startDate: '2025-03-03',
  terminationDate: '2026-01-30',
  occurredAt: '2026-01-15T09:30:00Z',
} as const
