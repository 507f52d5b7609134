/**
 * User-group membership state shared by every job one Slack provisioner runs in this process.
 * The registry builds one provisioner per `slack` config, so this state is per workspace, API base
 * URL and set of tokens: two Slack configs never share it.
 *
 * 1. Which groups is a leaver in? `usergroups.list include_users` answers for every user at once,
 *    but it is Tier 2 (20/min, https://docs.slack.dev/reference/methods/usergroups.list). Called once
 *    per leaver, it caps the clean-up at 20 leavers a minute: 5,000 leavers take over four hours
 *    while their cut-off took 28 minutes. So one listing is shared: callers that arrive while it is
 *    in flight wait for the same request (single-flight), and a settled listing is reused for
 *    `listingTtlMs`. Our own reads and writes of a group patch the shared copy, so a retried
 *    clean-up does not see the member it just removed. The listing only decides *which* groups
 *    to look at; see 2 for what is written. It is per process: another process's writes do not
 *    patch it, so a group someone joined through another process since the listing may be missing
 *    from it. The caller adds the groups on the leaver's fresh SCIM record (and the groups Tenure
 *    granted when that record carries no groups), so a stale listing never hides a membership.
 *
 * 2. usergroups.users.update REPLACES the member list
 *    (https://docs.slack.dev/reference/methods/usergroups.users.update), so every change is
 *    read-modify-write. Two jobs doing that to one group at the same time lose each other's change:
 *    A and B both read [A, B, C], A writes [B, C], B writes [A, C], and A is back in. A mass layoff
 *    does exactly that, since leavers share their team's groups. So changes to one group are
 *    serialised here, and the changes that queue up while one round is running are applied together
 *    in the next round: one usergroups.users.list read right before one update. The read is never
 *    taken from the listing, so a member someone else added since the listing stays.
 *    This does not protect against writers in *other* processes (another Tenure worker, an admin in
 *    Slack) between our read and our write; each round checks the update's answer for its own changes.
 *
 * 3. The list sent must be one Slack accepts. Slack documents no removal of a deactivated member
 *    from user groups (the help article lists channels only, https://slack.com/help/articles/204475027),
 *    so the list read back may still name people deactivated since they joined, and an update naming
 *    them can be refused as `invalid_users` ("Value passed for `users` was empty or invalid"). In a
 *    layoff that is the normal case: every leaver is deactivated by the cut-off before any clean-up
 *    runs, so the first removal from a shared group would name all the other leavers. When Slack
 *    refuses a list, the round asks users.info which of its members are deactivated (`deleted: true`,
 *    read, never guessed), leaves exactly those out and writes once more. Leaving them out only ever
 *    removes a deactivated account's membership; it is logged with the ids. Statuses are looked up
 *    only after a refusal, so a group without deactivated members costs nothing extra.
 *
 * 4. Every change is checked against the member list Slack holds afterwards: the update's answer,
 *    or, when the answer carries no `users`, a usergroups.users.list read. A list that could not be
 *    read leaves the change unknown (`refused` / `unread`), never "done".
 */
import { TransientError, isProvisionerError, lockFailure, type ProvisionerError } from '../errors.ts'
import type { Ctx, TargetLock } from '../types.ts'
import { raceSignal } from '../abort.ts'

export interface GroupMembers {
  users: string[]
  requestId: string | undefined
}

/** The three Web API calls, made by the provisioner (limiter, SDK, error classification, recordCall). */
export interface UserGroupCalls {
  /** usergroups.list include_users: every enabled group with its members. */
  list(ctx: Ctx): Promise<{ groups: Array<{ id: string; users: string[] }>; requestId: string | undefined }>
  /** usergroups.users.list: one group's members as they are now. */
  read(ctx: Ctx, groupId: string): Promise<GroupMembers>
  /**
   * usergroups.users.update: replace the member list. Answers the list Slack stored, or `users`
   * undefined when the answer did not include it (then the round reads the group back).
   */
  write(ctx: Ctx, groupId: string, users: string[]): Promise<{ users: string[] | undefined; requestId: string | undefined }>
  /**
   * users.info for each id: the ones Slack reads as deactivated. Throws (a ProvisionerError) when a
   * status cannot be read, so a member is never left out on a guess.
   */
  deactivated(ctx: Ctx, userIds: string[], trace: string[]): Promise<string[]>
}

