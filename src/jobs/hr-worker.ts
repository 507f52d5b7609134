/**
 * `hr.event`: turn one stored HR notice into canonical lifecycle events and apply them.
 *
 * Thin webhooks are triggers: the adapter re-fetches the employee from the vendor's API before
 * normalising (an HR API that is down makes this job retry; the notice is safe in the inbox).
 * Reconciliation rows already carry their canonical events. The queue is strict-FIFO per
 * employee, so one person's notices apply in the order they were accepted.
 *
 * Terminations from a source that is not trusted for bulk pass the mass-termination guard first
 * (src/hr/bulk-hold.ts): over the source's hourly threshold they are held for a person to decide.
 */
import { z } from 'zod'
import type { Pool } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { adapterFor, clampFutureTimestamps, HrEmployeeNotFoundError, type HrSourceConfig, type HrSourcesConfig } from '../hr/index.ts'
import { canonicalEventSchema, type CanonicalEvent } from '../../state-machines/events.ts'
import { applyHrEvent, type EngineDeps } from '../lifecycle/engine.ts'
import { markHrEvent, markInbox, markInboxClamped, nextReceivedNotice, readInbox, recordHrEvent, type InboxRow } from '../db/hr-inbox.ts'
import { recordAudit } from '../audit/index.ts'
import { isProvisionerError } from '../../provisioners/errors.ts'
import { HR_EVENT_QUEUE } from './queues.ts'
import { bulkHoldGate, type BulkHoldDeps } from '../hr/bulk-hold.ts'
import type { NotifyConfig } from '../notify/index.ts'
import type { WorkerDefinition } from './runtime.ts'
import { hrEventJobSchema } from './payloads.ts'

export interface HrWorkerDeps {
  pool: Pool
  log: Logger
  engine: EngineDeps
  sources: HrSourcesConfig
  /** The notification config in effect (mass-termination hold notices). */
  notify?: () => NotifyConfig
}

/** A failure that retrying will not fix (the notice is malformed for its vendor). */
class PermanentIntakeError extends Error {}

/**
 * Jobs each of the queue's slots fetches at once (run one after another, settled one by one:
 * src/jobs/runtime.ts). The queue is pg-boss's `key_strict_fifo`, whose fetch finds the head of
 * every employee's lane before it picks one: its cost grows with the backlog (measured on an idle
 * embedded PostgreSQL 18: about 3 ms at 1,000 queued employees, 10-15 ms at 10,000, with the
 * table analysed), and a layoff queues one lane per leaver. A fetch of 8 costs about what a fetch
 * of 1 does, so the intake pays it once per 8 notices. With nothing queued a fetch still returns
 * the one notice there is, at once.
 */
export const HR_EVENT_FETCH_BATCH = 8

/** How many notices of the same employee one job may apply before yielding the lane. */
const DRAIN_LIMIT = 200

type Outcome = { kind: 'done'; events: string[] } | { kind: 'held'; holdId: string } | { kind: 'defer' }

