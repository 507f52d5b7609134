/**
 * The reports' repository: every SQL statement of the reports, as functions returning text
 * (pg-boss's plans.ts shape), and the functions at the end that run them and return typed rows.
 * They run inside one REPEATABLE READ, READ ONLY transaction, so every pass of one export (rows,
 * population, HTML sections) reads the same snapshot as the audit chain head it names.
 *
 * Parameters (PostgreSQL wants exactly the ones a statement uses):
 *   caseRows():        $1 from (inclusive)  $2 to (exclusive)  $3 the report's moment
 *                      $4 the employees of a one-employee report (Tenure ids; NULL: everyone)
 *   population queries: $1 from  $2 to  $3 what a date-only termination means ('end_of_day' |
 *                      'start_of_day')  $4 the default time zone  $5 the employees (as in
 *                      caseRows; NULL: everyone)  $6 the name asked for, which also matches HR
 *                      terminations of someone Tenure has no employee row for
 * A report without a period passes '-infinity' and 'infinity' as from and to.
 */
import type pg from 'pg'
import QueryStream from 'pg-query-stream'
import type { Queryable } from '../db/pool.ts'
import type { CaseDbRow, PopulationDbRow } from './rows.ts'
import type { ReportManifest } from './manifest.ts'


/** The chain head the export is built from: the newest row, or the newest checkpoint once retention pruned every row. */
function chainHead(): string {
  return `
    SELECT seq, hash, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at
      FROM (
        (SELECT e.seq, e.hash, e.occurred_at FROM audit_events e ORDER BY e.seq DESC LIMIT 1)
        UNION ALL
        (SELECT c.seq, c.hash, c.occurred_at FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1)
      ) h
     ORDER BY seq DESC
     LIMIT 1`
}

/**
 * The HR population: every employee.terminated event Tenure stored (from webhooks and
 * reconciliation alike), with its effective moment and the leaver case that accounts for it.
 *
 * The effective moment is the one the engine computed (cases.effective_at) when the event opened
 * or updated a case. An event that never did (a repeat notice, or one Tenure never applied) gets
 * it from its payload the way src/lifecycle/schedule.ts reads it: effectiveAt, else the date's
 * end (or start) of day in the employee's zone, else the moment it was received; an immediate
 * termination never later than its receipt.
 *
 * An event without a case of its own is accounted for by the leaver case of the same person that
 * was current when it arrived (the latest opened before it, else the first opened after it).
 */
function populationCte(): string {
  return `
    zones AS MATERIALIZED (SELECT name FROM pg_timezone_names),
    terminations AS (
      SELECT he.event_id, he.source, he.source_event_id, he.employee_external_id, he.found_by, he.occurred_at, he.received_at,
             he.outcome, he.outcome_reason, he.inbox_id, he.payload,
             emp.id AS employee_id, emp.display_name, emp.email, emp.generation AS employee_generation,
             direct.id AS direct_case_id, direct.effective_at AS direct_effective_at,
             CASE
               WHEN he.payload ->> 'effectiveAt' IS NOT NULL THEN (he.payload ->> 'effectiveAt')::timestamptz
               WHEN he.payload ->> 'effectiveDate' IS NOT NULL THEN
                 (((he.payload ->> 'effectiveDate')::date + CASE WHEN $3 = 'end_of_day' THEN 1 ELSE 0 END)::timestamp)
                   AT TIME ZONE COALESCE(
                     (SELECT z.name FROM zones z WHERE z.name = he.payload ->> 'timeZone'),
                     (SELECT z.name FROM zones z WHERE z.name = emp.profile ->> 'timeZone'),
                     $4)
             END AS hr_moment
        FROM hr_events he
        LEFT JOIN employees emp ON emp.source = he.source AND emp.external_id = he.employee_external_id
        LEFT JOIN LATERAL (
          SELECT c.id, c.effective_at FROM cases c WHERE c.hr_event_id = he.event_id AND c.kind = 'leaver' ORDER BY c.generation DESC LIMIT 1
        ) direct ON true
       WHERE he.type = 'employee.terminated'
    ),
    population AS (
      SELECT t.*,
             COALESCE(
               t.direct_effective_at,
               CASE
                 WHEN COALESCE((t.payload ->> 'immediate')::boolean, false) THEN LEAST(COALESCE(t.hr_moment, t.received_at), t.received_at)
                 ELSE COALESCE(t.hr_moment, t.received_at)
               END
             ) AS effective_at
        FROM terminations t
    ),
    accounted AS (
      SELECT p.*, ac.id AS case_id, ac.effective_at AS case_effective_at
        FROM population p
        LEFT JOIN LATERAL (
          SELECT c.id, c.effective_at FROM cases c WHERE c.id = p.direct_case_id
          UNION ALL
          (SELECT c.id, c.effective_at FROM cases c
            WHERE p.direct_case_id IS NULL AND c.employee_id = p.employee_id AND c.kind = 'leaver'
            ORDER BY (c.opened_at <= p.received_at) DESC, abs(extract(epoch FROM c.opened_at - p.received_at)), c.generation DESC
            LIMIT 1)
        ) ac ON true
       WHERE p.effective_at >= $1::timestamptz AND p.effective_at < $2::timestamptz
         AND ($5::text[] IS NULL OR p.employee_id::text = ANY($5::text[]) OR (p.employee_id IS NULL AND p.employee_external_id = $6::text))
    )`
}

