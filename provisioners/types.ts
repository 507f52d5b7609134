/**
 * The contract every target system implements. Small on purpose (baton-sdk's connector
 * interfaces are the model): provision, change access, deprovision, read back, list.
 *
 * Rules every implementation follows:
 * - Use the vendor's official SDK, pointed at a base URL from config (the emulator in tests and
 *   in the sandbox).
 * - Classify every failure into a `ProvisionerError` (./errors.ts). Never sleep, never retry:
 *   SDK-internal retry loops are switched off; the job layer retries and honours Retry-After.
 * - Before every vendor call, `await ctx.throttle(bucket)`: the shared limiter paces calls so
 *   the published limits are not discovered through 429s.
 * - After every vendor call, `ctx.recordCall(...)`: the job layer turns these into audit rows
 *   (request id, status) and metrics.
 * - Idempotent: `provision` on an account that already exists (409, or found by external id)
 *   returns the existing account; `deprovision` of an account that is gone counts as done.
 * - `verify` reads the account back from the target; it never assumes a write took effect.
 */
import type { Logger } from '../src/log.ts'
import type { AccessChange, AccessGrant, EmployeeProfile, ResidualAccess, RevocationPlan, RevocationStepKind, SystemId } from '../src/domain/access.ts'

// The domain types live in src/domain/access.ts (machines, engine and provisioners share them).
// Re-exported here because they are this contract's vocabulary and every provisioner and its tests
// import them from this file; new code outside provisioners/ imports src/domain/access.ts.
export type {
  AccessChange,
  AccessGrant,
  AccessList,
  EmployeeProfile,
  ResidualAccess,
  RevocationPhase,
  RevocationPlan,
  RevocationStepKind,
  SystemId,
} from '../src/domain/access.ts'
export { CUTOFF_STEPS } from '../src/domain/access.ts'

export type SystemKind = 'google' | 'entra' | 'slack' | 'jira' | 'scim' | 'manual' | 'sandbox'

export interface ApiCallRecord {
  /** Vendor operation, e.g. `directory.users.update`, `PATCH /v1.0/users/{id}`, `scim.Users.patch`. */
  operation: string
  method: string
  /** Path without query string and without secrets. */
  path: string
  /** HTTP status, undefined when no response arrived (timeout, connection reset). */
  status: number | undefined
  requestId: string | undefined
  durationMs: number
  /** The error kind when the call failed. */
  errorKind?: string
}

export interface Ctx {
  /** Stable across retries of the same job: `employeeId:system:action[:phase]`. */
  idempotencyKey: string
  correlationId: string
  signal: AbortSignal
  log: Logger
  /**
   * Wait for a token from the shared per-system limiter before a vendor call. Buckets are named
   * by the provisioner (`rateLimitBuckets`). The limiter may throw RateLimitedError when the wait
   * would be long, so the job is re-queued instead of holding a worker.
   */
  throttle(bucket: string, cost?: number): Promise<void>
  /** Report one vendor call (after it returns or fails). */
  recordCall(call: ApiCallRecord): void
  /**
   * This job has run before (a retry, or a hand-back after a rate limit): some of its writes may
   * already have landed. A provisioner looks before it creates, rather than creating and reading
   * the conflict (one call instead of three on every round of a long rate-limited hire).
   */
  repeat?: boolean
}

/**
 * Mutual exclusion for a read-modify-write of one object in a target system (a Slack user group's
 * member list, a PUT-only SCIM Group) among every Tenure process on the database. The registry
 * builds it on PostgreSQL advisory locks (src/db/advisory-locks.ts); a provisioner built without
 * one (unit tests) serialises within its own process only.
 */
export interface TargetLock {
  /**
   * Run `fn` while holding the lock named `key`; waits (without holding a database connection)
   * while another process holds it. Rejects when `signal` aborts while waiting, or when the lock
   * cannot be taken (database unreachable).
   */
  hold<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T>
}

