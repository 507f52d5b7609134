/**
 * Upgrades of stored machine snapshots: pure functions, no I/O.
 *
 * Every persisted XState snapshot is stored with the version of the machine that wrote it
 * (`employees.machine_version`, `exceptions.machine_version`; the constants sit next to each
 * machine). Before a snapshot is restored:
 *   - written by this version → restored as it is;
 *   - written by an older version → carried forward one step at a time (v1 → v2 → … → current);
 *     the caller persists the result with the current version, so each snapshot is upgraded once;
 *   - written by a NEWER version (a rolling upgrade: this process is the old one) → refused with a
 *     `MachineVersionError`. An old process must never restore, and so never overwrite, a snapshot
 *     whose shape it does not know; the job fails before writing anything and is retried, until a
 *     new worker takes it (docs/operations.md, "Upgrades").
 *
 * Adding a step: bump the machine's version constant, append `{ from: <old version>, change, up }`
 * to its list below, keep an old snapshot as a fixture (test/fixtures/snapshots/) and test the
 * step on it. Steps are never edited or removed once released: a database restored from an old
 * backup still needs the whole chain.
 */
import { EMPLOYEE_LIFECYCLE_VERSION } from './employee-lifecycle.machine.ts'
import { EXCEPTION_APPROVAL_VERSION } from './exception-approval.machine.ts'

/** A persisted XState snapshot as stored (plain JSON): what a step reads and rewrites. */
export interface StoredSnapshot {
  value: unknown
  context: Record<string, unknown>
  [key: string]: unknown
}

export interface UpgradeStep {
  /** The version this step reads; it returns the snapshot in version `from + 1`'s shape. */
  from: number
  /** What changed, for the log line that reports an upgrade. */
  change: string
  /** Pure. Gets its own deep copy, so it may change it in place and return it. */
  up: (snapshot: StoredSnapshot) => StoredSnapshot
}

export interface MachineVersioning {
  /** The machine's id, for error messages. */
  machine: string
  /** The version this build's machine writes. */
  current: number
  /** One step from every version before `current` (1 → 2, 2 → 3, …). */
  steps: readonly UpgradeStep[]
}

/**
 * `newer`: written by a later version than this build knows (refuse; a newer worker will take it).
 * `no_step`: an older version with no step to carry it forward (a bug in this build).
 * `invalid`: the stored version or snapshot is not something any version wrote.
 */
export type MachineVersionProblem = 'newer' | 'no_step' | 'invalid'

export class MachineVersionError extends Error {
  readonly problem: MachineVersionProblem
  readonly machine: string
  readonly stored: unknown
  readonly current: number

  constructor(problem: MachineVersionProblem, versioning: Pick<MachineVersioning, 'machine' | 'current'>, stored: unknown, detail: string) {
    super(`${versioning.machine} snapshot version ${String(stored)}: ${detail}`)
    this.name = 'MachineVersionError'
    this.problem = problem
    this.machine = versioning.machine
    this.stored = stored
    this.current = versioning.current
  }
}

export interface Upgraded {
  snapshot: StoredSnapshot
  /** The stored version. */
  from: number
  /** Always the current version. */
  to: number
  /** The `change` of every step applied, oldest first (empty when nothing changed). */
  applied: string[]
}

function isStoredSnapshot(value: unknown): value is StoredSnapshot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const context = (value as { context?: unknown }).context
  return 'value' in value && typeof context === 'object' && context !== null && !Array.isArray(context)
}

/**
 * The snapshot in the current version's shape. Throws `MachineVersionError` for a newer version,
 * a missing step or a value that is not a stored snapshot. Never changes its argument.
 */
export function upgradeSnapshot(versioning: MachineVersioning, snapshot: unknown, storedVersion: unknown): Upgraded {
  const { current } = versioning
  if (typeof storedVersion !== 'number' || !Number.isInteger(storedVersion) || storedVersion < 1) {
    throw new MachineVersionError('invalid', versioning, storedVersion, 'not a machine version (an integer from 1)')
  }
  if (storedVersion > current) {
    throw new MachineVersionError(
      'newer',
      versioning,
      storedVersion,
      `written by a newer machine than this build's version ${current}; refusing to restore or overwrite it (a worker running the newer release will take this work)`,
    )
  }
  if (!isStoredSnapshot(snapshot)) throw new MachineVersionError('invalid', versioning, storedVersion, 'the stored value is not a persisted snapshot (no value or context)')
  if (storedVersion === current) return { snapshot, from: storedVersion, to: current, applied: [] }
  let next = structuredClone(snapshot)
  const applied: string[] = []
  for (let v = storedVersion; v < current; v++) {
    const step = versioning.steps.find((s) => s.from === v)
    if (!step) throw new MachineVersionError('no_step', versioning, storedVersion, `no upgrade step from version ${v} to ${v + 1}`)
    next = step.up(next)
    if (!isStoredSnapshot(next)) throw new MachineVersionError('invalid', versioning, storedVersion, `the step from version ${v} returned something that is not a snapshot`)
    applied.push(step.change)
  }
  return { snapshot: next, from: storedVersion, to: current, applied }
}

/**
 * Throws unless the steps form one chain from version 1 to `current` (exactly one step from each
 * older version, none from the current one or later). Run at import for the real machines, so a
 * version bump without its step fails every test and every start, not the first old snapshot.
 */
export function assertUpgradeChain(versioning: MachineVersioning): void {
  const { current, steps } = versioning
  if (!Number.isInteger(current) || current < 1) throw new MachineVersionError('invalid', versioning, current, 'the current version must be an integer from 1')
  for (let v = 1; v < current; v++) {
    const n = steps.filter((s) => s.from === v).length
    if (n !== 1) throw new MachineVersionError('no_step', versioning, v, `${n} upgrade steps from version ${v}; exactly one is needed`)
  }
  const stray = steps.find((s) => s.from < 1 || s.from >= current)
  if (stray) throw new MachineVersionError('invalid', versioning, stray.from, `an upgrade step from version ${stray.from} is outside 1..${current - 1}`)
}

/**
 * The lifecycle machine's steps. None yet: version 1 is the shape when versioning began.
 *
 * Considered and left out: job keys gained the HR source as prefix (`<source>:<employeeId>:…`)
 * before versioning began, so snapshots from before that carry `keySeq` entries under the old
 * prefix. They need no step: `keySeq` only numbers keys within one base, a new base starts at 1
 * and can meet no old key (the prefixes differ), outcomes are matched on `pending` (which holds
 * no key), old timer ids are compared as stored, and a new generation clears `keySeq`.
 */
export const LIFECYCLE_UPGRADES: readonly UpgradeStep[] = []

/** The approval machine's steps. None yet: version 1 is the shape when versioning began. */
export const APPROVAL_UPGRADES: readonly UpgradeStep[] = []

export const LIFECYCLE_VERSIONING: MachineVersioning = { machine: 'employeeLifecycle', current: EMPLOYEE_LIFECYCLE_VERSION, steps: LIFECYCLE_UPGRADES }
export const APPROVAL_VERSIONING: MachineVersioning = { machine: 'exceptionApproval', current: EXCEPTION_APPROVAL_VERSION, steps: APPROVAL_UPGRADES }

assertUpgradeChain(LIFECYCLE_VERSIONING)
assertUpgradeChain(APPROVAL_VERSIONING)
