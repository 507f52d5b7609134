import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { JobRequest } from '../../state-machines/lifecycle-types.ts'
import { jobPriority } from './queues.ts'

const now = new Date('2026-12-07T06:00:00Z')
const minutes = (n: number) => new Date(now.getTime() + n * 60_000)
const job = (action: JobRequest['action'], phase?: JobRequest['phase']): JobRequest =>
  ({ key: `${action}:${phase ?? ''}`, system: 'slack', action, ...(phase ? { phase } : {}) }) as JobRequest

/** The order in which a queue's workers take these jobs (pg-boss: higher priority first). */
const order = (jobs: Array<{ name: string; request: JobRequest; deadline: Date }>) =>
  [...jobs].sort((a, b) => jobPriority(b.request, b.deadline, now) - jobPriority(a.request, a.deadline, now)).map((j) => j.name)

describe('job priority in a system queue', () => {
  test('when a layoff queues cut-offs and a verification with the same deadline, then a freed worker takes the verification first, and work with an earlier deadline still goes before it', () => {
    const deadline = minutes(240)
    assert.deepEqual(
      order([
        { name: 'cut-off, same deadline', request: job('deprovision', 'cutoff'), deadline },
        { name: 'clean-up, earlier deadline', request: job('deprovision', 'cleanup'), deadline: minutes(10) },
        { name: 'verification', request: job('verify'), deadline },
        { name: 'cut-off, two minutes earlier', request: job('deprovision', 'cutoff'), deadline: minutes(238) },
        { name: 'cut-off, a minute later', request: job('deprovision', 'cutoff'), deadline: minutes(241) },
      ]),
      ['cut-off, two minutes earlier', 'verification', 'cut-off, same deadline', 'cut-off, a minute later', 'clean-up, earlier deadline'],
    )
  })
})