/** The population with the status of each event (in_report, duplicate, superseded, gap), in effective order. */
function populationEvents(): string {
  return `
    WITH ${populationCte()}
    SELECT a.event_id, a.source, a.source_event_id, a.employee_external_id, a.employee_id, a.display_name, a.email,
           a.found_by, a.occurred_at, a.received_at, a.outcome, a.outcome_reason, a.effective_at, a.case_id, a.case_effective_at,
           (a.direct_case_id IS NOT NULL) AS direct,
           hs.seq AS hr_stored_seq
      FROM accounted a
      LEFT JOIN LATERAL (
        SELECT s.seq FROM audit_events s
         WHERE s.action = 'hr.event_stored' AND s.details ->> 'inboxId' = a.inbox_id::text
         ORDER BY s.seq LIMIT 1
      ) hs ON true
     ORDER BY a.effective_at, a.event_id`
}

/** Accounts a case does not list, but that still held access when it was projected. */
const LIVE_ACCOUNT = `ea.status NOT IN ('absent', 'done') AND NOT (ea.status = 'planned' AND ea.account_id IS NULL)`

/**
 * One row per leaver case per system, for cases whose effective moment is in the period, with
 * every fact of the row and the audit rows (seq) that back them. Systems the case does not list
 * although the person still held an account there come out as gap rows (gap = 'account_not_in_case'),
 * and a case that lists no system at all as one gap row (gap = 'no_systems').
 *
 * The audit rows of a case are those of its generation: after the first lifecycle.case_opened of
 * that generation and before the first of a later one (a rehire that leaves again).
 */
