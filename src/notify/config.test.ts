import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { notifyConfigSchema, type NotifyConfigInput } from './config.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`

/** The messages of a failed parse, as "path: message". */
function problems(input: unknown): string[] {
  const r = notifyConfigSchema.safeParse(input)
  assert.equal(r.success, false, 'expected the config to be rejected')
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

const step = (name: string, atFraction: number) => ({ name, atFraction, channels: ['log' as const] })

describe('notify config defaults', () => {
  test('when the block is empty, then the default ladder is notify@50%, page@75%, breach@100% to every channel and log is on', () => {
    const c = notifyConfigSchema.parse({})
    assert.equal(c.log, true)
    assert.deepEqual(c.webhooks, [])
    assert.equal(c.slack, undefined)
    assert.deepEqual(c.escalation.steps, [
      { name: 'notify', atFraction: 0.5, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner'] },
      { name: 'page', atFraction: 0.75, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner', 'manager'] },
      { name: 'breach', atFraction: 1, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner', 'manager', 'approvers'] },
    ])
  })

  test('when two configs are parsed, then they do not share the default ladder object', () => {
    const a = notifyConfigSchema.parse({})
    a.escalation.steps[0]!.channels.push('log')
    assert.deepEqual(notifyConfigSchema.parse({}).escalation.steps[0]!.channels, ['slack', 'webhook', 'log', 'email'])
  })

  test('when slack and a webhook are given, then their defaults are filled in and secrets are wrapped', () => {
    const input: NotifyConfigInput = {
      slack: { token: 'xoxb-test', channels: { escalations: 'C1', approvals: 'C2' } },
      webhooks: [{ name: 'pager', url: 'https://bridge.example.com/hook', secret: SECRET }],
    }
    const c = notifyConfigSchema.parse(input)
    assert.equal(c.slack?.apiUrl, 'https://slack.com/api/')
    assert.equal(c.slack?.token.reveal(), 'xoxb-test')
    assert.equal(c.webhooks[0]?.timeoutMs, 15_000)
    assert.equal(JSON.stringify(c).includes(SECRET), false, 'secrets serialise as [redacted]')
  })
})

describe('notify config validation', () => {
  test('when fractions do not strictly increase, then the step is named', () => {
    assert.deepEqual(problems({ escalation: { steps: [step('page', 0.75), step('notify', 0.5), step('breach', 1)] } }), [
      'escalation.steps.1.atFraction: fractions must strictly increase: 0.5 follows 0.75',
    ])
    assert.ok(problems({ escalation: { steps: [step('a', 0.5), step('b', 0.5), step('breach', 1)] } }).some((p) => p.includes('strictly increase')))
  })

  test('when a fraction is 0 or above 1, then it is refused', () => {
    assert.ok(problems({ escalation: { steps: [step('early', 0), step('breach', 1)] } }).some((p) => p.startsWith('escalation.steps.0.atFraction')))
    assert.ok(problems({ escalation: { steps: [step('breach', 1.2)] } }).some((p) => p.startsWith('escalation.steps.0.atFraction')))
  })

  test('when there is no breach step, or two, or it is not at 1.0, then the ladder is refused', () => {
    assert.deepEqual(problems({ escalation: { steps: [step('notify', 0.5), step('page', 1)] } }), ["escalation.steps: exactly one step must be named 'breach'"])
    assert.ok(problems({ escalation: { steps: [step('breach', 0.9), step('breach', 1)] } }).some((p) => p.includes('used twice')))
    assert.deepEqual(problems({ escalation: { steps: [step('notify', 0.5), step('breach', 0.9)] } }), [
      "escalation.steps.1.atFraction: the 'breach' step must be at 1.0 (the deadline)",
    ])
  })

  test('when a step has no channels or an unknown one, then it is refused', () => {
    assert.ok(problems({ escalation: { steps: [{ name: 'breach', atFraction: 1, channels: [] }] } }).some((p) => p.startsWith('escalation.steps.0.channels')))
    assert.ok(problems({ escalation: { steps: [{ name: 'breach', atFraction: 1, channels: ['sms'] }] } }).some((p) => p.startsWith('escalation.steps.0.channels.0')))
    assert.ok(problems({ escalation: { steps: [{ name: 'breach', atFraction: 1, channels: ['email'], recipients: ['boss'] }] } }).some((p) => p.startsWith('escalation.steps.0.recipients.0')))
  })

  test('when a webhook secret is not a whsec_ base64 secret of 24-64 bytes, then it is refused without echoing it', () => {
    const plain = problems({ webhooks: [{ name: 'a', url: 'https://x.example.com', secret: 'hunter2-hunter2-hunter2-hunter2' }] })
    assert.ok(plain.some((p) => p.includes('must start with whsec_')))
    assert.ok(plain.every((p) => !p.includes('hunter2')))
    const short = problems({ webhooks: [{ name: 'a', url: 'https://x.example.com', secret: `whsec_${randomBytes(8).toString('base64')}` }] })
    assert.ok(short.some((p) => p.includes('24 to 64 bytes, got 8')))
  })

  test('when a webhook URL is plain http on a public host, then it needs allowHttp; loopback is fine', () => {
    assert.ok(problems({ webhooks: [{ name: 'a', url: 'http://bridge.example.com/hook', secret: SECRET }] }).some((p) => p.startsWith('webhooks.0.url: must use https')))
    assert.doesNotThrow(() => notifyConfigSchema.parse({ webhooks: [{ name: 'a', url: 'http://bridge.internal/hook', secret: SECRET, allowHttp: true }] }))
    assert.doesNotThrow(() => notifyConfigSchema.parse({ webhooks: [{ name: 'a', url: 'http://127.0.0.1:9000/hook', secret: SECRET }] }))
  })

  test('when a webhook URL embeds credentials or two webhooks share a name, then the config is refused', () => {
    assert.ok(problems({ webhooks: [{ name: 'a', url: 'https://user:pw@x.example.com', secret: SECRET }] }).some((p) => p.includes('must not embed credentials')))
    const dup = problems({
      webhooks: [
        { name: 'a', url: 'https://x.example.com', secret: SECRET },
        { name: 'a', url: 'https://y.example.com', secret: SECRET },
      ],
    })
    assert.deepEqual(dup, ['webhooks.1.name: webhook name a is used twice'])
  })

  test('when an unknown key is present, then it is refused (a typo must not silently disable paging)', () => {
    assert.ok(problems({ webhook: [] }).some((p) => p.includes('webhook')))
    assert.ok(problems({ slack: { token: 'x', channels: { escalations: 'a', approvals: 'b', escalation: 'c' } } }).length > 0)
  })

  test('when a webhook secret comes from an unset environment variable, then the error names the variable', () => {
    delete process.env.TENURE_TEST_UNSET_WEBHOOK_SECRET
    assert.ok(
      problems({ webhooks: [{ name: 'a', url: 'https://x.example.com', secret: { env: 'TENURE_TEST_UNSET_WEBHOOK_SECRET' } }] }).some((p) =>
        p.includes('TENURE_TEST_UNSET_WEBHOOK_SECRET is not set'),
      ),
    )
  })
})
