/**
 * BambooHR (https://documentation.bamboohr.com/docs/webhooks).
 *
 * Signature: `X-BambooHR-Signature` = lowercase hex HMAC-SHA256(privateKey, rawBody ‖ X-BambooHR-Timestamp),
 * body first, no separator (BambooHR's PHP sample; a Stripe-style `timestamp.body` does NOT
 * match). The timestamp header is unix seconds; BambooHR documents no tolerance, so the
 * configured one (default 300 s) applies.
 *
 * Two payload families (a webhook subscribes to one):
 * - event-based: `{type: employee.created|updated|deleted, timestamp, data: {companyId, employeeId, changedFields}}`
 * - field-based (legacy/global): `{employees: [{action, changedFields, fields, id, timestamp}]}`, as JSON
 *   or as a PHP-style form post (`employees[12345][changedFields][0]=Status`).
 * There is no "terminated" event: leavers arrive as a change of Status / Employment Status, so
 * those notices re-fetch the employee and the record decides.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { fromRecordByDiff, idLike, normalizeByRefetch, realDate, SAMPLE_PERSON, VendorApiClient } from '../adapter-kit.ts'
import { fromHex, hmac, matchSecrets, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, dateInZone, toIsoDateTimeOrUndefined, type Intent } from '../derive.ts'
import {
  checkContentType,
  expandBracketForm,
  header,
  mediaType,
  parseForm,
  parseJson,
  readTimestamp,
  toIsoDateTime,
  validate,
  withinTolerance,
} from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrNotice, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, SampleOptions, Verification } from '../types.ts'

const SOURCE = 'bamboohr' as const

// --- webhook payloads ------------------------------------------------------------------------


const eventBasedSchema = z.object({
  type: z.string().regex(/^employee\.(created|updated|deleted)$/, 'employee.created, employee.updated or employee.deleted'),
  timestamp: z.string().min(1),
  data: z.object({
    companyId: idLike.optional(),
    employeeId: idLike,
    changedFields: z.array(z.string()).default([]),
  }),
})

const fieldBasedElement = z.object({
  action: z.string().min(1),
  changedFields: z.array(z.string()).default([]),
  fields: z.record(z.string(), z.unknown()).default({}),
  id: idLike,
  timestamp: z.string().optional(),
})
const fieldBasedSchema = z.object({ employees: z.array(fieldBasedElement).min(1).max(1000) })

/** What a BambooHR notice carries into normalize(). */
const noticeDataSchema = z.object({
  family: z.enum(['event', 'field']),
  action: z.enum(['created', 'updated', 'deleted']),
  changedFields: z.array(z.string()),
})

// --- API -------------------------------------------------------------------------------------

const API_FIELDS = [
  'firstName',
  'lastName',
  'preferredName',
  'displayName',
  'workEmail',
  'homeEmail',
  'department',
  'jobTitle',
  'location',
  'supervisorEId',
  'supervisorEmail',
  'status',
  'employmentHistoryStatus',
  'hireDate',
  'terminationDate',
  'lastChanged',
] as const

const nullableString = z
  .union([z.string(), z.number(), z.null()])
  .optional()
  .transform((v) => (v === null || v === undefined || v === '' ? undefined : String(v)))

export const bambooEmployeeSchema = z
  .object({
    id: idLike.optional(),
    employeeId: idLike.optional(),
    firstName: nullableString,
    lastName: nullableString,
    preferredName: nullableString,
    displayName: nullableString,
    workEmail: nullableString,
    homeEmail: nullableString,
    department: nullableString,
    jobTitle: nullableString,
    jobTitleName: nullableString,
    location: nullableString,
    supervisorEId: nullableString,
    supervisorEmail: nullableString,
    status: nullableString,
    employmentHistoryStatus: nullableString,
    hireDate: nullableString,
    terminationDate: nullableString,
    lastChanged: nullableString,
  })
  .refine((e) => e.id !== undefined || e.employeeId !== undefined, { message: 'employee has no id', path: ['id'] })
export type BambooEmployee = z.output<typeof bambooEmployeeSchema>

const listSchema = z.object({
  data: z.array(bambooEmployeeSchema),
  meta: z.object({ page: z.object({ nextCursor: z.string().nullable().optional() }).optional() }).optional(),
})