/** One membership change on a group whose member list is written whole (Slack user groups). */
export interface GroupChangeKey {
  system: string
  groupId: string
  userId: string
  kind: 'add' | 'remove'
}

/** What a read of the group after a round showed for one change. */
export type GroupChangeOutcome =
  | { state: 'changed' | 'unchanged'; requestIds: string[] }
  | { state: 'refused'; code: string; reason: string; requestIds: string[] }

export interface OpenGroupChange {
  userId: string
  kind: 'add' | 'remove'
  seq: number
  /** pending: not sent yet; written: sent, the read-back failed (unverified). */
  state: 'pending' | 'written'
}

/**
 * Membership changes pending per group, shared by every Tenure process on the database (the
 * registry builds it on PostgreSQL, src/db/group-changes.ts; without one a provisioner keeps them
 * in memory). Jobs record their change; whichever job holds the group's TargetLock applies every
 * open change of the group in one write and settles each from the read-back; each job then reads
 * its own change's outcome. A change outlives the job that asked for it (a rate-limit hand-back),
 * so the next round carries it, and a settled outcome stays the answer for that job's key (job
 * keys are unique per job request, lifecycle-types.ts), so a job handed back halfway through its
 * groups does not read the groups it finished again.
 */
export interface GroupChangeStore {
  /**
   * Ask for a change, as the job `key`. Answers `settled` with the outcome when this key's request
   * was settled by a round (within `maxAgeMs`) and not yet taken; otherwise records or joins the
   * open request and answers `open`. A request settles an open change of the opposite kind for the
   * same member as `refused`/`superseded`.
   */
  request(change: GroupChangeKey, key: string, maxAgeMs: number): Promise<{ status: 'open' } | { status: 'settled'; outcome: GroupChangeOutcome }>
  /** The group's open changes (pending or written), in request order. */
  open(system: string, groupId: string): Promise<OpenGroupChange[]>
  /** Sent but not read back: still open, the next round verifies them. */
  markWritten(system: string, groupId: string, changes: OpenGroupChange[]): Promise<void>
  /** Settle changes a round read back; a change re-requested since (another seq) stays open. */
  settle(system: string, groupId: string, settled: Array<{ change: OpenGroupChange; outcome: GroupChangeOutcome }>): Promise<void>
}

export interface AccountSpec {
  employee: EmployeeProfile
  access: AccessGrant
  /** False when access must not work before day one: create disabled/suspended, enable later. */
  enabled: boolean
}

export interface AccountRef {
  system: SystemId
  /** The target's own id (Google user id, Graph object id, Slack user id, Jira accountId, SCIM id). */
  accountId: string
  /** Login or primary email at the target. */
  login?: string
  employeeId: string
}

export type StepStatus = 'done' | 'already_done' | 'skipped' | 'not_supported' | 'failed'

export interface StepEvidence {
  step: RevocationStepKind
  status: StepStatus
  at: string
  detail?: string
  requestIds?: string[]
}

export interface RevocationEvidence {
  steps: StepEvidence[]
  residual: ResidualAccess[]
}

export interface VerifyCheck {
  name: string
  ok: boolean
  detail?: string
}

/**
 * Something a read could not show: an attribute the target did not return, a filter it refused,
 * a page not read. Unknown is not empty: callers never treat it as "no access".
 */
export interface UnknownRead {
  /** `groups`, `licences`, `roles`, `userGroups`, `channels`, `products`, `sessions`, `active` … */
  attribute: string
  reason: string
}

/** What the target says now, read back. */
export interface AccountState {
  accountId: string
  exists: boolean
  active: boolean
  login?: string
  employeeId?: string
  groups: string[]
  licences: string[]
  roles: string[]
  /** Checks that make up "revoked" for this system (suspended, sessions invalidated, no tokens ...). */
  checks: VerifyCheck[]
  /** True when every cut-off check passed: the account cannot be used. */
  revoked: boolean
  /**
   * What this read could not show. `groups: []` with `unknown: [{ attribute: 'groups' }]` means
   * "could not tell", not "member of no groups".
   */
  unknown?: UnknownRead[]
}

