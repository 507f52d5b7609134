/**
 * A system worker built on a running test Tenure, for tests that call its handler directly (a job
 * context they control: an attempt pg-boss wrote off, a machine version from the future, a pool
 * that fails). Its metrics go to a registry of its own.
 */
import { Counter, Registry as MetricsRegistry } from 'prom-client'
import { systemWorker } from '../../src/jobs/system-worker.ts'
import { createLimiter } from '../../src/jobs/limiter.ts'
import { silentLogger } from '../../src/log.ts'
import type { Pool } from '../../src/db/pool.ts'
import type { TestTenure } from './tenure.ts'

export function testSystemWorker(t: TestTenure, system: string, options: { lane?: 'work' | 'cleanup'; pool?: Pool } = {}): ReturnType<typeof systemWorker> {
  const metrics = new MetricsRegistry()
  return systemWorker(
    {
      pool: options.pool ?? t.running.pool,
      boss: t.running.boss,
      log: silentLogger,
      engine: t.running.engine,
      registry: t.running.registry,
      limiter: createLimiter(t.running.pool, { maxWaitMs: 5_000 }),
      retryLimit: 8,
      queueSchema: t.running.config.queue.schema,
      retryDelayMaxMs: 600_000,
      metrics: {
        rateLimited: new Counter({ name: 'rl', help: 'rl', labelNames: ['system', 'source'] as const, registers: [metrics] }),
        calls: new Counter({ name: 'calls', help: 'calls', labelNames: ['system', 'status'] as const, registers: [metrics] }),
      },
    },
    system,
    options.lane ?? 'work',
  )
}
