/**
 * Gusto (https://docs.gusto.com/app-integrations/docs/webhooks, /docs/employee-events).
 *
 * Signature: Gusto computes "HMAC of the event payload using the verification_token as the
 * secret and SHA256" and sends it in the `X-Gusto-Signature` header (written `x_gusto_signature`
 * in one doc version; both spellings are read, since proxies such as nginx drop headers with
 * underscores by default). Encoding: lowercase hex (the docs' Ruby sample uses
 * `OpenSSL::HMAC.hexdigest`). No timestamp header.
 * Payload: `{uuid, event_type, resource_type, resource_uuid, entity_type, entity_uuid, timestamp}`;
 * `uuid` is the event id. `employee.terminated` fires when the termination is *created* (often
 * before the last day); `employee.terminated_effective` "the day after their last day at 12:00 AM PT";
 * `employee.termination_cancelled` undoes it. Subscription set-up first POSTs an unsigned
 * `{"verification_token": "…"}`: see `gustoVerificationToken()`.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { fromRecordByDiff, idLike, normalizeByRefetch, VendorApiClient, verifySignatureHeader } from '../adapter-kit.ts'
import { fromHex, hmac } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, toIsoDate, type Intent } from '../derive.ts'
import { checkContentType, parseJson, toIsoDateTime, validate, optionalText } from '../parsing.ts'
import { sha256Hex } from '../crypto.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'gusto' as const

const eventSchema = z.object({
  uuid: z.string().min(1).max(200).optional(),
  event_type: z.string().min(1).max(100),
  resource_type: z.string().optional(),
  resource_uuid: z.string().optional(),
  entity_type: z.string().min(1),
  entity_uuid: idLike.optional(),
  entity_id: idLike.optional(),
  timestamp: z.union([z.number(), z.string()]).optional(),
})

const verificationSchema = z.object({ verification_token: z.string().min(1).max(500) }).strict()

/**
 * The subscription-verification POST (`{"verification_token": …}`), which Gusto sends unsigned
 * before any event. The HTTP layer saves this token for the admin, who confirms it with
 * `PUT /v1/webhook_subscriptions/{uuid}/verify` and then configures it as this source's secret
 * (https://docs.gusto.com/app-integrations/reference/put-v1-verify-webhook-subscription-uuid:
 * "a verification_token is POSTed to the registered webhook subscription URL";
 * `GET …/request_verification_token` sends it again).
 *
 * Accepted only while no Gusto secret is configured: the POST is unsigned, so once a secret is
 * set anyone could otherwise overwrite the saved token (and steer the admin to verify theirs).
 * With a secret configured it is refused like any unsigned delivery (401).
 */
export function gustoVerificationToken(delivery: RawDelivery, config: Pick<HrSourceConfig, 'secrets'>): string | undefined {
  if (config.secrets.length > 0) return undefined
  const json = parseJson(delivery.body)
  if (!json.ok) return undefined
  const parsed = verificationSchema.safeParse(json.value)
  return parsed.success ? parsed.data.verification_token : undefined
}

const noticeDataSchema = z.object({ event: z.string() })

export function gustoIntent(event: string): Intent | undefined {
  switch (event) {
    case 'employee.created':
      return 'hired'
    case 'employee.updated':
    case 'employee.onboarded':
    case 'employee.self_onboarding_completed':
    case 'employee.marked_for_self_onboarding':
      return 'updated'
    // A cancelled rehire leaves the person terminated: the record check confirms it.
    case 'employee.terminated':
    case 'employee.terminated_effective':
    case 'employee.rehire_cancelled':
      return 'terminated'
    case 'employee.termination_cancelled':
      return 'termination_rescinded'
    case 'employee.rehired':
    case 'employee.rehire_effective':
      return 'rehired'
    case 'employee.deleted':
      return 'deleted'
    default:
      return undefined
  }
}

// --- API -------------------------------------------------------------------------------------

const str = optionalText

