/**
 * Rippling partner webhooks (https://developer.rippling.com/documentation/developer-portal/v2-guides/webhooks,
 * as summarised in Rippling's AsyncAPI description).
 *
 * Rippling POSTs a form-encoded body with `event_name`, `company_id`, `company_primary_email`
 * and the resource id. There is no HMAC: deliveries are unauthenticated or carry a configured
 * Bearer token ("Basic auth is not" supported). Tenure accepts only the Bearer mode and
 * compares the token in constant time. Events come ~5 minutes after the change and may repeat.
 * The exact `event_name` strings are not published, so names are matched loosely
 * ("Employee Deleted", "employee.deleted", "EMPLOYEE_DELETED" are one event). Every notice is
 * thin: Tenure re-fetches the employee (roleState, endDate) through the platform API.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { fromRecordByDiff, normalizeByRefetch, VendorApiClient } from '../adapter-kit.ts'
import { matchToken, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, toIsoDate, type Intent } from '../derive.ts'
import { checkContentType, header, parseForm, validate, optionalText } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'rippling' as const

const formSchema = z
  .object({
    event_name: z.string().min(1).max(100),
    company_id: z.string().min(1).max(200),
    company_primary_email: z.string().max(320).optional(),
  })
  .loose()

const ID_FIELDS = ['employee_id', 'employeeId', 'role_id', 'resource_id', 'id'] as const

const noticeDataSchema = z.object({ event: z.string() })

export function ripplingIntent(eventName: string): Intent | undefined {
  const key = eventName.toLowerCase().replace(/[^a-z]/g, '')
  switch (key) {
    case 'employeecreated':
    case 'employeehired':
      return 'hired'
    case 'employeeupdated':
      return 'updated'
    case 'employeeterminated':
      return 'terminated'
    // Access to the app removed: termination, an access rule, or an admin (Rippling's
    // recommended leaver trigger for user-management integrations).
    case 'employeedeleted':
    case 'employeeremoved':
      return 'deleted'
    default:
      return undefined
  }
}

// --- API -------------------------------------------------------------------------------------

const str = optionalText

export const ripplingEmployeeSchema = z
  .object({
    id: z.string().min(1).max(200),
    name: str,
    firstName: str,
    lastName: str,
    workEmail: str,
    personalEmail: str,
    roleState: str,
    department: str,
    title: str,
    manager: str,
    startDate: str,
    endDate: str,
    employmentType: str,
    workLocation: z.object({ name: str, country: str, timezone: str }).loose().nullable().optional(),
  })
  .loose()
export type RipplingEmployee = z.output<typeof ripplingEmployeeSchema>

const PENDING_ROLE_STATES = ['INIT', 'HIRED', 'ACCEPTED']

/** Which Rippling field becomes which profile attribute, and which role state means what (src/hr/mapping.ts). */
export const RIPPLING_MAPPING = defineSourceMapping<RipplingEmployee, undefined, string | undefined>({
  source: SOURCE,
  vendor: 'Rippling',
  record: 'employee (`GET /employees/{id}`)',
  profile: {
    employeeId: { from: ['id'] },
    firstName: { from: ['firstName'] },
    lastName: { from: ['lastName'] },
    displayName: { from: ['name'] },
    workEmail: { from: ['workEmail'] },
    personalEmail: { from: ['personalEmail'] },
    department: { from: ['department'] },
    title: { from: ['title'] },
    managerId: { from: ['manager'] },
    employmentType: { from: ['employmentType'] },
    location: { from: ['workLocation.name'] },
    countryCode: { from: ['workLocation.country'] },
    timeZone: { from: ['workLocation.timezone'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: '`roleState` is "TERMINATED"', test: (state) => state === 'TERMINATED' },
      { status: 'active', when: '`roleState` is "ACTIVE"', test: (state) => state === 'ACTIVE' },
      { status: 'pending', when: `\`roleState\` is ${PENDING_ROLE_STATES.map((s) => `"${s}"`).join(', ')}`, test: (state) => state !== undefined && PENDING_ROLE_STATES.includes(state) },
    ],
    otherwise: 'inactive',
  },
  termination: ['date: `endDate`'],
})

