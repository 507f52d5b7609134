/**
 * From authoritative HR records to canonical events. Adapters decide *what the vendor said*
 * (an intent such as "terminated"); this module decides *what Tenure should hear*, always from
 * the re-fetched record, so a stale, replayed or forged notice cannot invent a termination the
 * HR system does not show (and cannot hide one it does).
 */
import {
  canonicalEventSchema,
  employeeProfileSchema,
  type CanonicalEvent,
  type CanonicalEventType,
  type EmployeeProfileInput,
  type HrSource,
} from '../../state-machines/events.ts'
import { PermanentError } from '../../provisioners/errors.ts'
import { deterministicUuid, sha256Hex } from './crypto.ts'
import { readTimestamp } from './parsing.ts'
import type { FromRecordContext, HrEmployeeRecord } from './types.ts'

/** What a vendor notice claims happened; the record decides whether it did. */
export type Intent =
  | 'hired'
  | 'updated'
  | 'terminated'
  | 'termination_rescinded'
  | 'rehired'
  | 'hire_cancelled'
  | 'leave_started'
  | 'leave_ended'
  /** The record was removed from HR (or from the integration's scope). */
  | 'deleted'
  /**
   * An employment status changed and the vendor does not say to what (BambooHR Status,
   * HiBob inactivated/activated, Deel contract status): the record's current state is
   * asserted (terminated, on leave, or working again), and the machine ignores assertions
   * that already hold.
   */
  | 'status_changed'

export interface EventBase {
  source: HrSource
  sourceEventId: string
  employeeId: string
  occurredAt: string
  receivedAt: string
  foundBy: 'webhook' | 'reconciliation' | 'manual'
  /** The events are derived from the HR system's own record (re-fetch or roster), not from a notice alone. */
  confirmed?: boolean
}

export interface DeriveOptions {
  now: Date
  /** Zone for date-only values when the record has none. */
  defaultTimeZone?: string
  /** Vendor knowledge that overrides the record (e.g. HiBob garden leave handled as leave). */
  termination?: { immediate?: boolean; reason?: string }
}

// ---------------------------------------------------------------------------------------------
// Small date helpers

export function isValidTimeZone(tz: string | undefined): tz is string {
  if (!tz) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

/** The calendar date (YYYY-MM-DD) of `at` in `timeZone` (UTC when the zone is unknown). */
export function dateInZone(at: Date, timeZone: string | undefined): string {
  const tz = isValidTimeZone(timeZone) ? timeZone : 'UTC'
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at)
}

/** Normalise a vendor date (YYYY-MM-DD, or a date-time whose date part we keep) to YYYY-MM-DD. */
export function toIsoDate(value: string | null | undefined): string | undefined {
  if (value === undefined || value === null) return undefined
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(value.trim())
  if (!m) return undefined
  const d = new Date(`${m[1]}T00:00:00Z`)
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== m[1] ? undefined : m[1]
}

/** Normalise a vendor date-time to ISO 8601 with offset; undefined when unreadable. */
export function toIsoDateTimeOrUndefined(value: string | null | undefined): string | undefined {
  if (value === undefined || value === null || !/^\d{4}-\d{2}-\d{2}T/.test(value.trim())) return undefined
  const ms = readTimestamp(value)
  return ms === undefined ? undefined : new Date(ms).toISOString()
}

// ---------------------------------------------------------------------------------------------
// Profiles

type ProfileKey = keyof EmployeeProfileInput

/**
 * Keep only attributes the canonical schema accepts: a vendor's malformed optional value (an
 * email without a domain, an unknown zone) must not make a leaver's event invalid.
 */
