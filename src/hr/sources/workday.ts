/**
 * Workday: poll-first. Workday's outbound notifications are SOAP business-process messages to
 * an Integration System subscription with a user name/password, not signed JSON webhooks, so
 * Tenure does not accept pushes from Workday (`verify` always refuses). Instead the client reads
 * a Workday custom report exposed as a web service (Report-as-a-Service):
 *
 *   GET <reportUrl>?format=json  →  {"Report_Entry": [ {<column alias>: value, …}, … ]}
 *
 * with HTTP Basic (an Integration System User, `user@tenant`) or an OAuth 2.0 refresh token of
 * an "API Client for Integrations". The report is built by the customer ("Workers with hire and
 * termination dates", including terminated workers); `workday.fields` maps its column aliases.
 * RaaS has no paging: one response holds every row, so keep the report's columns lean.
 */
import { z } from 'zod'
import type { CanonicalEventType } from '../../../state-machines/events.ts'
import { eventBase, fromRecordByDiff, readJsonDelivery, readNoticeData, VendorApiClient, voluntaryFrom } from '../adapter-kit.ts'
import { sha256Hex } from '../crypto.ts'
import { defineSourceMapping, readProfile, statusOf, type ProfileField } from '../mapping.ts'
import { cleanProfile, eventsForIntent, toIsoDate, toIsoDateTimeOrUndefined } from '../derive.ts'
import {  } from '../parsing.ts'
import type { ClientOptions, HrApiClient, HrEmployeeRecord, HrSourceAdapter, HrSourceConfig, ListRosterOptions, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'workday' as const

export type WorkdayFieldMap = NonNullable<HrSourceConfig['workday']>['fields']
export const DEFAULT_WORKDAY_FIELDS: WorkdayFieldMap = {
  employeeId: 'Employee_ID',
  firstName: 'First_Name',
  lastName: 'Last_Name',
  workEmail: 'Email_-_Work',
  department: 'Supervisory_Organization',
  title: 'Business_Title',
  managerId: 'Manager_ID',
  location: 'Location',
  countryCode: 'Country_ISO_Code',
  timeZone: 'Time_Zone',
  hireDate: 'Hire_Date',
  terminationDate: 'Termination_Date',
  terminationMoment: 'Termination_Moment',
  terminationVoluntary: 'Termination_Voluntary',
  terminationReason: 'Termination_Reason',
  active: 'Active',
  onLeave: 'On_Leave',
  leaveStartDate: 'Leave_Start_Date',
  leaveEstimatedEndDate: 'Leave_Estimated_Last_Day',
  lastUpdated: 'Last_Updated',
}

const rowSchema = z.record(z.string(), z.unknown())
export const reportSchema = z.object({ Report_Entry: z.array(rowSchema) })
export type WorkdayRow = z.output<typeof rowSchema>

function text(row: WorkdayRow, key: string): string | undefined {
  const v = row[key]
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim()
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

/** Workday renders booleans as "1"/"0" in RaaS JSON (and as true/false or Yes/No in some reports). */
function flag(row: WorkdayRow, key: string): boolean | undefined {
  const v = text(row, key)?.toLowerCase()
  if (v === undefined) return undefined
  if (['1', 'true', 'yes', 'y'].includes(v)) return true
  if (['0', 'false', 'no', 'n'].includes(v)) return false
  return undefined
}

interface WorkdayStatusInput {
  hireDate: string | undefined
  terminationDate: string | undefined
  active: boolean | undefined
  today: string
}

/** A profile attribute read from a configured report column (`hr.sources[].workday.fields`). */
const column = (key: keyof WorkdayFieldMap): ProfileField<WorkdayRow, WorkdayFieldMap> => ({
  from: [`${DEFAULT_WORKDAY_FIELDS[key]}`],
  note: `column workday.fields.${key}`,
  read: (row, fields) => text(row, fields[key]),
})

/** Which Workday report column becomes which profile attribute, and which values mean what (src/hr/mapping.ts). */
export const WORKDAY_MAPPING = defineSourceMapping<WorkdayRow, WorkdayFieldMap, WorkdayStatusInput>({
  source: SOURCE,
  vendor: 'Workday',
  record: 'a row of the RaaS report (`Report_Entry[]`); the column names are configurable, the defaults are shown',
  profile: {
    employeeId: column('employeeId'),
    firstName: column('firstName'),
    lastName: column('lastName'),
    workEmail: column('workEmail'),
    department: column('department'),
    title: column('title'),
    managerId: column('managerId'),
    location: column('location'),
    countryCode: column('countryCode'),
    timeZone: column('timeZone'),
  },
  status: {
    rules: [
      {
        status: 'terminated',
        when: `${DEFAULT_WORKDAY_FIELDS.terminationDate} is set and ${DEFAULT_WORKDAY_FIELDS.active} is false ("0", "No") or the date has passed`,
        test: (i) => i.terminationDate !== undefined && (i.active === false || i.terminationDate < i.today),
      },
      { status: 'pending', when: `${DEFAULT_WORKDAY_FIELDS.hireDate} is after today`, test: (i) => i.hireDate !== undefined && i.hireDate > i.today },
      { status: 'inactive', when: `${DEFAULT_WORKDAY_FIELDS.active} is false`, test: (i) => i.active === false },
    ],
    otherwise: 'active',
  },
  termination: [
    `date: ${DEFAULT_WORKDAY_FIELDS.terminationDate}; moment: ${DEFAULT_WORKDAY_FIELDS.terminationMoment}; voluntary: ${DEFAULT_WORKDAY_FIELDS.terminationVoluntary}; reason: ${DEFAULT_WORKDAY_FIELDS.terminationReason}`,
    `leave: ${DEFAULT_WORKDAY_FIELDS.onLeave} is true; from ${DEFAULT_WORKDAY_FIELDS.leaveStartDate} to ${DEFAULT_WORKDAY_FIELDS.leaveEstimatedEndDate}`,
  ],
})

export function workdayRowToRecord(row: WorkdayRow, fields: WorkdayFieldMap, defaultTimeZone: string, now: Date): HrEmployeeRecord | undefined {
  const employeeId = text(row, fields.employeeId)
  if (!employeeId) return undefined
  // Workday dates may carry an offset ("2026-01-30-08:00"): the calendar date is the first ten characters.
  const hireDate = toIsoDate(text(row, fields.hireDate))
  const terminationDate = toIsoDate(text(row, fields.terminationDate))
  const terminationAt = toIsoDateTimeOrUndefined(text(row, fields.terminationMoment))
  const employmentStatus = statusOf(WORKDAY_MAPPING, { hireDate, terminationDate, active: flag(row, fields.active), today: now.toISOString().slice(0, 10) })
  const tz = text(row, fields.timeZone)
  return {
    source: SOURCE,
    employeeId,
    profile: cleanProfile({ ...readProfile(WORKDAY_MAPPING, row, fields), employeeId }),
    employmentStatus,
    startDate: hireDate,
    ...(terminationDate !== undefined || terminationAt !== undefined
      ? {
          termination: {
            date: terminationDate,
            at: terminationAt,
            voluntary: voluntaryFrom(text(row, fields.terminationVoluntary)),
            reason: text(row, fields.terminationReason),
          },
        }
      : {}),
    timeZone: tz ?? defaultTimeZone,
    leave: {
      onLeave: flag(row, fields.onLeave) === true,
      startDate: toIsoDate(text(row, fields.leaveStartDate)),
      expectedReturnDate: toIsoDate(text(row, fields.leaveEstimatedEndDate)),
    },
    updatedAt: toIsoDateTimeOrUndefined(text(row, fields.lastUpdated)),
  }
}

export class WorkdayClient extends VendorApiClient implements HrApiClient {
  readonly source = SOURCE
  readonly listChangesSince?: (since: Date, signal?: AbortSignal) => Promise<Array<{ employeeId: string; changedAt?: string }>>
  private readonly reportUrl: string
  private readonly fields: WorkdayFieldMap
  private readonly employeeIdPrompt: string | undefined

  constructor(config: HrSourceConfig, options: ClientOptions = {}) {
    if (!config.workday) throw new Error('workday: api credentials and workday.reportUrl are required')
    // The report URL is absolute; api.baseUrl plays no part for Workday.
    super(SOURCE, config, options, { required: 'workday: api credentials and workday.reportUrl are required', baseUrl: new URL(config.workday.reportUrl).origin, fixedBaseUrl: true })
    this.reportUrl = config.workday.reportUrl
    this.fields = config.workday.fields
    this.employeeIdPrompt = config.workday.employeeIdPrompt
    const changedPrompt = config.workday.changedSincePrompt
    if (changedPrompt) {
      this.listChangesSince = async (since, signal) =>
        (await this.rows({ [changedPrompt]: since.toISOString() }, signal)).flatMap((row) => {
          const employeeId = text(row, this.fields.employeeId)
          return employeeId ? [{ employeeId, changedAt: toIsoDateTimeOrUndefined(text(row, this.fields.lastUpdated)) }] : []
        })
    }
  }

  private async rows(prompts: Record<string, string>, signal?: AbortSignal): Promise<WorkdayRow[]> {
    const res = await this.http.request({
      operation: 'raas.report',
      path: this.reportUrl,
      query: { ...prompts, format: 'json' },
      schema: reportSchema,
      signal,
    })
    return res.data.Report_Entry
  }

  private toRecord(row: WorkdayRow): HrEmployeeRecord | undefined {
    return workdayRowToRecord(row, this.fields, this.defaultTimeZone, new Date(this.http.now()))
  }

  async getEmployee(employeeId: string, signal?: AbortSignal): Promise<HrEmployeeRecord | undefined> {
    const rows = await this.rows(this.employeeIdPrompt ? { [this.employeeIdPrompt]: employeeId } : {}, signal)
    const row = rows.find((r) => text(r, this.fields.employeeId) === employeeId)
    return row ? this.toRecord(row) : undefined
  }

  async *listRoster(opts: ListRosterOptions = {}): AsyncIterable<HrEmployeeRecord> {
    for (const row of await this.rows({}, opts.signal)) {
      const record = this.toRecord(row)
      if (!record) continue
      if (opts.includeTerminated === false && record.employmentStatus === 'terminated') continue
      yield record
    }
  }
}

// --- adapter ---------------------------------------------------------------------------------

const noticeDataSchema = z.object({ row: rowSchema })

function verify(_delivery: RawDelivery, _config: HrSourceConfig): Verification {
  return {
    ok: false,
    reason: 'bad_credentials',
    message: 'Workday does not push to Tenure: it is polled through a Report-as-a-Service report (see docs/hr-sources.md)',
  }
}

/**
 * Parses a RaaS JSON document (for replaying a report by hand through the manual path); the
 * HTTP route never gets here because verify() refuses Workday deliveries.
 */
function parse(delivery: RawDelivery): Parsed {
  const report = readJsonDelivery(delivery, workday.contentTypes, reportSchema)
  if (!report.ok) return report
  const notices = []
  for (const [i, row] of report.value.Report_Entry.entries()) {
    const id = text(row, DEFAULT_WORKDAY_FIELDS.employeeId)
    if (!id) return { ok: false, status: 400, code: 'invalid_payload', message: `Report_Entry.${i}.Employee_ID: required`, path: `Report_Entry.${i}.Employee_ID` }
    notices.push({
      dedupeKey: `sha256:${sha256Hex(JSON.stringify(row))}`,
      vendorEventType: 'report.row',
      employeeId: id,
      occurredAt: toIsoDateTimeOrUndefined(text(row, DEFAULT_WORKDAY_FIELDS.lastUpdated)) ?? delivery.receivedAt.toISOString(),
      data: { row },
    })
  }
  return { ok: true, notices }
}

export function workdaySampleRow(kind: CanonicalEventType, employeeId: string): WorkdayRow {
  const terminated = kind === 'employee.terminated'
  return {
    Employee_ID: employeeId,
    First_Name: 'Ada',
    Last_Name: 'Lovelace',
    'Email_-_Work': 'ada.lovelace@example.com',
    Supervisory_Organization: 'Engineering',
    Business_Title: 'Staff Engineer',
    Manager_ID: '21001',
    Location: 'London',
    Country_ISO_Code: 'GB',
    Time_Zone: 'Europe/London',
    Hire_Date: kind === 'employee.hired' ? '2026-03-02' : '2025-03-03',
    ...(terminated
      ? { Termination_Date: '2026-01-30', Termination_Voluntary: 'Voluntary', Termination_Reason: 'Resignation > Personal reasons' }
      : {}),
    Active: terminated ? '0' : '1',
    On_Leave: kind === 'employee.leave_started' ? '1' : '0',
    ...(kind === 'employee.leave_started' ? { Leave_Start_Date: '2026-02-01', Leave_Estimated_Last_Day: '2026-08-01' } : {}),
    Last_Updated: '2026-01-30T17:04:11.000-08:00',
  }
}

export const workday: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: false,
  verify,
  parse,
  async normalize(notice, ctx) {
    const { row } = readNoticeData(SOURCE, noticeDataSchema, notice)
    const fields = ctx.config?.workday?.fields ?? DEFAULT_WORKDAY_FIELDS
    const record = workdayRowToRecord(row, fields, ctx.config?.defaultTimeZone ?? 'UTC', ctx.now ?? ctx.receivedAt)
    if (!record) return []
    const intent = record.employmentStatus === 'pending' ? 'hired' : 'updated'
    // The report row is Workday's own record of the worker.
    return eventsForIntent(intent, record, { ...eventBase(SOURCE, notice, ctx), confirmed: true }, { now: ctx.now ?? ctx.receivedAt, defaultTimeZone: ctx.config?.defaultTimeZone })
  },
  fromRecord: fromRecordByDiff,
  buildSample(kind, employeeId) {
    return {
      body: Buffer.from(JSON.stringify({ Report_Entry: [workdaySampleRow(kind, employeeId)] }, null, 2)),
      contentType: 'application/json',
      notes: 'A Report-as-a-Service row: Workday is polled, it does not push to Tenure',
    }
  },
  // Workday sends nothing Tenure could verify: there is no push to sign.
  sign: () => ({}),
  createClient: (config, options) => (config.api && config.workday ? new WorkdayClient(config, options) : undefined),
}
