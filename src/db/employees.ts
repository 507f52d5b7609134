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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * lockEmployeeById's statement as text with the id in it, for a transaction that sends it with its
 * BEGIN (withTransactionStartingWith); undefined unless `id` is a UUID (then the caller takes the
 * parameterised path), so nothing but hex digits and dashes is ever put into the text.
 */
export function lockEmployeeByIdText(id: string): string | undefined {
  if (!UUID.test(id)) return undefined
  return `SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE id = '${id}' FOR UPDATE`
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

/**
 * Persist the snapshot and the searchable columns; with `accounts`, the employee_accounts rows of
 * every system too, in the same statement (one round trip per transition instead of two).
 */
export async function saveEmployeeState(db: Queryable, w: EmployeeStateWrite, accounts: AccountProjection[] = []): Promise<void> {
  const params = [w.id, JSON.stringify(w.snapshot), w.state, w.generation, JSON.stringify(w.profile), w.displayName, w.email, w.department, w.startDate, w.nextAction, w.nextActionAt, w.machineVersion]
  // Named statements, prepared once per connection: PostgreSQL parsed and planned them again on
  // every transition (the text is fixed; only the values vary).
  if (accounts.length === 0) {
    await db.query({ name: 'tenure-save-employee-state', text: SAVE_STATE, values: params })
    return
  }
  await db.query({ name: 'tenure-save-employee-state-accounts', text: `WITH accounts AS (${ACCOUNTS_UPSERT_13}) ${SAVE_STATE}`, values: [...params, ...accountColumns(accounts)] })
}

const SAVE_STATE = `UPDATE employees SET snapshot = $2, state = $3, version = version + 1, generation = $4, profile = $5,
            display_name = $6, email = $7, department = $8, start_date = $9, next_action = $10, next_action_at = $11, machine_version = $12, updated_at = now()
      WHERE id = $1`

/** An employee's stored snapshot, read without a lock (a look at what the machine expects; the engine re-reads under its lock). */
export async function employeeSnapshot(db: Queryable, id: string): Promise<{ id: string; snapshot: unknown; machine_version: number } | undefined> {
  const { rows } = await db.query<{ id: string; snapshot: unknown; machine_version: number }>('SELECT id, snapshot, machine_version FROM employees WHERE id = $1', [id])
  return rows[0]
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

/** The upsert of every system's row from unnest()ed columns starting at parameter `first`. */
function accountsUpsert(employee: string, first: number): string {
  const p = (i: number) => `$${first + i}`
  return `INSERT INTO employee_accounts (employee_id, system, account_id, login, status, desired, provisioned, attempts, last_error, residual,
                                    waiting_on, revoked_at, verified_at, cleaned_at, updated_at)
     SELECT ${employee}, s.system, s.account_id, s.login, s.status, s.desired, s.provisioned, s.attempts, s.last_error, s.residual,
            s.waiting_on, s.revoked_at, s.verified_at, s.cleaned_at, now()
       FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::jsonb[], ${p(5)}::jsonb[], ${p(6)}::int[], ${p(7)}::jsonb[], ${p(8)}::jsonb[],
                   ${p(9)}::text[], ${p(10)}::timestamptz[], ${p(11)}::timestamptz[], ${p(12)}::timestamptz[])
         AS s (system, account_id, login, status, desired, provisioned, attempts, last_error, residual, waiting_on, revoked_at, verified_at, cleaned_at)
     ON CONFLICT (employee_id, system) DO UPDATE SET
       account_id = EXCLUDED.account_id, login = EXCLUDED.login, status = EXCLUDED.status, desired = EXCLUDED.desired,
       provisioned = EXCLUDED.provisioned, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
       residual = EXCLUDED.residual, waiting_on = EXCLUDED.waiting_on, revoked_at = EXCLUDED.revoked_at,
       verified_at = EXCLUDED.verified_at, cleaned_at = EXCLUDED.cleaned_at, updated_at = now()`
}
const ACCOUNTS_UPSERT_13 = accountsUpsert('$1::uuid', 13)

function accountColumns(accounts: AccountProjection[]): unknown[] {
  const col = <T>(f: (a: AccountProjection) => T): T[] => accounts.map(f)
  return [
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
  ]
}

/** One statement for every system of the employee (a layoff applies thousands of these). */
export async function upsertEmployeeAccounts(db: Queryable, employeeId: string, accounts: AccountProjection[]): Promise<void> {
  if (accounts.length === 0) return
  await db.query(accountsUpsert('$1::uuid', 2), [employeeId, ...accountColumns(accounts)])
}

// ---------------------------------------------------------------------------------------------
// reads for the API

/** An employees row as the read API shows it. */
export interface EmployeeRecord {
  id: string
  source: string
  external_id: string
  display_name: string | null
  email: string | null
  department: string | null
  state: string
  start_date: Date | string | null
  next_action: string | null
  next_action_at: Date | null
  updated_at: Date
  profile: Record<string, unknown>
  generation: number
  version: number
}

export async function employeeById(db: Queryable, id: string): Promise<EmployeeRecord | undefined> {
  const { rows } = await db.query<EmployeeRecord>('SELECT * FROM employees WHERE id = $1', [id])
  return rows[0]
}

export interface EmployeeFilter {
  state?: string | undefined
  department?: string | undefined
  source?: string | undefined
  startsFrom?: string | undefined
  startsBefore?: string | undefined
  /** Part of the name, email or HR id. */
  q?: string | undefined
  /** Continue after this row (newest change first). */
  after?: { updatedAt: string; id: string } | undefined
  limit: number
}

/** A page of employees, most recently changed first, and how many match the filter (every page). */
export async function listEmployees(db: Queryable, f: EmployeeFilter): Promise<{ rows: EmployeeRecord[]; total: number }> {
  const params: unknown[] = []
  const where: string[] = []
  const add = (sql: string, value: unknown) => {
    params.push(value)
    where.push(sql.replace('?', `$${params.length}`))
  }
  if (f.state) add('state = ?', f.state)
  if (f.department) add('department = ?', f.department)
  if (f.source) add('source = ?', f.source)
  if (f.startsFrom) add('start_date >= ?::date', f.startsFrom)
  if (f.startsBefore) add('start_date < ?::date', f.startsBefore)
  if (f.q) add(`(display_name ILIKE ? OR email ILIKE $${params.length + 1} OR external_id ILIKE $${params.length + 1})`, `%${f.q}%`)
  const counted = db.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, [...params])
  if (f.after) {
    params.push(f.after.updatedAt, f.after.id)
    where.push(`(updated_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`)
  }
  params.push(f.limit)
  const { rows } = await db.query<EmployeeRecord>(
    `SELECT * FROM employees ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, id DESC LIMIT $${params.length}`,
    params,
  )
  return { rows, total: (await counted).rows[0]!.n }
}

/** An employee_accounts row as the read API shows it. */
export interface AccountRow {
  system: string
  account_id: string | null
  login: string | null
  status: string
  attempts: number
  last_error: unknown
  residual: unknown[]
  waiting_on: string | null
  revoked_at: Date | null
  verified_at: Date | null
  cleaned_at: Date | null
  desired: Record<string, unknown> | null
  provisioned: Record<string, unknown> | null
}

export async function accountsOf(db: Queryable, employeeId: string): Promise<AccountRow[]> {
  const { rows } = await db.query<AccountRow>(
    `SELECT system, account_id, login, status, attempts, last_error, residual, waiting_on, revoked_at, verified_at, cleaned_at, desired, provisioned
       FROM employee_accounts WHERE employee_id = $1 ORDER BY system`,
    [employeeId],
  )
  return rows
}

/** The time zone in an employee's stored HR profile, if any. */
export async function employeeTimeZone(db: Queryable, source: string, externalId: string): Promise<string | null | undefined> {
  const { rows } = await db.query<{ tz: string | null }>(`SELECT profile->>'timeZone' AS tz FROM employees WHERE source = $1 AND external_id = $2`, [source, externalId])
  return rows[0]?.tz
}

/** Display names of employees by Tenure id (ids that are not uuids are ignored); an unknown id is absent. */
export async function employeeDisplayNames(db: Queryable, ids: string[]): Promise<Map<string, string | null>> {
  const wanted = [...new Set(ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)))]
  if (wanted.length === 0) return new Map()
  const { rows } = await db.query<{ id: string; display_name: string | null }>('SELECT id::text, display_name FROM employees WHERE id = ANY($1::uuid[])', [wanted])
  return new Map(rows.map((r) => [r.id, r.display_name]))
}

/** The employee of one HR source and HR id, by id and display name. */
export async function employeeByHrId(db: Queryable, source: string, externalId: string): Promise<{ id: string; displayName: string | null } | undefined> {
  const { rows } = await db.query<{ id: string; display_name: string | null }>('SELECT id::text, display_name FROM employees WHERE source = $1 AND external_id = $2 LIMIT 1', [source, externalId])
  return rows[0] ? { id: rows[0].id, displayName: rows[0].display_name } : undefined
}