export interface MembershipChange {
  kind: 'add' | 'remove'
  userId: string
}

export type MembershipOutcome =
  | { status: 'changed' }
  /** Already a member (add) or not a member (remove): nothing written for this change. */
  | { status: 'unchanged' }
  | { status: 'refused'; code: 'last_member' | 'not_applied' | 'unread'; reason: string }

export interface Memberships {
  groups: string[]
  /** x-slack-req-id of the usergroups.list answer this came from. */
  requestId: string | undefined
  /** Age of that answer when it was used (0 for a listing this caller waited for). */
  ageMs: number
  /** True when the listing was reused or another job's request, false when this caller made it. */
  shared: boolean
}

export interface UserGroupDirectoryOptions {
  system: string
  /** How long a settled listing is reused; 0: every caller sends its own usergroups.list. */
  listingTtlMs: number
  now: () => number
  /** Held around each round's read-modify-write, across processes (see 2); absent: this process only. */
  lock?: TargetLock
}

const LAST_MEMBER_REASON =
  'last member of the user group: Slack cannot empty a group through usergroups.users.update; disable the group or add a member'
const ONLY_DEACTIVATED_REASON =
  'only deactivated members would remain, and Slack refuses them in usergroups.users.update and cannot empty a group: disable the group or add a member'

/**
 * Refusals about one member of the list rather than the group or the request
 * (https://docs.slack.dev/reference/methods/usergroups.users.update#errors): in a combined round
 * they would fail everyone's change, so the round falls back to one change at a time.
 */
const MEMBER_REFUSALS = new Set(['invalid_users', 'invalid_user', 'failed_for_some_users', 'single_channel_guests_cannot_be_added'])

/** How often a refused list is cleaned of deactivated members and sent again. */
const MAX_CLEAN_ROUNDS = 5

/** How often a caller follows a listing whose leader was cancelled before it gives up (Transient). */
const MAX_LEADER_HANDOFFS = 3

interface Listing {
  /** Send order; a newer read or write of a group (higher seq) overrides what the listing says. */
  seq: number
  loadedAt: number
  groups: Map<string, string[]>
  requestId: string | undefined
}

interface InFlight {
  leader: Ctx
  promise: Promise<Listing>
}

/** What a read or write of one group said; `users` undefined: the group is gone or disabled. */
interface Patch {
  seq: number
  users: string[] | undefined
}

interface Pending {
  change: MembershipChange
  ctx: Ctx
  trace: string[] | undefined
  settled: boolean
  finish(result: { outcome: MembershipOutcome } | { error: unknown }): void
}

interface GroupQueue {
  ops: Pending[]
  running: boolean
}

export class UserGroupDirectory {
  private readonly calls: UserGroupCalls
  private readonly options: UserGroupDirectoryOptions
  private seq = 0
  private listing: Listing | undefined
  private inFlight: InFlight | undefined
  private readonly patches = new Map<string, Patch>()
  private readonly queues = new Map<string, GroupQueue>()

  constructor(calls: UserGroupCalls, options: UserGroupDirectoryOptions) {
    this.calls = calls
    this.options = options
  }

