/**
 * The sandbox (`npm start`) form of the notify block: Slack pointed at the Slack emulator with
 * its development bot token, and the two channels the emulator needs to have (the bot is a
 * member, as it must be for chat.postMessage).
 */
import { SLACK_DEV_BOT_TOKEN, type SlackEmulator } from '../../provisioners/slack/emulator.ts'
import type { NotifyConfigInput } from './config.ts'

export const SANDBOX_SLACK_CHANNELS = { escalations: 'tenure-escalations', approvals: 'tenure-approvals' } as const

/** Create the sandbox channels in a running emulator (idempotent per emulator instance is the caller's job). */
export function seedNotifyChannels(emulator: SlackEmulator): void {
  emulator.seedChannel({ name: SANDBOX_SLACK_CHANNELS.escalations })
  emulator.seedChannel({ name: SANDBOX_SLACK_CHANNELS.approvals })
}

export function notifySandboxConfig(slackEmulatorUrl: string): NotifyConfigInput {
  return {
    slack: {
      token: SLACK_DEV_BOT_TOKEN,
      apiUrl: `${slackEmulatorUrl.replace(/\/+$/, '')}/api/`,
      channels: { ...SANDBOX_SLACK_CHANNELS },
    },
    webhooks: [],
    log: true,
  }
}