function caseRows(): string {
  return `
    SELECT c.id AS case_id, c.status AS case_status, c.generation, c.effective_at, c.deadline_at AS case_deadline_at,
           c.opened_at, c.closed_at, c.breached_at, c.late_by_hr_seconds, c.received_at AS case_received_at,
           e.id AS employee_id, e.source, e.external_id, e.display_name, e.email,
           he.event_id AS hr_event_id, he.source_event_id, he.occurred_at AS hr_notified_at,
           COALESCE(hi.received_at, he.received_at, c.received_at) AS received_at, he.found_by,
           hs.seq AS hr_stored_seq, w.termination_seq, w.breach_seq,
           other.ids AS other_hr_event_ids, esc.list AS escalations,
           s.system, s.status AS system_status, s.account_id, s.deadline_at, s.cutoff_at, s.verified_at, s.cleanup_at,
           s.last_error, s.residual, s.waiting_on, s.gap,
           f.cutoff_seq, rc.details AS cutoff_details, f.cleanup_seq, rcl.details AS cleanup_details, f.verified_seq, f.job_deadline_at,
           mt.id AS task_id, mt.status AS task_status, mt.completed_by, mt.completed_at, mt.attestation,
           ex.list AS exceptions, rd.list AS residual_decisions
      FROM cases c
      JOIN employees e ON e.id = c.employee_id
      LEFT JOIN hr_events he ON he.event_id = c.hr_event_id
      LEFT JOIN hr_inbox hi ON hi.id = he.inbox_id
      LEFT JOIN LATERAL (
        SELECT a.seq FROM audit_events a
         WHERE a.action = 'hr.event_stored' AND a.details ->> 'inboxId' = he.inbox_id::text
         ORDER BY a.seq LIMIT 1
      ) hs ON true
      -- One pass over the person's lifecycle rows: the window of the case's generation, the
      -- transition that applied its termination, and its SLA breach.
      LEFT JOIN LATERAL (
        SELECT min(a.seq) FILTER (WHERE a.action = 'lifecycle.case_opened' AND (a.details ->> 'generation')::int = c.generation) AS start_seq,
               min(a.seq) FILTER (WHERE a.action = 'lifecycle.case_opened' AND (a.details ->> 'generation')::int > c.generation) AS end_seq,
               min(a.seq) FILTER (WHERE a.action = 'lifecycle.transitioned' AND a.details ->> 'hrEventId' = c.hr_event_id::text) AS termination_seq,
               min(a.seq) FILTER (WHERE a.action = 'sla.breached' AND a.details ->> 'caseId' = c.id::text) AS breach_seq
          FROM audit_events a
         WHERE a.employee_id = c.employee_id::text AND a.action IN ('lifecycle.case_opened', 'lifecycle.transitioned', 'sla.breached')
      ) w ON true
      LEFT JOIN LATERAL (
        SELECT array_agg(o.source_event_id ORDER BY o.received_at, o.event_id) AS ids
          FROM hr_events o
         WHERE o.source = e.source AND o.employee_external_id = e.external_id AND o.type = 'employee.terminated'
           AND o.event_id IS DISTINCT FROM c.hr_event_id
           AND NOT EXISTS (SELECT 1 FROM cases d WHERE d.hr_event_id = o.event_id AND d.kind = 'leaver')
           AND c.id = (
             SELECT n.id FROM cases n
              WHERE n.employee_id = c.employee_id AND n.kind = 'leaver'
              ORDER BY (n.opened_at <= o.received_at) DESC, abs(extract(epoch FROM n.opened_at - o.received_at)), n.generation DESC
              LIMIT 1)
      ) other ON true
      LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object('step', ce.step, 'sentAt', ce.sent_at, 'openSystems', ce.open_systems) ORDER BY ce.sent_at, ce.step) AS list
          FROM case_escalations ce WHERE ce.case_id = c.id
      ) esc ON true
      CROSS JOIN LATERAL (
        SELECT cs.system, cs.status, cs.account_id, cs.deadline_at, cs.cutoff_at, cs.verified_at, cs.cleanup_at,
               cs.last_error, cs.residual, cs.waiting_on, NULL::text AS gap
          FROM case_systems cs WHERE cs.case_id = c.id
        UNION ALL
        SELECT ea.system, ea.status, ea.account_id, NULL, NULL, NULL, NULL, ea.last_error, ea.residual, ea.waiting_on, 'account_not_in_case'
          FROM employee_accounts ea
         WHERE ea.employee_id = c.employee_id AND c.generation = e.generation AND ${LIVE_ACCOUNT}
           AND NOT EXISTS (SELECT 1 FROM case_systems x WHERE x.case_id = c.id AND x.system = ea.system)
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '[]'::jsonb, NULL, 'no_systems'
         WHERE NOT EXISTS (SELECT 1 FROM case_systems x WHERE x.case_id = c.id)
           AND NOT EXISTS (SELECT 1 FROM employee_accounts ea WHERE ea.employee_id = c.employee_id AND c.generation = e.generation AND ${LIVE_ACCOUNT})
      ) s
      LEFT JOIN LATERAL (
        SELECT max(a.seq) FILTER (WHERE a.action = 'target.revoked' AND a.details ->> 'phase' = 'cutoff') AS cutoff_seq,
               max(a.seq) FILTER (WHERE a.action = 'target.revoked' AND a.details ->> 'phase' = 'cleanup') AS cleanup_seq,
               -- Verified: read back from the system, or (a system without an API) a person attested the revocation task.
               max(a.seq) FILTER (WHERE (a.action = 'target.verified' AND a.details ->> 'revoked' = 'true')
                                     OR (a.action = 'task.completed' AND a.details ->> 'kind' = 'revoke')) AS verified_seq,
               -- The deadline the engine gave the revocation job: the original SLA deadline, which
               -- an approved sla_waiver later moves in case_systems (migration 0006).
               min((a.details ->> 'deadlineAt')::timestamptz) FILTER (WHERE a.action = 'job.enqueued' AND a.details ->> 'action' = 'deprovision') AS job_deadline_at
          FROM audit_events a
         WHERE a.employee_id = c.employee_id::text AND a.system = s.system
           AND a.action IN ('target.revoked', 'target.verified', 'task.completed', 'job.enqueued')
           AND a.seq > w.start_seq AND a.seq < COALESCE(w.end_seq, 9223372036854775807)
      ) f ON true
      LEFT JOIN audit_events rc ON rc.seq = f.cutoff_seq
      LEFT JOIN audit_events rcl ON rcl.seq = f.cleanup_seq
      LEFT JOIN LATERAL (
        SELECT m.id, m.status, m.completed_by, m.completed_at, m.attestation FROM manual_tasks m
         WHERE s.system LIKE 'manual:%' AND m.system = s.system AND m.employee_external_id = e.account_key AND m.kind = 'revoke'
           AND starts_with(m.idempotency_key, e.source || ':' || e.external_id || ':' || s.system || ':deprovision:cutoff:g' || c.generation || ':')
         ORDER BY m.created_at DESC LIMIT 1
      ) mt ON true
      -- Exceptions of the case: those tied to it (an sla_waiver always is), and those of the person in
      -- force between the effective moment and the close of the case.
      LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object(
                 'id', x.id, 'caseId', x.case_id, 'kind', x.kind, 'status', x.status, 'system', x.system, 'reason', x.reason,
                 'requestedBy', x.requested_by, 'requestedAt', x.requested_at, 'startsAt', x.starts_at, 'endsAt', x.ends_at,
                 'approvals', x.approvals, 'decidedAt', x.decided_at, 'rejectedBy', x.rejected_by, 'rejectionReason', x.rejection_reason,
                 'revokedAt', x.revoked_at, 'revokedBy', x.revoked_by, 'revokeReason', x.revoke_reason, 'expiredAt', x.expired_at,
                 'details', x.details) ORDER BY x.requested_at, x.id) AS list
          FROM exceptions x
         WHERE x.employee_id = c.employee_id AND (x.system IS NULL OR s.system IS NULL OR x.system = s.system)
           AND (x.case_id = c.id
                OR (x.case_id IS NULL AND x.ends_at >= c.effective_at AND x.starts_at <= GREATEST(COALESCE(c.closed_at, $3), c.deadline_at)))
      ) ex ON true
      -- The human decision on each residual item of this system (src/db/manual-tasks.ts).
      LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object(
                 'kind', rt.details -> 'residual' ->> 'kind', 'id', rt.details -> 'residual' ->> 'id', 'taskId', rt.id, 'status', rt.status,
                 'resolution', rt.resolution, 'exceptionId', rt.exception_id, 'decidedBy', rt.completed_by, 'decidedAt', rt.completed_at)
                 ORDER BY rt.created_at) AS list
          FROM manual_tasks rt
         WHERE rt.kind = 'residual' AND rt.case_id = c.id AND rt.system = s.system
      ) rd ON true
     WHERE c.kind = 'leaver' AND c.effective_at >= $1::timestamptz AND c.effective_at < $2::timestamptz
       AND ($4::text[] IS NULL OR c.employee_id::text = ANY($4::text[]))
     ORDER BY c.effective_at, c.id, s.system NULLS FIRST`
}