/** Access in the vocabulary of AccountState: the three lists a listing reports. */
export interface ListedAccess {
  groups: string[]
  licences: string[]
  roles: string[]
}

export interface VerifyOptions {
  /** When revocation happened; session checks compare against it (Graph signInSessionsValidFromDateTime). */
  revokedAt?: string
  /**
   * What Tenure granted in this system: every item here is read back and checked, even where the
   * target's user resource does not list memberships (a lower bound, never the whole answer).
   */
  granted?: AccessGrant
}

export interface Page<T> {
  items: T[]
  nextPage?: string
}

export interface RateLimitSpec {
  /** Tokens added per minute (token bucket), or the most calls in any 60 s (sliding minute). */
  perMinute: number
  /** Bucket size: how many calls may go out back to back (token bucket only; a sliding minute lets a whole minute's quota go at once). */
  burst: number
  /**
   * How the vendor counts "N per minute". `token-bucket` (the default): a bucket of `burst` that
   * refills at `perMinute`. `sliding-minute`: at most `perMinute` calls in any 60-second interval,
   * the literal reading of a published "N queries per minute" (Google's Directory API): never over
   * quota however the vendor aligns its minutes, and a whole minute's quota may go at once.
   */
  window?: 'token-bucket' | 'sliding-minute'
}

export interface Provisioner {
  readonly system: SystemId
  readonly kind: SystemKind
  /** Named limiter buckets with the vendor's published defaults; config may lower or raise them. */
  readonly rateLimitBuckets: Record<string, RateLimitSpec>
  /**
   * Optional: the fixed order in which deprovision runs revocation steps, where the vendor's
   * semantics need one (kit/revocation.ts's `order`). The what-if plan (src/lifecycle/what-if.ts)
   * shows steps in this order without calling the target; absent: the plan's own order.
   */
  readonly revocationOrder?: readonly RevocationStepKind[]
  /** Optional: steps this system cannot do, and why (deprovision reports them `not_supported`). */
  readonly unsupportedSteps?: Partial<Record<RevocationStepKind, string>>
  provision(ctx: Ctx, spec: AccountSpec): Promise<AccountRef>
  /** Find the account for an employee without changing anything (by external id, then login). */
  lookup(ctx: Ctx, employee: EmployeeProfile): Promise<AccountRef | undefined>
  update(ctx: Ctx, ref: AccountRef, change: AccessChange): Promise<void>
  /** Enable an account created disabled before day one, or restore after leave. */
  enable(ctx: Ctx, ref: AccountRef): Promise<void>
  /** Suspend for a leave of absence (cut-off only, nothing removed). */
  suspend(ctx: Ctx, ref: AccountRef): Promise<void>
  deprovision(ctx: Ctx, ref: AccountRef, plan: RevocationPlan): Promise<RevocationEvidence>
  verify(ctx: Ctx, ref: AccountRef, opts?: VerifyOptions): Promise<AccountState>
  listAccounts(ctx: Ctx, page?: string): Promise<Page<AccountState>>
  /**
   * Optional: a policy grant as listAccounts would report it (which AccountState list each policy
   * list lands in, names resolved to what the listing shows, e.g. Slack user-group handles to ids).
   * Reconciliation compares a listed account with this. Absent: src/reconciliation/access.ts's
   * defaultListedAccess.
   */
  listedAccess?(ctx: Ctx, grant: AccessGrant): Promise<ListedAccess>
}

/** A context for tests and scripts: no limiter, calls collected in an array. */
export function testCtx(log: Logger, calls: ApiCallRecord[] = [], key = 'test'): Ctx {
  return {
    idempotencyKey: key,
    correlationId: key,
    signal: new AbortController().signal,
    log,
    throttle: async () => {},
    recordCall: (call) => {
      calls.push(call)
    },
  }
}
