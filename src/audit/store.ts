/**
 * Every SQL statement of the audit module, as functions that take a Queryable (the pool, or a
 * client inside the caller's transaction) and return typed rows. DDL lives in
 * migrations/0002_audit.sql. The chain lock (advisory key 7402519401) is taken only inside the
 * SQL functions audit_chain_head() and audit_prune_before().
 */
import type { Queryable } from '../db/pool.ts'

/** Calls answered 429 in the last hour, per system. */
export async function rateLimitedCallsLastHour(db: Queryable): Promise<Array<{ system: string; n: number }>> {
  const limited = await db.query<{ system: string; n: number }>(
    `SELECT system, count(*)::int AS n FROM audit_events WHERE action = 'target.api_called' AND (details->>'status') = '429' AND occurred_at > now() - interval '1 hour' GROUP BY system`,
  )
  return limited.rows
}

/** An employee's newest 500 audit rows, newest first (the timeline). */
export async function auditEventsOfEmployee(
  db: Queryable,
  employeeId: string,
): Promise<Array<{ seq: number; occurred_at: Date; action: string; system: string | null; actor_type: string; actor_id: string; details: Record<string, unknown> }>> {
  const audit = await db.query<{ seq: number; occurred_at: Date; action: string; system: string | null; actor_type: string; actor_id: string; details: Record<string, unknown> }>(
    `SELECT seq, occurred_at, action, system, actor_type, actor_id, details FROM audit_events WHERE employee_id = $1 ORDER BY seq DESC LIMIT 500`,
    [employeeId],
  )
  return audit.rows
}
