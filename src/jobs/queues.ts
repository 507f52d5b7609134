/**
 * Every queue Tenure uses, declared in one place and created at start.
 *
 * Target systems get one work queue each (`system.<id>`), not a provisioning and a deprovisioning
 * queue: pg-boss fetches each queue independently, so with two queues a busy provisioning queue
 * would take worker slots and limiter tokens while leavers wait. Within one queue, job priority
 * orders the work (pg-boss fetches `priority DESC, created_on`):
 *   cut-off and verification of leavers  >  everything else,
 * and within the leaver tier the earliest SLA deadline first.
 *
 * A leaver's clean-up (groups, licences, data transfer) goes to a second queue per system,
 * `cleanup.<id>`, whose workers start a job only while no cut-off or verification is pending in
 * that system (src/jobs/system-worker.ts). In one queue a clean-up fetched while cut-offs were
 * still running had to be pushed back, and in a layoff the workers then cycled every waiting
 * clean-up through the queue every few seconds: thousands of re-queues a minute, which took the
 * database and CPU the cut-offs needed. In their own queue they wait in place, a few at a time.
 */
import type { Boss } from './boss.ts'
import type { Config } from '../config/index.ts'
import type { JobRequest } from '../../state-machines/lifecycle-types.ts'
import { NOTIFY_QUEUE_OPTIONS } from '../notify/worker.ts'

export const HR_EVENT_QUEUE = 'hr.event'
export const HR_RECONCILE_QUEUE = 'hr.reconcile'
export const TIMER_QUEUE = 'lifecycle.timer'
export const NOTIFY_QUEUE = 'notify'
export const SLA_ESCALATION_QUEUE = 'sla.escalation'
export const TARGET_RECONCILE_QUEUE = 'reconcile.targets'
/** How long one target reconciliation run may take before pg-boss counts it as lost. */
export const TARGET_RECONCILE_EXPIRE_SECONDS = 3 * 3600
export const AUDIT_CHECKPOINT_QUEUE = 'audit.checkpoint'
export const AUDIT_RETENTION_QUEUE = 'audit.retention'

/** pg-boss queue names allow [\w.\-/]; SCIM systems are `scim:<name>`. */
export function systemQueue(system: string): string {
  return `system.${system.replaceAll(':', '/')}`
}

/** Where a leaver's clean-up of `system` waits until every cut-off in the system is done. */
export function cleanupQueue(system: string): string {
  return `cleanup.${system.replaceAll(':', '/')}`
}

export function isCleanup(request: Pick<JobRequest, 'action' | 'phase'>): boolean {
  return request.action === 'deprovision' && request.phase === 'cleanup'
}

/** The queue a job for `request` goes to. */
export function queueFor(request: Pick<JobRequest, 'action' | 'phase' | 'system'>): string {
  return isCleanup(request) ? cleanupQueue(request.system) : systemQueue(request.system)
}

/**
 * A leaver's cut-off or its verification: work that must never wait in a dead-letter queue for a
 * person while the target's failure is transient. The system worker re-queues it after the last
 * retry its handler sees; this covers the attempts that end without the handler (the process died,
 * a heartbeat was missed, the database went away mid-run), which pg-boss counts too.
 */
export function isLeaverCritical(request: Pick<JobRequest, 'action' | 'phase'>): boolean {
  return (request.action === 'deprovision' && request.phase !== 'cleanup') || request.action === 'verify'
}

/**
 * pg-boss's retry limit for one job of `request`: leaver-critical jobs get one so high that
 * pg-boss never dead-letters them by itself (at `queue.retryDelayMaxSeconds` between attempts it
 * would take years), others keep the queue's `queue.retryLimit`.
 */
export const LEAVER_CRITICAL_RETRY_LIMIT = 1_000_000

export function jobRetryOptions(request: Pick<JobRequest, 'action' | 'phase'>): { retryLimit?: number } {
  return isLeaverCritical(request) ? { retryLimit: LEAVER_CRITICAL_RETRY_LIMIT } : {}
}

export function deadLetterQueue(system: string): string {
  return `dlq.${system.replaceAll(':', '/')}`
}

const TIER = { cutoff: 3, cleanup: 2, other: 1 } as const
const MINUTES_SCALE = 100_000_000 // > minutes since 1970 for the next 150 years

/**
 * Higher runs first. Leaver work is ordered by its SLA deadline (earliest first), to the minute.
 * A verification counts one minute earlier than a cut-off of the same deadline: in a layoff, every
 * leaver's deadline falls in the same few minutes, and the verifications (created when each cut-off
 * ends) queued behind thousands of cut-offs created at intake, in one queue whose workers were held
 * by cut-offs waiting in the limiter for write tokens. Measured at 2,000 leavers (2026-12-07 06:00,
 * docs/benchmarks.md): Slack's verifications waited p50 130 s, p99 180 s for a worker and finished
 * 49 s after the last cut-off call. A verification reads (another bucket) and takes a worker for a
 * fraction of a second, so taking it first costs the cut-offs nothing the limiter does not bind.
 */
