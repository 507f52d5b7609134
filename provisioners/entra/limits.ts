/**
 * Microsoft Graph identity-and-access throttling, shared by the provisioner (pacing through
 * ctx.throttle) and the emulator (enforcing the same limits), so both count a request the same way.
 *
 * Source: https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits
 * (microsoftgraph/microsoft-graph-docs-contrib concepts/throttling-limits.md). Per app+tenant pair:
 * - resource units (RU): S (<50 users) 3,500 / M (50–500) 5,000 / L (>500) 8,000 per 10 s;
 * - writes: 3,000 per 2 min 30 s.
 * The service says it uses a token bucket; capacity = the quota, refill = quota / window is the
 * honest reading, so writes burst to 3,000 and then flow at 20/s.
 */
import type { RateLimitSpec } from '../types.ts'

export type GraphBucket = 'read' | 'write'

export const ENTRA_RATE_LIMITS: Record<string, RateLimitSpec> = {
  /** Resource units, large-tenant quota (8,000 RU per 10 s). Lower it for S/M tenants in config. */
  read: { perMinute: 48_000, burst: 8_000 },
  /** Identity writes: 3,000 per 150 s = 1,200 per minute. */
  write: { perMinute: 1_200, burst: 3_000 },
  /**
   * The token endpoint publishes no number (Microsoft only says it answers 429 with
   * Retry-After: 60 when apps do not cache tokens). Tokens are cached for about an hour, so this
   * is our own conservative ceiling, not a vendor figure.
   */
  token: { perMinute: 60, burst: 10 },
}

/** Base RU costs that differ from 1, keyed by method and path template (docs table). */
const BASE_COSTS: Array<{ method: string; pattern: RegExp; cost: number }> = [
  { method: 'GET', pattern: /^\/users$/, cost: 2 },
  { method: 'GET', pattern: /^\/users\/[^/]+\/memberOf$/, cost: 2 },
  { method: 'GET', pattern: /^\/users\/[^/]+\/transitiveMemberOf$/, cost: 2 },
  { method: 'GET', pattern: /^\/users\/[^/]+\/licenseDetails$/, cost: 2 },
  { method: 'GET', pattern: /^\/groups\/[^/]+\/members$/, cost: 3 },
  { method: 'GET', pattern: /^\/subscribedSkus$/, cost: 3 },
]

export interface GraphCost {
  bucket: GraphBucket
  /** Tokens to take from the bucket: resource units for reads, 1 for a write. */
  cost: number
}

/**
 * Cost of one Graph request. `path` is relative to the version segment (`/users/{id}`), `query`
 * holds the OData options that change the price ($select −1, $expand +1, $top below 20 −1,
 * never below 1).
 *
 * Writes cost 1 RU as well as 1 write; only the write bucket is paced here because at 20
 * writes/s the RU side (≤200 of 8,000 per 10 s) can never bind first.
 */
export function graphRequestCost(method: string, path: string, query: Record<string, string | undefined> = {}): GraphCost {
  const m = method.toUpperCase()
  if (m !== 'GET' && m !== 'HEAD') return { bucket: 'write', cost: 1 }
  let cost = BASE_COSTS.find((c) => c.method === 'GET' && c.pattern.test(path))?.cost ?? 1
  if (query.$select) cost -= 1
  if (query.$expand) cost += 1
  const top = query.$top === undefined ? undefined : Number(query.$top)
  if (top !== undefined && Number.isFinite(top) && top < 20) cost -= 1
  return { bucket: 'read', cost: Math.max(1, cost) }
}
