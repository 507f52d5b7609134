/**
 * The mass-termination hold (issue #9; docs/hr-sources.md "Mass-termination hold").
 *
 * Microsoft Entra Connect refuses an export that would delete more than 500 objects until someone
 * looks (https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/how-to-connect-sync-feature-prevent-accidental-deletes).
 * Tenure's guard is narrower on purpose: a normal leaver must never wait, so it counts each HR
 * source's terminations over a rolling hour and holds only the ones over the source's threshold
 * (`hr.<name>.bulkHoldThresholdPerHour`), and never for a source marked `trustedForBulk`.
 *
 * Three decisions, all taken under one transaction-scoped advisory lock per source so that any
 * number of hr.event workers agree on the count:
 *   - count-and-admit: below the threshold the termination is marked admitted and applied as usual;
 *   - hold: at the threshold a batch opens (one per source), and while it is open every further
 *     termination of that source joins it, as does every later notice of a person already held
 *     (one person's notices never overtake each other);
 *   - decide: a person confirms (the notices go back to `received` and their hr.event jobs are
 *     queued, in acceptance order, in the same transaction) or rejects (kept, marked rejected).
 */
import { randomUUID } from 'node:crypto'
import type { Boss } from '../jobs/boss.ts'
import { inTransaction } from '../jobs/boss.ts'
import { withTransaction, type Pool, type PoolClient } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import { enqueueNotification, notificationId, type Notification, type NotifyConfig, type Severity } from '../notify/index.ts'
import { terminationMoment } from '../lifecycle/schedule.ts'
import { SYSTEM_ACTOR } from '../lifecycle/engine.ts'
import { HR_EVENT_QUEUE } from '../jobs/queues.ts'
import { uuidV5 } from '../util/ids.ts'
import type { HrEventJobData, InboxRow } from '../db/hr-inbox.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'
import type { HrSourceConfig } from './types.ts'
import { employeeTimeZone } from '../db/employees.ts'
import {
  addHoldItem,
  admittedInWindow,
  decideHold,
  earlierPending,
  holdStatusOfNotice,
  insertHold,
  lockSourceHolds,
  markAdmitted,
  openHoldOf,
  readHold,
  rejectHeldNotices,
  releaseHeldNotices,
  type HoldRow,
  type HoldWhy,
} from '../db/bulk-holds.ts'

/** The default of `hr.<name>.bulkHoldThresholdPerHour` (src/hr/types.ts), for a notice whose source is no longer configured. */
export const DEFAULT_BULK_HOLD_THRESHOLD = 50

export interface BulkHoldDeps {
  pool: Pool
  boss: Boss
  log: Logger
  now: () => Date
  /** The notification config in effect; without it holds are still made, audited and logged. */
  notify?: () => NotifyConfig
  /** To compute the effective moment of a held termination the way the engine will. */
  schedule: { dateOnlyMeans: 'end_of_day' | 'start_of_day'; defaultTimeZone: string }
}

type Terminated = Extract<CanonicalEvent, { type: 'employee.terminated' }>

type LaneCheck = { kind: 'go'; released: boolean } | { kind: 'held'; holdId: string } | { kind: 'defer'; earlierId: string }

/** Why a notice goes ahead. */
export type PassReason = 'released' | 'no_termination' | 'trusted_for_bulk' | 'already_admitted' | 'admitted'

/** The gate's one answer for one HR notice (bulkHoldGate). */
export type BulkHoldDecision =
  /** Apply these events (a released notice's immediate terminations already anchored at receipt). */
  | { kind: 'pass'; reason: PassReason; events: CanonicalEvent[] }
  /** Held in this hold: not applied until a person decides. */
  | { kind: 'hold'; reason: HoldWhy; holdId: string }
  /** An earlier notice of the same person, just released, goes first: try again later. */
  | { kind: 'defer'; reason: 'earlier_notice_first'; earlierId: string }
  /** Reading the notice settled it without events (no such employee, malformed): nothing to gate. */
  | { kind: 'settled' }

/**
 * The one decision for one HR notice, before the engine sees it. The HR worker calls it once and
 * acts on the answer; nothing else decides whether a notice is held.
 *
 * In order: the person's lane (a notice behind a held notice of the same person is held with it,
 * unread, as re-fetching from HR can wait for the decision; one behind a just-released notice
 * waits its turn), then `read` (the adapter's re-fetch and normalisation; undefined when reading
 * settled the notice), then, unless a confirmed hold released it, the count of the source's
 * terminations over the rolling hour (admit or hold).
 */
