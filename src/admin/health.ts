/**
 * What the administration screens show about HR sources and target systems, read from what Tenure
 * already records; nothing here is a probe of the vendor. Where Tenure keeps no record of a fact
 * (calls to HR vendor APIs are not recorded; a limiter bucket never used has no row), the answer
 * is `null` with a `…Unknown` reason, never "ok":
 *
 * - target calls: the `target.api_called` audit rows the system worker writes for every vendor call
 *   of a provisioning, revocation or verification job (reconciliation's listing calls are not
 *   recorded, so a system only reconciled shows no last call);
 * - target rate limits: the shared token buckets (src/jobs/limiter.ts), balance refilled to now,
 *   and the vendor 429s of the last hour from the same audit rows;
 * - HR sources: the HR inbox (last delivery, last notice that failed to apply) and the pg-boss
 *   `hr.reconcile` jobs (last run, its outcome or error);
 * - reconciliation runs of both kinds: the pg-boss jobs, while pg-boss keeps them.
 */
import { HR_SOURCES, type HrSource } from '../../state-machines/events.ts'
import type { SystemCatalog } from '../../provisioners/registry.ts'
import type { Pool, Queryable } from '../db/pool.ts'
import { PENDING_STATES, reconcileJobRows, type ReconcileJobRow } from '../jobs/inspect.ts'
import { bucketBalances } from '../db/rate-limits.ts'
import { firstSeqWithinDays, lastApiCall, lastApiError, rateLimitedCallsLastHour, type ApiCallRow } from '../audit/store.ts'
import { lastNotices } from '../db/hr-inbox.ts'
import type { HrSourcesConfig } from '../hr/index.ts'
import { HR_RECONCILE_QUEUE, TARGET_RECONCILE_QUEUE } from '../jobs/queues.ts'

/** How far back the last error is looked for (the audit table is large; the screen says so). */
export const LAST_ERROR_WINDOW_DAYS = 7

export interface JobRun {
  id: string
  state: string
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  /** The job's output: its summary when completed, the error when failed. */
  output: unknown
}

export interface CallRecord {
  at: string
  operation: string | null
  method: string | null
  path: string | null
  status: number | null
  errorKind: string | null
}

export interface BucketState {
  bucket: string
  perMinute: number
  burst: number
  /** The balance now (refilled since the last take); negative: calls are booked ahead. Null: never used. */
  tokens: number | null
  state: 'available' | 'booked_ahead' | 'unknown'
  updatedAt: string | null
}

export interface SystemHealth {
  system: string
  kind: string
  enabled: boolean
  reason: string | null
  lastCall: CallRecord | null
  lastCallUnknown: string | null
  lastError: CallRecord | null
  lastErrorNote: string
  rateLimit: { buckets: BucketState[]; rateLimitedLastHour: number }
  reconcile: { supported: boolean; lastRun: JobRun | null; queued: JobRun | null }
}

