/**
 * The access invariant, checked from the targets' side.
 *
 * For every person the scenario created, HR's current word (the model) says what they must hold:
 * - employed (hired, start date reached, no termination whose moment has passed, not on leave):
 *   one active account per system the policy grants, with exactly the policy's items (judged on
 *   the items a policy can grant; defaults a system adds by itself, like a product group, aside);
 * - on leave: no active account (suspended), items may stay;
 * - gone (terminated with the effective moment passed, hire cancelled, pre-hire): no active
 *   account and no group, channel, user group, licence, role, product or token left anywhere.
 * What they hold is read from the emulators' stores (targets.ts). Tenure's evidence is then held
 * against the same state: a closed leaver case, or a system Tenure marks verified / done, while the
 * target still grants something, is a violation even where HR's expectation would not catch it.
 */
import type pg from 'pg'
import type { InventoryAccount } from '../../src/sandbox/emulator-kit.ts'
import { expectedAccess, MANAGED, SYSTEMS, type Department, type TargetSystem } from './targets.ts'

export type Expectation =
  | { kind: 'employed'; department: Department }
  | { kind: 'on_leave'; department: Department }
  /** Hired, day one still ahead: accounts may exist (created disabled ahead of it), none may work. */
  | { kind: 'not_started' }
  | { kind: 'gone' }

export interface PersonView {
  source: string
  hrId: string
  /** Matching an account to the person: their email local part (unique per person in a scenario). */
  firstName: string
  lastName: string
  expectation: Expectation
  /** Why: the HR history in one line, for the report. */
  story: string
}

export interface Violation {
  person: string
  system: TargetSystem | '-'
  rule: string
  detail: string
}

function emailLocal(p: PersonView): string {
  return `${p.firstName}.${p.lastName}`.toLowerCase()
}

/** The accounts of a person in one system: by account key, else by the name in the login. */
function accountsOf(p: PersonView, accountKey: string | undefined, accounts: InventoryAccount[]): InventoryAccount[] {
  const local = emailLocal(p)
  return accounts.filter((a) => (accountKey !== undefined && a.key === accountKey) || (a.email !== undefined && a.email.toLowerCase().split('@')[0] === local))
}

function held(a: InventoryAccount): string[] {
  return Object.entries(a.access).flatMap(([list, items]) => items.map((i) => `${list}:${i}`))
}

/** Tenure's own view of the people in violations (state, per-system status, last error), to read a report. */
export async function tenureView(pool: pg.Pool, violations: Violation[]): Promise<string[]> {
  const ids = [...new Set(violations.map((v) => v.person.split(' ')[0]!))]
  const out: string[] = []
  for (const id of ids) {
    const [source, ...rest] = id.split(':')
    const { rows } = await pool.query<{ state: string; systems: Array<{ system: string; status: string; last_error: unknown; residual: unknown }> | null }>(
      `SELECT e.state, (SELECT json_agg(json_build_object('system', a.system, 'status', a.status, 'last_error', a.last_error, 'residual', a.residual) ORDER BY a.system)
                          FROM employee_accounts a WHERE a.employee_id = e.id) AS systems
         FROM employees e WHERE e.source = $1 AND e.external_id = $2`,
      [source, rest.join(':')],
    )
    const r = rows[0]
    if (!r) {
      out.push(`${id}: not known to Tenure`)
      continue
    }
    out.push(
      `${id}: ${r.state}; ${(r.systems ?? [])
        .map((s) => `${s.system}=${s.status}${s.last_error ? ` (${JSON.stringify(s.last_error)})` : ''}${Array.isArray(s.residual) && s.residual.length ? ` residual ${JSON.stringify(s.residual)}` : ''}`)
        .join(', ')}`,
    )
  }
  return out
}