export async function bulkHoldGate(
  deps: BulkHoldDeps,
  row: InboxRow,
  config: HrSourceConfig | undefined,
  read: () => Promise<CanonicalEvent[] | undefined>,
): Promise<BulkHoldDecision> {
  const lane = await checkLane(deps, row)
  if (lane.kind === 'held') return { kind: 'hold', reason: 'employee_held', holdId: lane.holdId }
  if (lane.kind === 'defer') return { kind: 'defer', reason: 'earlier_notice_first', earlierId: lane.earlierId }
  const events = await read()
  if (events === undefined) return { kind: 'settled' }
  if (lane.released) return { kind: 'pass', reason: 'released', events: anchorReleased(events, row.received_at) }
  const guard = await guardTerminations(deps, row, events, config)
  if (guard.kind === 'held') return { kind: 'hold', reason: guard.why, holdId: guard.holdId }
  return { kind: 'pass', reason: guard.reason, events }
}

/**
 * Before a notice is read: a notice released by a confirmed hold goes ahead; one behind a held
 * notice of the same person is held with it (unread: re-fetching from HR can wait for the
 * decision); one behind a notice that a confirmation has just released waits its turn.
 */
async function checkLane(deps: BulkHoldDeps, row: InboxRow): Promise<LaneCheck> {
  if ((await holdStatusOfNotice(deps.pool, row.id)) === 'confirmed') return { kind: 'go', released: true }
  // Held notices of a person appear only through this person's lane (the job we are in), so
  // "none before me" read without the lock stays true; anything else is re-read under it.
  if (!(await earlierPending(deps.pool, row.source, row.employee_external_id, row.seq))) return { kind: 'go', released: false }
  return withTransaction(deps.pool, async (client): Promise<LaneCheck> => {
    await lockSourceHolds(client, row.source)
    const earlier = await earlierPending(client, row.source, row.employee_external_id, row.seq)
    if (!earlier) return { kind: 'go', released: false }
    if (earlier.status === 'received') return { kind: 'defer', earlierId: earlier.id }
    const hold = earlier.hold_id ? await readHold(client, earlier.hold_id, true) : undefined
    if (!hold || hold.status !== 'open') return { kind: 'go', released: false }
    await holdNotice(deps, client, hold, row, 'employee_held', undefined)
    return { kind: 'held', holdId: hold.id }
  })
}

/**
 * After a notice is read, before anything is applied: a termination from a source that is not
 * trusted for bulk is admitted (counted) or held. Everything else goes ahead untouched.
 */
async function guardTerminations(
  deps: BulkHoldDeps,
  row: InboxRow,
  events: readonly CanonicalEvent[],
  config: HrSourceConfig | undefined,
): Promise<{ kind: 'go'; reason: Exclude<PassReason, 'released'> } | { kind: 'held'; why: HoldWhy; holdId: string }> {
  if (!events.some((e) => e.type === 'employee.terminated')) return { kind: 'go', reason: 'no_termination' }
  if (config?.trustedForBulk) return { kind: 'go', reason: 'trusted_for_bulk' }
  // Admitted before a crash between the count and the apply: already counted, apply it.
  if (row.termination_admitted_at) return { kind: 'go', reason: 'already_admitted' }
  const threshold = config?.bulkHoldThresholdPerHour ?? DEFAULT_BULK_HOLD_THRESHOLD
  return withTransaction(deps.pool, async (client) => {
    await lockSourceHolds(client, row.source)
    const now = deps.now()
    const open = await openHoldOf(client, row.source)
    if (open) {
      await holdNotice(deps, client, open, row, 'hold_open', events)
      return { kind: 'held' as const, why: 'hold_open' as const, holdId: open.id }
    }
    const { count, windowStart } = await admittedInWindow(client, row.source, now)
    if (count < threshold) {
      await markAdmitted(client, row.id, now)
      return { kind: 'go' as const, reason: 'admitted' as const }
    }
    const hold = await insertHold(client, { id: randomUUID(), source: row.source, thresholdPerHour: threshold, at: now, correlationId: row.correlation_id })
    await appendAudit(client, [
      {
        actor: SYSTEM_ACTOR,
        action: 'hr.bulk_hold_opened',
        subject: { employeeId: null },
        correlationId: row.correlation_id,
        details: { holdId: hold.id, source: row.source, thresholdPerHour: threshold, admittedInWindow: count, windowStart: windowStart.toISOString(), firstInboxId: row.id },
      },
    ])
    deps.log.warn({ holdId: hold.id, source: row.source, thresholdPerHour: threshold, admittedInWindow: count }, 'mass-termination hold opened: further terminations from this source wait for a decision')
    await holdNotice(deps, client, hold, row, 'over_threshold', events)
    return { kind: 'held' as const, why: 'over_threshold' as const, holdId: hold.id }
  })
}

