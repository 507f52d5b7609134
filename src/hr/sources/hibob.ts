/**
 * HiBob (Bob) webhooks v2 (https://apidocs.hibob.com/reference/webhook-events-v2).
 *
 * Signature: `Bob-Signature` = base64 HMAC-SHA512(secret, rawBody). No timestamp header, so
 * there is no sender replay window: de-duplication plus the re-fetch make a replay harmless.
 * Envelope: `{companyId, type, triggeredBy, triggeredAt (UTC, no zone, microseconds), version, data: {employeeId}}`.
 * Lifecycle events fire "at midnight on the effective date ... (site timezone)": `employee.left`
 * covers termination *and* garden leave, whichever comes first.
 * API: `POST /v1/people/{id}` and `POST /v1/people/search` (no pagination: one full result set),
 * Basic auth with a service user id and token (https://apidocs.hibob.com/docs/api-service-users).
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { fromRecordByDiff, idLike, normalizeByRefetch, readJsonDelivery, VendorApiClient, verifySignatureHeader, voluntaryFrom } from '../adapter-kit.ts'
import { fromBase64, hmac, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, toIsoDate, type Intent } from '../derive.ts'
import { toIsoDateTime, optionalText } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'hibob' as const

const envelopeSchema = z.object({
  companyId: idLike,
  type: z.string().min(1).max(100),
  triggeredBy: z.string().optional(),
  triggeredAt: z.string().min(1),
  version: z.string().optional(),
  data: z.object({ employeeId: idLike.optional() }).loose(),
})

const noticeDataSchema = z.object({ type: z.string(), email: z.string().optional() })

/** Bob event type → what it claims; undefined for events Tenure does not act on. */
export function hibobIntent(type: string): Intent | undefined {
  switch (type) {
    case 'employee.created':
    case 'employee.joined':
      return 'hired'
    case 'employee.updated':
    case 'table.entry.created':
    case 'table.entry.updated':
      return 'updated'
    case 'employee.left':
      return 'terminated'
    case 'employee.deleted':
      return 'deleted'
    case 'employee.inactivated':
    case 'employee.activated':
      return 'status_changed'
    default:
      // Temporary-leave lifecycle events (name not published): the record decides.
      return /leave/i.test(type) ? 'status_changed' : undefined
  }
}

// --- API -------------------------------------------------------------------------------------

export const HIBOB_FIELDS = [
  'root.id',
  'root.firstName',
  'root.surname',
  'root.displayName',
  'root.email',
  'work.title',
  'work.department',
  'work.site',
  'work.startDate',
  'work.reportsTo',
  'internal.status',
  'internal.lifecycleStatus',
  'internal.terminationDate',
  'internal.terminationReason',
  'internal.terminationType',
] as const

const str = optionalText

export const bobEmployeeSchema = z.object({
  id: idLike,
  firstName: str,
  surname: str,
  displayName: str,
  email: str,
  work: z
    .object({
      title: str,
      department: str,
      site: str,
      startDate: str,
      reportsTo: z.object({ id: str, email: str }).nullable().optional(),
    })
    .loose()
    .optional(),
  internal: z
    .object({
      status: str,
      lifecycleStatus: str,
      terminationDate: str,
      terminationReason: str,
      terminationType: str,
    })
    .loose()
    .optional(),
})
export type BobEmployee = z.output<typeof bobEmployeeSchema>

interface BobStatusInput {
  e: BobEmployee
  lifecycle: string | undefined
  garden: boolean
  gardenLeaveIsTermination: boolean
}

