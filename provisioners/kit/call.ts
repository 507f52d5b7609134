/**
 * One vendor call, the same way in every provisioner: credential → limiter → send → record →
 * classify, with one re-authentication when the target refuses a cached credential.
 *
 * What a provisioner passes is only what differs between vendors: which limiter buckets the call
 * takes, how to send it (the vendor's SDK or fetch), how to read a failure (`classify`, the
 * vendor's error mapping) and, for token-based auth, how to get a credential and when a refusal
 * means "fetch a fresh one". Everything else is decided here, once:
 * - The limiter is asked before the clock starts, so `durationMs` is the vendor's time, not the wait.
 * - Every call is reported through `ctx.recordCall`, success or failure, with the HTTP status and the
 *   vendor's request id where a response arrived (the error's own, when `send` could not fill them),
 *   `durationMs` in whole milliseconds and the error kind on a failure.
 * - A refused credential (`refused` says so and invalidates it) is replayed once, never twice, and
 *   never after the job's signal aborted: the job layer owns every other retry (STYLE.md, "Provisioners").
 * - The call's signal is `ctx.signal`, joined with `timeoutMs` when given (omit it where the SDK
 *   enforces its own timeout).
 * - `trace` collects the request id of every call made for one step, refused calls included: a
 *   refusal that leaves residual access is evidence too.
 */
import { isProvisionerError, type ProvisionerError } from '../errors.ts'
import type { Ctx } from '../types.ts'

/** What one request looked like on the wire; `send` fills in what it learns. */
export interface CallFacts {
  method: string
  /** Path without query string and without secrets. */
  path: string
  status: number | undefined
  requestId: string | undefined
}

/** A limiter bucket, with a cost where one call spends more than one token (Graph's $expand). */
export type CallBucket = string | { bucket: string; cost: number | undefined }

export interface VendorCall<T, C = undefined> {
  /** Vendor operation for audit rows, e.g. `directory.users.update`, `PATCH /users/{id}`. */
  operation: string
  method: string
  path: string
  /** Limiter buckets to take a token from, in order. */
  buckets: readonly CallBucket[]
  /** Joined with ctx.signal for the call's signal; leave out where the SDK enforces its own timeout. */
  timeoutMs?: number
  /** The credential for one attempt (a cached token); runs before the limiter, errors pass through. */
  credential?: () => Promise<C>
  send(attempt: { signal: AbortSignal; facts: CallFacts; credential: C }): Promise<T>
  /** The vendor's error mapping. A ProvisionerError thrown by `send` is taken as it is. */
  classify(err: unknown, facts: CallFacts): ProvisionerError
  /**
   * True when the target refused the credential used (an expired or revoked token); it must also
   * invalidate that credential, so the replay fetches a fresh one. Asked once per call.
   */
  refused?(err: ProvisionerError, credential: C): boolean
  /** Request ids of this call are pushed here (a step's evidence). */
  trace?: string[]
}

export async function vendorCall<T, C = undefined>(ctx: Ctx, call: VendorCall<T, C>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const credential = call.credential ? await call.credential() : (undefined as C)
    for (const b of call.buckets) {
      if (typeof b === 'string') await ctx.throttle(b)
      else if (b.cost === undefined) await ctx.throttle(b.bucket)
      else await ctx.throttle(b.bucket, b.cost)
    }
    const facts: CallFacts = { method: call.method, path: call.path, status: undefined, requestId: undefined }
    const signal = call.timeoutMs === undefined ? ctx.signal : AbortSignal.any([ctx.signal, AbortSignal.timeout(call.timeoutMs)])
    const started = performance.now()
    try {
      const result = await call.send({ signal, facts, credential })
      ctx.recordCall({
        operation: call.operation,
        method: facts.method,
        path: facts.path,
        status: facts.status,
        requestId: facts.requestId,
        durationMs: Math.round(performance.now() - started),
      })
      if (facts.requestId) call.trace?.push(facts.requestId)
      return result
    } catch (err) {
      const error = isProvisionerError(err) ? err : call.classify(err, facts)
      const requestId = facts.requestId ?? error.requestId
      ctx.recordCall({
        operation: call.operation,
        method: facts.method,
        path: facts.path,
        status: facts.status ?? error.status,
        requestId,
        durationMs: Math.round(performance.now() - started),
        errorKind: error.kind,
      })
      if (requestId) call.trace?.push(requestId)
      if (attempt === 1 && !ctx.signal.aborted && call.refused?.(error, credential)) continue
      throw error
    }
  }
}