/** For a released immediate termination without an HR moment: anchor its SLA at receipt, not at the release. */
function anchorReleased(events: CanonicalEvent[], receivedAt: Date): CanonicalEvent[] {
  return events.map((e) =>
    e.type === 'employee.terminated' && e.immediate && e.effectiveAt === undefined && e.effectiveDate === undefined ? { ...e, effectiveAt: receivedAt.toISOString() } : e,
  )
}

async function holdNotice(deps: BulkHoldDeps, client: PoolClient, hold: HoldRow, row: InboxRow, why: HoldWhy, events: readonly CanonicalEvent[] | undefined): Promise<void> {
  const termination = events?.find((e): e is Terminated => e.type === 'employee.terminated')
  const effectiveAt = termination ? await effectiveMoment(deps, client, termination, row) : null
  const now = deps.now()
  const after = await addHoldItem(client, {
    holdId: hold.id,
    inboxId: row.id,
    seq: row.seq,
    employeeExternalId: row.employee_external_id,
    vendorEventType: row.vendor_event_type,
    eventTypes: events ? events.map((e) => e.type) : null,
    effectiveAt,
    immediate: termination ? termination.immediate : null,
    why,
    at: now,
  })
  await appendAudit(client, [
    {
      actor: SYSTEM_ACTOR,
      action: 'hr.event_held',
      subject: { employeeId: null },
      correlationId: row.correlation_id,
      details: { holdId: hold.id, inboxId: row.id, source: row.source, hrEmployeeId: row.employee_external_id, why, effectiveAt },
    },
  ])
  if (why === 'over_threshold') await notifyHold(deps, client, after, 'opened')
  else if (after.held_count % after.threshold_per_hour === 0) await notifyHold(deps, client, after, 'grown')
}

