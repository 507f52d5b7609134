import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { SLACK_DEV_BOT_TOKEN, SlackEmulator } from '../../provisioners/slack/emulator.ts'
import { silentLogger } from '../log.ts'
import { notifyConfigSchema, type NotifyConfig } from './config.ts'
import { notifySandboxConfig, seedNotifyChannels } from './sandbox.ts'
import { NotificationDeliveryError } from './delivery.ts'
import { sendNotification } from './send.ts'
import { slackMessage } from './slack.ts'
import { jobContext, sampleNotification } from './test-support.ts'
import { notifyJobs, notifyWorker } from './worker.ts'

describe('Slack channel against the Slack emulator', () => {
  let emulator: SlackEmulator
  let config: NotifyConfig

  before(async () => {
    emulator = new SlackEmulator({ latency: null })
    // The sandbox's own wiring: its channels and its config with the emulator's dev bot token.
    seedNotifyChannels(emulator)
    emulator.seedChannel({ name: 'bot-not-invited', botIsMember: false })
    const base = await emulator.start()
    config = notifyConfigSchema.parse({ ...notifySandboxConfig(base), log: false })
    assert.equal(config.slack?.token.reveal(), SLACK_DEV_BOT_TOKEN)
  })

  after(async () => {
    await emulator.close()
  })

  test('when an escalation is sent, then it lands in the escalations channel with text, header, fields and ids', async () => {
    const n = sampleNotification()
    const deliveries = await sendNotification(n, ['slack'], { config, log: silentLogger })
    assert.deepEqual(deliveries, [{ channel: 'slack', target: 'tenure-escalations', ok: true, retryable: false, status: 200 }])

    const messages = emulator.messages('tenure-escalations')
    assert.equal(messages.length, 1)
    const m = messages[0]!
    assert.equal(m.user, emulator.botUserId)
    assert.match(m.text ?? '', /^Leaver revocation at 75% of its 4-hour budget: Jane Doe\n2 of 4 systems not yet verified/)
    const blocks = m.blocks as Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> }>
    assert.deepEqual(
      blocks.map((b) => b.type),
      ['header', 'section', 'section', 'context'],
    )
    assert.equal(blocks[0]!.text!.text, ':rotating_light: Leaver revocation at 75% of its 4-hour budget: Jane Doe')
    const fields = blocks[1]!.fields!.map((f) => f.text)
    assert.ok(fields.includes('*Employee*\nJane Doe (emp-1042)'))
    assert.ok(fields.includes('*Severity*\ncritical'))
    assert.ok(fields.some((f) => f.startsWith('*Deadline*\n<!date^1741006800^')))
    assert.match(blocks[2]!.text!.text, /• slack: verify_failed; last error \(Transient\): HTTP 503/)
    const context = blocks[3]!.elements!.map((e) => e.text).join(' ')
    assert.match(context, /notification `emp-1042:3:page`/)
    assert.match(context, /case `emp-1042:3`/)
    assert.match(context, /<http:\/\/127\.0\.0\.1:8080\/employees\/emp-1042\|Open in the Tenure console>/)
    assert.equal(emulator.messages('tenure-approvals').length, 0)
  })

  test('when an exception request is sent, then it goes to the approvals channel', async () => {
    const n = sampleNotification({ id: 'exc-7:requested', kind: 'exception.requested', severity: 'info', title: 'Exception requested for Jane Doe', text: 'Keep mailbox 30 days', subject: { employeeId: 'emp-1042', exceptionId: 'exc-7' } })
    const [delivery] = await sendNotification(n, ['slack'], { config, log: silentLogger })
    assert.equal(delivery?.ok, true)
    assert.equal(delivery?.target, 'tenure-approvals')
    const [m] = emulator.messages('tenure-approvals')
    assert.match(m?.text ?? '', /Exception requested for Jane Doe/)
  })

  test('when the text holds Slack control characters, then they are escaped instead of becoming mentions or links', async () => {
    const n = sampleNotification({ id: 'emp-9:1:notify', text: 'error <!channel> & <https://evil.example|click>' })
    await sendNotification(n, ['slack'], { config, log: silentLogger })
    const m = emulator.messages('tenure-escalations').at(-1)!
    assert.match(m.text ?? '', /error &lt;!channel&gt; &amp; &lt;https:\/\/evil\.example\|click&gt;/)
    assert.doesNotMatch(JSON.stringify(m.blocks), /<!channel>/)
  })

  test('when Slack rate-limits chat.postMessage, then the delivery is retryable and carries Retry-After', async () => {
    emulator.kit.injectFault({ pathIncludes: 'chat.postMessage', status: 429, retryAfterSeconds: 12 })
    const [job] = notifyJobs(sampleNotification({ id: 'emp-5:1:notify' }), ['slack'], { config })
    await assert.rejects(notifyWorker({ config }).handler(job!.data, jobContext()), (err: unknown) => {
      assert.ok(err instanceof NotificationDeliveryError)
      assert.equal(err.retryable, true)
      assert.equal(err.status, 429)
      assert.equal(err.retryAfterMs, 12_000)
      return true
    })
    // The retry goes through once Slack lets it.
    const delivered = await notifyWorker({ config }).handler(job!.data, jobContext({ attempt: 2 }))
    assert.equal((delivered as { ok: boolean }).ok, true)
  })

  test('when Slack has an outage (503), then the delivery is retryable', async () => {
    emulator.kit.injectFault({ pathIncludes: 'chat.postMessage', status: 503 })
    const [delivery] = await sendNotification(sampleNotification(), ['slack'], { config, log: silentLogger })
    assert.equal(delivery?.ok, false)
    assert.equal(delivery?.retryable, true)
    assert.equal(delivery?.status, 503)
  })

  test('when the bot is not in the channel, then the delivery fails for good with Slack’s reason', async () => {
    const misrouted = { ...config, slack: { ...config.slack!, channels: { escalations: 'bot-not-invited', approvals: 'tenure-approvals' } } }
    const [delivery] = await sendNotification(sampleNotification(), ['slack'], { config: misrouted, log: silentLogger })
    assert.equal(delivery?.ok, false)
    assert.equal(delivery?.retryable, false)
    assert.match(delivery?.error ?? '', /not_in_channel/)
    assert.equal(emulator.messages('bot-not-invited').length, 0)
  })

  test('when the token is not valid, then the delivery fails for good and the error does not contain the token', async () => {
    const bad = notifyConfigSchema.parse({
      log: false,
      slack: { token: 'xoxb-not-a-real-token', apiUrl: config.slack!.apiUrl, channels: config.slack!.channels },
    })
    const [delivery] = await sendNotification(sampleNotification(), ['slack'], { config: bad, log: silentLogger })
    assert.equal(delivery?.ok, false)
    assert.equal(delivery?.retryable, false)
    assert.match(delivery?.error ?? '', /invalid_auth/)
    assert.doesNotMatch(delivery?.error ?? '', /xoxb/)
  })
})

describe('Slack message shape', () => {
  test('when the title is longer than a header allows, then it is cut to 150 characters so Slack accepts the message', () => {
    const m = slackMessage(sampleNotification({ title: 'x'.repeat(400) }))
    const header = m.blocks[0]
    assert.equal(header?.type, 'header')
    assert.ok(header?.type === 'header' && header.text.text.length === 150)
  })

  test('when Slack is not configured, then the slack channel is skipped rather than failed and gets no job', async () => {
    const config = notifyConfigSchema.parse({ log: false })
    const n = sampleNotification()
    assert.deepEqual(await sendNotification(n, ['slack'], { config, log: silentLogger }), [{ channel: 'slack', ok: true, retryable: false, skipped: 'not_configured' }])
    assert.deepEqual(notifyJobs(n, ['slack'], { config }), [])
  })
})
