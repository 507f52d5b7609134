import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { createLogger } from '../log.ts'
import { notifyConfigSchema } from './config.ts'
import { lifecycleNotification, notificationId } from './model.ts'
import { sendNotification } from './send.ts'
import { jobContext, sampleNotification } from './test-support.ts'
import { NOTIFY_QUEUE, jobIdFor, notifyJobSchema, notifyJobs, notifyWorker } from './worker.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const fullConfig = notifyConfigSchema.parse({
  slack: { token: 'xoxb-test', channels: { escalations: 'C1', approvals: 'C2' } },
  webhooks: [
    { name: 'pager', url: 'https://pager.example.com/h', secret: SECRET },
    { name: 'siem', url: 'https://siem.example.com/h', secret: SECRET },
  ],
})

function capture() {
  const stream = new PassThrough()
  const lines: Array<Record<string, unknown>> = []
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  return { log: createLogger({ destination: stream, level: 'info' }), lines, raw: () => lines.map((l) => JSON.stringify(l)).join('\n') }
}

describe('notify jobs', () => {
  test('when a notification goes to every channel, then there is one job per target with a deterministic key and id', () => {
    const n = sampleNotification()
    const jobs = notifyJobs(n, ['slack', 'webhook', 'log'], { config: fullConfig, correlationId: 'corr-9' })
    assert.deepEqual(
      jobs.map((j) => j.key),
      ['emp-1042:3:page:slack', 'emp-1042:3:page:webhook:pager', 'emp-1042:3:page:webhook:siem', 'emp-1042:3:page:log'],
    )
    for (const j of jobs) {
      assert.equal(j.name, NOTIFY_QUEUE)
      assert.equal(j.options.singletonKey, j.key)
      assert.match(j.options.id, UUID)
      assert.equal(j.data.correlationId, 'corr-9')
      assert.ok(notifyJobSchema.safeParse(JSON.parse(JSON.stringify(j.data))).success, 'payload survives the JSON round trip through pg-boss')
    }
    assert.deepEqual(
      notifyJobs(n, ['log', 'webhook', 'slack'], { config: fullConfig, correlationId: 'corr-9' }).map((j) => j.options.id),
      jobs.map((j) => j.options.id),
      'the same notification enqueued twice names the same jobs',
    )
    assert.equal(new Set(jobs.map((j) => j.options.id)).size, jobs.length)
    assert.notEqual(jobIdFor('a:slack'), jobIdFor('b:slack'))
  })

  test('when a job payload is malformed, then validation refuses it', () => {
    const n = sampleNotification()
    assert.equal(notifyJobSchema.safeParse({ notification: n, channel: 'webhook', correlationId: 'c' }).success, false, 'webhook without endpoint')
    assert.equal(notifyJobSchema.safeParse({ notification: n, channel: 'slack', endpoint: 'pager', correlationId: 'c' }).success, false)
    assert.equal(notifyJobSchema.safeParse({ notification: { ...n, id: 'jane.doe:page' }, channel: 'log', correlationId: 'c' }).success, false, 'a dot in the id')
    assert.equal(notifyJobSchema.safeParse({ notification: { ...n, severity: 'urgent' }, channel: 'log', correlationId: 'c' }).success, false)
  })
})

describe('log channel', () => {
  test('when a critical notification is logged, then it is one error line with ids and no name', async () => {
    const { log, lines, raw } = capture()
    const config = notifyConfigSchema.parse({})
    const deliveries = await sendNotification(sampleNotification(), ['log'], { config, log })
    assert.deepEqual(deliveries, [{ channel: 'log', ok: true, retryable: false }])
    assert.equal(lines.length, 1)
    const line = lines[0]!
    assert.equal(line.level, 'error')
    assert.equal(line.msg, 'Leaver revocation at 75% of its 4-hour budget: employee emp-1042')
    assert.deepEqual((line.notification as { subject: unknown }).subject, { employeeId: 'emp-1042', caseId: 'emp-1042:3' })
    assert.equal((line.notification as { kind: string }).kind, 'sla.page')
    assert.doesNotMatch(raw(), /Jane Doe/)
  })

  test('when notifications of each severity are logged, then the level follows the severity', async () => {
    const { log, lines } = capture()
    const config = notifyConfigSchema.parse({})
    for (const severity of ['info', 'warning', 'critical'] as const) await sendNotification(sampleNotification({ severity }), ['log'], { config, log })
    assert.deepEqual(
      lines.map((l) => l.level),
      ['info', 'warn', 'error'],
    )
  })

  test('when log is off in config, then the log channel is skipped and gets no job', async () => {
    const { log, lines } = capture()
    const config = notifyConfigSchema.parse({ log: false })
    assert.deepEqual(await sendNotification(sampleNotification(), ['log'], { config, log }), [{ channel: 'log', ok: true, retryable: false, skipped: 'not_configured' }])
    assert.equal(lines.length, 0)
    assert.deepEqual(notifyJobs(sampleNotification(), ['log'], { config }), [])
  })

  test('when the worker runs a log job, then the line carries the job context and the secret never appears', async () => {
    const { log, lines, raw } = capture()
    const [job] = notifyJobs(sampleNotification(), ['log'], { config: fullConfig })
    await notifyWorker({ config: fullConfig }).handler(job!.data, jobContext({ log: log.child({ jobId: 'j-7', correlationId: 'corr-1' }) }))
    assert.equal(lines[0]?.jobId, 'j-7')
    assert.equal(raw().includes(SECRET), false)
    assert.equal(raw().includes('xoxb-test'), false)
  })
})

describe('notification ids and lifecycle notifications', () => {
  test('when parts contain dots or colons, then the id has no dot and different parts never give the same id', () => {
    const ids = [notificationId('jane.doe', 'x'), notificationId('jane_doe', 'x'), notificationId('a:b', 'c'), notificationId('a', 'b:c')]
    assert.equal(new Set(ids).size, ids.length)
    for (const id of ids) assert.doesNotMatch(id, /\./)
  })

  test('when the lifecycle machine notifies verification_failed, then it becomes a critical verification.failed notification', () => {
    const n = lifecycleNotification({
      id: notificationId('emp-1042', '3', 'verification_failed', 'slack', '1'),
      kind: 'verification_failed',
      message: 'slack: access still works after 3 cut-off attempts (sessions)',
      system: 'slack',
      employeeId: 'emp-1042',
      employeeName: 'Jane Doe',
      occurredAt: '2025-03-03T12:00:00.000Z',
    })
    assert.equal(n.kind, 'verification.failed')
    assert.equal(n.severity, 'critical')
    assert.equal(n.title, 'Access still works after revocation: Jane Doe (slack)')
    assert.deepEqual(n.subject, { employeeId: 'emp-1042', employeeName: 'Jane Doe', system: 'slack' })
  })
})