export function cleanProfile(input: Partial<Record<ProfileKey, unknown>> & { employeeId: string }): EmployeeProfileInput {
  const shape = employeeProfileSchema.shape
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(shape) as ProfileKey[]) {
    const raw = input[key]
    if (raw === undefined || raw === null || raw === '') continue
    const value = typeof raw === 'string' ? raw.trim() : raw
    if (key === 'timeZone' && !isValidTimeZone(value as string)) continue
    if (key === 'countryCode' && typeof value === 'string') {
      const cc = value.toUpperCase()
      if (/^[A-Z]{2}$/.test(cc)) out[key] = cc
      continue
    }
    const parsed = shape[key].safeParse(value)
    if (parsed.success) out[key] = parsed.data
  }
  out.employeeId = input.employeeId
  // Names are required by the schema; vendors that omit them (Rippling guarantees only id,
  // personal email and role state) fall back to the display name or the email local part.
  if (out.firstName === undefined || out.lastName === undefined) {
    const display = typeof out.displayName === 'string' ? out.displayName : undefined
    const parts = display?.split(/\s+/).filter(Boolean) ?? []
    const email = (out.workEmail ?? out.personalEmail) as string | undefined
    out.firstName ??= parts[0] ?? email?.split('@')[0] ?? input.employeeId
    out.lastName ??= parts.length > 1 ? parts.slice(1).join(' ') : '-'
  }
  return employeeProfileSchema.parse(out)
}

function profileChanges(current: EmployeeProfileInput, previous: EmployeeProfileInput | undefined): Partial<EmployeeProfileInput> {
  const changes: Record<string, unknown> = {}
  for (const key of Object.keys(current) as ProfileKey[]) {
    if (key === 'employeeId') continue
    if (previous === undefined || previous[key] !== current[key]) changes[key] = current[key]
  }
  return changes as Partial<EmployeeProfileInput>
}

// ---------------------------------------------------------------------------------------------
// Events

function build(type: CanonicalEventType, base: EventBase, fields: Record<string, unknown>, profile: EmployeeProfileInput | undefined): CanonicalEvent {
  const candidate = {
    eventId: deterministicUuid(base.source, base.sourceEventId, type),
    type,
    source: base.source,
    sourceEventId: base.sourceEventId,
    employeeId: base.employeeId,
    occurredAt: base.occurredAt,
    receivedAt: base.receivedAt,
    foundBy: base.foundBy,
    ...(base.confirmed ? { confirmed: true } : {}),
    ...(profile ? { profile } : {}),
    ...fields,
  }
  const parsed = canonicalEventSchema.safeParse(candidate)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new PermanentError(`cannot build ${type} for ${base.employeeId}: ${issue?.path.join('.')}: ${issue?.message}`, {
      system: `hr:${base.source}`,
      operation: 'normalize',
      vendorCode: 'invalid_canonical_event',
      cause: parsed.error,
    })
  }
  return parsed.data
}

export function recordZone(record: HrEmployeeRecord | undefined, opts: DeriveOptions): string | undefined {
  const tz = record?.timeZone ?? record?.profile.timeZone ?? opts.defaultTimeZone
  return isValidTimeZone(tz) ? tz : undefined
}

export function isTerminated(record: HrEmployeeRecord): boolean {
  const t = record.termination
  return record.employmentStatus === 'terminated' || t?.date !== undefined || t?.at !== undefined || t?.immediate === true
}

function terminated(record: HrEmployeeRecord | undefined, given: EventBase, opts: DeriveOptions, removed = false): CanonicalEvent {
  // Only a record that itself says "terminated" confirms a termination (not a removal, not a
  // notice the record contradicts).
  const base = given.confirmed && !(record && isTerminated(record)) ? { ...given, confirmed: false } : given
  const t = record?.termination
  const immediate = opts.termination?.immediate ?? t?.immediate ?? false
  const fields: Record<string, unknown> = {
    effectiveDate: t?.date,
    effectiveAt: t?.at,
    timeZone: recordZone(record, opts),
    voluntary: t?.voluntary ?? 'unknown',
    immediate,
    reason: opts.termination?.reason ?? t?.reason ?? (removed ? `removed in ${base.source}` : undefined),
  }
  // HR says "gone" without a date (deleted record, status flipped without a date): the change
  // took effect when HR made it, and no later than when Tenure heard of it (a vendor clock
  // running ahead must not postpone the cut-off).
  if (fields.effectiveDate === undefined && fields.effectiveAt === undefined && !immediate)
    fields.effectiveAt = Date.parse(base.occurredAt) > Date.parse(base.receivedAt) ? base.receivedAt : base.occurredAt
  return build('employee.terminated', base, fields, record?.profile)
}

