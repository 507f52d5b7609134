/**
 * Test helpers for src/notify: a webhook receiver on 127.0.0.1 that records raw requests and
 * answers from a script, a job context, and a sample notification. Not used by production code.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JobContext } from '../jobs/runtime.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { Notification } from './model.ts'

export interface Received {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The raw body exactly as it arrived: receivers verify signatures over these bytes. */
  body: string
}

export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang'

export interface Receiver {
  url: string
  received: Received[]
  close(): Promise<void>
}

/** `answer(request, index)` decides each response; 'hang' never answers (a receiver that stalls). */
export async function startReceiver(answer: (req: Received, index: number) => Answer): Promise<Receiver> {
  const received: Received[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(r)
      const a = answer(r, received.length - 1)
      if (a === 'hang') return
      res.writeHead(a.status, a.headers ?? {})
      res.end(a.body ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/tenure`,
    received,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
    },
  }
}

export function jobContext(overrides: Partial<JobContext> = {}): JobContext {
  return {
    jobId: 'job-1',
    queue: 'notify',
    attempt: 1,
    correlationId: 'corr-1',
    log: silentLogger as Logger,
    signal: new AbortController().signal,
    ...overrides,
  }
}

export function sampleNotification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'emp-1042:3:page',
    kind: 'sla.page',
    severity: 'critical',
    title: 'Leaver revocation at 75% of its 4-hour budget: Jane Doe',
    text: '2 of 4 systems not yet verified:\n• google: revoking\n• slack: verify_failed; last error (Transient): HTTP 503\n1h 00m left (deadline 2025-03-03T13:00:00.000Z).',
    subject: { employeeId: 'emp-1042', employeeName: 'Jane Doe', caseId: 'emp-1042:3' },
    occurredAt: '2025-03-03T12:00:00.000Z',
    links: { console: 'http://127.0.0.1:8080/employees/emp-1042' },
    details: { deadlineAt: '2025-03-03T13:00:00.000Z' },
    ...overrides,
  }
}
