import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AuthFailedError, ConflictError, NotFoundError, PermanentError, ProvisionerError, RateLimitedError, TransientError } from '../errors.ts'
import type { ResidualAccess, RevocationPhase, RevocationStepKind, StepStatus } from '../types.ts'
import { accountGone, orderSteps, runRevocation, type StepOutcome } from './revocation.ts'

const d = { system: 'x', operation: 'op' }

/** What a step does in a case: an outcome, an error to throw, or an outcome plus residual it pushes. */
type Behaviour = StepOutcome | Error | { outcome: StepOutcome; residual: ResidualAccess[] }

interface Case {
  name: string
  phase?: RevocationPhase
  steps: RevocationStepKind[]
  order?: RevocationStepKind[]
  behave: Partial<Record<RevocationStepKind, Behaviour>>
  /** Answer of the existence read after a NotFound; undefined: the provisioner has none. */
  exists?: boolean
  /** Expected: each step's status in order, or the error kind the phase throws. */
  statuses: Array<[RevocationStepKind, StepStatus]>
  ran: RevocationStepKind[]
  throws?: string
  residual?: string[]
}

const done: StepOutcome = { status: 'done' }

const cases: Case[] = [
  {
    name: 'when a vendor order is given, then its steps run first in that order and the rest follow in plan order, each once',
    steps: ['delete', 'remove_groups', 'disable', 'transfer_data', 'disable'],
    order: ['disable', 'remove_groups', 'delete'],
    behave: {},
    statuses: [['disable', 'done'], ['remove_groups', 'done'], ['delete', 'done'], ['transfer_data', 'done']],
    ran: ['disable', 'remove_groups', 'delete', 'transfer_data'],
  },
  {
    name: 'when there is no vendor order, then the plan order is kept',
    steps: ['revoke_tokens', 'disable'],
    behave: {},
    statuses: [['revoke_tokens', 'done'], ['disable', 'done']],
    ran: ['revoke_tokens', 'disable'],
  },
  {
    name: 'when a step throws NotFound and the read confirms the account is gone, then it and every later step are already_done',
    steps: ['disable', 'revoke_sessions', 'revoke_tokens'],
    behave: { revoke_sessions: new NotFoundError('gone', d) },
    exists: false,
    statuses: [['disable', 'done'], ['revoke_sessions', 'already_done'], ['revoke_tokens', 'already_done']],
    ran: ['disable', 'revoke_sessions'],
  },
  {
    name: 'when a step throws NotFound but the account still exists, then the step failed and the phase fails as NotFound',
    steps: ['disable', 'revoke_sessions'],
    behave: { disable: new NotFoundError('no such group', d) },
    exists: true,
    statuses: [['disable', 'failed'], ['revoke_sessions', 'done']],
    ran: ['disable', 'revoke_sessions'],
    throws: 'NotFound',
  },
  {
    name: 'when a step deletes the account, then the later steps are already_done with what it said',
    steps: ['disable', 'remove_groups', 'delete'],
    behave: { disable: { status: 'done', accountGone: 'deleted by disable' } },
    statuses: [['disable', 'done'], ['remove_groups', 'already_done'], ['delete', 'already_done']],
    ran: ['disable'],
  },
  {
    name: 'when a cut-off step is refused, then the other cut-off steps still run and the phase fails with the first kind',
    steps: ['disable', 'revoke_sessions', 'revoke_tokens'],
    behave: { disable: new PermanentError('refused', { ...d, vendorCode: 'owner' }), revoke_tokens: new AuthFailedError('forbidden', d) },
    statuses: [['disable', 'failed'], ['revoke_sessions', 'done'], ['revoke_tokens', 'failed']],
    ran: ['disable', 'revoke_sessions', 'revoke_tokens'],
    throws: 'Permanent',
  },
  {
    name: 'when a clean-up step fails, then later clean-up steps are skipped (never a delete after a failed transfer) and the phase fails',
    phase: 'cleanup',
    steps: ['transfer_data', 'remove_groups', 'delete'],
    behave: { transfer_data: new ConflictError('transfer clash', d) },
    statuses: [['transfer_data', 'failed'], ['remove_groups', 'skipped'], ['delete', 'skipped']],
    ran: ['transfer_data'],
    throws: 'Conflict',
  },
  {
    name: 'when a step is rate limited, then the phase ends at once with that error and nothing after it runs',
    steps: ['disable', 'revoke_sessions'],
    behave: { disable: new RateLimitedError('slow down', 5000, d) },
    statuses: [],
    ran: ['disable'],
    throws: 'RateLimited',
  },
  {
    name: 'when a step meets an outage, then the phase ends at once as Transient',
    steps: ['disable', 'revoke_sessions'],
    behave: { disable: new TransientError('503', d) },
    statuses: [],
    ran: ['disable'],
    throws: 'Transient',
  },
  {
    name: 'when a step returns failed with residual, then the phase goes on and the residual is kept',
    phase: 'cleanup',
    steps: ['remove_groups', 'delete'],
    behave: { remove_groups: { outcome: { status: 'failed', detail: 'one group refused' }, residual: [{ kind: 'group', id: 'g1', reason: 'refused' }] } },
    statuses: [['remove_groups', 'failed'], ['delete', 'done']],
    ran: ['remove_groups', 'delete'],
    residual: ['group:g1'],
  },
  {
    name: 'when a step returns failed without residual, then the runner adds residual so the case stays open',
    steps: ['remove_channels'],
    behave: { remove_channels: { status: 'failed', detail: 'kick refused' } },
    statuses: [['remove_channels', 'failed']],
    ran: ['remove_channels'],
    residual: ['remove_channels:A1'],
  },
]

for (const c of cases) {
  test(c.name, async () => {
    const ran: RevocationStepKind[] = []
    const residual: ResidualAccess[] = []
    const run = runRevocation({
      system: 'x',
      phase: c.phase ?? 'cutoff',
      accountId: 'A1',
      steps: c.steps,
      ...(c.order ? { order: c.order } : {}),
      residual,
      runStep: async (step) => {
        ran.push(step)
        const b = c.behave[step] ?? done
        if (b instanceof Error) throw b
        if ('outcome' in b) {
          residual.push(...b.residual)
          return b.outcome
        }
        return b
      },
      ...(c.exists === undefined ? {} : { exists: async () => c.exists! }),
    })
    if (c.throws) {
      const err = await run.then(
        () => assert.fail('expected the phase to fail'),
        (e: unknown) => e,
      )
      assert.ok(err instanceof ProvisionerError)
      assert.equal(err.kind, c.throws)
      // Never silent: the message names every step that was reached, with its outcome.
      for (const [step, status] of c.statuses) assert.match(err.message, new RegExp(`${step} ${status}`))
    } else {
      const evidence = await run
      assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), c.statuses)
      assert.deepEqual(evidence.residual.map((r) => `${r.kind}:${r.id}`), c.residual ?? [])
    }
    assert.deepEqual(ran, c.ran)
  })
}

test('when the account is absent before the first step, then every step is already_done in run order', () => {
  const evidence = accountGone(['delete', 'disable'], 'not found', { order: ['disable', 'delete'] })
  assert.deepEqual(evidence.steps.map((s) => [s.step, s.status, s.detail]), [
    ['disable', 'already_done', 'not found'],
    ['delete', 'already_done', 'not found'],
  ])
  assert.deepEqual(evidence.residual, [])
  assert.deepEqual(orderSteps(['a' as RevocationStepKind, 'disable']), ['a', 'disable'])
})
