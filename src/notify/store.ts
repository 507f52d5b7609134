/**
 * The notify capability's repository: the email ledger over notify_email_deliveries (migration
 * 0019), which keeps a retried job from sending an email the SMTP server already accepted, and
 * the one HR fact routing reads (the manager's address).
 */
import type { EmailLedger } from './delivery.ts'

/** The pool, or anything with pg's query(); narrower than db/pool.ts's Queryable so tests can pass a stand-in. */
export interface LedgerDb {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null; rows: unknown[] }>
}

/**
 * The email ledger over notify_email_deliveries. One e-mail per notification id: a row for the
 * notification under any Message-ID counts as sent (rows written before Message-IDs stopped
 * depending on the recipient list carry the recipients' hash; the notification id still matches).
 */
export function pgEmailLedger(db: LedgerDb): EmailLedger {
  return {
    sent: async (messageId, notificationId) =>
      ((await db.query('SELECT 1 FROM notify_email_deliveries WHERE message_id = $1 OR notification_id = $2 LIMIT 1', [messageId, notificationId])).rowCount ?? 0) > 0,
    record: async (messageId, notificationId) => {
      await db.query('INSERT INTO notify_email_deliveries (message_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [messageId, notificationId])
    },
  }
}

/** The manager's address from the employee's HR profile; undefined when the profile has none (or no such employee). */
export async function managerEmailOf(db: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }, employeeId: string): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT profile->>'managerEmail' AS manager_email FROM employees WHERE id::text = $1`, [employeeId])
  const value = (rows[0] as { manager_email: string | null } | undefined)?.manager_email
  return value && value.includes('@') ? value : undefined
}
