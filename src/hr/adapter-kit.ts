/**
 * What every vendor adapter shares: notice-data re-validation (notices come back from the
 * inbox as `unknown`), the re-fetch step, roster paging, and the sandbox's sample people.
 */
import type { z } from 'zod'
import { PermanentError } from '../../provisioners/errors.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'
import { eventsForIntent, type DeriveOptions, type EventBase, type Intent } from './derive.ts'
import type { HrNotice, HrSource, NormalizeContext } from './types.ts'

/** Notice data is stored as JSON and read back as unknown: validate before trusting it. */
export function readNoticeData<S extends z.ZodType>(source: HrSource, schema: S, notice: HrNotice): z.output<S> {
  const parsed = schema.safeParse(notice.data)
  if (parsed.success) return parsed.data
  throw new PermanentError(`hr:${source} notice ${notice.dedupeKey} has unreadable data`, {
    system: `hr:${source}`,
    operation: 'normalize',
    vendorCode: 'invalid_notice',
    cause: parsed.error,
  })
}

export function eventBase(source: HrSource, notice: HrNotice, ctx: NormalizeContext): EventBase {
  return {
    source,
    sourceEventId: notice.dedupeKey,
    employeeId: notice.employeeId,
    occurredAt: notice.occurredAt,
    receivedAt: ctx.receivedAt.toISOString(),
    foundBy: ctx.foundBy,
  }
}

/**
 * Thin webhooks are triggers: re-fetch the person through the vendor API and let the record
 * decide. Without a client there is nothing authoritative to act on, so this is a Permanent
 * error (a configuration problem surfaced in the dead-letter queue) rather than a guess.
 */
export async function refetchAndDerive(
  source: HrSource,
  intent: Intent,
  notice: HrNotice,
  ctx: NormalizeContext,
  opts: Omit<DeriveOptions, 'now'> = {},
): Promise<CanonicalEvent[]> {
  if (!ctx.client) {
    throw new PermanentError(`hr:${source}: ${notice.vendorEventType} needs the ${source} API to re-fetch the employee, and no api is configured`, {
      system: `hr:${source}`,
      operation: 'normalize',
      vendorCode: 'api_not_configured',
    })
  }
  const record = await ctx.client.getEmployee(notice.employeeId)
  const events = eventsForIntent(intent, record, { ...eventBase(source, notice, ctx), confirmed: true }, {
    now: ctx.now ?? ctx.receivedAt,
    defaultTimeZone: ctx.config?.defaultTimeZone,
    ...opts,
  })
  if (!record && events.length === 0) throw new HrEmployeeNotFoundError(source, notice)
  return events
}

/**
 * A thin notice (a joiner, a change, a leave) whose re-fetch found no such employee in HR: the
 * record decides, and there is none, so nothing is applied. Not a retryable failure and not
 * "processed" either: the HR worker records the inbox row as `not_found`, logs a warning and the
 * console lists it (a mistyped id, an employee outside the API user's scope, or a vendor whose
 * API lags its webhooks; the reconciliation poll picks a real joiner up later).
 */
export class HrEmployeeNotFoundError extends Error {
  readonly source: HrSource
  readonly employeeId: string
  readonly vendorEventType: string

  constructor(source: HrSource, notice: Pick<HrNotice, 'employeeId' | 'vendorEventType'>) {
    super(`hr:${source}: ${notice.vendorEventType} for employee ${notice.employeeId}, but the ${source} API has no such employee`)
    this.name = 'HrEmployeeNotFoundError'
    this.source = source
    this.employeeId = notice.employeeId
    this.vendorEventType = notice.vendorEventType
  }
}

/** Map a vendor's termination type/reason text to voluntary/involuntary. */
export function voluntaryFrom(text: string | null | undefined): 'voluntary' | 'involuntary' | 'unknown' {
  if (!text) return 'unknown'
  const t = text.toLowerCase()
  if (/invol|dismiss|employer|fired|for cause|layoff|redundan|terminat/.test(t)) return 'involuntary'
  if (/volunt|resign|employee|quit|retire/.test(t)) return 'voluntary'
  return 'unknown'
}

/** Zero-date placeholders some vendors use for "no date" (BambooHR: 0000-00-00). */
export function realDate(value: string | null | undefined): string | undefined {
  if (!value || value.startsWith('0000-00-00')) return undefined
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : undefined
}

/** Sample person used by buildSample() across vendors, so docs and fixtures tell one story. */
export const SAMPLE_PERSON = {
  firstName: 'Ada',
  lastName: 'Lovelace',
  workEmail: 'ada.lovelace@example.com',
  department: 'Engineering',
  title: 'Staff Engineer',
  timeZone: 'Europe/London',
  startDate: '2025-03-03',
  terminationDate: '2026-01-30',
  occurredAt: '2026-01-15T09:30:00Z',
} as const
