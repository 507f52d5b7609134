/**
 * The `exceptions` table: every statement in one place, parameterised, returning plain objects.
 * Writes take a client inside the caller's transaction; reads take the pool or a client.
 */
import type { Queryable } from '../db/pool.ts'
import type { ExceptionKind } from '../../state-machines/lifecycle-types.ts'
import { EXCEPTION_APPROVAL_VERSION } from '../../state-machines/exception-approval.machine.ts'

export const EXCEPTION_STATUSES = ['requested', 'awaiting_second_approval', 'approved', 'active', 'rejected', 'expired', 'revoked', 'lapsed'] as const
export type ExceptionStatus = (typeof EXCEPTION_STATUSES)[number]

/** Statuses that still need a decision. */
export const PENDING_STATUSES: readonly ExceptionStatus[] = ['requested', 'awaiting_second_approval']
/** Statuses from which nothing moves any more. */
export const FINAL_STATUSES: readonly ExceptionStatus[] = ['rejected', 'expired', 'revoked', 'lapsed']

export interface ApprovalRecord {
  actorId: string
  role: 'approver' | 'admin'
  at: string
  reason: string | null
}

export interface ExceptionRecord {
  id: string
  kind: ExceptionKind
  employeeId: string
  system: string | null
  reason: string
  requestedBy: string
  requestedByType: 'api_token' | 'oidc' | 'system'
  requestedAt: Date
  startsAt: Date
  endsAt: Date
  status: ExceptionStatus
  approvals: ApprovalRecord[]
  decidedAt: Date | null
  rejectedBy: string | null
  rejectionReason: string | null
  revokedAt: Date | null
  revokedBy: string | null
  revokeReason: string | null
  expiredAt: Date | null
  details: Record<string, unknown>
  caseId: string | null
  snapshot: unknown
  /** The approval machine version that wrote `snapshot` (read it through `currentApprovalSnapshot`). */
  machineVersion: number
  version: number
  updatedAt: Date
}

interface Row {
  id: string
  kind: ExceptionKind
  employee_id: string
  system: string | null
  reason: string
  requested_by: string
  requested_by_type: ExceptionRecord['requestedByType']
  requested_at: Date
  starts_at: Date
  ends_at: Date
  status: ExceptionStatus
  approvals: ApprovalRecord[]
  decided_at: Date | null
  rejected_by: string | null
  rejection_reason: string | null
  revoked_at: Date | null
  revoked_by: string | null
  revoke_reason: string | null
  expired_at: Date | null
  details: Record<string, unknown>
  case_id: string | null
  snapshot: unknown
  machine_version: number
  version: number
  updated_at: Date
}

const COLUMNS = `id, kind, employee_id, system, reason, requested_by, requested_by_type, requested_at, starts_at, ends_at, status,
  approvals, decided_at, rejected_by, rejection_reason, revoked_at, revoked_by, revoke_reason, expired_at, details, case_id,
  snapshot, machine_version, version, updated_at`

function toRecord(r: Row): ExceptionRecord {
  return {
    id: r.id,
    kind: r.kind,
    employeeId: r.employee_id,
    system: r.system,
    reason: r.reason,
    requestedBy: r.requested_by,
    requestedByType: r.requested_by_type,
    requestedAt: r.requested_at,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    status: r.status,
    approvals: r.approvals,
    decidedAt: r.decided_at,
    rejectedBy: r.rejected_by,
    rejectionReason: r.rejection_reason,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    revokeReason: r.revoke_reason,
    expiredAt: r.expired_at,
    details: r.details,
    caseId: r.case_id,
    snapshot: r.snapshot,
    machineVersion: r.machine_version,
    version: r.version,
    updatedAt: r.updated_at,
  }
}