export function ripplingToRecord(e: RipplingEmployee, defaultTimeZone: string): HrEmployeeRecord {
  const endDate = toIsoDate(e.endDate)
  const employmentStatus = statusOf(RIPPLING_MAPPING, e.roleState?.toUpperCase())
  const tz = e.workLocation?.timezone
  return {
    source: SOURCE,
    employeeId: e.id,
    profile: cleanProfile({ ...readProfile(RIPPLING_MAPPING, e, undefined), employeeId: e.id }),
    employmentStatus,
    startDate: toIsoDate(e.startDate),
    ...(endDate !== undefined || employmentStatus === 'terminated' ? { termination: { date: endDate } } : {}),
    timeZone: tz ?? defaultTimeZone,
    leave: { onLeave: false },
  }
}

export class RipplingClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    // "Pagination should be set to a maximum of 100."
    super(SOURCE, config, options, { required: 'rippling: api is required for the API client', baseUrl: 'https://api.rippling.com/platform/api', pageSize: { default: 100, max: 100 } })
  }

  async getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.getOne('employees.get', `/employees/${encodeURIComponent(employeeId)}`, ripplingEmployeeSchema, signal)
    return res ? ripplingToRecord(res, this.defaultTimeZone) : undefined
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    const limit = Math.min(opts.pageSize ?? this.pageSize, 100)
    const path = opts.includeTerminated === false ? '/employees' : '/employees/include_terminated'
    for (let offset = 0; ; offset += limit) {
      const res = await this.http.request({ operation: 'employees.list', path, query: { limit, offset }, schema: z.array(ripplingEmployeeSchema), signal: opts.signal })
      for (const e of res.data) yield ripplingToRecord(e, this.defaultTimeZone)
      if (res.data.length < limit) return
    }
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  return matchToken(config.secrets, header(delivery, 'authorization'), true)
}

function parse(delivery: RawDelivery): Parsed {
  const ct = checkContentType(delivery, rippling.contentTypes)
  if (ct) return ct
  const form = parseForm(delivery.body)
  if (!form.ok) return form
  const env = validate(formSchema, form.value)
  if (!env.ok) return env
  if (ripplingIntent(env.value.event_name) === undefined) return { ok: true, notices: [] }
  const idField = ID_FIELDS.find((f) => typeof form.value[f] === 'string' && form.value[f] !== '')
  if (!idField) return { ok: false, status: 400, code: 'invalid_payload', message: 'employee_id: required for employee events', path: 'employee_id' }
  return {
    ok: true,
    notices: [
      {
        // No event id and no timestamp in Rippling's form body.
        dedupeKey: `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: env.value.event_name,
        employeeId: form.value[idField]!,
        occurredAt: delivery.receivedAt.toISOString(),
        data: { event: env.value.event_name },
      },
    ],
  }
}

const SAMPLE_EVENT: Record<CanonicalEventType, string> = {
  'employee.hired': 'EMPLOYEE_CREATED',
  'employee.updated': 'EMPLOYEE_UPDATED',
  'employee.terminated': 'EMPLOYEE_DELETED',
  'employee.rehired': 'EMPLOYEE_CREATED',
  'employee.hire_cancelled': 'EMPLOYEE_DELETED',
  'employee.termination_rescinded': 'EMPLOYEE_UPDATED',
  'employee.leave_started': 'EMPLOYEE_UPDATED',
  'employee.leave_ended': 'EMPLOYEE_UPDATED',
}

export const rippling: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/x-www-form-urlencoded'],
  pushes: true,
  verify,
  parse,
  normalize: normalizeByRefetch(SOURCE, noticeDataSchema, (data) => ripplingIntent(data.event)),
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId) {
    const body = new URLSearchParams({
      event_name: SAMPLE_EVENT[kind],
      company_id: '5e1a2b3c4d5e6f7a8b9c0d1e',
      company_primary_email: 'it@example.com',
      employee_id: employeeId,
    }).toString()
    return { body: Buffer.from(body), contentType: 'application/x-www-form-urlencoded', notes: 'Rippling partner webhook (form-encoded, Bearer token)' }
  },
  sign: (_body, secret) => ({ authorization: `Bearer ${secret}` }),
  createClient: (config, options) => (config.api ? new RipplingClient(config, options) : undefined),
}
