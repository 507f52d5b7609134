/**
 * Forecast for queued leaver work: from each system's queue depth (cut-off and verification jobs
 * waiting or running) and its binding rate limit, when the queue will be drained. An estimate,
 * deliberately simple: calls per job × jobs ÷ the slowest bucket's rate. It shows a coming breach
 * (a mass layoff against Slack's 180 SCIM writes a minute) before the deadline passes.
 */
import type { Queryable } from '../db/pool.ts'
import type { SystemCatalog } from '../../provisioners/registry.ts'
import { leaverWorkDepths } from '../jobs/inspect.ts'

export interface SystemForecast {
  system: string
  queuedJobs: number
  /** The slowest of the system's limiter buckets, per minute. */
  bindingPerMinute: number
  doneAt: string
}

/** Vendor calls a cut-off plus its verification usually takes. */
export const CALLS_PER_LEAVER_JOB = 2

export async function forecastSystems(deps: { pool: Queryable; registry?: SystemCatalog; now: () => Date; config: { queue: { schema: string } } }): Promise<Map<string, SystemForecast>> {
  const out = new Map<string, SystemForecast>()
  const registry = deps.registry
  if (!registry) return out
  const rows = await leaverWorkDepths(deps.pool, deps.config.queue.schema)
  const now = deps.now().getTime()
  for (const system of registry.enabledIds()) {
    const queue = `system.${system.replaceAll(':', '/')}`
    const queued = rows.find((r) => r.name === queue)?.n ?? 0
    const provisioner = registry.get(system)
    const buckets = Object.keys(provisioner?.rateLimitBuckets ?? {})
    const perMinute = Math.min(...buckets.map((b) => registry.limitFor(system, b).perMinute), Number.POSITIVE_INFINITY)
    const rate = Number.isFinite(perMinute) && perMinute > 0 ? perMinute : 60_000
    out.set(system, {
      system,
      queuedJobs: queued,
      bindingPerMinute: rate,
      doneAt: new Date(now + ((queued * CALLS_PER_LEAVER_JOB) / rate) * 60_000).toISOString(),
    })
  }
  return out
}
