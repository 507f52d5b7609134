/**
 * Personio webhooks (API v2, https://developer.personio.de/v2.0/reference/webhooks).
 *
 * Authentication: Personio does not sign deliveries. A webhook's `auth_type` is `TOKEN` (the
 * configured token is sent verbatim in `Authorization`, no prefix added) or `CUSTOM` (up to
 * three custom headers) (https://developer.personio.de/reference/post_v2-webhooks). Tenure
 * compares that header with its configured secrets in constant time.
 * Envelope: `{company_id, event_name, occurred_at, payload, meta}` — "dataless notifications":
 * the payload names the person/employment, so every notice re-fetches through the v2 API.
 * Acknowledge within 3 s; redirects are not followed.
 * `employment.started` / `employment.terminated` fire on the effective date.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { eventBase, fromRecordByDiff, idLike, readJsonDelivery, readNoticeData, refetchAndDerive, VendorApiClient, voluntaryFrom } from '../adapter-kit.ts'
import { matchToken, sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf } from '../mapping.ts'
import { cleanProfile, eventsForIntent, toIsoDate, toIsoDateTimeOrUndefined, type Intent } from '../derive.ts'
import { header, toIsoDateTime, optionalText } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'personio' as const

const envelopeSchema = z.object({
  company_id: idLike,
  event_name: z.string().min(1).max(100),
  occurred_at: z.string().min(1),
  payload: z
    .object({
      id: idLike.optional(),
      person_id: idLike.optional(),
      person: z.object({ id: idLike }).loose().optional(),
    })
    .loose(),
  meta: z.record(z.string(), z.unknown()).optional(),
})

const noticeDataSchema = z.object({ event: z.string(), employmentId: z.string().optional() })

export function personioIntent(event: string): Intent | undefined {
  switch (event.toLowerCase()) {
    case 'person.created':
    case 'employment.created':
    case 'employment.started':
      return 'hired'
    case 'person.updated':
    case 'employment.updated':
      return 'updated'
    case 'employment.terminated':
      return 'terminated'
    case 'person.deleted':
    case 'employment.deleted':
      return 'deleted'
    default:
      return undefined
  }
}

// --- API -------------------------------------------------------------------------------------

const str = optionalText

export const personioPersonSchema = z
  .object({
    id: idLike,
    first_name: str,
    last_name: str,
    preferred_name: str,
    email: str,
    updated_at: str,
  })
  .loose()

export const personioEmploymentSchema = z
  .object({
    id: idLike,
    status: str,
    start_date: str,
    updated_at: str,
    termination: z
      .object({ termination_date: str, terminated_at: str, last_working_day: str, type: str, reason: str })
      .loose()
      .nullable()
      .optional(),
    position: z.object({ title: str }).loose().nullable().optional(),
    org_units: z.array(z.object({ type: str, id: str, name: str }).loose()).nullable().optional(),
    supervisor: z.object({ id: str }).loose().nullable().optional(),
    office: z.object({ id: str, name: str }).loose().nullable().optional(),
  })
  .loose()

const links = z.object({ links: z.object({ next: z.object({ href: z.string() }).nullable().optional() }).loose().optional() }).loose()
const listPersons = z.object({ _data: z.array(personioPersonSchema), _meta: links.optional() })
const listEmployments = z.object({ _data: z.array(personioEmploymentSchema), _meta: links.optional() })

type PersonioPerson = z.output<typeof personioPersonSchema>
type PersonioEmployment = z.output<typeof personioEmploymentSchema>
interface PersonioRecord {
  person: PersonioPerson
  employment: PersonioEmployment | undefined
}
interface PersonioStatusInput {
  status: string | undefined
  terminationDate: string | undefined
  terminatedAt: string | undefined
  today: string
}

/** Which Personio field becomes which profile attribute, and which status means what (src/hr/mapping.ts). */
export const PERSONIO_MAPPING = defineSourceMapping<PersonioRecord, undefined, PersonioStatusInput>({
  source: SOURCE,
  vendor: 'Personio',
  record: 'person (`GET /v2/persons/{id}`) and its current employment (`GET /v2/persons/{id}/employments`)',
  profile: {
    employeeId: { from: ['person.id'] },
    firstName: { from: ['person.preferred_name', 'person.first_name'], note: 'the preferred name when there is one' },
    lastName: { from: ['person.last_name'] },
    workEmail: { from: ['person.email'] },
    title: { from: ['employment.position.title'] },
    department: { from: ['employment.org_units[type=department].name'], read: (r) => r.employment?.org_units?.find((u) => u.type?.toLowerCase() === 'department')?.name },
    location: { from: ['employment.office.name'] },
    managerId: { from: ['employment.supervisor.id'] },
  },
  status: {
    rules: [
      // "The employee's status changes to Inactive at 00:00 UTC the day after" the termination date.
      {
        status: 'terminated',
        when: 'employment status is "INACTIVE" and a termination (date or `terminated_at`) is recorded',
        test: (i) => i.status === 'inactive' && (i.terminationDate !== undefined || Boolean(i.terminatedAt)),
      },
      { status: 'terminated', when: 'the termination date (or last working day) has passed', test: (i) => i.terminationDate !== undefined && i.terminationDate < i.today },
      { status: 'pending', when: 'employment status is "ONBOARDING"', test: (i) => i.status === 'onboarding' },
      { status: 'inactive', when: 'employment status is "INACTIVE"', test: (i) => i.status === 'inactive' },
    ],
    otherwise: 'active',
  },
  termination: [
    'date: `termination.termination_date`, else `termination.last_working_day`; moment: `termination.terminated_at`; type: `termination.type`; reason: `termination.reason`',
    'leave: employment status "LEAVE"',
  ],
})