const changedSchema = z.object({
  latest: z.string().optional(),
  employees: z
    .union([
      z.record(z.string(), z.object({ id: idLike, action: z.string(), lastChanged: z.string().optional() })),
      z.array(z.never()), // PHP serialises an empty map as []
    ])
    .default({}),
})

export interface BambooOptions {
  terminatedStatuses: string[]
  leaveStatuses: string[]
  defaultTimeZone: string
}

interface BambooStatusInput {
  e: BambooEmployee
  /** Employment Status matched one of the configured terminated statuses. */
  terminatedByHistory: boolean
  terminationDate: string | undefined
  hireDate: string | undefined
  today: string
}

/** Which BambooHR field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const BAMBOOHR_MAPPING = defineSourceMapping<BambooEmployee, undefined, BambooStatusInput>({
  source: SOURCE,
  vendor: 'BambooHR',
  record: 'employee (`GET /v1/employees/{id}?fields=…`)',
  profile: {
    employeeId: { from: ['id', 'employeeId'] },
    firstName: { from: ['preferredName', 'firstName'], note: 'the preferred name when there is one' },
    lastName: { from: ['lastName'] },
    displayName: { from: ['displayName'] },
    workEmail: { from: ['workEmail'] },
    personalEmail: { from: ['homeEmail'] },
    department: { from: ['department'] },
    title: { from: ['jobTitle', 'jobTitleName'] },
    location: { from: ['location'] },
    managerId: { from: ['supervisorEId'] },
    managerEmail: { from: ['supervisorEmail'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: 'Employment Status (`employmentHistoryStatus`) is one of `hr.sources[].bamboohr.terminatedStatuses` (default "Terminated")', test: (i) => i.terminatedByHistory },
      { status: 'terminated', when: 'Status is "Inactive" and Termination Date is set', test: (i) => i.e.status === 'Inactive' && i.terminationDate !== undefined },
      // "Future hires have a status of Inactive" (BambooHR datasets reference).
      { status: 'pending', when: 'Hire Date is after today (BambooHR: future hires are Inactive)', test: (i) => i.hireDate !== undefined && i.hireDate > i.today },
      { status: 'inactive', when: 'Status is "Inactive"', test: (i) => i.e.status === 'Inactive' },
    ],
    otherwise: 'active',
  },
  termination: [
    'date: Termination Date (`terminationDate`; "0000-00-00" means none)',
    'leave: Employment Status is one of `bamboohr.leaveStatuses` (default "Leave of Absence", "On Leave")',
  ],
})

/** BambooHR record → HrEmployeeRecord. Exported for the emulator round-trip tests. */
export function bambooToRecord(e: BambooEmployee, opts: BambooOptions, now: Date): HrEmployeeRecord {
  const employeeId = (e.id ?? e.employeeId)!
  const lower = (xs: string[]) => xs.map((x) => x.toLowerCase())
  const history = e.employmentHistoryStatus?.toLowerCase()
  const terminationDate = realDate(e.terminationDate)
  const hireDate = realDate(e.hireDate)
  const today = dateInZone(now, opts.defaultTimeZone)
  const terminatedByHistory = history !== undefined && lower(opts.terminatedStatuses).includes(history)
  const employmentStatus = statusOf(BAMBOOHR_MAPPING, { e, terminatedByHistory, terminationDate, hireDate, today })
  const profile = cleanProfile({ ...readProfile(BAMBOOHR_MAPPING, e, undefined), employeeId })
  return {
    source: SOURCE,
    employeeId,
    profile,
    employmentStatus,
    startDate: hireDate,
    ...(terminationDate || employmentStatus === 'terminated' ? { termination: { date: terminationDate } } : {}),
    timeZone: opts.defaultTimeZone,
    leave: { onLeave: history !== undefined && lower(opts.leaveStatuses).includes(history) },
    updatedAt: toIsoDateTimeOrUndefined(e.lastChanged),
  }
}

