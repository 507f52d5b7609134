/**
 * `reconciliation_findings` and `reconciliation_account_links`: every statement in one place,
 * parameterised, returning plain objects. Writes take a client inside the caller's transaction (or
 * the pool for the run's single-statement upserts); reads take the pool or a client.
 */
import type { Queryable } from '../db/pool.ts'
import type { AccessGrant } from '../domain/access.ts'
import type { AccountRow, EmployeeRef } from './access.ts'

export const FINDING_KINDS = ['active_after_revocation', 'orphan_account', 'excess_access'] as const
export type FindingKind = (typeof FINDING_KINDS)[number]

/** open: needs a look; acknowledged: a person accepted it (until the access changes); resolved: a run no longer sees it. */
export const FINDING_STATES = ['open', 'acknowledged', 'resolved'] as const
export type FindingState = (typeof FINDING_STATES)[number]

export interface FindingRecord {
  id: string
  system: string
  kind: FindingKind
  accountId: string
  login: string | null
  employeeId: string | null
  employeeExternalId: string | null
  employeeName: string | null
  employeeState: string | null
  details: Record<string, unknown>
  access: Record<string, unknown> | null
  firstSeenAt: Date
  lastSeenAt: Date
  resolvedAt: Date | null
  state: FindingState
  acknowledgedAt: Date | null
  acknowledgedBy: string | null
  acknowledgedByType: string | null
  acknowledgeReason: string | null
  acknowledgedAccess: Record<string, unknown> | null
  raisedAgainAt: Date | null
  cutoffRequestedAt: Date | null
  cutoffRequestedBy: string | null
  cutoffRequestedByType: string | null
  cutoffReason: string | null
  link: { employeeId: string; reason: string; linkedBy: string; linkedByType: string; linkedAt: Date } | null
}

const SELECT = `
SELECT f.*, e.external_id AS employee_external_id, e.display_name AS employee_name, e.state AS employee_state,
       l.employee_id AS link_employee_id, l.reason AS link_reason, l.linked_by, l.linked_by_type, l.linked_at
  FROM reconciliation_findings f
  LEFT JOIN employees e ON e.id = f.employee_id
  LEFT JOIN reconciliation_account_links l ON l.system = f.system AND l.account_id = f.account_id`

function toRecord(r: Record<string, unknown>): FindingRecord {
  const resolved = (r.resolved_at as Date | null) ?? null
  return {
    id: r.id as string,
    system: r.system as string,
    kind: r.kind as FindingKind,
    accountId: r.account_id as string,
    login: (r.login as string | null) ?? null,
    employeeId: (r.employee_id as string | null) ?? null,
    employeeExternalId: (r.employee_external_id as string | null) ?? null,
    employeeName: (r.employee_name as string | null) ?? null,
    employeeState: (r.employee_state as string | null) ?? null,
    details: (r.details as Record<string, unknown>) ?? {},
    access: (r.access as Record<string, unknown> | null) ?? null,
    firstSeenAt: r.first_seen_at as Date,
    lastSeenAt: r.last_seen_at as Date,
    resolvedAt: resolved,
    state: resolved ? 'resolved' : (r.status as 'open' | 'acknowledged'),
    acknowledgedAt: (r.acknowledged_at as Date | null) ?? null,
    acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
    acknowledgedByType: (r.acknowledged_by_type as string | null) ?? null,
    acknowledgeReason: (r.acknowledge_reason as string | null) ?? null,
    acknowledgedAccess: (r.acknowledged_access as Record<string, unknown> | null) ?? null,
    raisedAgainAt: (r.raised_again_at as Date | null) ?? null,
    cutoffRequestedAt: (r.cutoff_requested_at as Date | null) ?? null,
    cutoffRequestedBy: (r.cutoff_requested_by as string | null) ?? null,
    cutoffRequestedByType: (r.cutoff_requested_by_type as string | null) ?? null,
    cutoffReason: (r.cutoff_reason as string | null) ?? null,
    link: r.link_employee_id
      ? {
          employeeId: r.link_employee_id as string,
          reason: r.link_reason as string,
          linkedBy: r.linked_by as string,
          linkedByType: r.linked_by_type as string,
          linkedAt: r.linked_at as Date,
        }
      : null,
  }
}

// ---------------------------------------------------------------------------------------------
// what a run reads

