/**
 * Runtime SQL for employees and employee_accounts (migrations/0001_foundation.sql and later):
 * the engine's locked read and write of the machine snapshot, the account projection, and the
 * read API's lists and lookups. Decisions live in src/lifecycle/ and src/api/; this module only
 * reads and writes rows.
 */
import type { Queryable } from './pool.ts'
import type { HrSource } from '../../state-machines/events.ts'

/** The columns the engine locks and restores from. */
export interface EmployeeLockRow {
  id: string
  source: HrSource
  external_id: string
  account_key: string
  snapshot: unknown
  version: number
  machine_version: number
  state: string
}

/** Lock one employee by id (FOR UPDATE, in the caller's transaction). */
export async function lockEmployeeById(db: Queryable, id: string): Promise<EmployeeLockRow | undefined> {
  const { rows } = await db.query<EmployeeLockRow>('SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE id = $1 FOR UPDATE', [id])
  return rows[0]
}

/** Lock one employee by HR source and HR id (FOR UPDATE, in the caller's transaction). */
export async function lockEmployeeBySource(db: Queryable, source: HrSource, externalId: string): Promise<EmployeeLockRow | undefined> {
  const { rows } = await db.query<EmployeeLockRow>(
    'SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE source = $1 AND external_id = $2 FOR UPDATE',
    [source, externalId],
  )
  return rows[0]
}

/** Insert a new employee row unless any unique key clashes; true when this call inserted it. */
export async function insertEmployeeIfAbsent(db: Queryable, row: { id: string; source: HrSource; externalId: string; accountKey: string }): Promise<boolean> {
  const { rowCount } = await db.query('INSERT INTO employees (id, source, external_id, account_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
    row.id,
    row.source,
    row.externalId,
    row.accountKey,
  ])
  return rowCount === 1
}

export async function employeeExists(db: Queryable, source: HrSource, externalId: string): Promise<boolean> {
  const mine = await db.query('SELECT 1 FROM employees WHERE source = $1 AND external_id = $2', [source, externalId])
  return mine.rows.length > 0
}

/** The persisted machine and the searchable columns derived from it. */
export interface EmployeeStateWrite {
  id: string
  snapshot: unknown
  state: string
  generation: number
  profile: unknown
  displayName: string | null
  email: string | null
  department: string | null
  startDate: string | null
  nextAction: string | null
  nextActionAt: string | null
  machineVersion: number
}

export async function saveEmployeeState(db: Queryable, w: EmployeeStateWrite): Promise<void> {
  await db.query(
    `UPDATE employees SET snapshot = $2, state = $3, version = version + 1, generation = $4, profile = $5,
            display_name = $6, email = $7, department = $8, start_date = $9, next_action = $10, next_action_at = $11, machine_version = $12, updated_at = now()
      WHERE id = $1`,
    [w.id, JSON.stringify(w.snapshot), w.state, w.generation, JSON.stringify(w.profile), w.displayName, w.email, w.department, w.startDate, w.nextAction, w.nextActionAt, w.machineVersion],
  )
}

/** Lock an employee for a projection outside a lifecycle event (the stored snapshot, not restored). */
export async function lockEmployeeSnapshot(db: Queryable, id: string): Promise<{ id: string; account_key: string; snapshot: unknown; machine_version: number } | undefined> {
  const { rows } = await db.query<{ id: string; account_key: string; snapshot: unknown; machine_version: number }>(
    'SELECT id, account_key, snapshot, machine_version FROM employees WHERE id = $1 FOR UPDATE',
    [id],
  )
  return rows[0]
}

/** One system's account as the machine sees it (employee_accounts row). */
export interface AccountProjection {
  system: string
  accountId: string | null
  login: string | null
  status: string
  desired: unknown
  provisioned: unknown
  attempts: number
  lastError: unknown
  residual: unknown
  waitingOn: string | null
  revokedAt: string | null
  verifiedAt: string | null
  cleanedAt: string | null
}

const json = (v: unknown) => (v ? JSON.stringify(v) : null)

/** One statement for every system of the employee (a layoff applies thousands of these). */
export async function upsertEmployeeAccounts(db: Queryable, employeeId: string, accounts: AccountProjection[]): Promise<void> {
  if (accounts.length === 0) return
  const col = <T>(f: (a: AccountProjection) => T): T[] => accounts.map(f)
  await db.query(
    `INSERT INTO employee_accounts (employee_id, system, account_id, login, status, desired, provisioned, attempts, last_error, residual,
                                    waiting_on, revoked_at, verified_at, cleaned_at, updated_at)
     SELECT $1::uuid, s.system, s.account_id, s.login, s.status, s.desired, s.provisioned, s.attempts, s.last_error, s.residual,
            s.waiting_on, s.revoked_at, s.verified_at, s.cleaned_at, now()
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::int[], $9::jsonb[], $10::jsonb[],
                   $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[])
         AS s (system, account_id, login, status, desired, provisioned, attempts, last_error, residual, waiting_on, revoked_at, verified_at, cleaned_at)
     ON CONFLICT (employee_id, system) DO UPDATE SET
       account_id = EXCLUDED.account_id, login = EXCLUDED.login, status = EXCLUDED.status, desired = EXCLUDED.desired,
       provisioned = EXCLUDED.provisioned, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
       residual = EXCLUDED.residual, waiting_on = EXCLUDED.waiting_on, revoked_at = EXCLUDED.revoked_at,
       verified_at = EXCLUDED.verified_at, cleaned_at = EXCLUDED.cleaned_at, updated_at = now()`,
    [
      employeeId,
      col((a) => a.system),
      col((a) => a.accountId),
      col((a) => a.login),
      col((a) => a.status),
      col((a) => json(a.desired)),
      col((a) => json(a.provisioned)),
      col((a) => a.attempts),
      col((a) => json(a.lastError)),
      col((a) => JSON.stringify(a.residual)),
      col((a) => a.waitingOn),
      col((a) => a.revokedAt),
      col((a) => a.verifiedAt),
      col((a) => a.cleanedAt),
    ],
  )
}
