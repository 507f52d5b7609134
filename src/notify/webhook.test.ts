import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes, timingSafeEqual, type BinaryLike } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { silentLogger } from '../log.ts'
import { notifyConfigSchema, type NotifyConfig } from './config.ts'
import { NotificationDeliveryError } from './delivery.ts'
import { sendNotification } from './send.ts'
import { jobContext, sampleNotification, startReceiver, type Answer, type Receiver } from './test-support.ts'
import { signV1 } from './webhook.ts'
import { notifyJobs, notifyWorker } from './worker.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const TOLERANCE_SECONDS = 5 * 60

/**
 * A receiver's check, written from the Standard Webhooks spec and nothing in src/notify: the
 * HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}" under the base64-decoded part of
 * the whsec_ secret, compared in constant time against each v1 entry of webhook-signature, and a
 * timestamp within five minutes of now.
 */
function verifyStandardWebhook(secret: string, headers: IncomingHttpHeaders, rawBody: string, nowSeconds: number): boolean {
  const id = headers['webhook-id']
  const ts = headers['webhook-timestamp']
  const sigHeader = headers['webhook-signature']
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigHeader !== 'string') return false
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > TOLERANCE_SECONDS) return false
  const key: BinaryLike = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${rawBody}`).digest()
  return sigHeader.split(' ').some((entry) => {
    const [version, sig] = entry.split(',')
    if (version !== 'v1' || sig === undefined) return false
    const got = Buffer.from(sig, 'base64')
    return got.length === expected.length && timingSafeEqual(got, expected)
  })
}

function configFor(receivers: Array<{ name: string; url: string; timeoutMs?: number; events?: string[] }>, extra: Record<string, unknown> = {}): NotifyConfig {
  return notifyConfigSchema.parse({
    log: false,
    webhooks: receivers.map((r) => ({ secret: SECRET, ...r })),
    ...extra,
  })
}

async function withReceiver(answer: (index: number) => Answer, fn: (r: Receiver) => Promise<void>): Promise<void> {
  const receiver = await startReceiver((_req, i) => answer(i))
  try {
    await fn(receiver)
  } finally {
    await receiver.close()
  }
}

describe('Standard Webhooks signing', () => {
  test('when signing the specification test vector, then the signature matches the published one', () => {
    // Test vector used across Standard Webhooks implementations (secret, msg id, timestamp, payload → signature).
    const sig = signV1('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
    assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })
})

describe('webhook delivery', () => {
  test('when a notification is sent, then the receiver gets a body and headers whose signature, id and timestamp verify per the spec', async () => {
    await withReceiver(
      () => ({ status: 204 }),
      async (r) => {
        const n = sampleNotification()
        const nowMs = Date.now()
        const deliveries = await sendNotification(n, ['webhook'], { config: configFor([{ name: 'pager', url: r.url }]), log: silentLogger, now: () => nowMs })

        assert.deepEqual(deliveries, [{ channel: 'webhook', target: 'pager', ok: true, retryable: false, status: 204 }])
        assert.equal(r.received.length, 1)
        const req = r.received[0]!
        assert.equal(req.method, 'POST')
        assert.equal(req.headers['content-type'], 'application/json')
        assert.equal(req.headers['webhook-id'], n.id)
        assert.equal(req.headers['webhook-timestamp'], String(Math.floor(nowMs / 1000)))
        assert.ok(verifyStandardWebhook(SECRET, req.headers, req.body, Math.floor(Date.now() / 1000)), 'signature verifies')
        assert.deepEqual(JSON.parse(req.body), { type: 'sla.page', timestamp: n.occurredAt, data: n })

        // The same check rejects a tampered body, a swapped id, a stale timestamp and another key.
        assert.equal(verifyStandardWebhook(SECRET, req.headers, req.body.replace('Jane', 'John'), Math.floor(Date.now() / 1000)), false)
        assert.equal(verifyStandardWebhook(SECRET, { ...req.headers, 'webhook-id': 'other:page' }, req.body, Math.floor(Date.now() / 1000)), false)
        assert.equal(verifyStandardWebhook(SECRET, req.headers, req.body, Math.floor(nowMs / 1000) + 301), false)
        assert.equal(verifyStandardWebhook(`whsec_${randomBytes(32).toString('base64')}`, req.headers, req.body, Math.floor(Date.now() / 1000)), false)
      },
    )
  })

  test('when a rotation secret is configured, then each secret has its own v1 signature and either one verifies', async () => {
    const next = `whsec_${randomBytes(32).toString('base64')}`
    await withReceiver(
      () => ({ status: 200 }),
      async (r) => {
        const config = notifyConfigSchema.parse({ log: false, webhooks: [{ name: 'siem', url: r.url, secret: SECRET, additionalSecrets: [next] }] })
        await sendNotification(sampleNotification(), ['webhook'], { config, log: silentLogger })
        const req = r.received[0]!
        assert.equal(String(req.headers['webhook-signature']).split(' ').length, 2)
        const now = Math.floor(Date.now() / 1000)
        assert.ok(verifyStandardWebhook(SECRET, req.headers, req.body, now))
        assert.ok(verifyStandardWebhook(next, req.headers, req.body, now))
      },
    )
  })

  test('when the receiver answers 500 and then 200, then the first job attempt is retryable and the retry is delivered with the same webhook-id', async () => {
    await withReceiver(
      (i) => (i === 0 ? { status: 500, body: 'upstream exploded' } : { status: 200 }),
      async (r) => {
        const config = configFor([{ name: 'pager', url: r.url }])
        const n = sampleNotification()
        const [job] = notifyJobs(n, ['webhook'], { config })
        assert.ok(job)
        const worker = notifyWorker({ config })

        const first = await worker.handler(job.data, jobContext({ attempt: 1 })).then(
          () => assert.fail('a 500 must fail the attempt'),
          (err: unknown) => err,
        )
        assert.ok(first instanceof NotificationDeliveryError)
        assert.equal(first.retryable, true)
        assert.equal(first.status, 500)
        assert.match(first.message, /HTTP 500: upstream exploded/)

        const second = await worker.handler(job.data, jobContext({ attempt: 2 }))
        assert.deepEqual(second, { channel: 'webhook', target: 'pager', ok: true, retryable: false, status: 200 })
        assert.equal(r.received.length, 2)
        assert.equal(r.received[0]!.headers['webhook-id'], r.received[1]!.headers['webhook-id'])
        for (const req of r.received) assert.ok(verifyStandardWebhook(SECRET, req.headers, req.body, Math.floor(Date.now() / 1000)))
      },
    )
  })

  test('when the receiver answers 410, then the delivery is permanent and the job completes without a retry', async () => {
    await withReceiver(
      () => ({ status: 410 }),
      async (r) => {
        const config = configFor([{ name: 'retired', url: r.url }])
        const n = sampleNotification()
        const [delivery] = await sendNotification(n, ['webhook'], { config, log: silentLogger })
        assert.equal(delivery?.ok, false)
        assert.equal(delivery?.retryable, false)
        assert.equal(delivery?.status, 410)
        assert.match(delivery?.error ?? '', /disabled/)

        const [job] = notifyJobs(n, ['webhook'], { config })
        const result = await notifyWorker({ config }).handler(job!.data, jobContext())
        assert.deepEqual(result, delivery)
      },
    )
  })

  test('when the receiver answers 429 with Retry-After, then the job error carries the wait', async () => {
    await withReceiver(
      () => ({ status: 429, headers: { 'retry-after': '7' } }),
      async (r) => {
        const config = configFor([{ name: 'pager', url: r.url }])
        const [job] = notifyJobs(sampleNotification(), ['webhook'], { config })
        await assert.rejects(notifyWorker({ config }).handler(job!.data, jobContext()), (err: unknown) => {
          assert.ok(err instanceof NotificationDeliveryError)
          assert.equal(err.retryable, true)
          assert.equal(err.retryAfterMs, 7000)
          return true
        })
      },
    )
  })

  test('when the receiver never answers, then the attempt times out and is retryable', async () => {
    await withReceiver(
      () => 'hang',
      async (r) => {
        const config = configFor([{ name: 'slowpoke', url: r.url, timeoutMs: 200 }])
        const [delivery] = await sendNotification(sampleNotification(), ['webhook'], { config, log: silentLogger })
        assert.equal(delivery?.ok, false)
        assert.equal(delivery?.retryable, true)
        assert.equal(delivery?.status, undefined)
        assert.match(delivery?.error ?? '', /no answer within 200 ms/)
      },
    )
  })

  test('when the receiver redirects, then the redirect is not followed and the delivery fails for good', async () => {
    await withReceiver(
      () => ({ status: 200 }),
      async (elsewhere) => {
        await withReceiver(
          () => ({ status: 307, headers: { location: `${elsewhere.url}?token=abc` } }),
          async (r) => {
            const [delivery] = await sendNotification(sampleNotification(), ['webhook'], { config: configFor([{ name: 'moved', url: r.url }]), log: silentLogger })
            assert.equal(delivery?.ok, false)
            assert.equal(delivery?.retryable, false)
            assert.equal(delivery?.status, 307)
            assert.doesNotMatch(delivery?.error ?? '', /token=abc/)
            assert.equal(elsewhere.received.length, 0, 'the signed request never reached the redirect target')
          },
        )
      },
    )
  })

  test('when nothing listens on the port, then the connection failure is retryable', async () => {
    const r = await startReceiver(() => ({ status: 200 }))
    const url = r.url
    await r.close()
    const [delivery] = await sendNotification(sampleNotification(), ['webhook'], { config: configFor([{ name: 'gone', url }]), log: silentLogger })
    assert.equal(delivery?.ok, false)
    assert.equal(delivery?.retryable, true)
    assert.match(delivery?.error ?? '', /ECONNREFUSED/)
  })

  test('when an endpoint filters kinds, then only matching notifications reach it and no job is made for the rest', async () => {
    await withReceiver(
      () => ({ status: 200 }),
      async (r) => {
        const config = configFor([{ name: 'sla-only', url: r.url, events: ['sla.*'] }])
        const jobFailed = sampleNotification({ id: 'emp-1042:job-failed:1', kind: 'job.failed' })
        assert.deepEqual(notifyJobs(jobFailed, ['webhook'], { config }), [])
        const deliveries = await sendNotification(jobFailed, ['webhook'], { config, log: silentLogger })
        assert.deepEqual(deliveries, [{ channel: 'webhook', target: 'sla-only', ok: true, retryable: false, skipped: 'filtered' }])
        assert.equal(r.received.length, 0)

        await sendNotification(sampleNotification(), ['webhook'], { config, log: silentLogger })
        assert.equal(r.received.length, 1)
      },
    )
  })

  test('when one of two receivers fails, then each gets its own job and the healthy one is not sent twice on retry', async () => {
    await withReceiver(
      () => ({ status: 200 }),
      async (healthy) => {
        await withReceiver(
          () => ({ status: 503 }),
          async (broken) => {
            const config = configFor([
              { name: 'healthy', url: healthy.url },
              { name: 'broken', url: broken.url },
            ])
            const jobs = notifyJobs(sampleNotification(), ['webhook'], { config })
            assert.deepEqual(
              jobs.map((j) => j.key),
              ['emp-1042:3:page:webhook:healthy', 'emp-1042:3:page:webhook:broken'],
            )
            const worker = notifyWorker({ config })
            await worker.handler(jobs[0]!.data, jobContext())
            for (let attempt = 1; attempt <= 3; attempt++) {
              await assert.rejects(worker.handler(jobs[1]!.data, jobContext({ attempt })), NotificationDeliveryError)
            }
            assert.equal(healthy.received.length, 1)
            assert.equal(broken.received.length, 3)
          },
        )
      },
    )
  })
})