export function hrEventWorker(deps: HrWorkerDeps): WorkerDefinition<typeof hrEventJobSchema> {
  return {
    queue: HR_EVENT_QUEUE,
    schema: hrEventJobSchema,
    handler: async (data, job) => {
      const row = await readInbox(deps.pool, data.inboxId)
      if (!row) return { skipped: 'inbox row not found' }
      if (row.status !== 'received') return { skipped: `already ${row.status}` }
      // The lane holds one job per employee at a time. It applies the person's notices that are
      // still to apply, oldest first (this job's own, any queued up behind it, and any released
      // by a confirmed mass-termination hold, which must not be overtaken), instead of one per
      // polling interval. Their own jobs then find them processed and finish at once.
      const applied: string[][] = []
      const held = new Set<string>()
      const drained: string[] = []
      for (let n = 0; n < DRAIN_LIMIT; n++) {
        const nextId = await nextReceivedNotice(deps.pool, row.source, row.employee_external_id)
        // The job's own notice, read a moment ago, is the usual answer: read it again only once applied.
        const next = nextId === undefined ? undefined : nextId === row.id && n === 0 ? row : await readInbox(deps.pool, nextId)
        if (!next || next.status !== 'received') break
        const outcome = await processNotice(deps, next, job.log)
        if (outcome.kind === 'done') applied.push(outcome.events)
        if (outcome.kind === 'held') held.add(outcome.holdId)
        if (outcome.kind !== 'defer' && next.id !== data.inboxId) drained.push(next.id)
      }
      // Each drained notice still has its own job queued behind this one (a job's id is its
      // inbox id). The lane runs one job at a time, so each of those would cost a polling
      // round just to find its notice done: 200 of them kept the 201st notice waiting a minute.
      // Settle them now; a job that runs anyway finds its notice processed and skips.
      if (drained.length > 0) {
        await deps.engine.boss.complete(HR_EVENT_QUEUE, drained, { skipped: 'applied in its lane', by: job.jobId }, { includeQueued: true })
      }
      return { notices: applied.length, events: applied.flat(), ...(held.size > 0 ? { heldIn: [...held] } : {}) }
    },
  }
}

function holdDeps(deps: HrWorkerDeps): BulkHoldDeps {
  return {
    pool: deps.pool,
    boss: deps.engine.boss,
    log: deps.log,
    now: deps.engine.now,
    ...(deps.notify ? { notify: deps.notify } : {}),
    schedule: { dateOnlyMeans: deps.engine.schedule.dateOnlyMeans, defaultTimeZone: deps.engine.schedule.defaultTimeZone },
  }
}

async function processNotice(deps: HrWorkerDeps, row: InboxRow, log: Logger): Promise<Outcome> {
  const config = deps.sources[row.source]
  // The mass-termination hold decides once, before the engine: held, deferred, or these events.
  const gate = await bulkHoldGate(holdDeps(deps), row, config, () => readNotice(deps, row, config, log))
  if (gate.kind === 'hold') {
    log.info(
      { inboxId: row.id, source: row.source, holdId: gate.holdId },
      gate.reason === 'employee_held' ? 'HR notice held behind an earlier held notice of the same employee' : 'termination held by the mass-termination hold',
    )
    return { kind: 'held', holdId: gate.holdId }
  }
  if (gate.kind === 'defer') return { kind: 'defer' }
  if (gate.kind === 'settled') return { kind: 'done', events: [] }
  const events = gate.events
  // The event's record, its outcome and (with the last event) the notice's status are written in
  // the transaction that applies it: one commit per notice instead of three on the way to a case.
  for (const [i, event] of events.entries()) {
    const last = i === events.length - 1
    let written = false
    await applyHrEvent(deps.engine, event, {
      actor: { type: 'hr_source', id: row.source },
      correlationId: row.correlation_id,
      within: async (client, result) => {
        const outcome = result.applied ? 'applied' : result.ignoredReason === 'duplicate' ? 'duplicate' : 'ignored'
        await recordHrEvent(client, row.id, event)
        await markHrEvent(client, event.eventId, result.employeeId, outcome, result.ignoredReason)
        if (last) await markInbox(client, row.id, 'processed', events.length)
        written = true
      },
    })
    // The engine built no event from it (nothing to tell the machine): recorded without an outcome.
    if (!written) {
      await recordHrEvent(deps.pool, row.id, event)
      if (last) await markInbox(deps.pool, row.id, 'processed', events.length)
    }
  }
  if (events.length === 0) await markInbox(deps.pool, row.id, 'processed', 0)
  return { kind: 'done', events: events.map((e) => e.type) }
}

/**
 * Read one notice into canonical events: the adapter's re-fetch and normalisation (webhooks) or
 * the stored events (reconciliation), then the future-timestamp clamp. Undefined when reading
 * settled the notice (no such employee in HR, or a notice that can never be normalised).
 */
