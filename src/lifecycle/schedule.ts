/**
 * When lifecycle things happen, in the employee's time zone. Pure (luxon, no clock: `now` is passed
 * in). Every result is a UTC ISO string with milliseconds, so the same instant always has the same
 * text: timer ids are built from it and must not change with the zone it was computed in.
 *
 * Calendar arithmetic ("three days before the start date", "the end of that day") is done on local
 * dates, then converted, so a DST change in between never shifts a moment by an hour. A local time
 * that does not exist (the hour skipped in spring) moves forward to the first valid instant, as
 * luxon does; a repeated local time (autumn) resolves to its first occurrence.
 */
import { DateTime, IANAZone } from 'luxon'

export interface TerminationInput {
  /** Calendar date (YYYY-MM-DD) when HR gives only a date. */
  effectiveDate?: string
  /** Exact moment when HR gives one (wins over effectiveDate). */
  effectiveAt?: string
  /** Termination for cause: act now, whatever the dates say. */
  immediate: boolean
  /** The employee's IANA zone, if HR has one. */
  timeZone?: string
}

export interface TerminationOptions {
  /**
   * What a date-only termination means. `end_of_day` (default in config): the person works that
   * whole day, access ends at midnight after it. `start_of_day`: access ends when the day begins.
   */
  dateOnlyMeans: 'end_of_day' | 'start_of_day'
  /** Zone used when the employee has none (or an invalid one). */
  defaultTimeZone: string
}

export interface TerminationMoment {
  /** When to act: the effective moment, or now when that is already past (or immediate). */
  at: string
  /** Same as `at`; named for the engine's timer. */
  runAt: string
  /** The HR effective moment: the SLA clock starts here even when it is in the past. */
  effectiveAt: string
  immediate: boolean
  /** The effective moment had already passed when the event was received. */
  late: boolean
  /** The zone the date was read in. */
  timeZone: string
}

/**
 * Zone names found valid. luxon's isValidZone builds an Intl.DateTimeFormat on every call (tens of
 * µs, on every HR event the engine applies); validity does not change while the process runs, and
 * only valid names are kept, so the set is bounded by the IANA database (about 600 names).
 */
const validZones = new Set<string>()

function isValidZone(zone: string): boolean {
  if (validZones.has(zone)) return true
  if (!IANAZone.isValidZone(zone)) return false
  validZones.add(zone)
  return true
}

export function resolveZone(timeZone: string | undefined, defaultTimeZone: string): string {
  if (timeZone !== undefined && isValidZone(timeZone)) return timeZone
  if (isValidZone(defaultTimeZone)) return defaultTimeZone
  throw new RangeError(`invalid default time zone "${defaultTimeZone}"`)
}

/** A UTC ISO string with milliseconds (src/sla/deadline.ts uses it too). */
export function iso(dt: DateTime): string {
  const out = dt.toUTC().toISO()
  if (out === null) throw new RangeError(`invalid moment: ${dt.invalidExplanation ?? 'unknown reason'}`)
  return out
}

/** The shape iso() writes (and Date#toISOString): UTC, milliseconds, a four-digit year. */
const UTC_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/**
 * `value` plus `minutes`, as iso() writes it. Minutes are an absolute duration (luxon adds them as
 * milliseconds too), so for a moment already in iso()'s UTC form plain Date arithmetic gives the
 * same text as luxon, without parsing and formatting through luxon on every SLA deadline the engine
 * projects (several per leaver transition); any other form takes luxon's path.
 */
export function plusMinutes(value: string, minutes: number, label: string): string {
  // Date.parse rolls an impossible date over (02-30 → 03-02); luxon refuses it: only a value
  // that reads back as itself takes the fast path.
  const parsed = UTC_ISO.test(value) ? Date.parse(value) : Number.NaN
  if (Number.isFinite(parsed) && new Date(parsed).toISOString() === value) {
    const at = parsed + minutes * 60_000
    if (Number.isFinite(at) && at >= 0 && at < 253_402_300_800_000) return new Date(at).toISOString()
  }
  return iso(parseInstant(value, label).plus({ minutes }))
}

export function parseInstant(value: string, label: string): DateTime {
  const dt = DateTime.fromISO(value, { setZone: true })
  if (!dt.isValid) throw new RangeError(`${label}: "${value}" is not an ISO 8601 date-time`)
  return dt
}

