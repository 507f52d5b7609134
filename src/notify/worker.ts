/**
 * The `notify` queue: one job per (notification, target), so a retry re-sends only the target
 * that failed. pg-boss re-runs a failed job with the same data, so a job that fanned out to
 * several channels would re-post to Slack every time a webhook receiver answered 503.
 *
 * Idempotency, end to end:
 * - the job id is derived from `${notification.id}:${target}`: pg-boss inserts with
 *   ON CONFLICT DO NOTHING, so enqueuing the same escalation twice (a timer that fired again, a
 *   catch-up pass after a restart) makes no second job while the first is kept;
 * - the webhook-id is the notification id, so a receiver dedupes a retry that did arrive but
 *   whose answer was lost.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { NOTIFY_CHANNELS, endpointWants, type NotifyChannel, type NotifyConfig } from './config.ts'
import { NotificationDeliveryError, type SendDeps } from './delivery.ts'
import { notificationSchema, type Notification } from './model.ts'
import { sendTarget } from './send.ts'
import { pgEmailLedger, type LedgerDb } from './store.ts'

export const NOTIFY_QUEUE = 'notify'

/**
 * Suggested options for `boss.createQueue(NOTIFY_QUEUE, …)`. Backoff 5 s doubling to 30 min over
 * 12 retries keeps trying for about 2.5 hours: long enough to ride out a receiver's deploy or a
 * Slack incident, short enough that a page does not arrive the next day.
 */
export const NOTIFY_QUEUE_OPTIONS = {
  retryLimit: 12,
  retryDelay: 5,
  retryBackoff: true,
  retryDelayMax: 1800,
  expireInSeconds: 120,
} as const

export const notifyJobSchema = z
  .object({
    notification: notificationSchema,
    channel: z.enum(NOTIFY_CHANNELS),
    endpoint: z.string().min(1).optional(),
    email: z.object({ to: z.array(z.email()), routing: z.array(z.string()) }).strict().optional(),
    correlationId: z.string().min(1),
  })
  .strict()
  .refine((d) => (d.channel === 'webhook') === (d.endpoint !== undefined), {
    message: 'endpoint is required for the webhook channel and only there',
    path: ['endpoint'],
  })
  .refine((d) => (d.channel === 'email') === (d.email !== undefined), {
    message: 'email recipients are required for the email channel and only there',
    path: ['email'],
  })

export type NotifyJobPayload = z.output<typeof notifyJobSchema>

/** One job for the lead's `boss.send(job.name, job.data, job.options)` / `boss.insert`. */
export interface NotifyJob {
  name: typeof NOTIFY_QUEUE
  data: NotifyJobPayload
  /** Deterministic: `${notification.id}:${channel}` or `${notification.id}:webhook:${endpoint}`. */
  key: string
  options: { id: string; singletonKey: string }
}

/**
 * The jobs that deliver a notification to `channels`: one per configured target (each webhook
 * endpoint that wants this kind is its own target). Channels that are not configured produce no job.
 */
export function notifyJobs(
  notification: Notification,
  channels: readonly NotifyChannel[],
  opts: { config: NotifyConfig; correlationId?: string; email?: { to: string[]; routing: string[] } },
): NotifyJob[] {
  const { config } = opts
  const correlationId = opts.correlationId ?? notification.id
  const jobs: NotifyJob[] = []
  const add = (channel: NotifyChannel, endpoint?: string, email?: { to: string[]; routing: string[] }) => {
    const key = endpoint ? `${notification.id}:${channel}:${endpoint}` : `${notification.id}:${channel}`
    jobs.push({
      name: NOTIFY_QUEUE,
      key,
      data: { notification, channel, ...(endpoint ? { endpoint } : {}), ...(email ? { email } : {}), correlationId },
      options: { id: jobIdFor(key), singletonKey: key },
    })
  }
  for (const channel of NOTIFY_CHANNELS) {
    if (!channels.includes(channel)) continue
    if (channel === 'slack' && config.slack) add('slack')
    if (channel === 'log' && config.log) add('log')
    // Without resolved recipients (a caller outside the ladder) the email goes to the fallback list.
    if (channel === 'email' && config.email) add('email', undefined, opts.email ?? { to: [...config.email.fallback], routing: [] })
    if (channel === 'webhook') for (const w of config.webhooks) if (endpointWants(w, notification.kind)) add('webhook', w.name)
  }
  return jobs
}

/**
 * A UUID derived from the job key (RFC 9562 version 8, "custom": SHA-256 of the key with the
 * version and variant bits set), so the same key always names the same pg-boss job.
 */
export function jobIdFor(key: string): string {
  const hex = createHash('sha256').update(`tenure:notify:${key}`).digest('hex').slice(0, 32).split('')
  hex[12] = '8'
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  const h = hex.join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export interface NotifyWorkerDeps extends Omit<SendDeps, 'log' | 'signal' | 'emailLedger'> {
  config: NotifyConfig
  /** Where email Message-IDs accepted by the SMTP server are recorded (notify_email_deliveries). */
  pool?: LedgerDb
}

/**
 * Sends the job's one target. A retryable failure throws NotificationDeliveryError (pg-boss
 * retries with backoff; registerWorker logs the attempt); a permanent one is logged here, once,
 * at error and completes the job, because retrying a 410 or a wrong channel only adds noise.
 */
export function notifyWorker(deps: NotifyWorkerDeps): WorkerDefinition<typeof notifyJobSchema> {
  return {
    queue: NOTIFY_QUEUE,
    schema: notifyJobSchema,
    handler: async (data, ctx) => {
      const n: Notification = data.notification
      const { pool, ...sendDeps } = deps
      const delivery = await sendTarget(
        n,
        { channel: data.channel, ...(data.endpoint ? { endpoint: data.endpoint } : {}), ...(data.email ? { email: data.email } : {}) },
        { ...sendDeps, log: ctx.log, signal: ctx.signal, ...(pool ? { emailLedger: pgEmailLedger(pool) } : {}) },
      )
      const fields = { notificationId: n.id, kind: n.kind, channel: delivery.channel, target: delivery.target, status: delivery.status, routing: delivery.routing }
      if (delivery.ok) {
        ctx.log.info({ ...fields, skipped: delivery.skipped }, delivery.skipped ? 'notification skipped' : 'notification delivered')
        return delivery
      }
      if (delivery.retryable) throw new NotificationDeliveryError(delivery)
      ctx.log.error({ ...fields, error: delivery.error }, 'notification could not be delivered and will not be retried')
      return delivery
    },
  }
}
