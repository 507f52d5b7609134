/**
 * Publishing signed checkpoints to an S3-compatible object store with Object Lock, and reading
 * them back for `tenure audit verify --published s3://bucket/prefix`.
 *
 * One object per checkpoint, never overwritten: key `<prefix><seq, 12 digits>-<checkpoint id>.json`,
 * body the checkpoint as one JSON line (the same line audit.publish.file gets).
 * - Write-once: `If-None-Match: *` (S3 conditional writes,
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): a second PUT of
 *   the key answers 412 instead of replacing it. A 412 on a retry is read back and compared: the
 *   same bytes are "already published", different bytes an error.
 * - Retention: `x-amz-object-lock-mode` and `x-amz-object-lock-retain-until-date` on the PUT
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html, "Object Lock"), so that
 *   neither Tenure nor a database administrator holding Tenure's credentials can delete or
 *   overwrite a published checkpoint before that date in COMPLIANCE mode
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html). S3 requires a
 *   checksum on such PUTs (Content-MD5 or x-amz-checksum-*): the SDK sends SHA-256.
 * - lockMode null: no lock headers, the bucket's default retention applies (or none).
 *
 * The AWS SDK is imported only when an object store is configured or named: it stays out of the
 * start-up path of every other deployment.
 */
import type { S3Client } from '@aws-sdk/client-s3'
import { z } from 'zod'
import { secretSchema } from '../config/secret.ts'
import { AuditError } from './errors.ts'

export const objectStoreConfigSchema = z
  .object({
    bucket: z.string().min(3).max(63).describe('Bucket to publish to. On AWS create it with Object Lock enabled (versioning is then on).'),
    prefix: z.string().default('tenure/audit-checkpoints/').describe('Key prefix; each checkpoint is `<prefix><seq>-<id>.json`.'),
    region: z.string().min(1).default('us-east-1').describe('The bucket\'s region.'),
    endpoint: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('An S3-compatible endpoint (MinIO, Ceph, Cloudflare R2, a local emulator). Unset: AWS S3.'),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket as `<endpoint>/<bucket>` rather than `<bucket>.<endpoint>` (most S3-compatible stores need true).'),
    accessKeyId: secretSchema.optional().describe('Access key id. Unset: the AWS SDK\'s default credential chain (environment, web identity, instance or task role).'),
    secretAccessKey: secretSchema.optional().describe('Secret access key, with accessKeyId.'),
    lockMode: z
      .enum(['COMPLIANCE', 'GOVERNANCE'])
      .nullable()
      .default('COMPLIANCE')
      .describe('Object Lock mode set on each checkpoint: COMPLIANCE (nobody can delete it before the date, not even the root account), GOVERNANCE (users with s3:BypassGovernanceRetention can), null (no lock headers: the bucket\'s default retention applies).'),
    retentionDays: z
      .number()
      .int()
      .positive()
      .max(36_500)
      .default(2557)
      .describe('Days each checkpoint is locked for, from its publication (default 2557: seven years, the longest common audit-record retention).'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['secretAccessKey'], message: 'accessKeyId and secretAccessKey go together (or leave both out to use the AWS default credential chain)' })
    }
  })

export type ObjectStoreConfig = z.output<typeof objectStoreConfigSchema>

export function checkpointObjectKey(prefix: string, checkpoint: { seq: number | string; id: number | string }): string {
  return `${prefix}${String(checkpoint.seq).padStart(12, '0')}-${checkpoint.id}.json`
}

const clients = new Map<string, S3Client>()

async function clientFor(config: Pick<ObjectStoreConfig, 'region' | 'endpoint' | 'forcePathStyle' | 'accessKeyId' | 'secretAccessKey'>): Promise<S3Client> {
  const cacheKey = JSON.stringify([config.region, config.endpoint, config.forcePathStyle, config.accessKeyId?.reveal()])
  const cached = clients.get(cacheKey)
  if (cached) return cached
  const { S3Client } = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.accessKeyId && config.secretAccessKey
      ? { credentials: { accessKeyId: config.accessKeyId.reveal(), secretAccessKey: config.secretAccessKey.reveal() } }
      : {}),
    // Our own retries are the next checkpoint; keep a failing store from holding the job for minutes.
    maxAttempts: 3,
  })
  clients.set(cacheKey, client)
  return client
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode
  return `${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`
}

