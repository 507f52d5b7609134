/**
 * What Tenure tells people: one Notification, rendered per channel (Slack, signed webhook, log).
 *
 * A notification carries ids and at most the employee's display name: it travels to Slack, to
 * third-party receivers and into job rows, so no email address, token, or HR record goes in it.
 * Its `id` is deterministic (`${caseId}:${step}`) because it becomes the webhook-id: a retried
 * delivery, or the same step computed twice, carries the same id and receivers can dedupe on it.
 */
import { z } from 'zod'

export const NOTIFICATION_KINDS = [
  'sla.notify',
  'sla.page',
  'sla.breach',
  'case.reopened',
  'verification.failed',
  'job.failed',
  'exception.requested',
  'exception.decided',
  'residual.access',
  'hr.bulk_hold.opened',
  'hr.bulk_hold.grown',
  'hr.bulk_hold.decided',
] as const
export type KnownNotificationKind = (typeof NOTIFICATION_KINDS)[number]
// `string & {}` keeps editor completion for the known kinds while allowing custom ladder steps (sla.<name>).
export type NotificationKind = KnownNotificationKind | (string & {})

export const SEVERITIES = ['info', 'warning', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

/**
 * Standard Webhooks signs `{id}.{timestamp}.{body}`, so the id must never contain a dot
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#signature-scheme).
 */
export const NOTIFICATION_ID = /^[A-Za-z0-9_:~-]{1,200}$/

export const notificationSchema = z
  .object({
    id: z.string().regex(NOTIFICATION_ID, 'letters, digits, _ : ~ - (no dots; it is signed as the webhook-id)'),
    kind: z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/, 'a dotted kind like sla.breach'),
    severity: z.enum(SEVERITIES),
    title: z.string().min(1).max(500),
    text: z.string().max(10_000),
    subject: z
      .object({
        employeeId: z.string().optional(),
        employeeName: z.string().optional(),
        system: z.string().optional(),
        caseId: z.string().optional(),
        exceptionId: z.string().optional(),
      })
      .strict(),
    occurredAt: z.iso.datetime({ offset: true }),
    links: z.object({ console: z.url().optional() }).strict().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()

export interface Notification {
  id: string
  kind: NotificationKind
  severity: Severity
  title: string
  text: string
  subject: {
    employeeId?: string
    employeeName?: string
    system?: string
    caseId?: string
    exceptionId?: string
  }
  occurredAt: string
  links?: { console?: string }
  details?: Record<string, unknown>
}

/**
 * Join parts into a notification id that is safe as a webhook-id and injective: characters other
 * than letters, digits, `_` and `-` (a `.` in an employee id, a `:` inside a part) become `~XX`,
 * so `a.b` and `a_b` cannot collide and the `:` separators stay unambiguous.
 */
export function notificationId(...parts: string[]): string {
  const id = parts
    .map((p) => p.replace(/[^A-Za-z0-9_-]/g, (c) => [...Buffer.from(c, 'utf8')].map((b) => `~${b.toString(16).padStart(2, '0')}`).join('')))
    .join(':')
  if (!NOTIFICATION_ID.test(id)) throw new RangeError(`notification id would be ${id.length} characters; the limit is 200`)
  return id
}

/** Which Slack channel (from config) a kind belongs in: decisions people must take go to approvals. */
export function slackRoute(kind: string): 'escalations' | 'approvals' {
  return kind.startsWith('exception.') || kind.startsWith('hr.bulk_hold.') || kind.startsWith('offboarding.emergency_') ? 'approvals' : 'escalations'
}

/** Replace the employee's name by their id, for places that must hold ids only (log lines). */
export function withoutName(value: string, subject: Notification['subject']): string {
  const name = subject.employeeName?.trim()
  if (!name) return value
  return value.split(name).join(subject.employeeId ? `employee ${subject.employeeId}` : 'the employee')
}

/**
 * The lifecycle machine's `notify` effects (state-machines/lifecycle-types.ts NOTIFY_KINDS) as
 * notification kinds and severities. Critical where access may still work; warning where the
 * person is cut off but something needs a human (residual items, a late exception).
 */
const LIFECYCLE_KINDS: Record<string, { kind: string; severity: Severity; title: string }> = {
  verification_failed: { kind: 'verification.failed', severity: 'critical', title: 'Access still works after revocation' },
  job_failed: { kind: 'job.failed', severity: 'critical', title: 'A provisioning job failed for good' },
  case_reopened: { kind: 'case.reopened', severity: 'critical', title: 'Leaver case reopened: account found active' },
  residual_access: { kind: 'residual.access', severity: 'warning', title: 'Residual access could not be removed' },
  access_reenabled: { kind: 'access.reenabled', severity: 'critical', title: 'Access re-enabled after revocation started' },
  access_not_restored: { kind: 'access.not_restored', severity: 'warning', title: 'Access not restored after a rescinded termination' },
  exception_not_applied: { kind: 'exception.not_applied', severity: 'warning', title: 'Exception arrived too late to apply' },
}

export interface LifecycleNotifyInput {
  /** Deterministic per effect, e.g. notificationId(employeeId, String(generation), kind, system, String(seq)). */
  id: string
  kind: string
  message: string
  system?: string
  employeeId: string
  employeeName?: string
  caseId?: string
  occurredAt: string
  consoleUrl?: string
}

/** Build the Notification for one `notify` effect of the lifecycle machine. */
export function lifecycleNotification(input: LifecycleNotifyInput): Notification {
  const known = LIFECYCLE_KINDS[input.kind]
  const kind = known?.kind ?? input.kind.replace(/_/g, '.')
  const who = input.employeeName ?? input.employeeId
  return {
    id: input.id,
    kind,
    severity: known?.severity ?? 'warning',
    title: `${known?.title ?? kind}: ${who}${input.system ? ` (${input.system})` : ''}`,
    text: input.message,
    subject: {
      employeeId: input.employeeId,
      ...(input.employeeName ? { employeeName: input.employeeName } : {}),
      ...(input.system ? { system: input.system } : {}),
      ...(input.caseId ? { caseId: input.caseId } : {}),
    },
    occurredAt: input.occurredAt,
    ...(input.consoleUrl ? { links: { console: input.consoleUrl } } : {}),
  }
}