export async function findException(db: Queryable, id: string, opts: { lock?: boolean } = {}): Promise<ExceptionRecord | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM exceptions WHERE id = $1${opts.lock ? ' FOR UPDATE' : ''}`, [id])
  return rows[0] ? toRecord(rows[0]) : undefined
}

/** The columns a transition writes, derived from the machine's context. */
export interface ExceptionColumns {
  status: ExceptionStatus
  /** null: unchanged (an extension moves it). */
  endsAt: string | null
  approvals: ApprovalRecord[]
  decidedAt: string | null
  rejectedBy: string | null
  rejectionReason: string | null
  revokedAt: string | null
  revokedBy: string | null
  revokeReason: string | null
  expiredAt: string | null
  details: Record<string, unknown>
  snapshot: unknown
}

export interface NewException extends Omit<ExceptionColumns, 'endsAt'> {
  id: string
  kind: ExceptionKind
  employeeId: string
  system: string | null
  reason: string
  requestedBy: string
  requestedByType: ExceptionRecord['requestedByType']
  requestedAt: string
  startsAt: string
  endsAt: string
  caseId: string | null
}

/** Insert a new request; false when the id exists already (an Idempotency-Key replay). */
export async function insertException(db: Queryable, e: NewException): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO exceptions (id, kind, employee_id, system, reason, requested_by, requested_by_type, requested_at, starts_at, ends_at, status,
                             approvals, decided_at, rejected_by, rejection_reason, revoked_at, revoked_by, revoke_reason, expired_at, details,
                             case_id, snapshot, machine_version, version, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, 1, now())
     ON CONFLICT (id) DO NOTHING`,
    [
      e.id,
      e.kind,
      e.employeeId,
      e.system,
      e.reason,
      e.requestedBy,
      e.requestedByType,
      e.requestedAt,
      e.startsAt,
      e.endsAt,
      e.status,
      JSON.stringify(e.approvals),
      e.decidedAt,
      e.rejectedBy,
      e.rejectionReason,
      e.revokedAt,
      e.revokedBy,
      e.revokeReason,
      e.expiredAt,
      JSON.stringify(e.details),
      e.caseId,
      JSON.stringify(e.snapshot),
      EXCEPTION_APPROVAL_VERSION,
    ],
  )
  return result.rowCount === 1
}

/** Write a transition; the caller holds the row lock and has checked the version. */
export async function updateException(db: Queryable, id: string, version: number, c: ExceptionColumns): Promise<void> {
  await db.query(
    `UPDATE exceptions SET status = $3, approvals = $4, decided_at = $5, rejected_by = $6, rejection_reason = $7, revoked_at = $8,
            revoked_by = $9, revoke_reason = $10, expired_at = $11, details = $12, snapshot = $13, machine_version = $14, ends_at = COALESCE($15, ends_at), version = version + 1, updated_at = now()
      WHERE id = $1 AND version = $2`,
    [
      id,
      version,
      c.status,
      JSON.stringify(c.approvals),
      c.decidedAt,
      c.rejectedBy,
      c.rejectionReason,
      c.revokedAt,
      c.revokedBy,
      c.revokeReason,
      c.expiredAt,
      JSON.stringify(c.details),
      JSON.stringify(c.snapshot),
      EXCEPTION_APPROVAL_VERSION,
      c.endsAt,
    ],
  )
}

export async function setExceptionDetails(db: Queryable, id: string, details: Record<string, unknown>): Promise<void> {
  await db.query('UPDATE exceptions SET details = $2, updated_at = now() WHERE id = $1', [id, JSON.stringify(details)])
}

export interface ListFilters {
  status?: ExceptionStatus
  employeeId?: string
  kind?: ExceptionKind
  system?: string
  limit: number
  /** Keyset position: the last item of the previous page. */
  after?: { requestedAt: Date; id: string } | null
}

/** Newest first; one row more than `limit` tells the caller whether there is a next page. */
/** Several exceptions by id (ids that are not UUIDs find nothing), keyed by id. */
export async function exceptionsByIds(db: Queryable, ids: string[]): Promise<Map<string, ExceptionRecord>> {
  const uuids = ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
  if (uuids.length === 0) return new Map()
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM exceptions WHERE id = ANY($1::uuid[])`, [uuids])
  return new Map(rows.map((r) => [r.id, toRecord(r)]))
}

export async function listExceptions(db: Queryable, f: ListFilters): Promise<ExceptionRecord[]> {
  const where: string[] = []
  const values: unknown[] = []
  const add = (sql: string, value: unknown) => {
    values.push(value)
    where.push(sql.replace('?', `$${values.length}`))
  }
  if (f.status) add('status = ?', f.status)
  if (f.employeeId) add('employee_id = ?', f.employeeId)
  if (f.kind) add('kind = ?', f.kind)
  if (f.system) add('system = ?', f.system)
  if (f.after) {
    values.push(f.after.requestedAt, f.after.id)
    where.push(`(requested_at, id) < ($${values.length - 1}, $${values.length})`)
  }
  values.push(f.limit + 1)
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM exceptions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY requested_at DESC, id DESC LIMIT $${values.length}`,
    values,
  )
  return rows.map(toRecord)
}

/** How many exceptions match the filters (every page; the cursor is ignored). */
export async function countExceptions(db: Queryable, f: Omit<ListFilters, 'limit' | 'after'>): Promise<number> {
  const where: string[] = []
  const values: unknown[] = []
  if (f.status) where.push(`status = $${values.push(f.status)}`)
  if (f.employeeId) where.push(`employee_id = $${values.push(f.employeeId)}`)
  if (f.kind) where.push(`kind = $${values.push(f.kind)}`)
  if (f.system) where.push(`system = $${values.push(f.system)}`)
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM exceptions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, values)
  return rows[0]!.n
}

