/**
 * Merge.dev unified HRIS (https://docs.merge.dev/basics/webhooks/merge-webhooks).
 *
 * Signature: `X-Merge-Webhook-Signature` = base64url HMAC-SHA256(webhook key, rawBody). Merge's
 * page does not spell out padding; implementations differ, so padded and unpadded base64url
 * (and standard base64) are all accepted. No timestamp header.
 * Payload: `{hook: {id, event, target}, linked_account: {…}, data: <common model>}` — a full
 * Employee for `Employee.added|changed|removed`. Leavers: `employment_status: INACTIVE` and/or
 * `termination_date`. Merge reflects its periodic syncs, so events lag the source HRIS.
 * With an API configured the employee is re-fetched anyway (authoritative, and a forged but
 * validly shaped body cannot terminate anyone); without one the payload's Employee is used.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { eventBase, fromRecordByDiff, readJsonDelivery, readNoticeData, refetchAndDerive, SAMPLE_PERSON, VendorApiClient, verifySignatureHeader } from '../adapter-kit.ts'
import { fromBase64, hmac, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, eventsForIntent, toIsoDate, toIsoDateTimeOrUndefined, type Intent } from '../derive.ts'
import { validate, optionalText } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'merge' as const

const str = optionalText

export const mergeEmployeeSchema = z
  .object({
    id: z.string().min(1).max(200),
    remote_id: str,
    first_name: str,
    last_name: str,
    preferred_name: str,
    display_full_name: str,
    work_email: str,
    personal_email: str,
    manager: str,
    team: str,
    work_location: str,
    start_date: str,
    hire_date: str,
    termination_date: str,
    employment_status: z.enum(['ACTIVE', 'PENDING', 'INACTIVE']).nullable().optional(),
    remote_was_deleted: z.boolean().optional(),
    modified_at: str,
  })
  .loose()
export type MergeEmployee = z.output<typeof mergeEmployeeSchema>

const webhookSchema = z.object({
  hook: z.object({ id: z.string().optional(), event: z.string().min(1).max(100), target: z.string().optional() }).loose(),
  linked_account: z.object({ id: z.string().optional() }).loose().optional(),
  data: z.unknown(),
})

const noticeDataSchema = z.object({ event: z.string(), employee: mergeEmployeeSchema.optional() })

export function mergeIntent(event: string, deleted: boolean): Intent | undefined {
  const [model, action] = event.split('.')
  if (model !== 'Employee' && model !== 'Employment') return undefined
  if (action === 'removed' || deleted) return model === 'Employee' ? 'deleted' : 'updated'
  if (action === 'added') return model === 'Employee' ? 'hired' : 'updated'
  if (action === 'changed') return 'updated'
  return undefined
}

/** Which Merge field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const MERGE_MAPPING = defineSourceMapping<MergeEmployee>({
  source: SOURCE,
  vendor: 'Merge (HRIS)',
  record: 'Employee (`GET /employees/{id}`)',
  profile: {
    employeeId: { from: ['id'] },
    firstName: { from: ['preferred_name', 'first_name'], note: 'the preferred name when there is one' },
    lastName: { from: ['last_name'] },
    displayName: { from: ['display_full_name'] },
    workEmail: { from: ['work_email'] },
    personalEmail: { from: ['personal_email'] },
    managerId: { from: ['manager'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: '`employment_status` is "INACTIVE"', test: (e) => e.employment_status === 'INACTIVE' },
      { status: 'pending', when: '`employment_status` is "PENDING"', test: (e) => e.employment_status === 'PENDING' },
      { status: 'active', when: '`employment_status` is "ACTIVE"', test: (e) => e.employment_status === 'ACTIVE' },
      { status: 'terminated', when: 'any other `employment_status` (or none) and `termination_date` is set', test: (e) => toIsoDate(e.termination_date) !== undefined },
    ],
    otherwise: 'active',
  },
  termination: ['date: `termination_date`'],
})

export function mergeToRecord(e: MergeEmployee, defaultTimeZone: string): HrEmployeeRecord {
  const terminationDate = toIsoDate(e.termination_date)
  const employmentStatus = statusOf(MERGE_MAPPING, e)
  return {
    source: SOURCE,
    employeeId: e.id,
    profile: cleanProfile({ ...readProfile(MERGE_MAPPING, e, undefined), employeeId: e.id }),
    employmentStatus,
    startDate: toIsoDate(e.start_date ?? e.hire_date),
    ...(terminationDate !== undefined || employmentStatus === 'terminated' ? { termination: { date: terminationDate } } : {}),
    timeZone: defaultTimeZone,
    leave: { onLeave: false },
    updatedAt: toIsoDateTimeOrUndefined(e.modified_at),
  }
}

const listSchema = z.object({ next: z.string().nullable().optional(), results: z.array(mergeEmployeeSchema) })

export class MergeClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    if (!config.merge) throw new Error('merge: api and merge.accountToken are required for the API client')
    super(SOURCE, config, options, {
      required: 'merge: api and merge.accountToken are required for the API client',
      baseUrl: 'https://api.merge.dev/api/hris/v1',
      // The linked account (one customer's HRIS) is chosen per request by this header.
      headers: { 'x-account-token': config.merge.accountToken.reveal() },
    })
  }

  async getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.getOne('employees.retrieve', `/employees/${encodeURIComponent(employeeId)}`, mergeEmployeeSchema, signal)
    if (!res || res.remote_was_deleted) return undefined
    return mergeToRecord(res, this.defaultTimeZone)
  }

  private async *pages(query: Record<string, string | number | boolean | undefined>, signal?: AbortSignal): AsyncIterable<MergeEmployee> {
    let cursor: string | undefined
    do {
      const res = await this.http.request({ operation: 'employees.list', path: '/employees', query: { ...query, cursor }, schema: listSchema, signal })
      yield* res.data.results
      cursor = res.data.next ?? undefined
    } while (cursor)
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    for await (const e of this.pages({ page_size: Math.min(opts.pageSize ?? this.pageSize, 100) }, opts.signal)) {
      const record = mergeToRecord(e, this.defaultTimeZone)
      if (opts.includeTerminated === false && record.employmentStatus === 'terminated') continue
      yield record
    }
  }

  async listChangesSince(since: Date, signal?: AbortSignal): Promise<Array<{ employeeId: string; changedAt?: string; deleted?: boolean }>> {
    const out: Array<{ employeeId: string; changedAt?: string; deleted?: boolean }> = []
    for await (const e of this.pages({ page_size: this.pageSize, modified_after: since.toISOString(), include_deleted_data: true }, signal))
      out.push({ employeeId: e.id, changedAt: e.modified_at, deleted: e.remote_was_deleted === true })
    return out
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  return verifySignatureHeader(delivery, config, { headers: ['x-merge-webhook-signature'], label: 'X-Merge-Webhook-Signature', decode: fromBase64, sign: (secret) => hmac('sha256', secret, delivery.body) })
}

function parse(delivery: RawDelivery): Parsed {
  const env = readJsonDelivery(delivery, merge.contentTypes, webhookSchema)
  if (!env.ok) return env
  const event = env.value.hook.event
  const [model] = event.split('.')
  if (model !== 'Employee' && model !== 'Employment') return { ok: true, notices: [] }
  let employeeId: string
  let employee: MergeEmployee | undefined
  if (model === 'Employee') {
    const e = validate(mergeEmployeeSchema, env.value.data)
    if (!e.ok) return { ...e, ...(e.path ? { path: `data.${e.path}` } : { path: 'data' }), message: `data.${e.message}` }
    employee = e.value
    employeeId = e.value.id
  } else {
    const e = validate(z.object({ employee: z.string().min(1).max(200) }).loose(), env.value.data)
    if (!e.ok) return { ...e, path: `data.${e.path ?? ''}`.replace(/\.$/, ''), message: `data.${e.message}` }
    employeeId = e.value.employee
  }
  if (mergeIntent(event, employee?.remote_was_deleted === true) === undefined) return { ok: true, notices: [] }
  return {
    ok: true,
    notices: [
      {
        // hook.id names the webhook configuration, not the event: hash the body instead.
        dedupeKey: `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: event,
        employeeId,
        occurredAt: toIsoDateTimeOrUndefined(employee?.modified_at) ?? delivery.receivedAt.toISOString(),
        // The raw object (already validated), not the transformed one: notice data must stay plain JSON.
        data: { event, ...(employee ? { employee: env.value.data } : {}) },
      },
    ],
  }
}

export function mergeSampleEmployee(id: string, kind: CanonicalEventType): Record<string, unknown> {
  const terminated = kind === 'employee.terminated'
  return {
    id,
    remote_id: '19202938',
    employee_number: '2',
    first_name: SAMPLE_PERSON.firstName,
    last_name: SAMPLE_PERSON.lastName,
    preferred_name: null,
    display_full_name: `${SAMPLE_PERSON.firstName} ${SAMPLE_PERSON.lastName}`,
    work_email: SAMPLE_PERSON.workEmail,
    personal_email: null,
    manager: null,
    employment_status: terminated ? 'INACTIVE' : kind === 'employee.hired' ? 'PENDING' : 'ACTIVE',
    start_date: `${SAMPLE_PERSON.startDate}T00:00:00Z`,
    hire_date: `${SAMPLE_PERSON.startDate}T00:00:00Z`,
    termination_date: terminated ? `${SAMPLE_PERSON.terminationDate}T00:00:00Z` : null,
    remote_was_deleted: false,
    modified_at: SAMPLE_PERSON.occurredAt,
  }
}

export const merge: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  async normalize(notice, ctx) {
    const data = readNoticeData(SOURCE, noticeDataSchema, notice)
    const intent = mergeIntent(data.event, data.employee?.remote_was_deleted === true)
    if (!intent) return []
    if (ctx.client) return refetchAndDerive(SOURCE, intent, notice, ctx)
    if (!data.employee) return refetchAndDerive(SOURCE, intent, notice, ctx) // Employment.* is thin: needs the API
    const record = mergeToRecord(data.employee, ctx.config?.defaultTimeZone ?? 'UTC')
    return eventsForIntent(intent, intent === 'deleted' ? undefined : record, eventBase(SOURCE, notice, ctx), {
      now: ctx.now ?? ctx.receivedAt,
      defaultTimeZone: ctx.config?.defaultTimeZone,
    })
  },
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId, options = {}) {
    const event = kind === 'employee.hired' ? 'Employee.added' : kind === 'employee.hire_cancelled' ? 'Employee.removed' : 'Employee.changed'
    const body = {
      hook: { id: options.eventId ?? '0b2c6c3f-7a9e-4a7b-9c1d-2e3f4a5b6c7d', event, target: 'https://tenure.example.com/hr/merge' },
      linked_account: {
        id: '2f7a1b1e-5c8d-4d3a-9f0e-6b5a4c3d2e1f',
        integration: 'BambooHR',
        integration_slug: 'bamboohr',
        category: 'hris',
        end_user_origin_id: 'acme-1',
        end_user_organization_name: 'Acme',
        end_user_email_address: 'it@example.com',
        status: 'COMPLETE',
        webhook_listener_url: 'https://api.merge.dev/api/integrations/webhook-listener/abc',
        is_duplicate: null,
      },
      data: { ...mergeSampleEmployee(employeeId, kind), ...(options.now ? { modified_at: options.now.toISOString() } : {}) },
    }
    return { body: Buffer.from(JSON.stringify(body)), contentType: 'application/json' }
  },
  sign: (body, secret) => ({ 'x-merge-webhook-signature': hmac('sha256', secret, body).toString('base64url') }),
  createClient: (config, options) => (config.api && config.merge ? new MergeClient(config, options) : undefined),
}
