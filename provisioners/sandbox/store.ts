/**
 * The sandbox target's repository: its accounts live in Tenure's own table (sandbox_accounts,
 * migrations/), so its "vendor calls" are these statements. The provisioner decides; this
 * module only reads and writes rows.
 */
import { randomUUID } from 'node:crypto'
import type { Queryable } from '../../src/db/pool.ts'

export interface SandboxAccountRow {
  id: string
  employee_external_id: string
  login: string
  active: boolean
  sessions_valid_from: Date | null
  groups: string[]
  deleted_at: Date | null
}

export async function accountById(db: Queryable, system: string, id: string): Promise<SandboxAccountRow[]> {
  return (await db.query<SandboxAccountRow>('SELECT * FROM sandbox_accounts WHERE id = $1 AND system = $2', [id, system])).rows
}

export async function liveAccountOf(db: Queryable, system: string, employeeExternalId: string): Promise<SandboxAccountRow[]> {
  return (await db.query<SandboxAccountRow>('SELECT * FROM sandbox_accounts WHERE system = $1 AND employee_external_id = $2 AND deleted_at IS NULL', [system, employeeExternalId])).rows
}

/** One account per employee: a second call returns it (reactivating a deleted one, merging groups). */
export async function upsertAccount(db: Queryable, a: { system: string; employeeExternalId: string; login: string; enabled: boolean; groups: string[] }): Promise<SandboxAccountRow[]> {
  return (
    await db.query<SandboxAccountRow>(
      `INSERT INTO sandbox_accounts (id, system, employee_external_id, login, active, groups)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (system, employee_external_id) DO UPDATE
             SET deleted_at = NULL,
                 active = CASE WHEN sandbox_accounts.deleted_at IS NULL THEN sandbox_accounts.active ELSE EXCLUDED.active END,
                 groups = ARRAY(SELECT DISTINCT unnest(sandbox_accounts.groups || EXCLUDED.groups) ORDER BY 1),
                 updated_at = now()
           RETURNING *`,
      [randomUUID(), a.system, a.employeeExternalId, a.login, a.enabled, a.groups],
    )
  ).rows
}

export async function setGroups(db: Queryable, id: string, groups: string[]): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET groups = $2, updated_at = now() WHERE id = $1', [id, groups])
}

export async function enableAccount(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET active = true, sessions_valid_from = NULL, updated_at = now() WHERE id = $1', [id])
}

export async function suspendAccount(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET active = false, sessions_valid_from = now(), updated_at = now() WHERE id = $1', [id])
}

export async function disableAccount(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET active = false, updated_at = now() WHERE id = $1', [id])
}

export async function revokeSessions(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET sessions_valid_from = now(), updated_at = now() WHERE id = $1', [id])
}

export async function clearGroups(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE sandbox_accounts SET groups = '{}', updated_at = now() WHERE id = $1`, [id])
}

export async function deleteAccount(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE sandbox_accounts SET deleted_at = now(), active = false WHERE id = $1', [id])
}

/** A page of the system's accounts (deleted ones too), oldest first. */
export async function accountPage(db: Queryable, system: string, limit: number, offset: number): Promise<SandboxAccountRow[]> {
  return (await db.query<SandboxAccountRow>('SELECT * FROM sandbox_accounts WHERE system = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3', [system, limit, offset])).rows
}
