/**
 * Start a whole Tenure in-process on a fresh test database (real PostgreSQL, real pg-boss, real
 * HTTP on port 0), with a config built from a partial object, and helpers to wait on state.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { validateConfig } from '../../src/config/load.ts'
import type { ConfigInput } from '../../src/config/index.ts'
import { startTenure, type Running } from '../../src/main.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'
import type { Clock } from 'pg-boss'
import type { TargetReconcileDeps } from '../../src/jobs/target-reconcile.ts'
import { createLimiter } from '../../src/jobs/limiter.ts'

export interface TestTenure {
  running: Running
  db: TestDatabase
  url: string
  stop(): Promise<void>
  /** Resolve when `check` returns a truthy value; re-check every `everyMs` until `timeoutMs`. */
  until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs?: number): Promise<T>
  employeeState(externalId: string, source?: string): Promise<string | undefined>
}

export async function startTestTenure(
  config: ConfigInput,
  options: { log?: Logger; now?: () => Date; mode?: 'serve' | 'worker'; clock?: Clock } = {},
): Promise<TestTenure> {
  const db = await createTestDatabase('it')
  // Local state (sandbox tokens, the audit key) goes to a temporary folder, never a developer's .tenure/.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-it-'))
  const merged = validateConfig({
    ...config,
    // Tests that start the sandbox hire their own people: the 24 seeded HR people would only compete
    // with them (test/integration/sandbox-seed.test.ts turns it on).
    sandbox: { readHrAtStart: false, ...config.sandbox },
    server: { port: 0, ...config.server },
    database: { dataDir, ...config.database, url: db.url },
    queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1, ...config.queue },
    // Tests send their leavers at once; a second of settling keeps clean-ups from waiting 30 s.
    // In-process: tests steer the engine, its clock and its metrics in this process (the worker
    // process of `tenure serve` has its own test, test/integration/serve-worker-process.test.ts).
    workers: { cleanupSettleSeconds: 1, inProcess: true, ...config.workers },
    log: { level: 'silent', ...config.log },
  })
  const running = await startTenure({
    config: merged,
    mode: options.mode ?? 'serve',
    log: options.log ?? silentLogger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  })
  const until = async <T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs
    let last: unknown
    for (;;) {
      try {
        const value = await check()
        if (value) return value
      } catch (err) {
        last = err
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    running,
    db,
    url: running.url ?? '',
    until,
    employeeState: async (externalId, source = 'generic') => {
      const { rows } = await running.pool.query<{ state: string }>('SELECT state FROM employees WHERE source = $1 AND external_id = $2', [source, externalId])
      return rows[0]?.state
    },
    stop: async () => {
      await running.stop()
      await db.drop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

let counter = 0

/** A canonical event with the envelope filled in. */
export function hrEvent<T extends CanonicalEvent['type']>(
  type: T,
  employeeId: string,
  fields: Omit<Extract<CanonicalEvent, { type: T }>, 'type' | 'eventId' | 'source' | 'sourceEventId' | 'employeeId' | 'occurredAt' | 'receivedAt' | 'foundBy'> &
    Partial<Pick<CanonicalEvent, 'occurredAt' | 'receivedAt'>>,
): Extract<CanonicalEvent, { type: T }> {
  counter += 1
  const now = new Date(Date.now() + counter).toISOString()
  return {
    eventId: randomUUID(),
    source: 'generic',
    sourceEventId: `evt-${randomUUID()}`,
    employeeId,
    occurredAt: now,
    receivedAt: now,
    foundBy: 'webhook',
    ...fields,
    type,
  } as Extract<CanonicalEvent, { type: T }>
}

/** What `reconcileSystem` needs, from a running test Tenure, to run target reconciliation by hand. */
export function reconcileDeps(t: TestTenure, ignoreAccounts: string[] = []): TargetReconcileDeps {
  return {
    pool: t.running.pool,
    boss: t.running.boss,
    log: silentLogger,
    engine: t.running.engine,
    registry: t.running.registry,
    limiter: createLimiter(t.running.pool, { maxWaitMs: 5000 }),
    config: { enabled: true, intervalMinutes: 60, ignoreAccounts },
  }
}
