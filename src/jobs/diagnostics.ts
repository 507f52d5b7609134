/**
 * `diagnostics.probe`: a job that proves the queue and the workers work end to end
 * (`tenure jobs probe`), and that shutdown lets a running job finish (it can hold for a while).
 */
import { z } from 'zod'
import type { WorkerDefinition } from './runtime.ts'

export const PROBE_QUEUE = 'diagnostics.probe'

export const probeSchema = z.object({
  correlationId: z.string().optional(),
  holdMs: z.number().int().min(0).max(60_000).default(0),
  note: z.string().max(200).optional(),
})

export function probeWorker(): WorkerDefinition<typeof probeSchema> {
  return {
    queue: PROBE_QUEUE,
    schema: probeSchema,
    handler: async (data, ctx) => {
      ctx.log.info({ holdMs: data.holdMs }, 'probe job started')
      const started = Date.now()
      if (data.holdMs > 0) await new Promise((resolve) => setTimeout(resolve, data.holdMs))
      ctx.log.info({ ms: Date.now() - started }, 'probe job finished')
      return { finishedAt: new Date().toISOString(), pid: process.pid, note: data.note ?? null }
    },
  }
}