export class BambooHrClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE
  private readonly opts: BambooOptions

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    if (!config.bamboohr) throw new Error('bamboohr: api and bamboohr.companyDomain are required for the API client')
    super(SOURCE, config, options, {
      required: 'bamboohr: api and bamboohr.companyDomain are required for the API client',
      // BambooHR serves the v1 API on the company sub-domain (the legacy
      // api.bamboohr.com/api/gateway.php/<domain> host answers the same paths).
      baseUrl: `https://${config.bamboohr.companyDomain}.bamboohr.com/api`,
      pageSize: { default: 250, max: 2500 },
    })
    this.opts = {
      terminatedStatuses: config.bamboohr.terminatedStatuses,
      leaveStatuses: config.bamboohr.leaveStatuses,
      defaultTimeZone: config.defaultTimeZone,
    }
  }

  async getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.getOne('employees.get', `/v1/employees/${encodeURIComponent(employeeId)}`, bambooEmployeeSchema, signal, { fields: API_FIELDS.join(',') })
    if (!res) return undefined
    return bambooToRecord({ ...res, id: res.id ?? employeeId }, this.opts, new Date(this.http.now()))
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    let cursor: string | undefined
    do {
      const res = await this.http.request({
        operation: 'employees.list',
        path: '/v1/employees',
        query: {
          fields: API_FIELDS.join(','),
          'page[limit]': Math.min(opts.pageSize ?? this.pageSize, 2500),
          'page[after]': cursor,
          ...(opts.includeTerminated === false ? { 'filter[status]': 'Active' } : {}),
        },
        schema: listSchema,
        signal: opts.signal,
      })
      for (const e of res.data.data) yield bambooToRecord(e, this.opts, new Date(this.http.now()))
      cursor = res.data.meta?.page?.nextCursor ?? undefined
    } while (cursor)
  }

  async listChangesSince(since: Date, signal?: AbortSignal): Promise<Array<{ employeeId: string; changedAt?: string; deleted?: boolean }>> {
    const res = await this.http.request({
      operation: 'employees.changed',
      path: '/v1/employees/changed',
      query: { since: since.toISOString().replace(/\.\d{3}Z$/, 'Z') },
      schema: changedSchema,
      signal,
    })
    const employees = Array.isArray(res.data.employees) ? [] : Object.values(res.data.employees)
    return employees.map((e) => ({ employeeId: e.id, changedAt: e.lastChanged, deleted: e.action.toLowerCase() === 'deleted' }))
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  const signature = header(delivery, 'x-bamboohr-signature')
  const timestamp = header(delivery, 'x-bamboohr-timestamp')
  if (!signature || !timestamp)
    return { ok: false, reason: 'missing_signature', message: 'X-BambooHR-Signature and X-BambooHR-Timestamp are required' }
  const ts = readTimestamp(timestamp)
  if (ts === undefined) return { ok: false, reason: 'bad_signature', message: 'X-BambooHR-Timestamp is not a timestamp' }
  if (!withinTolerance(ts, delivery.receivedAt, config.timestampToleranceSeconds))
    return { ok: false, reason: 'timestamp_out_of_tolerance', message: `X-BambooHR-Timestamp is more than ${config.timestampToleranceSeconds} s from now` }
  const sig = fromHex(signature)
  return matchSecrets(config.secrets, sig ? [sig] : [], (secret) => hmac('sha256', secret, delivery.body, timestamp))
}

function actionOf(text: string): 'created' | 'updated' | 'deleted' | undefined {
  const t = text.toLowerCase()
  if (t.endsWith('created') || t === 'inserted') return 'created'
  if (t.endsWith('updated')) return 'updated'
  if (t.endsWith('deleted')) return 'deleted'
  return undefined
}

