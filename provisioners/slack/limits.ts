/**
 * Slack's published rate limits, shared by the provisioner (paced through ctx.throttle) and the
 * emulator (enforced with 429 + Retry-After). Keeping one table means the two cannot disagree.
 *
 * SCIM (https://docs.slack.dev/reference/scim-api/rate-limits), org-wide and shared by every SCIM
 * client of the org, including the customer's IdP connector:
 *   writes to /Users (POST, PUT/PATCH, DELETE): 180/min, burst 20 each
 *   all GETs: 1,000/min, burst 1,000;  GET /Users/{id}: 300/min, burst 300
 *
 * Web API tiers (https://docs.slack.dev/apis/web-api/rate-limits) apply "per API method per
 * workspace per app", so each method gets its own bucket: one shared `tier2` bucket would let
 * conversations.list starve usergroups.users.update although Slack counts them separately.
 * Tiers are floors ("20+ per minute"); burst = the per-minute figure models Slack's per-minute window.
 */
import type { RateLimitSpec } from '../types.ts'

const TIER_2: RateLimitSpec = { perMinute: 20, burst: 20 }
const TIER_3: RateLimitSpec = { perMinute: 50, burst: 50 }
const TIER_4: RateLimitSpec = { perMinute: 100, burst: 100 }

/** Web API methods and their tier (from each method's reference page on docs.slack.dev). */
export const WEB_API_METHOD_LIMITS = {
  'conversations.list': TIER_2,
  'conversations.invite': TIER_3,
  'conversations.kick': TIER_3,
  'users.conversations': TIER_3,
  /** Tier 4 (https://docs.slack.dev/reference/methods/users.info): which members of a refused user-group list are deactivated. */
  'users.info': TIER_4,
  'usergroups.list': TIER_2,
  'usergroups.users.list': TIER_2,
  'usergroups.users.update': TIER_2,
  'admin.users.session.reset': TIER_2,
} as const satisfies Record<string, RateLimitSpec>

export type WebApiMethod = keyof typeof WEB_API_METHOD_LIMITS

export const SCIM_LIMITS = {
  /** POST /Users, PATCH /Users/{id}, DELETE /Users/{id}: 180/min, burst 20 per endpoint. */
  scim_write: { perMinute: 180, burst: 20 },
  /** Every SCIM GET, org-wide. */
  scim_read: { perMinute: 1000, burst: 1000 },
  /** GET /Users/{id} additionally has its own 300/min. */
  scim_get_user: { perMinute: 300, burst: 300 },
} as const satisfies Record<string, RateLimitSpec>

/** What the provisioner paces by default (config `rateLimits` may override per bucket). */
export const SLACK_RATE_LIMITS: Record<string, RateLimitSpec> = { ...SCIM_LIMITS, ...WEB_API_METHOD_LIMITS }

/**
 * The emulator also serves chat.postMessage for the SLA escalation feature. Slack's "special tier"
 * allows about one message per second per channel with short bursts; the emulator approximates it
 * workspace-wide. auth.test is special-tier too (hundreds per minute) and is not limited.
 */
export const EMULATOR_RATE_LIMITS: Record<string, RateLimitSpec> = {
  ...SLACK_RATE_LIMITS,
  'chat.postMessage': { perMinute: 60, burst: 10 },
}
