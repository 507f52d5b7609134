/**
 * What a test of src/jobs/runtime.ts needs around registerWorker: its own test database, a
 * started pg-boss on it (the caller says how to build it: plain, or Tenure's createBoss with its
 * NOTIFY wake-ups) and a WorkerHost, set up before the file's tests and torn down after them.
 */
import { after, before } from 'node:test'
import type { PgBoss } from 'pg-boss'
import { Registry } from 'prom-client'
import { createJobMetrics } from '../../src/http/metrics.ts'
import type { WorkerHost } from '../../src/jobs/runtime.ts'
import { silentLogger } from '../../src/log.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'

export interface WorkerHostFixture {
  readonly db: TestDatabase
  readonly boss: PgBoss
  readonly host: WorkerHost
}

export function workerHostFixture(name: string, makeBoss: (url: string) => PgBoss): WorkerHostFixture {
  const shutdown = new AbortController()
  const fixture = {} as { db: TestDatabase; boss: PgBoss; host: WorkerHost }
  before(async () => {
    fixture.db = await createTestDatabase(name)
    fixture.boss = makeBoss(fixture.db.url)
    await fixture.boss.start()
    fixture.host = { boss: fixture.boss, log: silentLogger, metrics: createJobMetrics(new Registry()), shutdown: shutdown.signal }
  })
  after(async () => {
    shutdown.abort()
    await fixture.boss?.stop({ graceful: false })
    await fixture.db?.drop()
  })
  return fixture
}