export interface SourceHealth {
  source: HrSource
  enabled: boolean
  api: boolean
  reconcile: { enabled: boolean; intervalMinutes: number; lastRun: JobRun | null; queued: JobRun | null }
  lastDelivery: { at: string; foundBy: string; status: string } | null
  lastFailure: { at: string; error: unknown } | null
  /** Tenure does not record its calls to HR vendor APIs, nor limit them with a bucket. */
  lastCall: null
  rateLimit: null
  unknown: string[]
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const run = (r: ReconcileJobRow | undefined): JobRun | null =>
  r ? { id: r.id, state: r.state, createdAt: r.created_on.toISOString(), startedAt: iso(r.started_on), completedAt: iso(r.completed_on), output: r.output ?? null } : null

export { PENDING_STATES }

/**
 * The latest reconciliation job for one source or system (matched by `data.<field>`), and the one
 * still pending, if any. `includeAll`: a job without the field covers every system (the schedule's).
 */
export async function reconcileJobs(db: Queryable, schema: string, queue: string, field: 'source' | 'system', value: string): Promise<{ lastRun: JobRun | null; queued: JobRun | null }> {
  const { last, pending } = await reconcileJobRows(db, schema, queue, field, value)
  return { lastRun: run(last), queued: run(pending) }
}

const call = (r: ApiCallRow | undefined): CallRecord | null =>
  r
    ? {
        at: r.occurred_at.toISOString(),
        operation: r.details.operation ?? null,
        method: r.details.method ?? null,
        path: r.details.path ?? null,
        status: typeof r.details.status === 'number' ? r.details.status : null,
        errorKind: r.details.errorKind ?? null,
      }
    : null

export async function systemsHealth(pool: Pool, registry: SystemCatalog | undefined, queueSchema: string): Promise<SystemHealth[]> {
  if (!registry) return []
  const buckets = await bucketBalances(pool)
  const limited = await rateLimitedCallsLastHour(pool)
  // The first row of the error window, found through the occurred_at index: the per-system search
  // below then reads the (system, seq) index over that window only, not the system's whole history.
  const fromSeq = await firstSeqWithinDays(pool, LAST_ERROR_WINDOW_DAYS)
  const out: SystemHealth[] = []
  for (const info of registry.systems) {
    const p = registry.get(info.system)
    const last = await lastApiCall(pool, info.system)
    const error = fromSeq ? await lastApiError(pool, info.system, fromSeq) : undefined
    const lastCall = call(last)
    const manual = info.kind === 'manual'
    out.push({
      system: info.system,
      kind: info.kind,
      enabled: info.enabled,
      reason: info.reason ?? null,
      lastCall,
      lastCallUnknown: lastCall
        ? null
        : manual
          ? 'a manual system has no API: people do the work'
          : 'no vendor call recorded (calls are recorded for provisioning, revocation and verification jobs, not for reconciliation)',
      lastError: call(error),
      lastErrorNote: `failed calls (4xx, 5xx, or no answer) recorded in the last ${LAST_ERROR_WINDOW_DAYS} days`,
      rateLimit: {
        buckets: Object.keys(p?.rateLimitBuckets ?? {}).map((bucket) => {
          const spec = registry.limitFor(info.system, bucket)
          const row = buckets.find((b) => b.system === info.system && b.bucket === bucket)
          return {
            bucket,
            perMinute: spec.perMinute,
            burst: spec.burst,
            tokens: row ? Math.round(row.tokens * 100) / 100 : null,
            state: !row ? 'unknown' : row.tokens < 0 ? 'booked_ahead' : 'available',
            updatedAt: row ? row.updated_at.toISOString() : null,
          }
        }),
        rateLimitedLastHour: limited.find((r) => r.system === info.system)?.n ?? 0,
      },
      reconcile: {
        supported: info.enabled && !manual,
        ...(await reconcileJobs(pool, queueSchema, TARGET_RECONCILE_QUEUE, 'system', info.system)),
      },
    })
  }
  return out
}

export async function sourcesHealth(pool: Pool, sources: HrSourcesConfig, queueSchema: string): Promise<SourceHealth[]> {
  const out: SourceHealth[] = []
  for (const source of HR_SOURCES) {
    const config = sources[source]
    if (!config) continue
    const { delivery: d, failure: f } = await lastNotices(pool, source)
    const jobs = await reconcileJobs(pool, queueSchema, HR_RECONCILE_QUEUE, 'source', source)
    const unknown = ['last call to the vendor API (not recorded)', 'rate-limit state (Tenure keeps no limiter for HR APIs)']
    if (!jobs.lastRun) unknown.push('last reconciliation (no run on record)')
    out.push({
      source,
      enabled: config.enabled,
      api: config.api !== undefined,
      reconcile: { enabled: config.enabled && config.api !== undefined && config.reconcile.enabled, intervalMinutes: config.reconcile.intervalMinutes, ...jobs },
      lastDelivery: d ? { at: d.received_at.toISOString(), foundBy: d.found_by, status: d.status } : null,
      lastFailure: f ? { at: f.received_at.toISOString(), error: f.error } : null,
      lastCall: null,
      rateLimit: null,
      unknown,
    })
  }
  return out
}