export function jobPriority(request: JobRequest, deadline: Date | undefined, now: Date): number {
  const tier =
    request.action === 'deprovision' && request.phase === 'cleanup'
      ? TIER.cleanup
      : request.action === 'deprovision' || request.action === 'verify'
        ? TIER.cutoff
        : TIER.other
  const reference = tier === TIER.other ? now : (deadline ?? now)
  const verificationFirst = request.action === 'verify' ? 1 : 0
  return tier * MINUTES_SCALE - Math.floor(reference.getTime() / 60_000) + verificationFirst
}

type QueueOptions = NonNullable<Parameters<Boss['createQueue']>[1]>

/**
 * Create a queue that workers take jobs from, with heartbeats (src/jobs/boss.ts says why), or
 * bring an existing one's heartbeat in line with the configuration: a database made before
 * heartbeats, or under another `queue.heartbeatSeconds`, would otherwise keep finding dead
 * workers' jobs only after `expireInSeconds`. Other options of an existing queue are left as
 * they are. Jobs take the queue's heartbeat when they are inserted.
 */
export async function ensureQueue(boss: Boss, config: Config, name: string, options: QueueOptions): Promise<void> {
  const heartbeatSeconds = config.queue.heartbeatSeconds
  const existing = await boss.getQueue(name)
  if (!existing) await boss.createQueue(name, { ...options, heartbeatSeconds })
  else if (existing.heartbeatSeconds !== heartbeatSeconds) await boss.updateQueue(name, { heartbeatSeconds })
}

/** How often a running job refreshes its heartbeat: four chances before it counts as dead. */
export function heartbeatRefreshSeconds(config: Config): number {
  return config.queue.heartbeatSeconds / 4
}

export async function createQueues(boss: Boss, config: Config, systems: string[]): Promise<void> {
  const retry = {
    retryLimit: config.queue.retryLimit,
    retryDelay: config.queue.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: config.queue.retryDelayMaxSeconds,
    expireInSeconds: config.queue.expireInSeconds,
  }
  const ensure = (name: string, options: QueueOptions) => ensureQueue(boss, config, name, options)
  for (const system of systems) {
    // Nobody works a dead-letter queue (jobs wait there for an operator), so no heartbeat.
    if (!(await boss.getQueue(deadLetterQueue(system)))) await boss.createQueue(deadLetterQueue(system), { retentionSeconds: 30 * 24 * 3600, notify: false } as QueueOptions)
    await ensure(systemQueue(system), { ...retry, deadLetter: deadLetterQueue(system), notify: true } as QueueOptions)
    await ensure(cleanupQueue(system), { ...retry, deadLetter: deadLetterQueue(system), notify: true } as QueueOptions)
  }
  // HR events of one employee apply strictly in the order they were accepted: one lane per
  // employee (singletonKey = source:employee), different employees in parallel.
  await ensure(HR_EVENT_QUEUE, { ...retry, policy: 'key_strict_fifo', notify: true } as QueueOptions)
  await ensure(HR_RECONCILE_QUEUE, { ...retry, retryLimit: 2, notify: true } as QueueOptions)
  await ensure(TIMER_QUEUE, { ...retry, notify: true } as QueueOptions)
  await ensure(NOTIFY_QUEUE, { ...NOTIFY_QUEUE_OPTIONS, notify: true } as QueueOptions)
  await ensure(SLA_ESCALATION_QUEUE, { ...retry, notify: true } as QueueOptions)
  // A run lists every account of every system and reads back each one the listing shows active
  // after a verified revocation: thousands of calls after a layoff, paced by the vendors' limits.
  // Five minutes (queue.expireInSeconds) would expire it mid-run and start a second one beside it.
  // Its heartbeat still finds a run whose process died within a minute.
  const reconcile = { ...retry, retryLimit: 1, expireInSeconds: Math.max(retry.expireInSeconds, TARGET_RECONCILE_EXPIRE_SECONDS), notify: true }
  if (await boss.getQueue(TARGET_RECONCILE_QUEUE)) {
    await boss.updateQueue(TARGET_RECONCILE_QUEUE, { expireInSeconds: reconcile.expireInSeconds, heartbeatSeconds: config.queue.heartbeatSeconds })
  } else await boss.createQueue(TARGET_RECONCILE_QUEUE, { ...reconcile, heartbeatSeconds: config.queue.heartbeatSeconds } as QueueOptions)
  await ensure(AUDIT_CHECKPOINT_QUEUE, { ...retry, retryLimit: 3, notify: true } as QueueOptions)
  // Pruning verifies the stretch it deletes first: a long log takes a while.
  await ensure(AUDIT_RETENTION_QUEUE, { ...retry, retryLimit: 1, expireInSeconds: Math.max(retry.expireInSeconds, 3600), notify: true } as QueueOptions)
}