function localDate(date: string, zone: string, label: string): DateTime {
  const dt = DateTime.fromISO(date, { zone })
  if (!dt.isValid || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`${label}: "${date}" is not a YYYY-MM-DD date`)
  return dt.startOf('day')
}

/** Start of the local calendar day `days` after `date` (days may be negative). */
function startOfLocalDay(date: string, zone: string, days: number, label: string): DateTime {
  const d = localDate(date, zone, label).plus({ days })
  // startOf('day') after plus() keeps the wall-clock date; where midnight is skipped by DST
  // (America/Santiago, America/Havana) luxon lands on the first valid instant of that day.
  return DateTime.fromObject({ year: d.year, month: d.month, day: d.day }, { zone })
}

export function terminationMoment(input: TerminationInput, opts: TerminationOptions, now: string): TerminationMoment {
  const zone = resolveZone(input.timeZone, opts.defaultTimeZone)
  const nowDt = parseInstant(now, 'now')
  let hrMoment: DateTime | undefined
  if (input.effectiveAt !== undefined) hrMoment = parseInstant(input.effectiveAt, 'effectiveAt')
  else if (input.effectiveDate !== undefined)
    hrMoment = startOfLocalDay(input.effectiveDate, zone, opts.dateOnlyMeans === 'end_of_day' ? 1 : 0, 'effectiveDate')
  if (hrMoment === undefined && !input.immediate) throw new RangeError('a termination needs effectiveDate, effectiveAt or immediate')

  // Immediate: act now. The SLA clock starts at the HR moment when that is earlier (terminated
  // yesterday, flagged for cause today), otherwise now.
  const effective = input.immediate
    ? hrMoment !== undefined && hrMoment < nowDt
      ? hrMoment
      : nowDt
    : (hrMoment as DateTime)
  const late = effective <= nowDt
  const run = late || input.immediate ? nowDt : effective
  return {
    at: iso(run),
    runAt: iso(run),
    effectiveAt: iso(effective),
    immediate: input.immediate,
    late,
    timeZone: zone,
  }
}

/** When to create accounts: start of the day `leadTimeDays` local days before the start date. */
export function provisionMoment(startDate: string, timeZone: string | undefined, leadTimeDays: number, defaultTimeZone = 'UTC'): string {
  if (!Number.isInteger(leadTimeDays) || leadTimeDays < 0) throw new RangeError(`leadTimeDays must be a non-negative integer, got ${leadTimeDays}`)
  return iso(startOfLocalDay(startDate, resolveZone(timeZone, defaultTimeZone), -leadTimeDays, 'startDate'))
}

/** When accounts may be used: `dayStartsAt` (HH:mm, local) on the start date. */
export function enableMoment(startDate: string, timeZone: string | undefined, dayStartsAt = '00:00', defaultTimeZone = 'UTC'): string {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(dayStartsAt)
  if (!match) throw new RangeError(`dayStartsAt must be HH:mm, got "${dayStartsAt}"`)
  const zone = resolveZone(timeZone, defaultTimeZone)
  const day = localDate(startDate, zone, 'startDate')
  const at = DateTime.fromObject(
    { year: day.year, month: day.month, day: day.day, hour: Number(match[1]), minute: Number(match[2]) },
    { zone },
  )
  return iso(firstOccurrence(at))
}

/**
 * luxon resolves a repeated wall-clock time (autumn fall-back) to its later occurrence; access
 * should start at the first one. Offsets change by 30 or 60 minutes in every IANA zone in use.
 */
function firstOccurrence(at: DateTime): DateTime {
  for (const minutes of [60, 30]) {
    const earlier = at.minus({ minutes })
    if (earlier.offset !== at.offset && earlier.toFormat('yyyy-MM-dd HH:mm') === at.toFormat('yyyy-MM-dd HH:mm')) return earlier
  }
  return at
}

/** Start of a leave (or of the return from it): the start of that local day. */
export function leaveMoment(date: string, timeZone: string | undefined, defaultTimeZone = 'UTC'): string {
  return iso(startOfLocalDay(date, resolveZone(timeZone, defaultTimeZone), 0, 'date'))
}
