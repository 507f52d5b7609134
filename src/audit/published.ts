/**
 * Reading checkpoints back from where they were published (`tenure audit verify --published`):
 * the publish file (one checkpoint per line), a URL serving what a webhook receiver stored, or an
 * `s3://bucket/prefix` holding one object per checkpoint (src/audit/object-store.ts).
 * Accepted shapes, line by line (NDJSON) or as one JSON array: a signed checkpoint, or the
 * webhook body `{ type: 'audit.checkpoint_created', data: <checkpoint> }` as delivered.
 */
import { readFile } from 'node:fs/promises'
import { AuditError } from './errors.ts'
import { parseS3Url, readObjectStoreTexts, type ObjectStoreConfig } from './object-store.ts'

function unwrap(item: unknown): unknown {
  if (typeof item === 'object' && item !== null && (item as { type?: unknown }).type === 'audit.checkpoint_created' && 'data' in item) {
    return (item as { data: unknown }).data
  }
  return item
}

/** The checkpoints in a published text, deduplicated (webhook retries deliver the same one twice). */
export function parsePublished(text: string, where: string): unknown[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  let items: unknown[]
  if (trimmed.startsWith('[')) {
    try {
      items = JSON.parse(trimmed) as unknown[]
    } catch (err) {
      throw new AuditError('published_invalid', `${where} is not JSON: ${(err as Error).message}`, { status: 400 })
    }
  } else {
    items = trimmed.split('\n').flatMap((line, i) => {
      if (line.trim() === '') return []
      try {
        return [JSON.parse(line) as unknown]
      } catch (err) {
        throw new AuditError('published_invalid', `${where} line ${i + 1} is not JSON: ${(err as Error).message}`, { status: 400 })
      }
    })
  }
  const seen = new Set<string>()
  return items.map(unwrap).filter((item) => {
    const key = JSON.stringify(item)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Read published checkpoints from a file path or an http(s) URL (GET; 2xx expected). A source
 * that cannot be read is an error, never "nothing published": an attacker who can make the
 * published copy unreadable must not turn the comparison off silently.
 */
export async function readPublished(
  source: string,
  options: { fetch?: typeof fetch; timeoutMs?: number; objectStore?: ObjectStoreConfig } = {},
): Promise<unknown[]> {
  const s3 = parseS3Url(source)
  if (s3) {
    const { texts } = await readObjectStoreTexts(s3, options.objectStore ?? { region: 'us-east-1', forcePathStyle: false })
    return parsePublished(texts.join('\n'), source)
  }
  if (/^https?:\/\//i.test(source)) {
    let response: Response
    try {
      response = await (options.fetch ?? fetch)(source, {
        headers: { accept: 'application/x-ndjson, application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      })
    } catch (err) {
      throw new AuditError('published_unreadable', `could not read the published checkpoints at ${source}: ${(err as Error).message}`, { status: 502 })
    }
    const text = await response.text()
    if (response.status < 200 || response.status > 299) {
      throw new AuditError('published_unreadable', `could not read the published checkpoints at ${source}: HTTP ${response.status}`, { status: 502 })
    }
    return parsePublished(text, source)
  }
  let text: string
  try {
    text = await readFile(source, 'utf8')
  } catch (err) {
    throw new AuditError('published_unreadable', `could not read the published checkpoints in ${source}: ${(err as Error).message}`, { status: 400 })
  }
  return parsePublished(text, source)
}
