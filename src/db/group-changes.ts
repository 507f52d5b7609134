/**
 * Runtime SQL for group_membership_changes (migrations/0026): membership changes pending per
 * target group, shared by every worker process (provisioners/types.ts GroupChangeStore says what
 * each operation promises; provisioners/slack/usergroups.ts decides when to call them).
 *
 * Every statement is one atomic statement on the row, so two processes asking for, settling and
 * taking changes at once never lose one another's request: a round settles a row only when its seq
 * is still the seq the round read (a request made after the round read the group keeps it open).
 */
import type { Queryable } from './pool.ts'
import type { GroupChangeKey, GroupChangeOutcome, GroupChangeStore, OpenGroupChange } from '../../provisioners/types.ts'

/**
 * A settled change this key waits for and that is fresh enough: its outcome is answered as it is.
 * Otherwise the change is asked for again: a new seq, open, this key added to the waiting list.
 * An open change keeps its seq (its place in the round) and only gains the key.
 */
const REQUEST_SQL = `
WITH superseded AS (
  UPDATE group_membership_changes
     SET state = 'refused', code = 'superseded',
         reason = 'a later ' || $4 || ' of the same member was asked for before this change was applied',
         settled_at = now()
   WHERE system = $1 AND group_id = $2 AND user_id = $3 AND kind <> $4 AND state = 'pending'
), upsert AS (
  INSERT INTO group_membership_changes AS c (system, group_id, user_id, kind, seq, waiting)
  VALUES ($1, $2, $3, $4, nextval('group_membership_changes_seq'), ARRAY[$5::text])
  ON CONFLICT (system, group_id, user_id, kind) DO UPDATE SET
    seq = CASE WHEN c.state IN ('pending', 'written') THEN c.seq ELSE EXCLUDED.seq END,
    state = CASE WHEN c.state IN ('pending', 'written') THEN c.state ELSE 'pending' END,
    code = CASE WHEN c.state IN ('pending', 'written') THEN c.code END,
    reason = CASE WHEN c.state IN ('pending', 'written') THEN c.reason END,
    request_ids = CASE WHEN c.state IN ('pending', 'written') THEN c.request_ids ELSE '{}' END,
    settled_at = CASE WHEN c.state IN ('pending', 'written') THEN c.settled_at END,
    requested_at = CASE WHEN c.state IN ('pending', 'written') THEN c.requested_at ELSE now() END,
    waiting = CASE WHEN $5::text = ANY (c.waiting) THEN c.waiting ELSE c.waiting || $5::text END
  -- A settled outcome this job waits for is taken as it is (the DO UPDATE is skipped).
  WHERE NOT (c.state IN ('changed', 'unchanged', 'refused') AND $5::text = ANY (c.waiting) AND c.settled_at >= now() - make_interval(secs => $6::float8 / 1000))
  RETURNING c.state
)
SELECT u.state, NULL::text AS code, NULL::text AS reason, NULL::text[] AS request_ids FROM upsert u
UNION ALL
SELECT c.state, c.code, c.reason, c.request_ids FROM group_membership_changes c
 WHERE c.system = $1 AND c.group_id = $2 AND c.user_id = $3 AND c.kind = $4 AND NOT EXISTS (SELECT 1 FROM upsert)`

const OPEN_SQL = `
SELECT user_id, kind, seq, state FROM group_membership_changes
 WHERE system = $1 AND group_id = $2 AND state IN ('pending', 'written')
 ORDER BY seq`

const MARK_WRITTEN_SQL = `
UPDATE group_membership_changes c SET state = 'written'
  FROM unnest($3::text[], $4::text[], $5::bigint[]) AS w(user_id, kind, seq)
 WHERE c.system = $1 AND c.group_id = $2 AND c.user_id = w.user_id AND c.kind = w.kind AND c.seq = w.seq AND c.state = 'pending'`

const SETTLE_SQL = `
UPDATE group_membership_changes c
   SET state = s.state, code = s.code, reason = s.reason, request_ids = $9::text[], settled_at = now()
  FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[]) AS s(user_id, kind, seq, state, code, reason)
 WHERE c.system = $1 AND c.group_id = $2 AND c.user_id = s.user_id AND c.kind = s.kind AND c.seq = s.seq
   AND c.state IN ('pending', 'written')`

/** Settled outcomes are kept for their jobs (a hand-back, a retry) and go after a day, past SETTLED_MAX_AGE_MS. */
const PURGE_SQL = `
DELETE FROM group_membership_changes
 WHERE system = $1 AND group_id = $2 AND state IN ('changed', 'unchanged', 'refused') AND settled_at < now() - interval '1 day'`

export function groupChangeStore(db: Queryable): GroupChangeStore {
  return {
    async request(change: GroupChangeKey, key: string, maxAgeMs: number) {
      const { rows } = await db.query<{ state: string; code: string | null; reason: string | null; request_ids: string[] | null }>(REQUEST_SQL, [
        change.system,
        change.groupId,
        change.userId,
        change.kind,
        key,
        maxAgeMs,
      ])
      const row = rows[0]
      if (!row || row.state === 'pending' || row.state === 'written') return { status: 'open' as const }
      const requestIds = row.request_ids ?? []
      const outcome: GroupChangeOutcome =
        row.state === 'refused'
          ? { state: 'refused', code: row.code ?? 'refused', reason: row.reason ?? '', requestIds }
          : { state: row.state === 'changed' ? 'changed' : 'unchanged', requestIds }
      return { status: 'settled' as const, outcome }
    },
    async open(system: string, groupId: string): Promise<OpenGroupChange[]> {
      const { rows } = await db.query<{ user_id: string; kind: 'add' | 'remove'; seq: number; state: 'pending' | 'written' }>(OPEN_SQL, [system, groupId])
      return rows.map((r) => ({ userId: r.user_id, kind: r.kind, seq: Number(r.seq), state: r.state }))
    },
    async markWritten(system, groupId, changes) {
      if (changes.length === 0) return
      await db.query(MARK_WRITTEN_SQL, [system, groupId, changes.map((c) => c.userId), changes.map((c) => c.kind), changes.map((c) => c.seq)])
    },
    async settle(system, groupId, settled) {
      if (settled.length === 0) return
      // One statement per distinct evidence list keeps the arrays flat (a round has one or two).
      const byIds = new Map<string, typeof settled>()
      for (const s of settled) {
        const k = JSON.stringify(s.outcome.requestIds)
        byIds.set(k, [...(byIds.get(k) ?? []), s])
      }
      for (const [ids, group] of byIds) {
        await db.query(SETTLE_SQL, [
          system,
          groupId,
          group.map((s) => s.change.userId),
          group.map((s) => s.change.kind),
          group.map((s) => s.change.seq),
          group.map((s) => s.outcome.state),
          group.map((s) => (s.outcome.state === 'refused' ? s.outcome.code : null)),
          group.map((s) => (s.outcome.state === 'refused' ? s.outcome.reason : null)),
          JSON.parse(ids) as string[],
        ])
      }
      await db.query(PURGE_SQL, [system, groupId])
    },
  }
}
