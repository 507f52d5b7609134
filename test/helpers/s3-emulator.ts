/**
 * A local S3 emulator for the audit checkpoint publisher (src/audit/object-store.ts), following
 * the Amazon S3 API Reference, not our publisher. Path-style addressing only
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html#path-style-access).
 *
 * Behaviours, each as documented:
 * - Authentication: a request without an `AWS4-HMAC-SHA256` Authorization header, or with an
 *   unknown access key id, is refused 403 `InvalidAccessKeyId` / `AccessDenied`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html). The
 *   signature itself is not recomputed.
 * - PutObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html):
 *   - `If-None-Match: *` and a current (non-delete-marker) version exists → 412 `PreconditionFailed`
 *     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
 *   - Object Lock headers on a bucket without Object Lock → 400 `InvalidRequest` "Bucket is missing
 *     Object Lock Configuration"; mode and retain-until-date must come together → 400
 *     `InvalidArgument`; a retain-until date in the past → 400 `InvalidArgument`; without
 *     Content-MD5 or an x-amz-checksum-* value → 400 `InvalidRequest` ("Content-MD5 OR
 *     x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters").
 *   - Object Lock buckets are versioned (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html):
 *     every PUT adds a version.
 *   - aws-chunked bodies with trailing checksums are decoded
 *     (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html).
 * - DeleteObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html): without
 *   a versionId it adds a delete marker (the locked version stays); with the versionId of a
 *   COMPLIANCE-locked version before its date → 403 `AccessDenied`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes).
 * - GetObject of a key whose current version is a delete marker → 404 `NoSuchKey`; with
 *   `versionId` → that version.
 * - ListObjectsV2 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html): keys in
 *   UTF-8 binary order, at most `max-keys` (default 1,000) a page, `NextContinuationToken` when
 *   truncated; keys whose current version is a delete marker are not listed.
 * - ListObjectVersions (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html):
 *   every version and delete marker, paged with key-marker / version-id-marker.
 * - Unknown bucket → 404 `NoSuchBucket`. Errors are the documented XML `<Error>` body
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface S3Version {
  versionId: string
  key: string
  body: Buffer
  deleteMarker: boolean
  lockMode?: 'COMPLIANCE' | 'GOVERNANCE'
  retainUntil?: Date
  lastModified: Date
}

interface Bucket {
  objectLock: boolean
  /** Per key, oldest first. */
  versions: Map<string, S3Version[]>
}

export interface S3Emulator {
  url: string
  accessKeyId: string
  secretAccessKey: string
  createBucket(name: string, options?: { objectLock?: boolean }): void
  versions(bucket: string, key?: string): S3Version[]
  /** Page size for listings (the default is S3's 1,000). */
  setPageSize(n: number): void
  /** The next `count` requests answer `status` (e.g. 503 SlowDown). */
  failNext(status: number, count?: number): void
  requests: Array<{ method: string; path: string; status: number }>
  close(): Promise<void>
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function decodeAwsChunked(body: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16)
    at = lineEnd + 2
    if (!size) break
    out.push(body.subarray(at, at + size))
    at += size + 2
  }
  return Buffer.concat(out)
}

