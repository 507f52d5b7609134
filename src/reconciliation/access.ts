/**
 * Pure rules of target reconciliation: whose account a listed account is, what the policy grant
 * looks like in the listing's vocabulary, and what the account holds beyond it. No I/O here;
 * src/jobs/target-reconcile.ts reads the listing and the database and calls these.
 */
import type { AccountState, ListedAccess } from '../../provisioners/types.ts'
import type { AccessGrant } from '../domain/access.ts'

// ---------------------------------------------------------------------------------------------
// like with like

/**
 * Where each policy list shows up in AccountState when the provisioner does not say
 * (`Provisioner.listedAccess`). A listing has three lists; a policy has seven:
 * - groups   ← groups and userGroups: Slack's SCIM listing reports its user groups as `groups`
 *              (provisioners/slack), and a Slack policy may name them under either list;
 * - licences ← licences and products: Jira reports product access (application roles) as
 *              `licences` (provisioners/jira), a Jira policy grants it as `products`;
 * - roles    ← roles.
 * channels and projects are in no listing (Slack's SCIM user has no channels; Jira's user list no
 * projects), so they can be neither excess nor compared. Comparing only `groups` with `groups`
 * made every member of a policy-granted Slack user group `excess_access`.
 */
export function defaultListedAccess(grant: AccessGrant): ListedAccess {
  return {
    groups: [...grant.groups, ...(grant.userGroups ?? [])],
    licences: [...grant.licences, ...(grant.products ?? [])],
    roles: [...grant.roles],
  }
}

/** What a listed account holds beyond `expected`, per list (case-insensitive: group emails, handles). */
export function excessOf(account: Pick<AccountState, 'groups' | 'licences' | 'roles'>, expected: ListedAccess): Partial<ListedAccess> {
  const out: Partial<ListedAccess> = {}
  for (const list of ['groups', 'licences', 'roles'] as const) {
    const want = new Set(expected[list].map((v) => v.toLowerCase()))
    const extra = [...new Set(account[list])].filter((v) => !want.has(v.toLowerCase())).sort()
    if (extra.length > 0) out[list] = extra
  }
  return out
}

/** The account's listed access in a comparable shape (sorted lists): what an acknowledgement is for. */
export function accessSnapshot(account: AccountState): { active: boolean; groups: string[]; licences: string[]; roles: string[]; unknown?: string[] } {
  const sorted = (v: string[]) => [...new Set(v)].sort()
  const unknown = sorted((account.unknown ?? []).map((u) => u.attribute))
  return {
    active: account.active,
    groups: sorted(account.groups),
    licences: sorted(account.licences),
    roles: sorted(account.roles),
    ...(unknown.length > 0 ? { unknown } : {}),
  }
}

// ---------------------------------------------------------------------------------------------
// whose account

/** Employee states in which the lifecycle revokes access (a leaver, or a hire cancelled). */
export const LEAVER_STATES: ReadonlySet<string> = new Set(['deprovisioning', 'offboarded', 'cancelled'])

/** Tenure's record of an employee's account in the system being reconciled. */
export interface AccountRow {
  employee_id: string
  account_id: string | null
  login: string | null
  status: string
  verified_at: Date | null
  desired: AccessGrant | null
}

export interface EmployeeRef {
  id: string
  /** The identity key provisioners see as the employee id (the target's externalId). */
  key: string
  state: string
}

export interface OwnerIndex {
  byAccountId: Map<string, AccountRow>
  byLogin: Map<string, AccountRow>
  /** Account id → employee id, as a person linked them (reconciliation_account_links). */
  links: Map<string, string>
  /** Identity key → employee; keys two employees share are left out (ambiguous is not a match). */
  byKey: Map<string, EmployeeRef>
  employees: Map<string, EmployeeRef>
  /** Employee id → their row in this system. */
  rows: Map<string, AccountRow>
}

export interface Owner {
  employee: EmployeeRef
  /** Tenure's row for this employee in this system, if the policy gives them one. */
  row: AccountRow | undefined
  /** The account is the one Tenure provisions and revokes for them (not a second, hand-made one). */
  managed: boolean
  via: 'link' | 'account_id' | 'login' | 'key'
}

export function ownerIndex(rows: AccountRow[], employees: EmployeeRef[], links: Array<{ account_id: string; employee_id: string }>): OwnerIndex {
  const byKey = new Map<string, EmployeeRef>()
  const shared = new Set<string>()
  for (const e of employees) {
    if (byKey.has(e.key)) shared.add(e.key)
    else byKey.set(e.key, e)
  }
  for (const k of shared) byKey.delete(k)
  return {
    byAccountId: new Map(rows.filter((r) => r.account_id).map((r) => [r.account_id!, r])),
    byLogin: new Map(rows.filter((r) => r.login).map((r) => [r.login!.toLowerCase(), r])),
    links: new Map(links.map((l) => [l.account_id, l.employee_id])),
    byKey,
    employees: new Map(employees.map((e) => [e.id, e])),
    rows: new Map(rows.map((r) => [r.employee_id, r])),
  }
}

/**
 * The one place a listed account is mapped to an employee. In order: a person's link, Tenure's
 * account id, the login, then the identity key the provisioner reported (`AccountState.employeeId`,
 * the target's externalId). The key is `employees.external_id` today; when employees carry an
 * `account_key` (two HR sources sharing an id), only EmployeeRef.key changes (store.ts).
 */
export function ownerOf(account: AccountState, index: OwnerIndex): Owner | undefined {
  const owned = (employeeId: string, via: Owner['via']): Owner | undefined => {
    const employee = index.employees.get(employeeId)
    if (!employee) return undefined
    const row = index.rows.get(employeeId)
    const managed = row !== undefined && (row.account_id === account.accountId || row.account_id === null)
    return { employee, row, managed, via }
  }
  const linked = index.links.get(account.accountId)
  if (linked) return owned(linked, 'link')
  const row = index.byAccountId.get(account.accountId) ?? (account.login ? index.byLogin.get(account.login.toLowerCase()) : undefined)
  if (row) {
    const employee = index.employees.get(row.employee_id)
    if (employee) return { employee, row, managed: true, via: row.account_id === account.accountId ? 'account_id' : 'login' }
  }
  const byKey = account.employeeId ? index.byKey.get(account.employeeId) : undefined
  return byKey ? owned(byKey.id, 'key') : undefined
}