export function personioToRecord(person: PersonioPerson, employment: PersonioEmployment | undefined, now: Date, defaultTimeZone: string): HrEmployeeRecord {
  const status = employment?.status?.toLowerCase()
  const t = employment?.termination
  const terminationDate = toIsoDate(t?.termination_date ?? t?.last_working_day)
  const today = now.toISOString().slice(0, 10)
  const employmentStatus = statusOf(PERSONIO_MAPPING, { status, terminationDate, terminatedAt: t?.terminated_at, today })
  return {
    source: SOURCE,
    employeeId: person.id,
    profile: cleanProfile({ ...readProfile(PERSONIO_MAPPING, { person, employment }, undefined), employeeId: person.id }),
    employmentStatus,
    startDate: toIsoDate(employment?.start_date),
    ...(terminationDate !== undefined || employmentStatus === 'terminated'
      ? {
          termination: {
            date: terminationDate,
            at: toIsoDateTimeOrUndefined(t?.terminated_at),
            voluntary: voluntaryFrom(t?.type),
            reason: t?.reason,
          },
        }
      : {}),
    timeZone: defaultTimeZone,
    leave: { onLeave: status === 'leave' },
    updatedAt: toIsoDateTimeOrUndefined(employment?.updated_at ?? person.updated_at),
  }
}

export class PersonioClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    super(SOURCE, config, options, {
      required: 'personio: api is required for the API client',
      baseUrl: 'https://api.personio.de',
      trimTrailingSlash: true,
      tokenPath: '/v2/auth/token',
      pageSize: { default: 50, max: 50 },
    })
  }

  /** Employments newest first (Personio's documented order); the first is the current one. */
  private async currentEmployment(personId: string, signal?: AbortSignal) {
    const res = await this.getOne('persons.employments.list', `/v2/persons/${encodeURIComponent(personId)}/employments`, listEmployments, signal, { limit: 50 })
    return res?._data[0]
  }

  async getEmployee(personId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const person = await this.getOne('persons.get', `/v2/persons/${encodeURIComponent(personId)}`, personioPersonSchema, signal)
    if (!person) return undefined
    const employment = await this.currentEmployment(personId, signal)
    return personioToRecord(person, employment, new Date(this.http.now()), this.defaultTimeZone)
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    let next: string | undefined = this.http.url('/v2/persons', { limit: Math.min(opts.pageSize ?? this.pageSize, 50) }).toString()
    while (next) {
      const res: { data: z.output<typeof listPersons> } = await this.http.request({
        operation: 'persons.list',
        path: next,
        schema: listPersons,
        signal: opts.signal,
      })
      for (const person of res.data._data) {
        const record = personioToRecord(person, await this.currentEmployment(person.id, opts.signal), new Date(this.http.now()), this.defaultTimeZone)
        if (opts.includeTerminated === false && record.employmentStatus === 'terminated') continue
        yield record
      }
      next = res.data._meta?.links?.next?.href ?? undefined
    }
  }
}