function parse(delivery: RawDelivery): Parsed {
  const ct = checkContentType(delivery, bamboohr.contentTypes)
  if (ct) return ct
  let value: unknown
  if (mediaType(delivery.contentType ?? delivery.headers['content-type']) === 'application/x-www-form-urlencoded') {
    const form = parseForm(delivery.body)
    if (!form.ok) return form
    value = expandBracketForm(form.value)
    // employees[<id>][…] arrives keyed by id; the JSON variant is an array.
    const employees = (value as { employees?: unknown }).employees
    if (employees && typeof employees === 'object' && !Array.isArray(employees))
      value = { employees: Object.entries(employees as Record<string, Record<string, unknown>>).map(([id, e]) => ({ id, ...e })) }
  } else {
    const json = parseJson(delivery.body)
    if (!json.ok) return json
    value = json.value
  }
  if (typeof value === 'object' && value !== null && 'employees' in value) {
    const payload = validate(fieldBasedSchema, value)
    if (!payload.ok) return payload
    const notices: HrNotice[] = []
    for (const [i, e] of payload.value.employees.entries()) {
      const action = actionOf(e.action)
      if (!action) return { ok: false, status: 400, code: 'invalid_payload', message: `unknown action ${e.action}`, path: `employees.${i}.action` }
      notices.push({
        // Field-based deliveries have no event id; one delivery may batch several people.
        dedupeKey: `sha256:${sha256Hex(JSON.stringify(e))}`,
        vendorEventType: `employee_with_fields.${action}`,
        employeeId: e.id,
        occurredAt: toIsoDateTime(e.timestamp, delivery.receivedAt),
        data: { family: 'field', action, changedFields: e.changedFields },
      })
    }
    return { ok: true, notices }
  }
  const payload = validate(eventBasedSchema, value)
  if (!payload.ok) return payload
  const p = payload.value
  const action = actionOf(p.type)!
  return {
    ok: true,
    notices: [
      {
        dedupeKey: `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: p.type,
        employeeId: p.data.employeeId,
        occurredAt: toIsoDateTime(p.timestamp, delivery.receivedAt),
        data: { family: 'event', action, changedFields: p.data.changedFields },
      },
    ],
  }
}

/** Field names (display or API) that signal an employment status change. */
const DEFAULT_TERMINATION_FIELDS = ['status', 'employment status', 'employment status: date', 'employmenthistorystatus', 'terminationdate', 'termination date']

export function bambooIntent(data: z.output<typeof noticeDataSchema>, terminationFields: string[] = DEFAULT_TERMINATION_FIELDS): Intent {
  if (data.action === 'created') return 'hired'
  if (data.action === 'deleted') return 'deleted'
  const watch = new Set(terminationFields.map((f) => f.toLowerCase()))
  return data.changedFields.some((f) => watch.has(f.toLowerCase())) ? 'status_changed' : 'updated'
}

function sample(kind: CanonicalEventType, employeeId: string, options: SampleOptions = {}): { body: Buffer; contentType: string; notes?: string } {
  const changed: Record<CanonicalEventType, { type: string; fields: string[] }> = {
    'employee.hired': { type: 'employee.created', fields: [] },
    'employee.updated': { type: 'employee.updated', fields: ['jobTitle', 'department'] },
    'employee.terminated': { type: 'employee.updated', fields: ['employmentHistoryStatus', 'status'] },
    'employee.rehired': { type: 'employee.updated', fields: ['status', 'hireDate'] },
    'employee.hire_cancelled': { type: 'employee.deleted', fields: [] },
    'employee.termination_rescinded': { type: 'employee.updated', fields: ['status'] },
    'employee.leave_started': { type: 'employee.updated', fields: ['employmentHistoryStatus'] },
    'employee.leave_ended': { type: 'employee.updated', fields: ['employmentHistoryStatus'] },
  }
  const c = changed[kind]
  const timestamp = options.now ? options.now.toISOString().replace(/\.\d{3}Z$/, '+0000') : '2026-01-15T09:30:00+0000'
  const body = { type: c.type, timestamp, data: { companyId: '12345', employeeId, changedFields: c.fields } }
  return {
    body: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    notes: `event-based webhook; BambooHR has no termination event, so Tenure re-fetches ${SAMPLE_PERSON.firstName}'s record to see what changed`,
  }
}

export const bamboohr: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json', 'application/x-www-form-urlencoded'],
  pushes: true,
  verify,
  parse,
  normalize: normalizeByRefetch(SOURCE, noticeDataSchema, (data, ctx) => bambooIntent(data, ctx.config?.bamboohr?.terminationFields)),
  fromRecord: fromRecordByDiff,
  buildSample: sample,
  sign(body, secret, now) {
    const timestamp = String(Math.floor(now.getTime() / 1000))
    return {
      'x-bamboohr-timestamp': timestamp,
      'x-bamboohr-signature': hmac('sha256', secret, body, timestamp).toString('hex'),
    }
  },
  createClient: (config, options) => (config.api && config.bamboohr ? new BambooHrClient(config, options) : undefined),
}