export async function checkInvariant(
  pool: pg.Pool,
  people: PersonView[],
  inventory: Record<TargetSystem, InventoryAccount[]>,
): Promise<Violation[]> {
  const out: Violation[] = []
  const { rows: keyRows } = await pool.query<{ source: string; external_id: string; account_key: string; id: string; state: string }>(
    'SELECT id, source, external_id, account_key, state FROM employees',
  )
  // The leaver case of the employee's current generation: an older one (before a rehire) is history.
  const { rows: caseRows } = await pool.query<{ employee_id: string; status: string; generation: number; system: string | null; cs_status: string | null; verified_at: Date | null }>(
    `SELECT c.employee_id, c.status, c.generation, s.system, s.status AS cs_status, s.verified_at
       FROM cases c JOIN employees e ON e.id = c.employee_id AND e.generation = c.generation
       LEFT JOIN case_systems s ON s.case_id = c.id
      WHERE c.kind = 'leaver' AND c.status IN ('open', 'closed')`,
  )
  // A job that failed for good needs a person: no scenario here has a fault that lasts.
  const { rows: dead } = await pool.query<{ name: string; key: string | null; failure: unknown }>(
    `SELECT name, data->'request'->>'key' AS key, data->'failure' AS failure FROM pgboss.job WHERE name LIKE 'dlq.%' AND state = 'created'`,
  )
  for (const d of dead) {
    const owner = people.find((p) => d.key !== null && d.key.startsWith(`${p.source}:${p.hrId}:`))
    if (!owner) continue
    out.push({ person: `${owner.source}:${owner.hrId} (${owner.story})`, system: '-', rule: 'no_dead_letters', detail: `${d.name} ${d.key}: ${JSON.stringify(d.failure)}` })
  }
  for (const p of people) {
    const name = `${p.source}:${p.hrId} (${p.story})`
    const row = keyRows.find((r) => r.source === p.source && r.external_id === p.hrId)
    const accountKey = row?.account_key
    const expected = p.expectation.kind === 'employed' || p.expectation.kind === 'on_leave' ? expectedAccess(p.expectation.department) : undefined
    for (const system of SYSTEMS) {
      const mine = accountsOf(p, accountKey, inventory[system])
      const live = mine.filter((a) => a.active)
      if (mine.length > 1) out.push({ person: name, system, rule: 'one_account', detail: `${mine.length} accounts: ${mine.map((a) => a.accountId).join(', ')}` })
      const grants = expected?.[system]
      if (p.expectation.kind === 'employed' && grants) {
        if (live.length === 0) {
          out.push({ person: name, system, rule: 'joiner_has_access', detail: mine.length === 0 ? 'no account' : 'account not active' })
          continue
        }
        for (const a of live) {
          for (const [list, universe] of Object.entries(MANAGED[system])) {
            const want = new Set(grants[list] ?? [])
            const have = new Set((a.access[list] ?? []).filter((i) => universe.has(i)))
            const missing = [...want].filter((i) => !have.has(i))
            const extra = [...have].filter((i) => !want.has(i))
            if (missing.length > 0) out.push({ person: name, system, rule: 'joiner_has_policy_access', detail: `${list} missing: ${missing.join(', ')}` })
            if (extra.length > 0) out.push({ person: name, system, rule: 'mover_lost_old_access', detail: `${list} not granted by the policy: ${extra.join(', ')}` })
          }
        }
        continue
      }
      if (p.expectation.kind === 'employed' && !grants) {
        for (const a of live) {
          const items = held(a).filter((i) => MANAGED[system][i.split(':')[0]!]?.has(i.slice(i.indexOf(':') + 1)))
          if (items.length > 0) out.push({ person: name, system, rule: 'mover_lost_old_access', detail: `holds ${items.join(', ')} that the policy no longer grants` })
        }
        continue
      }
      if (p.expectation.kind === 'on_leave') {
        if (live.length > 0) out.push({ person: name, system, rule: 'leave_suspends', detail: `account ${live[0]!.accountId} is active during a leave of absence` })
        continue
      }
      if (p.expectation.kind === 'not_started') {
        if (live.length > 0) out.push({ person: name, system, rule: 'prehire_cannot_sign_in', detail: `account ${live[0]!.accountId} is active before day one` })
        continue
      }
      // gone
      for (const a of mine) {
        if (a.active) out.push({ person: name, system, rule: 'leaver_disabled', detail: `account ${a.accountId} is active` })
        const items = held(a)
        if (items.length > 0) out.push({ person: name, system, rule: 'leaver_holds_nothing', detail: `account ${a.accountId} still holds ${items.join(', ')}` })
      }
    }
    // Tenure's evidence against the targets.
    if (!row) continue
    const cases = caseRows.filter((c) => c.employee_id === row.id)
    for (const c of cases) {
      if (c.system === null || !(SYSTEMS as readonly string[]).includes(c.system)) continue
      const system = c.system as TargetSystem
      const mine = accountsOf(p, accountKey, inventory[system])
      const granting = mine.filter((a) => a.active || held(a).length > 0)
      if (granting.length === 0) continue
      const claim =
        c.status === 'closed'
          ? `leaver case closed (system ${c.cs_status})`
          : c.verified_at !== null && c.cs_status !== null && ['done', 'verified', 'cleaning'].includes(c.cs_status) && granting.some((a) => a.active)
            ? `system verified revoked (${c.cs_status})`
            : undefined
      if (claim === undefined) continue
      if (p.expectation.kind !== 'gone' && c.status === 'closed' && row.state !== 'offboarded' && row.state !== 'cancelled') continue // rescinded or rehired: a new generation decides
      out.push({
        person: name,
        system,
        rule: 'evidence_matches_target',
        detail: `${claim}, but the target still grants: ${granting.map((a) => `${a.accountId}${a.active ? ' (active)' : ''} ${held(a).join(' ')}`).join('; ')}`,
      })
    }
  }
  return out
}
