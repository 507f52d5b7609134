/**
 * Send one notification to a set of channels at once. A channel that is not configured (no
 * `notify.slack`, no webhooks, `notify.log: false`) is reported as skipped rather than failed:
 * the default ladder names every channel and an installation without Slack is not an outage.
 */
import { NOTIFY_CHANNELS, endpointWants, type NotifyChannel } from './config.ts'
import type { Delivery, SendDeps } from './delivery.ts'
import { logNotification } from './log-channel.ts'
import type { Notification } from './model.ts'
import { sendEmail } from './email.ts'
import { sendSlack } from './slack.ts'
import { sendWebhook } from './webhook.ts'

/** Every configured target, one Delivery each (one per webhook endpoint), sent concurrently. */
export async function sendNotification(notification: Notification, channels: readonly NotifyChannel[], deps: SendDeps): Promise<Delivery[]> {
  const wanted = NOTIFY_CHANNELS.filter((c) => channels.includes(c))
  const sends = wanted.flatMap((channel): Array<Promise<Delivery>> => {
    if (channel === 'webhook') {
      if (deps.config.webhooks.length === 0) return [Promise.resolve({ channel, ok: true, retryable: false, skipped: 'not_configured' })]
      return deps.config.webhooks.map((endpoint) =>
        endpointWants(endpoint, notification.kind)
          ? sendWebhook(notification, endpoint, deps)
          : Promise.resolve({ channel, target: endpoint.name, ok: true, retryable: false, skipped: 'filtered' }),
      )
    }
    return [sendTarget(notification, { channel }, deps)]
  })
  return Promise.all(sends)
}

export interface Target {
  channel: NotifyChannel
  /** The webhook endpoint's name; required for the webhook channel. */
  endpoint?: string
  /** Email: the resolved addresses and routing notes (see routing.ts). */
  email?: { to: string[]; routing: string[] }
}

/** Send to exactly one target (one queue job). Never throws for a receiver's answer. */
export async function sendTarget(notification: Notification, target: Target, deps: SendDeps): Promise<Delivery> {
  const { config } = deps
  switch (target.channel) {
    case 'slack':
      if (!config.slack) return { channel: 'slack', ok: true, retryable: false, skipped: 'not_configured' }
      return sendSlack(notification, config.slack, deps)
    case 'email': {
      if (!config.email) return { channel: 'email', ok: true, retryable: false, skipped: 'not_configured' }
      const d = await sendEmail(notification, target.email?.to ?? [], config.email, deps)
      return target.email?.routing.length ? { ...d, routing: target.email.routing } : d
    }
    case 'log':
      if (!config.log) return { channel: 'log', ok: true, retryable: false, skipped: 'not_configured' }
      return logNotification(notification, deps.log)
    case 'webhook': {
      const endpoint = config.webhooks.find((w) => w.name === target.endpoint)
      if (!endpoint) {
        // Removed from config after the job was queued: the operator no longer wants it there.
        return { channel: 'webhook', ok: true, retryable: false, skipped: 'not_configured', ...(target.endpoint ? { target: target.endpoint } : {}) }
      }
      if (!endpointWants(endpoint, notification.kind)) return { channel: 'webhook', target: endpoint.name, ok: true, retryable: false, skipped: 'filtered' }
      return sendWebhook(notification, endpoint, deps)
    }
  }
}