export async function startS3Emulator(options: { accessKeyId?: string; secretAccessKey?: string } = {}): Promise<S3Emulator> {
  const accessKeyId = options.accessKeyId ?? 'AKIATENUREEMULATOR01'
  const secretAccessKey = options.secretAccessKey ?? randomBytes(20).toString('base64')
  const buckets = new Map<string, Bucket>()
  const requests: S3Emulator['requests'] = []
  let pageSize = 1000
  let faults: { status: number; count: number } | undefined

  const send = (res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'x-amz-request-id': randomBytes(8).toString('hex'), ...(body ? { 'content-type': 'application/xml' } : {}), ...headers })
    res.end(body)
  }
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`)
  const current = (versions: S3Version[] | undefined) => versions?.[versions.length - 1]

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://s3.local')
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('AWS4-HMAC-SHA256 ')) return error(res, 403, 'AccessDenied', 'Access Denied')
    if (!auth.includes(`Credential=${accessKeyId}/`)) return error(res, 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
    if (faults && faults.count > 0) {
      faults.count--
      return error(res, faults.status, faults.status === 503 ? 'SlowDown' : 'InternalError', 'Please reduce your request rate.')
    }
    const [, bucketName = '', ...rest] = url.pathname.split('/')
    const key = decodeURIComponent(rest.join('/'))
    const bucket = buckets.get(bucketName)
    if (!bucket) return error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist')
    const q = url.searchParams

    if (req.method === 'PUT' && key) {
      const mode = req.headers['x-amz-object-lock-mode'] as string | undefined
      const until = req.headers['x-amz-object-lock-retain-until-date'] as string | undefined
      if (mode !== undefined || until !== undefined) {
        if (!bucket.objectLock) return error(res, 400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration')
        if (mode === undefined || until === undefined) return error(res, 400, 'InvalidArgument', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied')
        if (mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE') return error(res, 400, 'InvalidArgument', 'Unknown wormMode directive.')
        if (!(Date.parse(until) > Date.now())) return error(res, 400, 'InvalidArgument', 'The retain until date must be in the future!')
        const hasChecksum = req.headers['content-md5'] !== undefined || Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-')) || req.headers['x-amz-trailer'] !== undefined
        if (!hasChecksum) return error(res, 400, 'InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters')
      }
      const versions = bucket.versions.get(key) ?? []
      const live = current(versions)
      if (req.headers['if-none-match'] === '*' && live && !live.deleteMarker) return error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
      const chunked = /aws-chunked/.test(String(req.headers['content-encoding'] ?? '')) || String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')
      const content = chunked ? decodeAwsChunked(body) : body
      const version: S3Version = {
        versionId: randomBytes(12).toString('hex'),
        key,
        body: content,
        deleteMarker: false,
        ...(mode ? { lockMode: mode as 'COMPLIANCE' | 'GOVERNANCE', retainUntil: new Date(until!) } : {}),
        lastModified: new Date(),
      }
      versions.push(version)
      bucket.versions.set(key, versions)
      return send(res, 200, '', { etag: `"${createHash('md5').update(content).digest('hex')}"`, 'x-amz-version-id': version.versionId })
    }

    if (req.method === 'GET' && key) {
      const versions = bucket.versions.get(key)
      const versionId = q.get('versionId')
      const version = versionId ? versions?.find((v) => v.versionId === versionId) : current(versions)
      if (!version || version.deleteMarker) return error(res, 404, 'NoSuchKey', 'The specified key does not exist.')
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': version.body.length, 'x-amz-version-id': version.versionId })
      return res.end(version.body)
    }

    if (req.method === 'DELETE' && key) {
      const versions = bucket.versions.get(key) ?? []
      const versionId = q.get('versionId')
      if (!versionId) {
        const marker: S3Version = { versionId: randomBytes(12).toString('hex'), key, body: Buffer.alloc(0), deleteMarker: true, lastModified: new Date() }
        versions.push(marker)
        bucket.versions.set(key, versions)
        return send(res, 204, '', { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker.versionId })
      }
      const version = versions.find((v) => v.versionId === versionId)
      if (!version) return send(res, 204)
      const locked = version.retainUntil && version.retainUntil.getTime() > Date.now()
      const bypass = req.headers['x-amz-bypass-governance-retention'] === 'true'
      if (locked && (version.lockMode === 'COMPLIANCE' || !bypass)) return error(res, 403, 'AccessDenied', 'Access Denied because object protected by object lock.')
      versions.splice(versions.indexOf(version), 1)
      return send(res, 204)
    }

    if (req.method === 'GET' && !key && q.get('list-type') === '2') {
      const prefix = q.get('prefix') ?? ''
      const max = Math.min(Number(q.get('max-keys') ?? 1000), pageSize)
      const after = q.get('continuation-token') ? Buffer.from(q.get('continuation-token')!, 'base64url').toString('utf8') : (q.get('start-after') ?? '')
      const keys = [...bucket.versions.entries()]
        .filter(([k, v]) => k.startsWith(prefix) && k > after && !current(v)!.deleteMarker)
        .map(([k]) => k)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      const page = keys.slice(0, max)
      const truncated = keys.length > max
      const contents = page
        .map((k) => {
          const v = current(bucket.versions.get(k))!
          return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${v.lastModified.toISOString()}</LastModified><Size>${v.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
        })
        .join('')
      const token = truncated ? `<NextContinuationToken>${Buffer.from(page[page.length - 1]!).toString('base64url')}</NextContinuationToken>` : ''
      return send(
        res,
        200,
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucketName}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${token}</ListBucketResult>`,
      )
    }

    if (req.method === 'GET' && !key && q.has('versions')) {
      const prefix = q.get('prefix') ?? ''
      const max = Math.min(Number(q.get('max-keys') ?? 1000), pageSize)
      const all = [...bucket.versions.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        // Within a key, newest first, as S3 lists them.
        .flatMap(([, v]) => [...v].reverse())
      let start = 0
      const keyMarker = q.get('key-marker')
      if (keyMarker) {
        const versionMarker = q.get('version-id-marker')
        const i = all.findIndex((v) => v.key === keyMarker && (!versionMarker || v.versionId === versionMarker))
        start = i < 0 ? all.length : versionMarker ? i + 1 : all.findIndex((v) => v.key > keyMarker) >>> 0
      }
      const page = all.slice(start, start + max)
      const truncated = start + max < all.length
      const latest = (v: S3Version) => current(bucket.versions.get(v.key)) === v
      const items = page
        .map((v) =>
          v.deleteMarker
            ? `<DeleteMarker><Key>${xmlEscape(v.key)}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${latest(v)}</IsLatest><LastModified>${v.lastModified.toISOString()}</LastModified></DeleteMarker>`
            : `<Version><Key>${xmlEscape(v.key)}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${latest(v)}</IsLatest><LastModified>${v.lastModified.toISOString()}</LastModified><Size>${v.body.length}</Size><StorageClass>STANDARD</StorageClass></Version>`,
        )
        .join('')
      const last = page[page.length - 1]
      const next = truncated && last ? `<NextKeyMarker>${xmlEscape(last.key)}</NextKeyMarker><NextVersionIdMarker>${last.versionId}</NextVersionIdMarker>` : ''
      return send(
        res,
        200,
        `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucketName}</Name><Prefix>${xmlEscape(prefix)}</Prefix><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${items}${next}</ListVersionsResult>`,
      )
    }
    return error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const url = new URL(req.url ?? '/', 'http://s3.local')
      const end = res.end.bind(res)
      res.end = ((...args: Parameters<typeof end>) => {
        requests.push({ method: req.method ?? '', path: url.pathname + url.search, status: res.statusCode })
        return end(...args)
      }) as typeof res.end
      handle(req, body, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accessKeyId,
    secretAccessKey,
    createBucket: (name, opts = {}) => void buckets.set(name, { objectLock: opts.objectLock ?? true, versions: new Map() }),
    versions: (bucket, key) => [...(buckets.get(bucket)?.versions.entries() ?? [])].filter(([k]) => key === undefined || k === key).flatMap(([, v]) => v),
    setPageSize: (n) => void (pageSize = n),
    failNext: (status, count = 1) => void (faults = { status, count }),
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