/**
 * Tenure's accounts in `system`, every employee's identity key, and the links people made. The
 * identity key is `external_id`: the id provisioners are given as EmployeeProfile.employeeId and
 * write as the target's externalId. When employees get an `account_key`, this select is the one
 * line to change.
 */
export async function loadOwnerData(
  db: Queryable,
  system: string,
): Promise<{ rows: AccountRow[]; employees: EmployeeRef[]; links: Array<{ account_id: string; employee_id: string }> }> {
  const [rows, employees, links] = await Promise.all([
    db.query<AccountRow>(
      `SELECT employee_id, account_id, login, status, verified_at, desired FROM employee_accounts WHERE system = $1`,
      [system],
    ),
    db.query<EmployeeRef>(`SELECT id, account_key AS key, state FROM employees`),
    db.query<{ account_id: string; employee_id: string }>(`SELECT account_id, employee_id FROM reconciliation_account_links WHERE system = $1`, [system]),
  ])
  return { rows: rows.rows.map((r) => ({ ...r, desired: (r.desired as AccessGrant | null) ?? null })), employees: employees.rows, links: links.rows }
}

export interface UpsertedFinding {
  id: string
  /** First seen by this run. */
  inserted: boolean
  /** Was acknowledged, and the account's access is no longer what was acknowledged. */
  raisedAgain: boolean
}

/**
 * One open finding per account and kind. A finding that is seen again keeps its id; an
 * acknowledged one stays acknowledged while the account's listed access is what it was when
 * acknowledged, and goes back to open (raised again) when it differs. `prev` reads the row as it
 * was before this statement (a CTE sees the snapshot the statement started with).
 */
export async function upsertFinding(
  db: Queryable,
  f: { id: string; runId: string; system: string; kind: string; accountId: string; login: string | null; employeeId: string | null; details: Record<string, unknown>; access: unknown },
): Promise<UpsertedFinding> {
  const { rows } = await db.query<{ id: string; inserted: boolean; prev_status: string | null; status: string }>(
    `WITH prev AS (
       SELECT status FROM reconciliation_findings WHERE system = $3 AND kind = $4 AND account_id = $5 AND resolved_at IS NULL
     )
     INSERT INTO reconciliation_findings AS f (id, run_id, system, kind, account_id, login, employee_id, details, access)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (system, kind, account_id) WHERE resolved_at IS NULL
     DO UPDATE SET last_seen_at = now(), run_id = EXCLUDED.run_id, details = EXCLUDED.details, access = EXCLUDED.access,
                   login = COALESCE(EXCLUDED.login, f.login), employee_id = COALESCE(EXCLUDED.employee_id, f.employee_id),
                   status = CASE WHEN f.status = 'acknowledged' AND f.acknowledged_access IS DISTINCT FROM EXCLUDED.access THEN 'open' ELSE f.status END,
                   raised_again_at = CASE WHEN f.status = 'acknowledged' AND f.acknowledged_access IS DISTINCT FROM EXCLUDED.access THEN now() ELSE f.raised_again_at END
     RETURNING f.id, (xmax = 0) AS inserted, f.status, (SELECT status FROM prev) AS prev_status`,
    [f.id, f.runId, f.system, f.kind, f.accountId, f.login, f.employeeId, JSON.stringify(f.details), JSON.stringify(f.access)],
  )
  const row = rows[0]!
  return { id: row.id, inserted: row.inserted, raisedAgain: row.prev_status === 'acknowledged' && row.status === 'open' }
}

