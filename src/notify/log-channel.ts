/**
 * Log channel: one structured pino line per notification, at the level of its severity
 * (info, warn, error for critical), so log-based alerting (Loki, CloudWatch, Datadog) can page
 * on `notification.kind` without any other integration. Logs hold ids only: the employee's
 * name is replaced by their id in the title and text.
 */
import type { Logger } from '../log.ts'
import type { Delivery } from './delivery.ts'
import { withoutName, type Notification } from './model.ts'

export function logNotification(n: Notification, log: Logger): Delivery {
  const { employeeName: _name, ...ids } = n.subject
  const fields = {
    notification: {
      id: n.id,
      kind: n.kind,
      severity: n.severity,
      subject: ids,
      occurredAt: n.occurredAt,
      text: withoutName(n.text, n.subject),
      ...(n.links ? { links: n.links } : {}),
      ...(n.details ? { details: n.details } : {}),
    },
  }
  const msg = withoutName(n.title, n.subject)
  if (n.severity === 'critical') log.error(fields, msg)
  else if (n.severity === 'warning') log.warn(fields, msg)
  else log.info(fields, msg)
  return { channel: 'log', ok: true, retryable: false }
}
