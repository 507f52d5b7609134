/**
 * Field mappings, target side: which profile attribute becomes which attribute of a target
 * system's account, as data.
 *
 * Where the tables live: each system's table sits in its own folder, `provisioners/<system>/mapping.ts`,
 * beside the provisioner that builds its create request FROM the table (`buildTargetAttributes`),
 * and the HR side's tables sit in each adapter (src/hr/mapping.ts says how). docs/data-dictionary.md
 * is generated from both (`npm run docs`, scripts/data-dictionary.ts) and a test fails when it is
 * stale, so the dictionary cannot drift from what the code sends.
 */
import type { EmployeeProfile, SystemKind } from './types.ts'

export type ProfileAttribute = keyof EmployeeProfile

/** Where an attribute's value comes from besides the profile: the account's lifecycle state. */
export interface TargetContext {
  /** False when the account must not work yet (before day one, during a leave). */
  enabled: boolean
}

export interface TargetAttribute<O = object> {
  /** The attribute's path in the request body (an array index is a number). */
  path: ReadonlyArray<string | number>
  /** How the dictionary names it, when the path alone does not say (a configurable key). */
  label?: string
  /** Profile attributes read, or `lifecycle` for the account state. */
  from: ReadonlyArray<ProfileAttribute | 'lifecycle'>
  /** The target's limit on the value and what Tenure does about it. */
  limit?: string
  note?: string
  /** The value sent; undefined leaves the attribute out of the request. */
  value: (employee: EmployeeProfile, ctx: TargetContext & O) => unknown
}

/** An account state Tenure sets at the target, and how it reads it back. */
export interface TargetState {
  /** Tenure's moment: `cut-off` (a leaver's first revocation step), `suspend`, `enable`… */
  when: string
  /** The attribute and value at the target, as the vendor writes it. */
  becomes: string
}

export interface TargetMapping<O = object> {
  system: SystemKind
  vendor: string
  /** What the table builds: the create request. */
  resource: string
  /** How Tenure recognises the account as this employee's again (the identity key). */
  identity: string
  attributes: ReadonlyArray<TargetAttribute<O>>
  states: ReadonlyArray<TargetState>
  /** Attributes built by rules too long for a row (a derived login), with where the rule lives. */
  derived?: ReadonlyArray<{ target: string; from: string; uses?: readonly ProfileAttribute[]; limit?: string }>
}

export function defineTargetMapping<O = object>(mapping: TargetMapping<O>): TargetMapping<O> {
  return mapping
}

/** The request body part the table describes, built from the profile: attributes whose value is undefined are left out. */
export function buildTargetAttributes<O>(mapping: TargetMapping<O>, employee: EmployeeProfile, ctx: TargetContext & O): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const attribute of mapping.attributes) {
    const value = attribute.value(employee, ctx)
    if (value === undefined) continue
    setPath(out, attribute.path, value)
  }
  return out
}

function setPath(target: Record<string, unknown>, path: ReadonlyArray<string | number>, value: unknown): void {
  let node: Record<string | number, unknown> = target
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value
      return
    }
    const next = path[i + 1]
    node[key] ??= typeof next === 'number' ? [] : {}
    node = node[key] as Record<string | number, unknown>
  }
}

/** How the dictionary writes a path: `name.givenName`, `organizations[0].title`. */
export function pathLabel(attribute: Pick<TargetAttribute, 'path' | 'label'>): string {
  if (attribute.label) return attribute.label
  return attribute.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}
