/**
 * Field mappings, HR side: which vendor field becomes which canonical profile attribute, and
 * which vendor status becomes which employment status, as data.
 *
 * Where the tables live: each adapter declares its table in its own file
 * (`src/hr/sources/<vendor>.ts`, exported as `<VENDOR>_MAPPING`) and builds its records FROM it:
 * `readProfile` reads the profile attributes, `statusOf` applies the status rules in order. The
 * target side does the same in `provisioners/<system>/mapping.ts` (provisioners/mapping.ts).
 * docs/data-dictionary.md is generated from both (`npm run docs`, scripts/data-dictionary.ts) and
 * a test fails when it is stale, so the dictionary cannot drift from what the adapters do.
 */
import type { EmployeeProfile } from '../domain/access.ts'
import type { HrSource } from '../../state-machines/events.ts'
import type { EmploymentStatus } from './types.ts'

export type ProfileAttribute = keyof EmployeeProfile

/** One profile attribute read from a vendor record. */
export interface ProfileField<R, C> {
  /** Vendor fields as the vendor names them (dotted paths into the record); the first present wins. */
  from: readonly string[]
  /** For a value that is not a plain field (computed, or a configured column): how it is read; `from` then describes it. */
  read?: (record: R, ctx: C) => unknown
  note?: string
}

/** One employment-status rule: the first rule whose test holds decides. */
export interface StatusRule<I> {
  status: EmploymentStatus
  /** The rule in the vendor's words, e.g. "Employment Status is Terminated". */
  when: string
  test: (input: I) => boolean
}

export interface SourceMapping<R, C = undefined, I = R> {
  source: HrSource
  vendor: string
  /** The record the table reads, e.g. "employee (GET /v1/employees/{id})". */
  record: string
  profile: { employeeId: ProfileField<R, C> } & Partial<Record<Exclude<ProfileAttribute, 'employeeId'>, ProfileField<R, C>>>
  status: { rules: ReadonlyArray<StatusRule<I>>; otherwise: EmploymentStatus }
  /** How the termination's date, type and reason, and a leave, are read (prose: they are read by code beside the table). */
  termination?: readonly string[]
}

export function defineSourceMapping<R, C = undefined, I = R>(mapping: SourceMapping<R, C, I>): SourceMapping<R, C, I> {
  return mapping
}

/** The profile attributes the table names, read from one vendor record (cleanProfile then trims and validates them). */
export function readProfile<R, C, I>(mapping: SourceMapping<R, C, I>, record: R, ctx: C): Partial<Record<ProfileAttribute, unknown>> & { employeeId: string } {
  const out: Partial<Record<ProfileAttribute, unknown>> = {}
  for (const [attribute, field] of Object.entries(mapping.profile) as Array<[ProfileAttribute, ProfileField<R, C>]>) {
    out[attribute] = field.read ? field.read(record, ctx) : firstPresent(record, field.from)
  }
  return { ...out, employeeId: String(out.employeeId) }
}

/** The employment status the table's rules give, first match wins. */
export function statusOf<I>(mapping: Pick<SourceMapping<unknown, unknown, I>, 'status'>, input: I): EmploymentStatus {
  return mapping.status.rules.find((r) => r.test(input))?.status ?? mapping.status.otherwise
}

/** `a ?? b`: the first field that is neither null nor undefined. */
function firstPresent(record: unknown, paths: readonly string[]): unknown {
  for (const path of paths) {
    let node: unknown = record
    for (const key of path.split('.')) node = node === null || node === undefined ? undefined : (node as Record<string, unknown>)[key]
    if (node !== null && node !== undefined) return node
  }
  return undefined
}
