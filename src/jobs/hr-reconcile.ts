/**
 * The HR reconciliation poll (`hr.reconcile`, pg-boss cron per source): read each HR source's
 * roster and turn any hire, change or termination no webhook delivered into the same canonical
 * events, marked `foundBy: reconciliation`. A termination found this way keeps its HR effective
 * moment, so its four-hour deadline is measured from when it happened, not from when we noticed.
 *
 * Found events go through the inbox and the employee's FIFO lane like webhooks do. Their ids are
 * deterministic, so a poll that finds the same change twice stores it once.
 */
import { z } from 'zod'
import type { Boss } from './boss.ts'
import type { Pool } from '../db/pool.ts'
import { withTransaction } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { adapterFor, type HrEmployeeRecord, type HrSourcesConfig } from '../hr/index.ts'
import { HR_SOURCES, type HrSource } from '../../state-machines/events.ts'
import { knownHrEventIds, rosterRecord, saveRosterRecord, storeNotices } from '../db/hr-inbox.ts'
import { HR_RECONCILE_QUEUE } from './queues.ts'
import { uuidV5 } from '../util/ids.ts'
import { rosterShowsEmployed } from '../offboarding/hr-gate.ts'
import { appendAudit } from '../audit/index.ts'
import type { WorkerDefinition } from './runtime.ts'

export const reconcileJobSchema = z.object({ source: z.enum(HR_SOURCES), correlationId: z.string().optional() })

export interface HrReconcileDeps {
  pool: Pool
  boss: Boss
  log: Logger
  sources: HrSourcesConfig
  now: () => Date
}

export interface ReconcileSummary {
  source: HrSource
  records: number
  events: number
  stored: number
  byType: Record<string, number>
}

export async function reconcileSource(deps: HrReconcileDeps, source: HrSource, correlationId: string): Promise<ReconcileSummary> {
  const config = deps.sources[source]
  const adapter = adapterFor(source)
  const client = config ? adapter.createClient(config, { log: deps.log }) : undefined
  const summary: ReconcileSummary = { source, records: 0, events: 0, stored: 0, byType: {} }
  if (!config?.enabled || !client) return summary
  const foundAt = deps.now()
  for await (const record of client.listRoster({ includeTerminated: true })) {
    summary.records += 1
    const previous = await rosterRecord<HrEmployeeRecord>(deps.pool, source, record.employeeId)
    const events = adapter.fromRecord(record, previous, { foundAt, foundBy: 'reconciliation' })
    await withTransaction(deps.pool, async (tx) => {
      if (events.length > 0) {
        // Skip what webhooks (or an earlier poll) already delivered: same canonical event id.
        const seen = await knownHrEventIds(tx, events.map((e) => e.eventId))
        const fresh = events.filter((e) => !seen.has(e.eventId))
        summary.events += fresh.length
        for (const e of fresh) summary.byType[e.type] = (summary.byType[e.type] ?? 0) + 1
        if (fresh.length > 0) {
          const body = Buffer.from(JSON.stringify(record))
          const result = await storeNotices(tx, deps.boss, {
            source,
            foundBy: 'reconciliation',
            body,
            contentType: 'application/json',
            headers: {},
            receivedAt: foundAt,
            correlationId,
            actor: { type: 'system', id: `reconcile:${source}` },
            notices: fresh.map((e) => ({
              dedupeKey: `reconcile:${e.eventId}`,
              employeeId: record.employeeId,
              vendorEventType: `reconcile.${e.type}`,
              occurredAt: e.occurredAt,
              notice: [e],
            })),
          })
          summary.stored += result.stored.length
        }
      }
      await saveRosterRecord(tx, source, record.employeeId, record)
      // HR still shows someone employed whom an emergency termination cut off: a task for a person.
      if ((record.employmentStatus === 'active' || record.employmentStatus === 'pending') && !record.termination?.date && !record.termination?.at && !record.termination?.immediate) {
        const audit = await rosterShowsEmployed(tx, { source, externalId: record.employeeId, employmentStatus: record.employmentStatus, now: foundAt, correlationId })
        if (audit.length > 0) await appendAudit(tx, audit)
      }
    })
  }
  return summary
}

export function hrReconcileWorker(deps: HrReconcileDeps): WorkerDefinition<typeof reconcileJobSchema> {
  return {
    queue: HR_RECONCILE_QUEUE,
    schema: reconcileJobSchema,
    handler: async (data, job) => {
      const summary = await reconcileSource(deps, data.source, data.correlationId ?? job.jobId)
      if (summary.events > 0) job.log.warn({ ...summary }, 'reconciliation found HR changes no webhook delivered')
      else job.log.info({ source: summary.source, records: summary.records }, 'reconciliation found nothing new')
      return summary
    },
  }
}

/**
 * One reconciliation of each source with an API, now (the sandbox's start: its HR emulators hold
 * people, and the console should show them at once rather than at the next half hour). The job id
 * is per source and minute, so two processes starting together run it once.
 */
export async function reconcileHrSourcesNow(boss: Boss, sources: HrSourcesConfig, now: Date): Promise<string[]> {
  const started: string[] = []
  for (const source of HR_SOURCES) {
    const config = sources[source]
    if (!config?.enabled || !config.api || !config.reconcile.enabled) continue
    const id = uuidV5(`hr-reconcile-now:${source}:${now.toISOString().slice(0, 16)}`)
    if (await boss.send(HR_RECONCILE_QUEUE, { source }, { id })) started.push(source)
  }
  return started
}

/** One pg-boss schedule per source with an API and reconciliation on. */
export async function scheduleHrReconciliation(boss: Boss, sources: HrSourcesConfig, log: Logger): Promise<void> {
  for (const source of HR_SOURCES) {
    const config = sources[source]
    const key = `hr-${source}`
    if (!config?.enabled || !config.api || !config.reconcile.enabled) {
      await boss.unschedule(HR_RECONCILE_QUEUE, key).catch(() => undefined)
      continue
    }
    const minutes = config.reconcile.intervalMinutes
    const cron = minutes < 60 ? `*/${minutes} * * * *` : `0 */${Math.max(1, Math.round(minutes / 60))} * * *`
    await boss.schedule(HR_RECONCILE_QUEUE, cron, { source }, { key })
    log.info({ source, cron }, 'HR reconciliation scheduled')
  }
}