  /** The groups `userId` is in, according to the shared listing and our own later reads and writes. */
  async membershipsOf(ctx: Ctx, userId: string): Promise<Memberships> {
    const { listing, shared } = await this.currentListing(ctx)
    const groups: string[] = []
    for (const [id, users] of listing.groups) {
      const patch = this.patches.get(id)
      const effective = patch !== undefined && patch.seq > listing.seq ? patch.users : users
      if (effective?.includes(userId)) groups.push(id)
    }
    // A group the listing did not have (created or re-enabled since) that we have written to.
    for (const [id, patch] of this.patches) {
      if (!listing.groups.has(id) && patch.seq > listing.seq && patch.users?.includes(userId)) groups.push(id)
    }
    return { groups, requestId: listing.requestId, ageMs: shared ? Math.max(0, this.options.now() - listing.loadedAt) : 0, shared }
  }

  /**
   * Add or remove one member. Resolves once the change is written and Slack's answer confirms it
   * (or nothing needed writing); rejects with the ProvisionerError of the read or write. The
   * x-slack-req-id of the round's read and write are pushed to `trace`.
   */
  change(ctx: Ctx, groupId: string, change: MembershipChange, trace?: string[]): Promise<MembershipOutcome> {
    return new Promise<MembershipOutcome>((resolve, reject) => {
      if (ctx.signal.aborted) {
        reject(this.cancelled(ctx, groupId))
        return
      }
      let queue = this.queues.get(groupId)
      if (!queue) {
        queue = { ops: [], running: false }
        this.queues.set(groupId, queue)
      }
      const q = queue
      const onAbort = () => {
        const i = q.ops.indexOf(pending)
        if (i >= 0) q.ops.splice(i, 1)
        // A round already under way still writes the change; this job just stops waiting for it.
        pending.finish({ error: this.cancelled(ctx, groupId) })
      }
      const pending: Pending = {
        change,
        ctx,
        trace,
        settled: false,
        finish: (result) => {
          if (pending.settled) return
          pending.settled = true
          ctx.signal.removeEventListener('abort', onAbort)
          if ('outcome' in result) resolve(result.outcome)
          else reject(result.error)
        },
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true })
      q.ops.push(pending)
      if (!q.running) void this.drain(groupId, q)
    })
  }

  // -------------------------------------------------------------------------------------------

  private async currentListing(ctx: Ctx): Promise<{ listing: Listing; shared: boolean }> {
    const ttl = this.options.listingTtlMs
    for (let handoffs = 0; ; handoffs++) {
      const listing = this.listing
      if (ttl > 0 && listing !== undefined && this.options.now() - listing.loadedAt < ttl) return { listing, shared: true }
      const flight = this.inFlight
      if (ttl > 0 && flight !== undefined) {
        try {
          return { listing: await raceSignal(flight.promise, ctx.signal, () => this.cancelled(ctx, 'usergroups.list')), shared: true }
        } catch (err) {
          // The request died with the job that sent it, not because of Slack: send it again (one of
          // the waiting callers becomes the new leader, the others wait for that one).
          if (flight.leader.signal.aborted && !ctx.signal.aborted && handoffs < MAX_LEADER_HANDOFFS) continue
          throw err
        }
      }
      return { listing: await this.load(ctx), shared: false }
    }
  }

  private async load(ctx: Ctx): Promise<Listing> {
    const ttl = this.options.listingTtlMs
    const seq = ++this.seq
    const loadedAt = this.options.now()
    const promise = this.calls.list(ctx).then(
      (res): Listing => ({ seq, loadedAt, groups: new Map(res.groups.map((g) => [g.id, g.users])), requestId: res.requestId }),
    )
    if (ttl > 0) this.inFlight = { leader: ctx, promise }
    try {
      const listing = await promise
      if (ttl > 0 && (this.listing === undefined || seq > this.listing.seq)) {
        this.listing = listing
        for (const [id, patch] of this.patches) if (patch.seq < seq) this.patches.delete(id)
      }
      return listing
    } finally {
      if (this.inFlight?.promise === promise) this.inFlight = undefined
    }
  }

  private patch(groupId: string, users: string[] | undefined, seq: number): void {
    if (this.options.listingTtlMs <= 0) return
    if (this.listing !== undefined && seq < this.listing.seq) return
    const current = this.patches.get(groupId)
    if (current === undefined || seq > current.seq) this.patches.set(groupId, { seq, users: users ? [...users] : undefined })
  }

  private async drain(groupId: string, queue: GroupQueue): Promise<void> {
    queue.running = true
    try {
      while (queue.ops.length > 0) await this.round(groupId, queue, queue.ops.splice(0))
    } finally {
      queue.running = false
      if (queue.ops.length === 0 && this.queues.get(groupId) === queue) this.queues.delete(groupId)
    }
  }

  /**
   * One read-modify-write of a group for every change queued for it. The changes are applied to
   * the fresh read in arrival order, so the outcome of each is what it would have been alone
   * (in particular the change that would empty the group is the one refused as last_member).
   * The calls go out under the first live job's ctx: its limiter token, its cancellation, its call record.
   */
  private async round(groupId: string, queue: GroupQueue, batch: Pending[]): Promise<void> {
    const live = batch.filter((p) => !p.settled)
    const leader = live[0]
    if (leader === undefined) return
    const ids: string[] = []
    // Set inside the locked callback, so declared wide: TypeScript does not follow assignments in closures.
    let phase = 'read' as 'read' | 'write'
    const readSeq = ++this.seq
    try {
      await this.locked(leader.ctx, groupId, async () => {
        const before = await this.calls.read(leader.ctx, groupId)
        if (before.requestId) ids.push(before.requestId)
        this.patch(groupId, before.users, readSeq)
        let members = [...before.users]
        const decided = new Map<Pending, MembershipOutcome>()
        let writes = 0
        for (const p of live) {
          const { kind, userId } = p.change
          const isMember = members.includes(userId)
          if (kind === 'add') {
            if (isMember) decided.set(p, { status: 'unchanged' })
            else {
              members.push(userId)
              writes += 1
            }
          } else if (!isMember) decided.set(p, { status: 'unchanged' })
          else if (members.length === 1) {
            // "You cannot use this method to remove all members from a user group. Instead, use
            // usergroups.disable" — disabling a group is a decision for its owner, not for a leaver job.
            decided.set(p, { status: 'refused', code: 'last_member', reason: LAST_MEMBER_REASON })
          } else {
            members = members.filter((m) => m !== userId)
            writes += 1
          }
        }
        let after: string[] | undefined = before.users
        let unread: string | undefined
        if (writes > 0) {
          phase = 'write'
          const written = await this.writeAccepted(leader.ctx, groupId, members, ids)
          if (written === 'only_deactivated') {
            for (const p of live) {
              if (!decided.has(p) && p.change.kind === 'remove') decided.set(p, { status: 'refused', code: 'last_member', reason: ONLY_DEACTIVATED_REASON })
            }
            after = undefined
            unread = 'only deactivated members would remain, so no update was sent'
          } else {
            after = written.users
            if (after === undefined) {
              // Slack's answer did not carry the member list: read it, never assume the list we sent.
              const readBackSeq = ++this.seq
              try {
                const back = await this.calls.read(leader.ctx, groupId)
                if (back.requestId) ids.push(back.requestId)
                this.patch(groupId, back.users, readBackSeq)
                after = back.users
              } catch (err) {
                if (!isProvisionerError(err)) throw err
                unread = `usergroups.users.update answered without the member list and usergroups.users.list failed (${err.kind}${err.vendorCode ? ` ${err.vendorCode}` : ''})`
              }
            } else this.patch(groupId, after, ++this.seq)
          }
        }
        for (const p of live) {
          if (p.settled) continue
          p.trace?.push(...ids)
          const known = decided.get(p)
          let outcome: MembershipOutcome
          if (known) outcome = known
          else if (after === undefined) outcome = { status: 'refused', code: 'unread', reason: `member list after the change could not be read: ${unread ?? 'unknown'}` }
          else if ((p.change.kind === 'add') === after.includes(p.change.userId)) outcome = { status: 'changed' }
          else outcome = { status: 'refused', code: 'not_applied', reason: `${p.change.kind === 'add' ? 'not' : 'still'} a member after usergroups.users.update` }
          p.finish({ outcome })
        }
      })
    } catch (err) {
      const others = live.slice(1).filter((p) => !p.settled)
      if (leader.ctx.signal.aborted && others.length > 0) {
        // Cancelled with the leader's job, not refused by Slack: the others go again in the next round.
        leader.finish({ error: err })
        queue.ops.unshift(...others)
        return
      }
      if (phase === 'write' && live.length > 1 && isMemberRefusal(err)) {
        // One member Slack refuses (a guest being added, say) must not fail everyone else's change.
        for (const p of live) if (!p.settled) await this.round(groupId, queue, [p])
        return
      }
      if (phase === 'read' && isProvisionerError(err) && err.vendorCode === 'no_such_subteam') this.patch(groupId, undefined, readSeq)
      for (const p of live) p.finish({ error: err })
    }
  }

  /**
   * usergroups.users.update with `members`; when Slack refuses a member of the list, the members
   * users.info reads as deactivated are left out and the list is sent once more (see 3 above).
   * Answers 'only_deactivated' when nobody else would remain (nothing is sent then). A refusal that
   * is not about deactivated members is thrown as it came.
   */
  private async writeAccepted(
    ctx: Ctx,
    groupId: string,
    members: string[],
    ids: string[],
  ): Promise<{ users: string[] | undefined } | 'only_deactivated'> {
    // In a layoff members are deactivated while the round runs: a list cleaned of the deactivated
    // ones can be refused again for someone deactivated since, so the round cleans and sends again
    // (a few times; found by the chaos run, where one retry was not enough).
    let list = members
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await this.calls.write(ctx, groupId, list)
        if (written.requestId) ids.push(written.requestId)
        return written
      } catch (refusal) {
        if (!isMemberRefusal(refusal) || attempt >= MAX_CLEAN_ROUNDS) throw refusal
        if (refusal.requestId) ids.push(refusal.requestId)
        const deactivated = await this.calls.deactivated(ctx, list, ids)
        if (deactivated.length === 0) throw refusal
        list = list.filter((m) => !deactivated.includes(m))
        ctx.log.info(
          { system: this.options.system, groupId, leftOut: deactivated, vendorCode: refusal.vendorCode, attempt },
          'slack user group: leaving deactivated members out of the list Slack refused',
        )
        if (list.length === 0) return 'only_deactivated'
      }
    }
  }

  /**
   * `fn` under the cross-process lock of this group. A lock that cannot be taken (database
   * unreachable) is a Transient error: nothing was read or written, the job retries. A lock other
   * jobs kept for too long is RateLimited: the job comes back later without spending an attempt. Errors of
   * `fn` itself pass through as they are.
   */
  private async locked(ctx: Ctx, groupId: string, fn: () => Promise<void>): Promise<void> {
    const lock = this.options.lock
    if (!lock) return fn()
    let failed: { err: unknown } | undefined
    try {
      await lock.hold(`tenure.slack.usergroup:${this.options.system}:${groupId}`, ctx.signal, async () => {
        try {
          await fn()
        } catch (err) {
          failed = { err }
          throw err
        }
      })
    } catch (err) {
      if (failed !== undefined && failed.err === err) throw err
      if (ctx.signal.aborted) throw this.cancelled(ctx, groupId)
      throw lockFailure(err, `user group ${groupId}`, { system: this.options.system, operation: 'usergroups.lock' })
    }
  }

  private cancelled(ctx: Ctx, what: string): TransientError {
    return new TransientError(`${what}: cancelled while waiting for a shared user-group call`, {
      system: this.options.system,
      operation: 'usergroups',
      cause: ctx.signal.reason,
    })
  }
}

function isMemberRefusal(err: unknown): err is ProvisionerError {
  return isProvisionerError(err) && err.vendorCode !== undefined && MEMBER_REFUSALS.has(err.vendorCode)
}
