/**
 * The notify capability's repository: the email ledger over notify_email_deliveries (migration
 * 0019), which keeps a retried job from sending an email the SMTP server already accepted.
 */
import type { EmailLedger } from './delivery.ts'

/** The pool, or anything with pg's query(); narrower than db/pool.ts's Queryable so tests can pass a stand-in. */
export interface LedgerDb {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null; rows: unknown[] }>
}

/** The email ledger over notify_email_deliveries. */
export function pgEmailLedger(db: LedgerDb): EmailLedger {
  return {
    sent: async (messageId) => ((await db.query('SELECT 1 FROM notify_email_deliveries WHERE message_id = $1', [messageId])).rowCount ?? 0) > 0,
    record: async (messageId, notificationId) => {
      await db.query('INSERT INTO notify_email_deliveries (message_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [messageId, notificationId])
    },
  }
}
