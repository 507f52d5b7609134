/**
 * The outcome of sending one notification to one target, and the error a queue job throws when
 * the outcome is worth retrying. Senders never throw for a receiver's answer: they classify it
 * here once, and the notify worker alone decides to retry (pg-boss backoff) or give up.
 */
import type { Logger } from '../log.ts'
import type { NotifyChannel, NotifyConfig } from './config.ts'

export interface Delivery {
  channel: NotifyChannel
  /** The webhook endpoint's name, or the Slack channel posted to. */
  target?: string
  ok: boolean
  /** HTTP status of the receiver's answer, when one arrived. */
  status?: number
  /** Why it failed, secret-free (`HTTP 503`, `no answer within 15000 ms`, `Slack answered not_in_channel`). */
  error?: string
  /** True for 429, 5xx, timeouts and network errors: the same request may succeed later. */
  retryable: boolean
  /** The receiver's Retry-After, in ms, when it sent one. */
  retryAfterMs?: number
  /** Set when nothing was sent on purpose: the channel is not configured, or the endpoint filters this kind out. */
  skipped?: 'not_configured' | 'filtered' | 'already_sent'
  /** Email: recipients that could not be resolved and the fallback used (manager unknown, no owner). */
  routing?: string[]
}

export interface SendDeps {
  config: NotifyConfig
  log: Logger
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch
  /** Clock for webhook-timestamp and Retry-After dates; defaults to Date.now. */
  now?: () => number
  /** Aborts in-flight requests (shutdown); an aborted send is retryable. */
  signal?: AbortSignal
  /**
   * Email: Message-IDs already accepted by the SMTP server. A job re-run after a send whose
   * completion was lost (worker crash, expired job) checks here and does not mail again.
   */
  emailLedger?: EmailLedger
}

export interface EmailLedger {
  /** True when this Message-ID, or any e-mail for this notification, was accepted already. */
  sent(messageId: string, notificationId: string): Promise<boolean>
  record(messageId: string, notificationId: string): Promise<void>
}

/**
 * Thrown by the notify worker for a retryable failure so pg-boss retries the job with backoff.
 * `retryAfterMs` carries the receiver's Retry-After for a job layer that can defer by it
 * (pg-boss's own retry delay is a queue setting, so it cannot honour it by itself).
 */
export class NotificationDeliveryError extends Error {
  readonly channel: NotifyChannel
  readonly target: string | undefined
  readonly status: number | undefined
  readonly retryable: boolean
  readonly retryAfterMs: number | undefined

  constructor(delivery: Delivery) {
    super(`${delivery.channel}${delivery.target ? ` ${delivery.target}` : ''}: ${delivery.error ?? 'delivery failed'}`)
    this.name = 'NotificationDeliveryError'
    this.channel = delivery.channel
    this.target = delivery.target
    this.status = delivery.status
    this.retryable = delivery.retryable
    this.retryAfterMs = delivery.retryAfterMs
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, channel: this.channel, target: this.target, status: this.status, retryable: this.retryable, retryAfterMs: this.retryAfterMs }
  }
}
