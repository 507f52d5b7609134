/** The sample HR events the sandbox panel offers, and the canonical event each one sends. */
import type { CanonicalEventType } from '../../state-machines/events.ts'

export const SAMPLE_EVENTS = {
  joiner: 'employee.hired',
  mover: 'employee.updated',
  leaver: 'employee.terminated',
  rescind: 'employee.termination_rescinded',
} as const satisfies Record<string, CanonicalEventType>

export type SampleEvent = keyof typeof SAMPLE_EVENTS