async function readNotice(deps: HrWorkerDeps, row: InboxRow, config: HrSourceConfig | undefined, log: Logger): Promise<CanonicalEvent[] | undefined> {
  const adapter = adapterFor(row.source)
  let events: CanonicalEvent[]
  try {
    if (row.found_by === 'webhook') {
      const client = config ? adapter.createClient(config, { log }) : undefined
      events = await adapter.normalize(
        { dedupeKey: row.dedupe_key, vendorEventType: row.vendor_event_type, employeeId: row.employee_external_id, occurredAt: (row.occurred_at ?? row.received_at).toISOString(), data: row.notice },
        { ...(client ? { client } : {}), receivedAt: row.received_at, foundBy: 'webhook', now: deps.engine.now(), ...(config ? { config } : {}) },
      )
    } else {
      const parsed = z.array(canonicalEventSchema).safeParse(row.notice)
      if (!parsed.success) throw new PermanentIntakeError(`stored events do not validate: ${parsed.error.issues[0]?.message}`)
      events = parsed.data
    }
    for (const event of events) {
      const check = canonicalEventSchema.safeParse(event)
      if (!check.success) throw new PermanentIntakeError(`adapter produced an invalid ${event.type}: ${check.error.issues[0]?.path.join('.')} ${check.error.issues[0]?.message}`)
    }
  } catch (err) {
    if (err instanceof HrEmployeeNotFoundError) {
      // The record decides and there is none: nothing to apply, but never silently. The row says
      // not_found (the console lists it), the log says which person, the audit trail keeps it.
      await markInbox(deps.pool, row.id, 'not_found', 0, { message: err.message })
      log.warn(
        { inboxId: row.id, source: row.source, hrEmployeeId: row.employee_external_id, vendorEventType: row.vendor_event_type },
        'HR notice not applied: the re-fetch found no such employee in the HR system',
      )
      await recordAudit(deps.pool, [
        {
          actor: { type: 'hr_source', id: row.source },
          action: 'hr.employee_not_found',
          subject: { employeeId: null },
          correlationId: row.correlation_id,
          details: { inboxId: row.id, source: row.source, hrEmployeeId: row.employee_external_id, vendorEventType: row.vendor_event_type },
        },
      ])
      return undefined
    }
    const permanent = err instanceof PermanentIntakeError || (isProvisionerError(err) && (err.kind === 'Permanent' || err.kind === 'NotFound'))
    if (permanent) {
      // Retrying cannot help and would block this employee's lane: record and move on.
      await markInbox(deps.pool, row.id, 'failed', 0, { message: (err as Error).message })
      log.error({ inboxId: row.id, source: row.source, err: (err as Error).message }, 'HR notice could not be normalised')
      return undefined
    }
    throw err // the vendor API may be down: retry with backoff; the notice stays in the inbox
  }
  // One rule for every source and whatever found the change: a vendor clock running ahead must
  // not make the next change look stale (src/hr/timestamps.ts).
  const clamp = clampFutureTimestamps(events, config?.futureTimestampToleranceSeconds ?? 300)
  if (clamp.clamped.length > 0) {
    events = clamp.events
    await markInboxClamped(deps.pool, row.id, clamp.clamped)
    log.warn(
      { inboxId: row.id, source: row.source, hrEmployeeId: row.employee_external_id, clamped: clamp.clamped },
      'HR timestamp in the future beyond the tolerance: clamped to the receipt time',
    )
    await recordAudit(deps.pool, [
      {
        actor: { type: 'hr_source', id: row.source },
        action: 'hr.timestamp_clamped',
        subject: { employeeId: null },
        correlationId: row.correlation_id,
        details: { inboxId: row.id, source: row.source, hrEmployeeId: row.employee_external_id, toleranceSeconds: config?.futureTimestampToleranceSeconds ?? 300, clamped: clamp.clamped },
      },
    ])
  }
  return events
}
