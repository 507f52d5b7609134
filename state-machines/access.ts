/**
 * Pure operations on AccessGrant: merge (policy rules, extra_access), diff (desired vs provisioned)
 * and intersection (rescind restores). Shared by the lifecycle machine and src/policy.
 */
import type { AccessChange, AccessGrant, AccessList } from '../src/domain/access.ts'

export const ACCESS_LISTS: readonly AccessList[] = [
  'groups',
  'licences',
  'channels',
  'projects',
  'roles',
  'products',
  'userGroups',
]

export function emptyGrant(account = true): AccessGrant {
  return { account, groups: [], licences: [], channels: [], projects: [], roles: [] }
}

function listOf(grant: AccessGrant | undefined, list: AccessList): string[] {
  return grant?.[list] ?? []
}

function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort()
}

/** Lists are unioned, `account` is true when either grants it; `b.orgUnit` wins when both set one. */
export function mergeGrants(a: AccessGrant | undefined, b: AccessGrant | undefined): AccessGrant | undefined {
  if (a === undefined) return b === undefined ? undefined : normaliseGrant(b)
  if (b === undefined) return normaliseGrant(a)
  const out = emptyGrant(a.account || b.account)
  for (const list of ACCESS_LISTS) {
    const merged = uniqueSorted([...listOf(a, list), ...listOf(b, list)])
    if (merged.length > 0 || list in out) out[list] = merged
  }
  const orgUnit = b.orgUnit ?? a.orgUnit
  if (orgUnit !== undefined) out.orgUnit = orgUnit
  return out
}

/** Sorted, de-duplicated lists, optional lists only when non-empty: equal grants compare equal as JSON. */
export function normaliseGrant(grant: AccessGrant): AccessGrant {
  const out = emptyGrant(grant.account)
  for (const list of ACCESS_LISTS) {
    const values = uniqueSorted(listOf(grant, list))
    if (values.length > 0 || list in out) out[list] = values
  }
  if (grant.orgUnit !== undefined) out.orgUnit = grant.orgUnit
  return out
}

/** What both grants hold. The account survives only when both grant it. */
export function intersectGrants(a: AccessGrant, b: AccessGrant): AccessGrant {
  const out = emptyGrant(a.account && b.account)
  for (const list of ACCESS_LISTS) {
    const inB = new Set(listOf(b, list))
    const values = uniqueSorted(listOf(a, list).filter((v) => inB.has(v)))
    if (values.length > 0 || list in out) out[list] = values
  }
  if (a.orgUnit !== undefined && a.orgUnit === b.orgUnit) out.orgUnit = a.orgUnit
  return out
}

/** Items of `a` that `b` does not hold, per list (empty lists left out). */
export function subtractGrants(a: AccessGrant, b: AccessGrant | undefined): Partial<Record<AccessList, string[]>> {
  const out: Partial<Record<AccessList, string[]>> = {}
  for (const list of ACCESS_LISTS) {
    const inB = new Set(listOf(b, list))
    const values = uniqueSorted(listOf(a, list).filter((v) => !inB.has(v)))
    if (values.length > 0) out[list] = values
  }
  return out
}

export interface AccessDiff {
  /** The account must be created. */
  create: boolean
  /** The account must be removed (deprovisioned). */
  remove: boolean
  /** Lists to add and remove; on create everything desired is added, on remove everything is removed. */
  change: AccessChange
}

/**
 * Desired vs provisioned for one system. A grant with `account: false` counts as no account: its
 * lists cannot be applied to an account that does not exist.
 */
export function diffAccess(desired: AccessGrant | undefined, provisioned: AccessGrant | undefined): AccessDiff {
  const want = desired?.account === true ? desired : undefined
  const have = provisioned?.account === true ? provisioned : undefined
  const change: AccessChange = { add: {}, remove: {} }
  for (const list of ACCESS_LISTS) {
    const wanted = new Set(listOf(want, list))
    const had = new Set(listOf(have, list))
    const add = uniqueSorted([...wanted].filter((v) => !had.has(v)))
    const remove = uniqueSorted([...had].filter((v) => !wanted.has(v)))
    if (add.length > 0) change.add[list] = add
    if (remove.length > 0) change.remove[list] = remove
  }
  if (want?.orgUnit !== undefined && want.orgUnit !== have?.orgUnit) change.orgUnit = want.orgUnit
  return { create: want !== undefined && have === undefined, remove: want === undefined && have !== undefined, change }
}

export function isEmptyChange(change: AccessChange): boolean {
  return Object.keys(change.add).length === 0 && Object.keys(change.remove).length === 0 && change.orgUnit === undefined
}
