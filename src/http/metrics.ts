/**
 * Prometheus metrics (prom-client): every metric Tenure defines is defined here, each group by the
 * function its owner calls (the HTTP app, the SLA, the job runtime, the target calls, the HR
 * webhooks). One registry per running instance, so several instances in one test process do not
 * collide. /metrics lists metrics in the order they were registered: keep the call order in
 * src/main.ts (HTTP, SLA, jobs, targets, webhooks) when adding one.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Queryable } from '../db/pool.ts'
import { leaverCaseCounts } from '../db/cases.ts'
import { deadLetterDepths } from '../jobs/inspect.ts'

export interface Metrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route'>
  /** What /metrics answers, when more than this registry (the worker process's metrics added). */
  render?: () => Promise<string>
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({ service: 'tenure' })
  collectDefaultMetrics({ register: registry, prefix: 'tenure_' })
  const httpRequests = new Counter({
    name: 'tenure_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  const httpDuration = new Histogram({
    name: 'tenure_http_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  return { registry, httpRequests, httpDuration }
}

export interface SlaMetrics {
  timeToRevoke: Histogram<'system' | 'from'>
}

/** Time to verified revocation, and case and dead-letter gauges read from the database on scrape. */
export function createSlaMetrics(registry: Registry, db: { pool: Queryable; queueSchema: string }): SlaMetrics {
  const timeToRevoke = new Histogram({
    name: 'tenure_time_to_revoke_seconds',
    help: "Time from a leaver's HR effective moment (or from Tenure's receipt of it) to the verified revocation, per system",
    labelNames: ['system', 'from'] as const,
    buckets: [1, 2, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800],
    registers: [registry],
  })
  const casesGauge = new Gauge({
    name: 'tenure_leaver_cases',
    help: 'Leaver cases by state: open, at_risk (past 75% of the budget with systems unverified), breached (all time)',
    labelNames: ['state'] as const,
    registers: [registry],
    // Read from the database by the serve process and its worker process alike: /metrics shows one reading.
    aggregator: 'max',
    collect: async () => {
      const r = await leaverCaseCounts(db.pool)
      casesGauge.set({ state: 'open' }, r.open)
      casesGauge.set({ state: 'at_risk' }, r.at_risk)
      casesGauge.set({ state: 'breached' }, r.breached)
    },
  })
  const deadLetterGauge = new Gauge({
    name: 'tenure_dead_letter_jobs',
    help: 'Jobs waiting in dead-letter queues, per system',
    labelNames: ['system'] as const,
    registers: [registry],
    aggregator: 'max',
    collect: async () => {
      const rows = await deadLetterDepths(db.pool, db.queueSchema)
      deadLetterGauge.reset()
      for (const r of rows) deadLetterGauge.set({ system: r.name.slice(4).replaceAll('/', ':') }, r.n)
    },
  })
  return { timeToRevoke }
}

export interface JobMetrics {
  outcomes: Counter<'queue' | 'outcome'>
  duration: Histogram<'queue'>
}

/** Jobs handled per queue (src/jobs/runtime.ts counts them). */
export function createJobMetrics(registry: Registry): JobMetrics {
  return {
    outcomes: new Counter({
      name: 'tenure_jobs_total',
      help: 'Jobs handled by queue and outcome (completed, failed, invalid)',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'tenure_job_duration_seconds',
      help: 'Job handler duration by queue',
      labelNames: ['queue'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  }
}

export interface TargetMetrics {
  rateLimited: Counter<'system' | 'source'>
  calls: Counter<'system' | 'status'>
  limiterWait: Histogram<'system' | 'bucket'>
}

/** Calls to target systems (src/jobs/system-worker.ts) and waits in the shared limiter. */
export function createTargetMetrics(registry: Registry): TargetMetrics {
  return {
    rateLimited: new Counter({
      name: 'tenure_target_rate_limited_total',
      help: 'Calls pushed back by a rate limit, by system and by who said so (vendor 429/throttled 403, or our own limiter)',
      labelNames: ['system', 'source'] as const,
      registers: [registry],
    }),
    calls: new Counter({
      name: 'tenure_target_calls_total',
      help: 'Calls to target system APIs by system and HTTP status',
      labelNames: ['system', 'status'] as const,
      registers: [registry],
    }),
    limiterWait: new Histogram({
      name: 'tenure_limiter_wait_seconds',
      help: 'Time a call waited for its slot in the shared per-system limiter',
      labelNames: ['system', 'bucket'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
  }
}

export interface WebhookMetrics {
  rejections: Counter<'source' | 'reason'>
  accepted: Counter<'source' | 'outcome'>
}

/** HR webhook deliveries refused and notices accepted (src/http/webhooks.ts). */
export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const rejections = new Counter({
    name: 'tenure_webhook_rejections_total',
    help: 'HR webhook deliveries refused, by source and reason (nothing of them is stored)',
    labelNames: ['source', 'reason'] as const,
    registers: [registry],
  })
  const accepted = new Counter({
    name: 'tenure_webhook_notices_total',
    help: 'HR notices accepted, by source and outcome (stored or duplicate)',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  })
  return { rejections, accepted }
}
