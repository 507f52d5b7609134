/**
 * The `audit` section of Tenure's configuration. Every key is documented here (descriptions are
 * what `tenure config --explain` and docs/audit.md show).
 */
import { z } from 'zod'
import { secretSchema } from '../config/secret.ts'
import { loadPrivateKey } from './keys.ts'
import { AuditError } from './errors.ts'
import { objectStoreConfigSchema } from './object-store.ts'

/** Standard Webhooks secrets: `whsec_` + base64 of 24..64 random bytes. */
export function webhookSecretBytes(value: string): Buffer {
  const encoded = value.startsWith('whsec_') ? value.slice('whsec_'.length) : value
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0)
  if (bytes.length < 24 || bytes.length > 64) {
    throw new AuditError('webhook_secret_invalid', 'the checkpoint webhook secret must be whsec_ followed by base64 of 24 to 64 random bytes')
  }
  return bytes
}

const auditFields = z.object({
    signingKey: secretSchema.describe(
      'Ed25519 private key that signs checkpoints: PKCS#8 PEM or base64 of the 32-byte seed (generateSigningKey() / `tenure audit keygen`). ' +
        'Keep it out of the database and publish its public key to your auditors.',
    ),
    checkpointIntervalMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(60)
      .refine(
        (m) => (m < 60 ? 60 % m === 0 : m % 60 === 0 && (24 * 60) % m === 0),
        'must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or be whole hours dividing a day (60, 120, 180, 240, 360, 480, 720, 1440), so a cron schedule can express it',
      )
      .describe(
        'How often a signed checkpoint of the chain head is made and published even when nothing happened (minutes): the heartbeat that shows the log was watched. Rows after the newest published checkpoint are only hash-chained.',
      ),
    headCheckpointMinutes: z
      .number()
      .int()
      .min(1)
      .max(30)
      .refine((m) => 60 % m === 0, 'must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30), so a cron schedule can express it')
      .nullable()
      .default(1)
      .describe(
        'When the chain head has moved since the newest checkpoint, sign and publish one at the next multiple of this many minutes: at most this much of the newest history can be deleted without the deletion showing against a signed checkpoint. null: only the checkpointIntervalMinutes heartbeat.',
      ),
    publish: z
      .object({
        file: z
          .string()
          .min(1)
          .optional()
          .describe('Append each checkpoint as one JSON line to this file (ideally on storage the database administrators cannot rewrite, e.g. a WORM bucket mount).'),
        webhookUrl: z.url({ protocol: /^https?$/ }).optional().describe('POST each checkpoint here, signed per Standard Webhooks (event type audit.checkpoint_created).'),
        webhookSecret: secretSchema.optional().describe('Standard Webhooks signing secret for webhookUrl: whsec_ + base64 of 24..64 random bytes.'),
        objectStore: objectStoreConfigSchema
          .optional()
          .describe('Put each checkpoint as its own write-once object (If-None-Match, Object Lock retention) in an S3-compatible bucket: AWS S3, MinIO, R2, Ceph.'),
      })
      .strict()
      .default({})
      .describe('Where checkpoints are published outside PostgreSQL, so a rewrite of the database cannot also rewrite them.'),
    retentionDays: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'Delete audit rows older than this many days, daily (pg-boss schedule, 03:17 UTC), up to the newest signed checkpoint before that age: the kept chain starts right after that signed hash and an audit.pruned row records the cut, so it still verifies. null keeps everything.',
      ),
  })
  .strict()

type AuditFields = z.output<typeof auditFields>

function checkAudit(config: Omit<AuditFields, 'signingKey'> & { signingKey?: AuditFields['signingKey'] | undefined }, ctx: z.RefinementCtx): void {
    if (config.signingKey !== undefined) {
      try {
        loadPrivateKey(config.signingKey.reveal())
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['signingKey'], message: (err as Error).message })
      }
    }
    if (config.publish.webhookUrl !== undefined && config.publish.webhookSecret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['publish', 'webhookSecret'], message: 'a webhook URL needs a webhookSecret to sign deliveries' })
    }
    if (config.publish.webhookSecret !== undefined) {
      try {
        webhookSecretBytes(config.publish.webhookSecret.reveal())
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['publish', 'webhookSecret'], message: (err as Error).message })
      }
    }
  }

/** The audit settings in effect: a signing key is always there (configured, or the data folder's). */
export const auditConfigSchema = auditFields.superRefine(checkAudit)

/**
 * The `audit` section as written in tenure.yaml: signingKey may be left out, and the data folder's
 * key is used (src/audit/local-key.ts), so publishing and retention can be set without it.
 */
export const auditSectionSchema = auditFields
  .extend({
    signingKey: auditFields.shape.signingKey
      .optional()
      .describe(
        'Ed25519 private key that signs checkpoints and report manifests: PKCS#8 PEM or base64 of the 32-byte seed (`tenure audit keygen`). ' +
          'Keep it out of the database and publish its public key to your auditors. Unset: a key kept in the data folder (said at every start; not for production).',
      ),
  })
  .superRefine(checkAudit)

export type AuditConfig = z.output<typeof auditConfigSchema>
export type AuditConfigInput = z.input<typeof auditConfigSchema>
export type AuditSection = z.output<typeof auditSectionSchema>

/**
 * The pg-boss cron expression for checkpointIntervalMinutes (the schema only admits intervals a
 * cron schedule expresses exactly): 15 → every quarter hour, 60 → hourly on the hour, 360 → every
 * six hours.
 */
/** The pg-boss cron expression for headCheckpointMinutes (null when head checkpoints are off). */
export function headCheckpointCron(config: Pick<AuditConfig, 'headCheckpointMinutes'>): string | null {
  const minutes = config.headCheckpointMinutes
  if (minutes === null) return null
  return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`
}

/** Retention runs once a day, off the hour (the hourly checkpoint and reconciliation runs start on it). */
export const RETENTION_CRON = '17 3 * * *'

export function checkpointCron(config: Pick<AuditConfig, 'checkpointIntervalMinutes'>): string {
  const minutes = config.checkpointIntervalMinutes
  if (minutes < 60) return `*/${minutes} * * * *`
  if (minutes === 60) return '0 * * * *'
  return `0 */${minutes / 60} * * *`
}