function startDateOf(record: HrEmployeeRecord, base: EventBase, opts: DeriveOptions): string {
  return record.startDate ?? dateInZone(new Date(base.occurredAt), recordZone(record, opts))
}

function hired(record: HrEmployeeRecord, base: EventBase, opts: DeriveOptions): CanonicalEvent {
  const startDate = startDateOf(record, base, opts)
  const today = dateInZone(opts.now, recordZone(record, opts))
  return build('employee.hired', base, { startDate, preHire: startDate > today }, record.profile)
}

function leaveStarted(record: HrEmployeeRecord, base: EventBase, opts: DeriveOptions): CanonicalEvent {
  return build(
    'employee.leave_started',
    base,
    {
      effectiveDate: record.leave?.startDate ?? dateInZone(new Date(base.occurredAt), recordZone(record, opts)),
      expectedReturnDate: record.leave?.expectedReturnDate,
    },
    record.profile,
  )
}

function leaveEnded(record: HrEmployeeRecord, base: EventBase, opts: DeriveOptions): CanonicalEvent {
  return build('employee.leave_ended', base, { effectiveDate: dateInZone(new Date(base.occurredAt), recordZone(record, opts)) }, record.profile)
}

function updated(record: HrEmployeeRecord, previous: HrEmployeeRecord | undefined, base: EventBase): CanonicalEvent | undefined {
  const changes = profileChanges(record.profile, previous?.profile)
  if (Object.keys(changes).length === 0) return undefined
  return build('employee.updated', base, { changes }, record.profile)
}

/**
 * Webhook path: what the vendor said (`intent`) checked against the re-fetched `record`
 * (undefined when HR no longer has the person).
 */
export function eventsForIntent(intent: Intent, record: HrEmployeeRecord | undefined, given: EventBase, opts: DeriveOptions): CanonicalEvent[] {
  // No record read, nothing confirmed.
  const base = record ? given : { ...given, confirmed: false }
  switch (intent) {
    case 'deleted':
      // The record is gone (or out of the integration's scope): nothing keeps the person's access.
      return [terminated(record, base, opts, true)]
    case 'terminated':
      // A termination notice the record does not confirm (cancelled meanwhile, or forged) is dropped.
      if (!record) return [terminated(undefined, base, opts, true)]
      return isTerminated(record) ? [terminated(record, base, opts)] : []
    case 'termination_rescinded':
      return record && !isTerminated(record) ? [build('employee.termination_rescinded', base, {}, record.profile)] : []
    case 'hire_cancelled':
      return !record || record.employmentStatus !== 'active' ? [build('employee.hire_cancelled', base, {}, record?.profile)] : []
    case 'hired':
      if (!record || isTerminated(record)) return []
      return record.employmentStatus === 'pending' || record.employmentStatus === 'active' ? [hired(record, base, opts)] : []
    case 'rehired':
      if (!record || isTerminated(record)) return []
      return [build('employee.rehired', base, { startDate: startDateOf(record, base, opts) }, record.profile)]
    case 'leave_started':
      return record?.leave?.onLeave ? [leaveStarted(record, base, opts)] : []
    case 'leave_ended':
      return record && !record.leave?.onLeave && !isTerminated(record) ? [leaveEnded(record, base, opts)] : []
    case 'status_changed': {
      if (!record) return []
      if (isTerminated(record)) return [terminated(record, base, opts)]
      if (record.leave?.onLeave) return [leaveStarted(record, base, opts)]
      if (record.employmentStatus !== 'active') return []
      // The record says "employed" and the notice does not say since when: a termination that
      // was rescinded, a leave that ended, or a hire whose own notice met the record while it
      // still showed a termination (hire, termination and rehire within a second: each thin
      // notice reads the state of its own processing moment, so the hire notice can find the
      // person terminated and the later ones find them active again). The hire comes last; it
      // starts a joiner Tenure never saw and updates the start date of one it knows.
      return [build('employee.termination_rescinded', base, {}, record.profile), leaveEnded(record, base, opts), hired(record, base, opts)]
    }
    case 'updated': {
      if (!record) return []
      // An "updated" notice is where most vendors hide leavers (BambooHR Status, Merge
      // employment_status): the record decides.
      if (isTerminated(record)) return [terminated(record, base, opts)]
      const events: CanonicalEvent[] = []
      const change = updated(record, undefined, base)
      if (change) events.push(change)
      if (record.leave?.onLeave) events.push(leaveStarted(record, base, opts))
      return events
    }
  }
}