/** Which HiBob field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const HIBOB_MAPPING = defineSourceMapping<BobEmployee, undefined, BobStatusInput>({
  source: SOURCE,
  vendor: 'HiBob',
  record: 'person (`POST /v1/people/{id}`, `POST /v1/people/search`)',
  profile: {
    employeeId: { from: ['id'] },
    firstName: { from: ['firstName'] },
    lastName: { from: ['surname'] },
    displayName: { from: ['displayName'] },
    workEmail: { from: ['email'] },
    title: { from: ['work.title'] },
    department: { from: ['work.department'] },
    location: { from: ['work.site'] },
    managerId: { from: ['work.reportsTo.id'] },
    managerEmail: { from: ['work.reportsTo.email'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: 'Lifecycle status (`internal.lifecycleStatus`) is "Terminated"', test: (i) => i.lifecycle === 'terminated' },
      {
        status: 'terminated',
        when: 'Lifecycle status is "Garden leave" and `hibob.gardenLeaveIsTermination` is true (the default)',
        test: (i) => i.garden && i.gardenLeaveIsTermination,
      },
      { status: 'pending', when: 'Lifecycle status is "Hired" (not started yet)', test: (i) => i.lifecycle === 'hired' },
      { status: 'inactive', when: 'Status (`internal.status`) is "Inactive" and the lifecycle status is not "Leave"', test: (i) => i.e.internal?.status === 'Inactive' && i.lifecycle !== 'leave' },
    ],
    otherwise: 'active',
  },
  termination: [
    'date: `internal.terminationDate`; type (voluntary or not): `internal.terminationType`; reason: `internal.terminationReason` ("garden leave" on garden leave)',
    'leave: lifecycle status "Leave", or "Garden leave" when `gardenLeaveIsTermination` is false',
  ],
})

export function bobToRecord(e: BobEmployee, opts: { gardenLeaveIsTermination: boolean; defaultTimeZone: string }): HrEmployeeRecord {
  const lifecycle = e.internal?.lifecycleStatus?.toLowerCase()
  const terminationDate = toIsoDate(e.internal?.terminationDate)
  const garden = lifecycle === 'garden leave'
  const employmentStatus = statusOf(HIBOB_MAPPING, { e, lifecycle, garden, gardenLeaveIsTermination: opts.gardenLeaveIsTermination })
  const terminationKnown = employmentStatus === 'terminated' || (terminationDate !== undefined && !(garden && !opts.gardenLeaveIsTermination))
  return {
    source: SOURCE,
    employeeId: e.id,
    profile: cleanProfile({ ...readProfile(HIBOB_MAPPING, e, undefined), employeeId: e.id }),
    employmentStatus,
    startDate: toIsoDate(e.work?.startDate),
    ...(terminationKnown
      ? {
          termination: {
            date: terminationDate,
            voluntary: voluntaryFrom(e.internal?.terminationType),
            reason: garden ? 'garden leave' : e.internal?.terminationReason,
          },
        }
      : {}),
    timeZone: opts.defaultTimeZone,
    leave: { onLeave: lifecycle === 'leave' || (garden && !opts.gardenLeaveIsTermination) },
  }
}

export class HiBobClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE
  private readonly opts: { gardenLeaveIsTermination: boolean; defaultTimeZone: string }

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    super(SOURCE, config, options, { required: 'hibob: api is required for the API client', baseUrl: 'https://api.hibob.com' })
    this.opts = { gardenLeaveIsTermination: config.hibob?.gardenLeaveIsTermination ?? true, defaultTimeZone: config.defaultTimeZone }
  }

  async getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.http.request({
      operation: 'people.read',
      method: 'POST',
      path: `/v1/people/${encodeURIComponent(employeeId)}`,
      json: { fields: HIBOB_FIELDS },
      schema: bobEmployeeSchema,
      allowNotFound: true,
      signal,
    })
    return res ? bobToRecord(res.data, this.opts) : undefined
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    // Bob's search returns the complete set in one response (no cursor), terminated people
    // only with showInactive.
    const res = await this.http.request({
      operation: 'people.search',
      method: 'POST',
      path: '/v1/people/search',
      json: { fields: HIBOB_FIELDS, showInactive: opts.includeTerminated !== false },
      schema: z.object({ employees: z.array(bobEmployeeSchema) }),
      signal: opts.signal,
    })
    for (const e of res.data.employees) yield bobToRecord(e, this.opts)
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  return verifySignatureHeader(delivery, config, { headers: ['bob-signature'], label: 'Bob-Signature', decode: fromBase64, sign: (secret) => hmac('sha512', secret, delivery.body) })
}

function parse(delivery: RawDelivery): Parsed {
  const env = readJsonDelivery(delivery, hibob.contentTypes, envelopeSchema)
  if (!env.ok) return env
  const p = env.value
  if (hibobIntent(p.type) === undefined) return { ok: true, notices: [] }
  if (p.data.employeeId === undefined)
    return { ok: false, status: 400, code: 'invalid_payload', message: 'data.employeeId: required for employee events', path: 'data.employeeId' }
  const email = typeof p.data.email === 'string' ? p.data.email : undefined
  return {
    ok: true,
    notices: [
      {
        // Bob sends no event id; retries repeat the same body.
        dedupeKey: `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: p.type,
        employeeId: p.data.employeeId,
        occurredAt: toIsoDateTime(p.triggeredAt, delivery.receivedAt),
        data: { type: p.type, ...(email ? { email } : {}) },
      },
    ],
  }
}

const SAMPLE_TYPE: Record<CanonicalEventType, string> = {
  'employee.hired': 'employee.joined',
  'employee.updated': 'employee.updated',
  'employee.terminated': 'employee.left',
  'employee.rehired': 'employee.activated',
  'employee.hire_cancelled': 'employee.deleted',
  'employee.termination_rescinded': 'employee.activated',
  'employee.leave_started': 'employee.inactivated',
  'employee.leave_ended': 'employee.activated',
}

export const hibob: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  normalize: normalizeByRefetch(SOURCE, noticeDataSchema, (data) => hibobIntent(data.type)),
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId, options = {}) {
    const body = {
      companyId: 637323,
      type: SAMPLE_TYPE[kind],
      triggeredBy: kind === 'employee.terminated' ? 'system' : '3332883804594373380',
      // Bob's triggeredAt has no zone (UTC) and microseconds.
      triggeredAt: options.now ? `${options.now.toISOString().slice(0, 23)}000` : '2026-01-30T00:00:03.120394',
      version: 'v2',
      data: { employeeId, ...(kind === 'employee.hire_cancelled' ? { email: 'ada.lovelace@example.com' } : {}) },
    }
    return { body: Buffer.from(JSON.stringify(body)), contentType: 'application/json', notes: 'Bob webhooks v2 (thin payload); Tenure re-fetches the employee' }
  },
  sign: (body, secret) => ({ 'bob-signature': hmac('sha512', secret, body).toString('base64') }),
  createClient: (config, options) => (config.api ? new HiBobClient(config, options) : undefined),
}