export interface EmployeeInfo {
  id: string
  externalId: string
  displayName: string | null
  state: string
  profile: Record<string, unknown>
}

export async function findEmployee(db: Queryable, id: string): Promise<EmployeeInfo | undefined> {
  const { rows } = await db.query<{ id: string; external_id: string; display_name: string | null; state: string; profile: Record<string, unknown> }>(
    'SELECT id, external_id, display_name, state, profile FROM employees WHERE id = $1',
    [id],
  )
  const r = rows[0]
  return r ? { id: r.id, externalId: r.external_id, displayName: r.display_name, state: r.state, profile: r.profile } : undefined
}

export interface CaseSystemDeadline {
  system: string
  status: string
  deadlineAt: Date | null
  verifiedAt: Date | null
}

export interface OpenCase {
  id: string
  status: string
  effectiveAt: Date
  deadlineAt: Date | null
  breachedAt: Date | null
  details: Record<string, unknown>
  systems: CaseSystemDeadline[]
}

/** The employee's newest leaver case that is still scheduled or open. */
export async function findOpenCase(db: Queryable, employeeId: string): Promise<OpenCase | undefined> {
  const { rows } = await db.query<{ id: string; status: string; effective_at: Date; deadline_at: Date | null; breached_at: Date | null; details: Record<string, unknown> }>(
    `SELECT id, status, effective_at, deadline_at, breached_at, details FROM cases
      WHERE employee_id = $1 AND kind = 'leaver' AND status IN ('scheduled', 'open') ORDER BY generation DESC LIMIT 1`,
    [employeeId],
  )
  const c = rows[0]
  if (!c) return undefined
  return { id: c.id, status: c.status, effectiveAt: c.effective_at, deadlineAt: c.deadline_at, breachedAt: c.breached_at, details: c.details, systems: await caseSystems(db, c.id) }
}

export async function findCase(db: Queryable, caseId: string, opts: { lock?: boolean } = {}): Promise<OpenCase | undefined> {
  const { rows } = await db.query<{ id: string; status: string; effective_at: Date; deadline_at: Date | null; breached_at: Date | null; details: Record<string, unknown> }>(
    `SELECT id, status, effective_at, deadline_at, breached_at, details FROM cases WHERE id = $1${opts.lock ? ' FOR UPDATE' : ''}`,
    [caseId],
  )
  const c = rows[0]
  if (!c) return undefined
  return { id: c.id, status: c.status, effectiveAt: c.effective_at, deadlineAt: c.deadline_at, breachedAt: c.breached_at, details: c.details, systems: await caseSystems(db, c.id) }
}

async function caseSystems(db: Queryable, caseId: string): Promise<CaseSystemDeadline[]> {
  const { rows } = await db.query<{ system: string; status: string; deadline_at: Date | null; verified_at: Date | null }>(
    'SELECT system, status, deadline_at, verified_at FROM case_systems WHERE case_id = $1 ORDER BY system',
    [caseId],
  )
  return rows.map((r) => ({ system: r.system, status: r.status, deadlineAt: r.deadline_at, verifiedAt: r.verified_at }))
}

/**
 * Re-propose a system's original deadline: the trigger of migration 0006 extends it by the
 * waivers that apply, and refreshes the case deadline.
 */
export async function reproposeDeadline(db: Queryable, caseId: string, system: string, originalDeadline: string): Promise<void> {
  await db.query('UPDATE case_systems SET deadline_at = $3, updated_at = now() WHERE case_id = $1 AND system = $2', [caseId, system, originalDeadline])
}

export async function setCaseDetails(db: Queryable, caseId: string, details: Record<string, unknown>): Promise<void> {
  await db.query('UPDATE cases SET details = $2 WHERE id = $1', [caseId, JSON.stringify(details)])
}

/**
 * How many pending exceptions `viewerId` could decide now (the navigation's count): never one
 * they asked for (four-eyes) or already approved (an approval counts once), never one whose end
 * has passed (it can no longer be decided), and one awaiting its second approval only for an
 * admin (src/exceptions/service.ts decisionRefusal says the same per request).
 */
export async function countDecidableBy(db: Queryable, viewer: { id: string; isAdmin: boolean }, now: Date): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM exceptions
      WHERE status = ANY($1::text[]) AND requested_by <> $2 AND ends_at > $3
        AND NOT approvals @> jsonb_build_array(jsonb_build_object('actorId', $2::text))
        AND (status <> 'awaiting_second_approval' OR $4::boolean)`,
    [PENDING_STATUSES, viewer.id, now, viewer.isAdmin],
  )
  return rows[0]!.n
}
