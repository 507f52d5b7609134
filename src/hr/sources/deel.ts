/**
 * Deel (https://developer.deel.com/docs/webhooks-get-started).
 *
 * Signature: `x-deel-signature` = hex HMAC-SHA256(signing key, "POST" ‖ rawBody) — "Deel
 * prepends [the raw body] with the string POST before hashing". `x-deel-hmac-label` names the
 * key; `x-deel-webhook-version` is 1.0.0. No timestamp header.
 * Payload: `{data: {meta: {event_type, event_type_id, organization_id, organization_name, tracking_id}, resource}, timestamp}`.
 * Lifecycle webhooks are contract-scoped (`contract.terminated` carries the contract id and
 * `completion_date`), so Tenure keys Deel people by **contract id**; a rehire is a new contract.
 * Deel: "You shouldn't rely solely on receiving data from Deel webhooks ... implement
 * reconciliation jobs" — the roster poll below is that job.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { fromRecordByDiff, idLike, normalizeByRefetch, readJsonDelivery, VendorApiClient, verifySignatureHeader } from '../adapter-kit.ts'
import { fromHex, hmac, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, toIsoDate, type Intent } from '../derive.ts'
import { toIsoDateTime, optionalText } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'deel' as const

const webhookSchema = z.object({
  data: z.object({
    meta: z
      .object({
        event_type: z.string().min(1).max(100),
        event_type_id: z.string().optional(),
        organization_id: z.string().optional(),
        organization_name: z.string().optional(),
        tracking_id: z.string().optional(),
      })
      .loose(),
    resource: z.object({ id: idLike.optional(), contract_id: idLike.optional(), completion_date: z.string().optional() }).loose(),
  }),
  timestamp: z.string().optional(),
})

const noticeDataSchema = z.object({ event: z.string() })

export function deelIntent(event: string): Intent | undefined {
  switch (event) {
    case 'contract.created':
      return 'hired'
    case 'contract.terminated':
      return 'terminated'
    case 'contract.status.updated':
    case 'contract.archived':
      return 'status_changed'
    case 'contract.amended':
      return 'updated'
    default:
      return undefined
  }
}

// --- API -------------------------------------------------------------------------------------

const str = optionalText

export const deelContractSchema = z
  .object({
    id: idLike,
    status: str,
    type: str,
    title: str,
    job_title: str,
    start_date: str,
    termination_date: str,
    worker: z
      .object({ id: str, first_name: str, last_name: str, full_name: str, email: str, alternate_email: z.unknown().optional() })
      .loose()
      .nullable()
      .optional(),
    team: z.object({ name: str }).loose().nullable().optional(),
    country: str,
    timezone: str,
    updated_at: str,
    termination: z.object({ type: str, reason: str, is_immediate: z.boolean().optional() }).loose().nullable().optional(),
  })
  .loose()
export type DeelContract = z.output<typeof deelContractSchema>

const PENDING = new Set(['new', 'under_review', 'waiting_for_review', 'waiting_for_client_sign', 'waiting_for_contractor_sign', 'waiting_for_employee_sign', 'processing_payment', 'onboarding'])
const ENDED = new Set(['terminated', 'completed'])

interface DeelStatusInput {
  status: string
  startDate: string | undefined
  today: string
}

/** Which Deel contract field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const DEEL_MAPPING = defineSourceMapping<DeelContract, undefined, DeelStatusInput>({
  source: SOURCE,
  vendor: 'Deel',
  record: 'contract (`GET /contracts/{id}`)',
  profile: {
    employeeId: { from: ['id'], note: 'the contract id: Deel people are known by contract' },
    firstName: { from: ['worker.first_name'] },
    lastName: { from: ['worker.last_name'] },
    displayName: { from: ['worker.full_name'] },
    workEmail: { from: ['worker.email'] },
    title: { from: ['job_title', 'title'] },
    department: { from: ['team.name'] },
    countryCode: { from: ['country'] },
    timeZone: { from: ['timezone'] },
  },
  status: {
    rules: [
      { status: 'terminated', when: `contract status is ${[...ENDED].map((s) => `"${s}"`).join(' or ')}`, test: (i) => ENDED.has(i.status) },
      {
        status: 'terminated',
        when: 'contract status is "cancelled" or "user_cancelled" and the start date has come',
        test: (i) => (i.status === 'cancelled' || i.status === 'user_cancelled') && i.startDate !== undefined && i.startDate <= i.today,
      },
      { status: 'inactive', when: 'contract status is "cancelled" or "user_cancelled" before the start date', test: (i) => i.status === 'cancelled' || i.status === 'user_cancelled' },
      {
        status: 'pending',
        when: `contract status is ${[...PENDING].map((s) => `"${s}"`).join(', ')} or any other "waiting…"`,
        test: (i) => PENDING.has(i.status) || i.status.startsWith('waiting'),
      },
    ],
    otherwise: 'active',
  },
  termination: ['date: `termination_date`; immediate: `termination.is_immediate`; type: `termination.type` ("resignation" is voluntary); reason: `termination.reason`'],
})

export function deelToRecord(c: DeelContract, defaultTimeZone: string, now: Date): HrEmployeeRecord {
  const status = c.status?.toLowerCase() ?? ''
  const terminationDate = toIsoDate(c.termination_date)
  const startDate = toIsoDate(c.start_date)
  const employmentStatus = statusOf(DEEL_MAPPING, { status, startDate, today: now.toISOString().slice(0, 10) })
  return {
    source: SOURCE,
    employeeId: c.id,
    profile: cleanProfile({ ...readProfile(DEEL_MAPPING, c, undefined), employeeId: c.id }),
    employmentStatus,
    startDate,
    ...(terminationDate !== undefined || employmentStatus === 'terminated'
      ? {
          termination: {
            date: terminationDate,
            immediate: c.termination?.is_immediate,
            voluntary: c.termination?.type === 'resignation' ? 'voluntary' : c.termination?.type ? 'involuntary' : 'unknown',
            reason: c.termination?.reason,
          },
        }
      : {}),
    timeZone: c.timezone ?? defaultTimeZone,
    leave: { onLeave: false },
  } satisfies HrEmployeeRecord
}

const listSchema = z.object({
  data: z.array(deelContractSchema),
  page: z.object({ cursor: z.string().nullable().optional(), total_rows: z.number().optional() }).loose().optional(),
})

export class DeelClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    super(SOURCE, config, options, {
      required: 'deel: api is required for the API client',
      baseUrl: 'https://api.letsdeel.com/rest/v2',
      ...(config.deel?.apiVersion ? { headers: { 'x-api-version': config.deel.apiVersion } } : {}),
    })
  }

  async getEmployee(contractId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const res = await this.getOne('contracts.get', `/contracts/${encodeURIComponent(contractId)}`, z.object({ data: deelContractSchema }), signal)
    return res ? deelToRecord(res.data, this.defaultTimeZone, new Date(this.http.now())) : undefined
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    let cursor: string | undefined
    do {
      const res = await this.http.request({
        operation: 'contracts.list',
        path: '/contracts',
        query: { limit: Math.min(opts.pageSize ?? this.pageSize, 100), after_cursor: cursor },
        schema: listSchema,
        signal: opts.signal,
      })
      for (const c of res.data.data) {
        const record = deelToRecord(c, this.defaultTimeZone, new Date(this.http.now()))
        if (opts.includeTerminated === false && record.employmentStatus === 'terminated') continue
        yield record
      }
      cursor = res.data.page?.cursor ?? undefined
    } while (cursor)
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  return verifySignatureHeader(delivery, config, { headers: ['x-deel-signature'], label: 'x-deel-signature', decode: fromHex, sign: (secret) => hmac('sha256', secret, 'POST', delivery.body) })
}

function parse(delivery: RawDelivery): Parsed {
  const env = readJsonDelivery(delivery, deel.contentTypes, webhookSchema)
  if (!env.ok) return env
  const { meta, resource } = env.value.data
  if (deelIntent(meta.event_type) === undefined) return { ok: true, notices: [] }
  const contractId = resource.contract_id ?? resource.id
  if (contractId === undefined) return { ok: false, status: 400, code: 'invalid_payload', message: 'data.resource.id: required', path: 'data.resource.id' }
  return {
    ok: true,
    notices: [
      {
        dedupeKey: meta.tracking_id ? `deel:${meta.tracking_id}` : `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: meta.event_type,
        employeeId: contractId,
        occurredAt: toIsoDateTime(env.value.timestamp, delivery.receivedAt),
        data: { event: meta.event_type },
      },
    ],
  }
}

const SAMPLE_EVENT: Record<CanonicalEventType, string> = {
  'employee.hired': 'contract.created',
  'employee.updated': 'contract.amended',
  'employee.terminated': 'contract.terminated',
  'employee.rehired': 'contract.created',
  'employee.hire_cancelled': 'contract.status.updated',
  'employee.termination_rescinded': 'contract.status.updated',
  'employee.leave_started': 'contract.status.updated',
  'employee.leave_ended': 'contract.status.updated',
}

export const deel: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  normalize: normalizeByRefetch(SOURCE, noticeDataSchema, (data) => deelIntent(data.event)),
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId, options = {}) {
    const event = SAMPLE_EVENT[kind]
    const body = {
      data: {
        meta: {
          event_type: event,
          event_type_id: '7b2f8d9e-1c3a-4b5d-8e6f-0a1b2c3d4e5f',
          organization_id: 'c1a2b3d4-e5f6-4789-8abc-def012345678',
          organization_name: 'Acme',
          // Deel's per-event id (the dedupe key): a new event needs a new one.
          tracking_id: options.eventId?.replaceAll('-', '') ?? 'f3d9a8b7c6e5d4c3b2a1f0e9d8c7b6a5',
        },
        resource: { id: employeeId, ...(event === 'contract.terminated' ? { completion_date: '2026-01-30' } : {}) },
      },
      timestamp: options.now?.toISOString() ?? '2026-01-30T12:00:00.000Z',
    }
    return { body: Buffer.from(JSON.stringify(body)), contentType: 'application/json', notes: 'Deel keys lifecycle events by contract id' }
  },
  sign: (body, secret) => ({
    'x-deel-signature': hmac('sha256', secret, 'POST', body).toString('hex'),
    'x-deel-hmac-label': 'tenure',
    'x-deel-webhook-version': '1.0.0',
  }),
  createClient: (config, options) => (config.api ? new DeelClient(config, options) : undefined),
}