function fingerprint(value: unknown): string {
  return sha256Hex(JSON.stringify(value)).slice(0, 24)
}

/**
 * Reconciliation path: compare the roster record with what Tenure last knew. Source event ids
 * are fingerprints of the observed state, so polling the same state again yields the same
 * canonical event ids (and the inbox drops them as duplicates).
 */
export function eventsFromDiff(
  record: HrEmployeeRecord,
  previous: HrEmployeeRecord | undefined,
  ctx: FromRecordContext & { defaultTimeZone?: string },
): CanonicalEvent[] {
  const foundAt = ctx.foundAt ?? new Date()
  const opts: DeriveOptions = { now: foundAt, defaultTimeZone: ctx.defaultTimeZone }
  const base = (type: string, state: unknown, occurredAt?: string): EventBase => ({
    source: record.source,
    sourceEventId: `reconcile:${type}:${record.employeeId}:${fingerprint(state)}`,
    employeeId: record.employeeId,
    occurredAt: occurredAt ?? record.updatedAt ?? foundAt.toISOString(),
    receivedAt: foundAt.toISOString(),
    foundBy: ctx.foundBy ?? 'reconciliation',
    // The roster record is HR's own state.
    confirmed: true,
  })
  const events: CanonicalEvent[] = []
  const nowTerminated = isTerminated(record)
  const wasTerminated = previous !== undefined && isTerminated(previous)
  const termState = { date: record.termination?.date, at: record.termination?.at, immediate: record.termination?.immediate ?? false }
  // The termination happened at its moment, or, when HR scheduled it for later, when we found it
  // (an effective moment in the future is effectiveAt, not a vendor clock running ahead).
  const at = record.termination?.at
  const terminationOccurredAt = at !== undefined && Date.parse(at) > foundAt.getTime() ? foundAt.toISOString() : at

  if (previous === undefined) {
    if (nowTerminated) return [terminated(record, base('terminated', termState, terminationOccurredAt), opts)]
    if (record.employmentStatus === 'pending' || record.employmentStatus === 'active') {
      events.push(hired(record, base('hired', { startDate: record.startDate }), opts))
      if (record.leave?.onLeave) events.push(leaveStarted(record, base('leave_started', record.leave), opts))
    }
    return events
  }

  if (nowTerminated) {
    const previousState = { date: previous.termination?.date, at: previous.termination?.at, immediate: previous.termination?.immediate ?? false }
    if (!wasTerminated || JSON.stringify(previousState) !== JSON.stringify(termState))
      events.push(terminated(record, base('terminated', termState, terminationOccurredAt), opts))
    return events
  }

  if (wasTerminated) {
    const lastDay = previous.termination?.date ?? previous.termination?.at?.slice(0, 10)
    if (record.startDate && lastDay && record.startDate > lastDay) {
      events.push(build('employee.rehired', base('rehired', { startDate: record.startDate }), { startDate: record.startDate }, record.profile))
    } else {
      events.push(build('employee.termination_rescinded', base('termination_rescinded', { date: previous.termination?.date, at: previous.termination?.at }), {}, record.profile))
    }
  }

  const change = updated(record, previous, base('updated', profileChanges(record.profile, previous.profile)))
  if (change) events.push(change)

  const wasOnLeave = previous.leave?.onLeave ?? false
  const onLeave = record.leave?.onLeave ?? false
  if (!wasOnLeave && onLeave) events.push(leaveStarted(record, base('leave_started', record.leave), opts))
  if (wasOnLeave && !onLeave) events.push(leaveEnded(record, base('leave_ended', previous.leave, foundAt.toISOString()), opts))
  return events
}