async function effectiveMoment(deps: BulkHoldDeps, client: PoolClient, e: Terminated, row: InboxRow): Promise<string | null> {
  const timeZone = e.timeZone ?? e.profile?.timeZone ?? (await employeeTimeZone(client, row.source, row.employee_external_id)) ?? undefined
  try {
    // An immediate termination without an HR moment counts from receipt (see anchorReleased).
    return terminationMoment({ effectiveDate: e.effectiveDate, effectiveAt: e.effectiveAt, immediate: e.immediate, timeZone }, deps.schedule, row.received_at.toISOString()).effectiveAt
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// notifications

type HoldNotificationKind = 'opened' | 'grown' | 'confirmed' | 'rejected'

const HOW_TO_DECIDE = (id: string) =>
  `Confirm with \`tenure hr holds confirm ${id} --reason "…"\` (or POST /api/v1/hr/holds/${id}/confirm), reject with \`tenure hr holds reject ${id} --reason "…"\`; an approver or admin decides.`

/** What the approvers are told; ids, counts and times only. */
export function holdNotification(hold: HoldRow, kind: HoldNotificationKind, now: Date): Notification {
  const earliest = hold.earliest_effective_at?.toISOString() ?? 'unknown'
  const held = `${hold.held_count} ${hold.held_count === 1 ? 'notice' : 'notices'}`
  const texts: Record<HoldNotificationKind, { severity: Severity; title: string; text: string }> = {
    opened: {
      severity: 'critical',
      title: `Mass-termination hold: ${hold.source} sent more than ${hold.threshold_per_hour} terminations within an hour`,
      text:
        `${held} from ${hold.source} held and not applied: nobody's access is removed for them until the hold is decided. ` +
        `Earliest HR effective moment held: ${earliest}. Each leaver's revocation deadline still counts from their effective moment, so time on hold uses up their SLA. ` +
        `Every further termination from ${hold.source} joins this hold until it is decided. ${HOW_TO_DECIDE(hold.id)}`,
    },
    grown: {
      severity: 'critical',
      title: `Mass-termination hold on ${hold.source} now holds ${held}`,
      text: `${held} from ${hold.source} are waiting (held since ${hold.first_held_at.toISOString()}); earliest HR effective moment ${earliest}. ${HOW_TO_DECIDE(hold.id)}`,
    },
    confirmed: {
      severity: 'info',
      title: `Mass-termination hold on ${hold.source} confirmed by ${hold.decided_by ?? '?'}`,
      text: `${held} from ${hold.source} are being applied now, in the order HR sent them. Reason: ${hold.reason ?? ''}`,
    },
    rejected: {
      severity: 'warning',
      title: `Mass-termination hold on ${hold.source} rejected by ${hold.decided_by ?? '?'}`,
      text: `${held} from ${hold.source} were rejected and will not be applied (they are kept as evidence). Reason: ${hold.reason ?? ''}`,
    },
  }
  const t = texts[kind]
  return {
    id: notificationId('bulk-hold', hold.id, kind, ...(kind === 'grown' ? [String(hold.held_count)] : [])),
    kind: kind === 'opened' || kind === 'grown' ? `hr.bulk_hold.${kind}` : 'hr.bulk_hold.decided',
    severity: t.severity,
    title: t.title,
    text: t.text,
    subject: {},
    occurredAt: now.toISOString(),
    details: {
      holdId: hold.id,
      source: hold.source,
      status: hold.status,
      heldCount: hold.held_count,
      thresholdPerHour: hold.threshold_per_hour,
      firstHeldAt: hold.first_held_at.toISOString(),
      earliestEffectiveAt: hold.earliest_effective_at?.toISOString() ?? null,
      ...(hold.decided_by ? { decidedBy: hold.decided_by, reason: hold.reason } : {}),
    },
  }
}

async function notifyHold(deps: BulkHoldDeps, client: PoolClient, hold: HoldRow, kind: HoldNotificationKind): Promise<void> {
  const config = deps.notify?.()
  if (!config) return
  const notification = holdNotification(hold, kind, deps.now())
  // Routed by notify.routes (default: the approver group and the admins).
  await enqueueNotification(client, deps.boss, notification, { config, correlationId: hold.correlation_id })
}

// ---------------------------------------------------------------------------------------------
// decisions

export class BulkHoldError extends Error {
  readonly code: 'hold_not_found' | 'hold_already_decided'
  readonly hold: HoldRow | undefined
  constructor(code: BulkHoldError['code'], message: string, hold?: HoldRow) {
    super(message)
    this.code = code
    this.hold = hold
  }
}

/**
 * Confirm or reject an open hold, once. One approver suffices: there is no requester whose
 * request a second person should check, the HR source is the one asking.
 */
export async function decideBulkHold(
  deps: BulkHoldDeps,
  holdId: string,
  decision: 'confirm' | 'reject',
  actor: AuditEntryInput['actor'],
  reason: string,
): Promise<{ hold: HoldRow; notices: number }> {
  const first = await readHold(deps.pool, holdId)
  if (!first) throw new BulkHoldError('hold_not_found', `no mass-termination hold ${holdId}`)
  const result = await withTransaction(deps.pool, async (client) => {
    await lockSourceHolds(client, first.source)
    const hold = await readHold(client, holdId, true)
    if (!hold) throw new BulkHoldError('hold_not_found', `no mass-termination hold ${holdId}`)
    if (hold.status !== 'open') throw new BulkHoldError('hold_already_decided', `hold ${holdId} was already ${hold.status} by ${hold.decided_by ?? '?'} at ${hold.decided_at?.toISOString() ?? '?'}`, hold)
    const now = deps.now()
    const decided = await decideHold(client, holdId, { status: decision === 'confirm' ? 'confirmed' : 'rejected', by: actor, at: now, reason })
    let notices: number
    if (decision === 'confirm') {
      const released = await releaseHeldNotices(client, holdId)
      // The same lanes as the webhook intake (singletonKey source:employee, strict FIFO); a new
      // job id, since the notice's first job (id = inbox id) already ran and would be a no-op.
      for (const n of released) {
        const data: HrEventJobData = { inboxId: n.id, correlationId: n.correlation_id }
        await deps.boss.send(HR_EVENT_QUEUE, data, {
          id: uuidV5(`hr.event:release:${holdId}:${n.id}`),
          singletonKey: `${n.source}:${n.employee_external_id}`,
          db: inTransaction(client),
        })
      }
      notices = released.length
    } else {
      notices = await rejectHeldNotices(client, holdId, now, reason)
    }
    await appendAudit(client, [
      {
        actor,
        action: decision === 'confirm' ? 'hr.bulk_hold_confirmed' : 'hr.bulk_hold_rejected',
        subject: { employeeId: null },
        correlationId: hold.correlation_id,
        details: {
          holdId,
          source: hold.source,
          reason,
          notices,
          heldSince: hold.first_held_at.toISOString(),
          earliestEffectiveAt: hold.earliest_effective_at?.toISOString() ?? null,
        },
      },
    ])
    await notifyHold(deps, client, decided, decision === 'confirm' ? 'confirmed' : 'rejected')
    return { hold: decided, notices }
  })
  deps.log.info({ holdId, source: result.hold.source, decision, notices: result.notices, by: actor.id }, `mass-termination hold ${result.hold.status}`)
  return result
}