export const gustoEmployeeSchema = z
  .object({
    uuid: z.string().min(1).max(200),
    first_name: str,
    last_name: str,
    preferred_first_name: str,
    email: str,
    work_email: str,
    manager_uuid: str,
    department: str,
    terminated: z.boolean().nullable().optional(),
    onboarded: z.boolean().nullable().optional(),
    jobs: z.array(z.object({ title: str, hire_date: str, primary: z.boolean().nullable().optional() }).loose()).nullable().optional(),
    terminations: z
      .array(z.object({ uuid: str, active: z.boolean().nullable().optional(), effective_date: str, cancelable: z.boolean().nullable().optional() }).loose())
      .nullable()
      .optional(),
  })
  .loose()
export type GustoEmployee = z.output<typeof gustoEmployeeSchema>

type GustoJob = NonNullable<GustoEmployee['jobs']>[number]
const primaryJob = (e: GustoEmployee): GustoJob | undefined => e.jobs?.find((j) => j.primary) ?? e.jobs?.[0]

/** Which Gusto field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const GUSTO_MAPPING = defineSourceMapping<GustoEmployee, undefined, { e: GustoEmployee; startDate: string | undefined; today: string }>({
  source: SOURCE,
  vendor: 'Gusto',
  record: 'employee (`GET /v1/employees/{uuid}`)',
  profile: {
    employeeId: { from: ['uuid'] },
    firstName: { from: ['preferred_first_name', 'first_name'], note: 'the preferred first name when there is one' },
    lastName: { from: ['last_name'] },
    workEmail: { from: ['work_email'] },
    personalEmail: { from: ['email'], note: 'Gusto\'s `email` is the personal one' },
    title: { from: ['jobs[primary].title'], read: (e) => primaryJob(e)?.title, note: 'the primary job, else the first' },
    department: { from: ['department'] },
    managerId: { from: ['manager_uuid'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: '`terminated` is true', test: (i) => i.e.terminated === true },
      { status: 'pending', when: "the primary job's `hire_date` is after today", test: (i) => i.startDate !== undefined && i.startDate > i.today },
    ],
    otherwise: 'active',
  },
  termination: ['date: `effective_date` of the latest remaining termination (Gusto deletes cancelled ones)'],
})

export function gustoToRecord(e: GustoEmployee, defaultTimeZone: string, now: Date): HrEmployeeRecord {
  const startDate = toIsoDate(primaryJob(e)?.hire_date)
  // Cancelled terminations are deleted in Gusto; the latest remaining one is current.
  const termination = [...(e.terminations ?? [])].sort((a, b) => (a.effective_date ?? '').localeCompare(b.effective_date ?? '')).at(-1)
  const terminationDate = toIsoDate(termination?.effective_date)
  const employmentStatus = statusOf(GUSTO_MAPPING, { e, startDate, today: now.toISOString().slice(0, 10) })
  return {
    source: SOURCE,
    employeeId: e.uuid,
    profile: cleanProfile({ ...readProfile(GUSTO_MAPPING, e, undefined), employeeId: e.uuid }),
    employmentStatus,
    startDate,
    ...(terminationDate !== undefined || employmentStatus === 'terminated' ? { termination: { date: terminationDate } } : {}),
    timeZone: defaultTimeZone,
    leave: { onLeave: false },
  }
}

export class GustoClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE
  private readonly companyUuid: string

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    if (!config.gusto) throw new Error('gusto: api and gusto.companyUuid are required for the API client')
    super(SOURCE, config, options, {
      required: 'gusto: api and gusto.companyUuid are required for the API client',
      baseUrl: 'https://api.gusto.com',
      headers: { 'x-gusto-api-version': config.gusto.apiVersion },
    })
    this.companyUuid = config.gusto.companyUuid
  }

  async getEmployee(employeeUuid: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.getOne('employees.get', `/v1/employees/${encodeURIComponent(employeeUuid)}`, gustoEmployeeSchema, signal)
    return res ? gustoToRecord(res, this.defaultTimeZone, new Date(this.http.now())) : undefined
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    const per = Math.min(opts.pageSize ?? this.pageSize, 100)
    for (let pageNo = 1; ; pageNo++) {
      const res = await this.http.request({
        operation: 'companies.employees.list',
        path: `/v1/companies/${encodeURIComponent(this.companyUuid)}/employees`,
        query: { page: pageNo, per, ...(opts.includeTerminated === false ? { terminated: false } : {}) },
        schema: z.array(gustoEmployeeSchema),
        signal: opts.signal,
      })
      for (const e of res.data) yield gustoToRecord(e, this.defaultTimeZone, new Date(this.http.now()))
      // Gusto pages by page/per and reports X-Total-Pages (https://docs.gusto.com/app-integrations/docs/pagination).
      const totalPages = Number(res.headers.get('x-total-pages'))
      if (res.data.length < per || (Number.isFinite(totalPages) && totalPages > 0 && pageNo >= totalPages)) return
    }
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  return verifySignatureHeader(delivery, config, { headers: ['x-gusto-signature', 'x_gusto_signature'], label: 'X-Gusto-Signature', decode: fromHex, sign: (secret) => hmac('sha256', secret, delivery.body) })
}

function parse(delivery: RawDelivery): Parsed {
  const ct = checkContentType(delivery, gusto.contentTypes)
  if (ct) return ct
  const json = parseJson(delivery.body)
  if (!json.ok) return json
  if (verificationSchema.safeParse(json.value).success) return { ok: true, notices: [] }
  const env = validate(eventSchema, json.value)
  if (!env.ok) return env
  const p = env.value
  if (p.entity_type !== 'Employee' || gustoIntent(p.event_type) === undefined) return { ok: true, notices: [] }
  const employeeId = p.entity_uuid
  if (!employeeId) return { ok: false, status: 400, code: 'invalid_payload', message: 'entity_uuid: required for Employee events', path: 'entity_uuid' }
  return {
    ok: true,
    notices: [
      {
        dedupeKey: p.uuid ? `gusto:${p.uuid}` : `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: p.event_type,
        employeeId,
        occurredAt: toIsoDateTime(p.timestamp, delivery.receivedAt),
        data: { event: p.event_type },
      },
    ],
  }
}

const SAMPLE_EVENT: Record<CanonicalEventType, string> = {
  'employee.hired': 'employee.created',
  'employee.updated': 'employee.updated',
  'employee.terminated': 'employee.terminated',
  'employee.rehired': 'employee.rehired',
  'employee.hire_cancelled': 'employee.deleted',
  'employee.termination_rescinded': 'employee.termination_cancelled',
  'employee.leave_started': 'employee.updated',
  'employee.leave_ended': 'employee.updated',
}

export const gusto: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  normalize: normalizeByRefetch(SOURCE, noticeDataSchema, (data) => gustoIntent(data.event)),
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId, options = {}) {
    const body = {
      // The event uuid is Gusto's delivery id (the dedupe key): a new event needs a new one.
      uuid: options.eventId ?? '03ffbf0c-48a9-4f1c-932a-546413a26ad1',
      event_type: SAMPLE_EVENT[kind],
      resource_type: 'Company',
      resource_uuid: '5df911a0-e8e9-412d-8aaf-a46ad193dd96',
      entity_type: 'Employee',
      entity_uuid: employeeId,
      timestamp: options.now ? Math.floor(options.now.getTime() / 1000) : 1768469400,
    }
    return {
      body: Buffer.from(JSON.stringify(body)),
      contentType: 'application/json',
      notes: kind === 'employee.leave_started' || kind === 'employee.leave_ended' ? 'Gusto has no leave events; leave is not tracked for Gusto' : undefined,
    }
  },
  sign: (body, secret) => ({ 'x-gusto-signature': hmac('sha256', secret, body).toString('hex') }),
  createClient: (config, options) => (config.api && config.gusto ? new GustoClient(config, options) : undefined),
}