/** Terminations in the period that no leaver case accounts for: one gap row each. */
function uncoveredTerminations(): string {
  return `
    WITH ${populationCte()}
    SELECT a.event_id, a.source, a.source_event_id, a.employee_external_id, a.employee_id, a.display_name, a.email,
           a.found_by, a.occurred_at, a.received_at, a.outcome, a.outcome_reason, a.effective_at,
           hs.seq AS hr_stored_seq
      FROM accounted a
      LEFT JOIN LATERAL (
        SELECT s.seq FROM audit_events s
         WHERE s.action = 'hr.event_stored' AND s.details ->> 'inboxId' = a.inbox_id::text
         ORDER BY s.seq LIMIT 1
      ) hs ON true
     WHERE a.case_id IS NULL
     ORDER BY a.effective_at, a.event_id`
}

function insertExport(): string {
  return `
    INSERT INTO report_exports (id, report, format, period_from, period_to, sha256, bytes, row_count, generated_at, generated_by, manifest,
                                employee, employee_ids, generated_by_name)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
}

function employeeNamesOf(): string {
  return `SELECT COALESCE(display_name, email, external_id) AS name FROM employees WHERE id::text = ANY($1::text[]) ORDER BY id`
}

function hrTerminationsOf(): string {
  return `SELECT EXISTS (SELECT 1 FROM hr_events WHERE type = 'employee.terminated' AND employee_external_id = $1) AS found`
}

/**
 * A page of the report history, newest first, after the (generated_at, id) cursor $1/$2 (NULL:
 * the first page), $3 rows. The signer comes from the stored manifest (text, parsed here: it is
 * served byte for byte elsewhere); the employee's name from the first id it resolved to.
 */
function historyPage(): string {
  return `
    SELECT r.id, r.report, r.format, r.period_from, r.period_to, r.employee, r.employee_ids, r.sha256, r.bytes, r.row_count,
           r.generated_at, r.generated_by, r.generated_by_name, r.manifest, f.kept_until AS file_kept_until, f.pruned_at AS file_pruned_at,
           (SELECT COALESCE(e.display_name, e.email, e.external_id) FROM employees e WHERE e.id::text = r.employee_ids[1]) AS employee_name
      FROM report_exports r LEFT JOIN report_files f ON f.export_id = r.id
     WHERE $1::timestamptz IS NULL OR (r.generated_at, r.id) < ($1::timestamptz, $2::uuid)
     ORDER BY r.generated_at DESC, r.id DESC
     LIMIT $3`
}

function historyCount(): string {
  return 'SELECT count(*)::int AS n FROM report_exports'
}

function exportManifest(): string {
  return 'SELECT manifest FROM report_exports WHERE id = $1'
}

// ---------------------------------------------------------------------------------------------

/** Rows per round trip of a server-side cursor. */
const BATCH_SIZE = 500

/**
 * Opens the export's snapshot: one REPEATABLE READ, READ ONLY transaction for the chain head and
 * every pass, with a statement timeout long enough for a large export.
 */
export async function beginReportSnapshot(client: pg.PoolClient, statementTimeout: string): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
  await client.query(`SET LOCAL statement_timeout = '${statementTimeout}'`)
}

export async function endReportSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('COMMIT')
}

export async function abandonReportSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('ROLLBACK').catch(() => {})
}

/** The chain head the export is built from, or undefined for an empty log. */
export async function reportChainHead(db: Queryable): Promise<{ seq: number | string; hash: string; occurred_at: string | null } | undefined> {
  return (await db.query<{ seq: number | string; hash: string; occurred_at: string | null }>(chainHead())).rows[0]
}

async function* cursor<T>(client: pg.PoolClient, text: string, params: unknown[]): AsyncGenerator<T> {
  const stream = client.query(new QueryStream(text, params, { batchSize: BATCH_SIZE, highWaterMark: BATCH_SIZE }))
  try {
    for await (const row of stream) yield row as T
  } finally {
    if (!stream.destroyed) stream.destroy()
  }
}

/** The leaver cases of the period ($1 from, $2 to, $3 the report's moment), through a server-side cursor. */
export function caseRowsOf(client: pg.PoolClient, params: unknown[]): AsyncGenerator<CaseDbRow> {
  return cursor<CaseDbRow>(client, caseRows(), params)
}

/** Terminations no case accounts for (population parameters), through a server-side cursor. */
export function uncoveredTerminationRows(client: pg.PoolClient, params: unknown[]): AsyncGenerator<PopulationDbRow> {
  return cursor<PopulationDbRow>(client, uncoveredTerminations(), params)
}

/** Every termination of the HR population (population parameters), through a server-side cursor. */
export function populationEventRows(client: pg.PoolClient, params: unknown[]): AsyncGenerator<PopulationDbRow> {
  return cursor<PopulationDbRow>(client, populationEvents(), params)
}

/** The export's row: its manifest's facts, the signed manifest text and the name of who made it. */
export async function insertExportRow(db: Queryable, m: ReportManifest, manifestText: string, generatedByName: string | null): Promise<void> {
  await db.query(insertExport(), [
    m.id, m.report, m.query.format, m.query.from, m.query.to, m.file.sha256, m.file.bytes, m.rowCount, m.generatedAt, m.generatedBy, manifestText,
    m.query.employee?.named ?? null, m.query.employee?.employeeIds ?? null, generatedByName,
  ])
}

export async function employeeNames(db: Queryable, ids: string[]): Promise<string[]> {
  return (await db.query<{ name: string }>(employeeNamesOf(), [ids])).rows.map((r) => r.name)
}

export async function hasHrTerminations(db: Queryable, hrEmployeeId: string): Promise<boolean> {
  return (await db.query<{ found: boolean }>(hrTerminationsOf(), [hrEmployeeId])).rows[0]?.found === true
}

export interface HistoryDbRow {
  id: string
  report: string
  format: string
  period_from: Date | null
  period_to: Date | null
  employee: string | null
  employee_ids: string[] | null
  sha256: string
  bytes: string | number
  row_count: number
  generated_at: Date
  generated_by: string
  generated_by_name: string | null
  manifest: string
  employee_name: string | null
  /** From report_files (0027): null when no file was kept. */
  file_kept_until: Date | null
  file_pruned_at: Date | null
}

/** Newest first; `limit` rows after `after` (the last row of the previous page), and how many there are in all. */
export async function reportHistoryRows(db: Queryable, after: { generatedAt: string; id: string } | null, limit: number): Promise<{ rows: HistoryDbRow[]; total: number }> {
  const [page, count] = await Promise.all([
    db.query<HistoryDbRow>(historyPage(), [after?.generatedAt ?? null, after?.id ?? null, limit]),
    db.query<{ n: number }>(historyCount()),
  ])
  return { rows: page.rows, total: count.rows[0]?.n ?? 0 }
}

export async function exportManifestById(db: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ manifest: string }>(exportManifest(), [id])
  return rows[0]?.manifest
}

// --- Kept report files (migrations/0027_report_files.sql) ------------------------------------

export async function insertReportFile(db: Queryable, exportId: string, keptUntil: Date): Promise<void> {
  await db.query('INSERT INTO report_files (export_id, kept_until) VALUES ($1, $2)', [exportId, keptUntil])
}

export async function insertReportChunk(db: Queryable, exportId: string, seq: number, data: Buffer): Promise<void> {
  await db.query('INSERT INTO report_file_chunks (export_id, seq, data) VALUES ($1, $2, $3)', [exportId, seq, data])
}

export interface KeptFileRow {
  manifest: string
  /** null: no file was kept for this export (made before 0027, or reports.keepDays 0). */
  kept_until: Date | null
  pruned_at: Date | null
}

/** The export's signed manifest and what is kept of its file; undefined when there is no such export. */
export async function keptFileOf(db: Queryable, exportId: string): Promise<KeptFileRow | undefined> {
  const { rows } = await db.query<KeptFileRow>(
    `SELECT r.manifest, f.kept_until, f.pruned_at FROM report_exports r LEFT JOIN report_files f ON f.export_id = r.id WHERE r.id = $1`,
    [exportId],
  )
  return rows[0]
}

/** The file's chunks in order, a few at a time (each about 1 MiB): flat memory for any size. */
export async function* reportChunks(db: Queryable, exportId: string, perQuery = 4): AsyncGenerator<Buffer> {
  for (let from = 0; ; from += perQuery) {
    const { rows } = await db.query<{ data: Buffer }>('SELECT data FROM report_file_chunks WHERE export_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3', [exportId, from, perQuery])
    for (const r of rows) yield r.data
    if (rows.length < perQuery) return
  }
}

/**
 * Retention: files kept until `now` or earlier lose their bytes (the row stays, marked pruned,
 * so a download can say "pruned" rather than "never kept"). Returns the exports pruned; a second
 * sweep, or one racing in another worker, finds none of them again.
 */
export async function pruneReportFiles(db: Queryable, now: Date): Promise<string[]> {
  const { rows } = await db.query<{ export_id: string }>(
    'UPDATE report_files SET pruned_at = $1 WHERE pruned_at IS NULL AND kept_until <= $1 RETURNING export_id',
    [now],
  )
  const ids = rows.map((r) => r.export_id)
  if (ids.length > 0) await db.query('DELETE FROM report_file_chunks WHERE export_id = ANY($1::uuid[])', [ids])
  return ids
}