// --- adapter ---------------------------------------------------------------------------------

function verify(delivery: RawDelivery, config: HrSourceConfig): Verification {
  const name = config.personio?.authHeader ?? 'authorization'
  return matchToken(config.secrets, header(delivery, name.toLowerCase()), true)
}

function parse(delivery: RawDelivery): Parsed {
  const env = readJsonDelivery(delivery, personio.contentTypes, envelopeSchema)
  if (!env.ok) return env
  const p = env.value
  if (personioIntent(p.event_name) === undefined) return { ok: true, notices: [] }
  const isPerson = p.event_name.toLowerCase().startsWith('person.')
  const personId = isPerson ? (p.payload.id ?? p.payload.person_id) : (p.payload.person_id ?? p.payload.person?.id)
  if (personId === undefined) {
    const path = isPerson ? 'payload.id' : 'payload.person_id'
    return { ok: false, status: 400, code: 'invalid_payload', message: `${path}: required`, path }
  }
  const metaId = ['event_id', 'id', 'delivery_id'].map((k) => p.meta?.[k]).find((v): v is string => typeof v === 'string' && v.length > 0)
  return {
    ok: true,
    notices: [
      {
        dedupeKey: metaId ? `personio:${metaId}` : `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: p.event_name,
        employeeId: personId,
        occurredAt: toIsoDateTime(p.occurred_at, delivery.receivedAt),
        data: { event: p.event_name, ...(!isPerson && p.payload.id ? { employmentId: p.payload.id } : {}) },
      },
    ],
  }
}

const SAMPLE_EVENT: Record<CanonicalEventType, string> = {
  'employee.hired': 'employment.created',
  'employee.updated': 'person.updated',
  'employee.terminated': 'employment.terminated',
  'employee.rehired': 'employment.created',
  'employee.hire_cancelled': 'employment.deleted',
  'employee.termination_rescinded': 'employment.updated',
  'employee.leave_started': 'employment.updated',
  'employee.leave_ended': 'employment.updated',
}

export const personio: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  async normalize(notice, ctx) {
    const data = readNoticeData(SOURCE, noticeDataSchema, notice)
    const intent = personioIntent(data.event)
    if (!intent) return []
    if (data.event.toLowerCase() === 'employment.deleted') {
      // An employment can be deleted and re-created while the person stays; only a person
      // who is gone from Personio loses access.
      if (!ctx.client) return refetchAndDerive(SOURCE, 'deleted', notice, ctx)
      const record = await ctx.client.getEmployee(notice.employeeId)
      return eventsForIntent(record ? 'updated' : 'deleted', record, { ...eventBase(SOURCE, notice, ctx), confirmed: true }, {
        now: ctx.now ?? ctx.receivedAt,
        defaultTimeZone: ctx.config?.defaultTimeZone,
      })
    }
    return refetchAndDerive(SOURCE, intent, notice, ctx)
  },
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId, options = {}) {
    const event = SAMPLE_EVENT[kind]
    const body = {
      company_id: '152342',
      event_name: event,
      occurred_at: options.now?.toISOString() ?? '2026-01-30T00:00:05Z',
      payload: event.startsWith('person.') ? { id: employeeId } : { id: '2306b77a-35fb-4b1d-8044-3b14f7f2ca65', person_id: employeeId },
      meta: {},
    }
    return { body: Buffer.from(JSON.stringify(body)), contentType: 'application/json', notes: 'Personio dataless notification; Tenure re-fetches the person and employments' }
  },
  sign: (_body, secret) => ({ authorization: secret }),
  createClient: (config, options) => (config.api ? new PersonioClient(config, options) : undefined),
}