/** Publish one checkpoint. Never throws: the outcome is reported like the file and webhook ones. */
export async function publishToObjectStore<T extends { seq: number | string; id: number | string }>(
  checkpoint: T,
  config: ObjectStoreConfig,
  now: Date = new Date(),
): Promise<{ ok: true; key: string; alreadyPublished?: true } | { ok: false; key: string; error: string }> {
  const key = checkpointObjectKey(config.prefix, checkpoint)
  const body = `${JSON.stringify(checkpoint)}\n`
  try {
    const client = await clientFor(config)
    const { PutObjectCommand, GetObjectCommand } = await import('@aws-sdk/client-s3')
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: config.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
          IfNoneMatch: '*',
          ChecksumAlgorithm: 'SHA256',
          ...(config.lockMode
            ? { ObjectLockMode: config.lockMode, ObjectLockRetainUntilDate: new Date(now.getTime() + config.retentionDays * 86_400_000) }
            : {}),
        }),
      )
      return { ok: true, key }
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw err
      // Already there (a retry after a lost answer): the same bytes are fine, anything else is not.
      const existing = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }))
      const text = (await existing.Body?.transformToString('utf8')) ?? ''
      if (text === body) return { ok: true, key, alreadyPublished: true }
      return { ok: false, key, error: `a different object already exists at s3://${config.bucket}/${key}` }
    }
  } catch (err) {
    return { ok: false, key, error: describe(err) }
  }
}

/** `s3://bucket/prefix` → its parts; undefined for anything else. */
export function parseS3Url(source: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(source)
  return match ? { bucket: match[1]!, prefix: match[2] ?? '' } : undefined
}

/**
 * Every version of every object under the prefix, as the texts published. Versions, not the
 * current listing: a DeleteObject without a version id only puts a delete marker over a locked
 * checkpoint (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectVersions.html),
 * which would hide it from ListObjectsV2 and turn the comparison off for the rows it covered. A
 * store that does not implement ListObjectVersions (no versioning, hence no Object Lock either)
 * is read with ListObjectsV2. A bucket or object that cannot be read is an error, never "nothing
 * published". Connection settings come from audit.publish.objectStore whatever bucket is named.
 */
export async function readObjectStoreTexts(
  source: { bucket: string; prefix: string },
  config: Pick<ObjectStoreConfig, 'region' | 'endpoint' | 'forcePathStyle' | 'accessKeyId' | 'secretAccessKey'>,
): Promise<{ texts: string[]; listing: 'versions' | 'current' }> {
  const where = `s3://${source.bucket}/${source.prefix}`
  try {
    const client = await clientFor(config)
    const { ListObjectVersionsCommand, ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3')
    const objects: Array<{ key: string; versionId?: string }> = []
    let listing: 'versions' | 'current' = 'versions'
    try {
      let keyMarker: string | undefined
      let versionMarker: string | undefined
      do {
        const page = await client.send(
          new ListObjectVersionsCommand({ Bucket: source.bucket, Prefix: source.prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
        )
        for (const v of page.Versions ?? []) if (v.Key?.endsWith('.json')) objects.push({ key: v.Key, ...(v.VersionId && v.VersionId !== 'null' ? { versionId: v.VersionId } : {}) })
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
        versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined
        if (page.IsTruncated && !keyMarker) throw new Error('the version listing was truncated without a next marker')
      } while (keyMarker)
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status !== 501 && status !== 405) throw err
      listing = 'current'
      let token: string | undefined
      do {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html: up to 1,000 keys a page, in UTF-8 binary order.
        const page = await client.send(new ListObjectsV2Command({ Bucket: source.bucket, Prefix: source.prefix, ContinuationToken: token }))
        for (const item of page.Contents ?? []) if (item.Key?.endsWith('.json')) objects.push({ key: item.Key })
        token = page.IsTruncated ? page.NextContinuationToken : undefined
        if (page.IsTruncated && !token) throw new Error('the listing was truncated without a continuation token', { cause: err })
      } while (token)
    }
    const texts: string[] = new Array(objects.length)
    let next = 0
    const readOne = async (): Promise<void> => {
      while (next < objects.length) {
        const i = next++
        const { key, versionId } = objects[i]!
        const object = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }))
        texts[i] = (await object.Body?.transformToString('utf8')) ?? ''
      }
    }
    await Promise.all(Array.from({ length: Math.min(8, objects.length) }, readOne))
    return { texts, listing }
  } catch (err) {
    throw new AuditError('published_unreadable', `could not read the published checkpoints at ${where}: ${describe(err)}`, { status: 502, cause: err })
  }
}