/** Whatever a run did not see again is resolved, except kinds the run could not judge (`keepKinds`). */
export async function resolveUnseen(db: Queryable, system: string, runStartedAt: Date, keepKinds: readonly string[] = []): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE reconciliation_findings SET resolved_at = now() WHERE system = $1 AND resolved_at IS NULL AND last_seen_at < $2 AND NOT (kind = ANY($3::text[]))`,
    [system, runStartedAt, keepKinds],
  )
  return rowCount ?? 0
}

// ---------------------------------------------------------------------------------------------
// what the API reads

export async function findFinding(db: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<FindingRecord | undefined> {
  // FOR UPDATE OF f: lock the finding only, not the joined employee or link rows.
  const { rows } = await db.query(`${SELECT} WHERE f.id = $1${opts.forUpdate ? ' FOR UPDATE OF f' : ''}`, [id])
  return rows[0] ? toRecord(rows[0]) : undefined
}

export interface FindingFilter {
  state?: FindingState | 'unresolved' | 'all'
  system?: string
  kind?: FindingKind
  employeeId?: string
  limit: number
  offset: number
}

function findingWhere(q: Omit<FindingFilter, 'limit' | 'offset'>): { where: string[]; params: unknown[] } {
  const params: unknown[] = []
  const where: string[] = []
  if (q.state === 'open') where.push(`f.resolved_at IS NULL AND f.status = 'open'`)
  if (q.state === 'acknowledged') where.push(`f.resolved_at IS NULL AND f.status = 'acknowledged'`)
  if (q.state === 'unresolved') where.push('f.resolved_at IS NULL')
  if (q.state === 'resolved') where.push('f.resolved_at IS NOT NULL')
  if (q.system) where.push(`f.system = $${params.push(q.system)}`)
  if (q.kind) where.push(`f.kind = $${params.push(q.kind)}`)
  if (q.employeeId) where.push(`f.employee_id = $${params.push(q.employeeId)}`)
  return { where, params }
}

/** How many findings match the filter (every page). */
export async function countFindings(db: Queryable, q: Omit<FindingFilter, 'limit' | 'offset'>): Promise<number> {
  const { where, params } = findingWhere(q)
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM reconciliation_findings f ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, params)
  return rows[0]!.n
}

export async function listFindings(db: Queryable, q: FindingFilter): Promise<FindingRecord[]> {
  const { where, params } = findingWhere(q)
  const { rows } = await db.query(
    `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY f.last_seen_at DESC, f.id
     LIMIT $${params.push(q.limit + 1)} OFFSET $${params.push(q.offset)}`,
    params,
  )
  return rows.map(toRecord)
}

// ---------------------------------------------------------------------------------------------
// what the actions write (inside the caller's transaction, the finding row locked)

export interface ActorRef {
  type: string
  id: string
}

export async function acknowledgeFinding(db: Queryable, id: string, actor: ActorRef, reason: string): Promise<void> {
  await db.query(
    `UPDATE reconciliation_findings
        SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2, acknowledged_by_type = $3, acknowledge_reason = $4,
            acknowledged_access = access
      WHERE id = $1`,
    [id, actor.id, actor.type, reason],
  )
}

export async function findLink(db: Queryable, system: string, accountId: string): Promise<{ employeeId: string } | undefined> {
  const { rows } = await db.query<{ employee_id: string }>(`SELECT employee_id FROM reconciliation_account_links WHERE system = $1 AND account_id = $2 FOR UPDATE`, [
    system,
    accountId,
  ])
  return rows[0] ? { employeeId: rows[0].employee_id } : undefined
}

export async function insertLink(db: Queryable, link: { system: string; accountId: string; employeeId: string; reason: string; actor: ActorRef; findingId: string }): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_account_links (system, account_id, employee_id, reason, linked_by, linked_by_type, finding_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [link.system, link.accountId, link.employeeId, link.reason, link.actor.id, link.actor.type, link.findingId],
  )
  await db.query(`UPDATE reconciliation_findings SET employee_id = $2 WHERE id = $1`, [link.findingId, link.employeeId])
}

export async function markCutoffRequested(db: Queryable, id: string, actor: ActorRef, reason: string): Promise<void> {
  await db.query(
    `UPDATE reconciliation_findings SET cutoff_requested_at = now(), cutoff_requested_by = $2, cutoff_requested_by_type = $3, cutoff_reason = $4 WHERE id = $1`,
    [id, actor.id, actor.type, reason],
  )
}

export async function findEmployee(db: Queryable, id: string): Promise<{ id: string; externalId: string; state: string } | undefined> {
  const { rows } = await db.query<{ id: string; external_id: string; state: string }>(`SELECT id, external_id, state FROM employees WHERE id = $1`, [id])
  return rows[0] ? { id: rows[0].id, externalId: rows[0].external_id, state: rows[0].state } : undefined
}

/** The account the employee's lifecycle machine revokes in `system` (null: none recorded yet). */
export async function machineAccount(db: Queryable, employeeId: string, system: string): Promise<{ accountId: string | null } | undefined> {
  const { rows } = await db.query<{ account_id: string | null }>(`SELECT account_id FROM employee_accounts WHERE employee_id = $1 AND system = $2`, [employeeId, system])
  return rows[0] ? { accountId: rows[0].account_id } : undefined
}
