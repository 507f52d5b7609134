/**
 * Vendor clocks run ahead. An event is ordered by when HR says it happened (`occurredAt`), and the
 * employee machine drops an employment change older than the newest one applied as stale. So a
 * hire stamped 21 minutes in the future would make the real termination that follows it look
 * older, and drop it. One rule for every source, applied by the HR worker to every event whatever
 * found it (webhook, re-fetch or roster poll): a timestamp later than the receipt time plus the
 * source's `futureTimestampToleranceSeconds` is clamped to the receipt time, and the event keeps
 * the vendor's value in `timestampClamped`.
 */
import type { CanonicalEvent } from '../../state-machines/events.ts'

/** The easternmost civil zone (UTC+14, Line Islands): its calendar date is the latest on Earth. */
const LATEST_ZONE = 'Pacific/Kiritimati'

export interface ClampedTimestamp {
  eventId: string
  type: CanonicalEvent['type']
  vendorOccurredAt: string
  clampedTo: string
}

/**
 * Whether a vendor value lies beyond `receivedAt + toleranceSeconds`. A date-only value
 * (YYYY-MM-DD) names a calendar day in some zone we may not know: it is in the future only when
 * that day has not begun anywhere on Earth yet (it is later than today's date in UTC+14), so a
 * date from Auckland or Tokyo that is already "today" there never counts as future.
 */
export function isFutureTimestamp(value: string, receivedAt: Date, toleranceSeconds: number): boolean {
  const v = value.trim()
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const latestToday = new Intl.DateTimeFormat('en-CA', { timeZone: LATEST_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
      new Date(receivedAt.getTime() + toleranceSeconds * 1000),
    )
    return v > latestToday
  }
  const ms = Date.parse(v)
  return !Number.isNaN(ms) && ms > receivedAt.getTime() + toleranceSeconds * 1000
}

/** Clamp every event whose occurredAt lies too far ahead of its receivedAt; say which ones. */
export function clampFutureTimestamps(events: CanonicalEvent[], toleranceSeconds: number): { events: CanonicalEvent[]; clamped: ClampedTimestamp[] } {
  const clamped: ClampedTimestamp[] = []
  const out = events.map((event) => {
    if (!isFutureTimestamp(event.occurredAt, new Date(event.receivedAt), toleranceSeconds)) return event
    clamped.push({ eventId: event.eventId, type: event.type, vendorOccurredAt: event.occurredAt, clampedTo: event.receivedAt })
    // Only the ordering timestamp moves. Effective moments stay: a termination HR scheduled for
    // tomorrow (found by the roster poll, occurredAt = that moment) must still wait for tomorrow.
    // A dateless termination never takes effect after receipt (src/hr/derive.ts terminated()).
    return { ...event, occurredAt: event.receivedAt, timestampClamped: { vendorOccurredAt: event.occurredAt, toleranceSeconds } }
  })
  return { events: out, clamped }
}
