/**
 * Deterministic UUIDs (RFC 9562 version 5: SHA-1 of a namespace and a name). A job, timer or
 * event id derived from its meaning means a retried insert of the same thing is the same row:
 * pg-boss inserts jobs with ON CONFLICT DO NOTHING on (queue, id), so a duplicate is dropped.
 */
import { createHash } from 'node:crypto'

/** Tenure's namespace (itself a random v4 UUID, fixed forever). */
export const TENURE_NAMESPACE = '6b0f2f0e-8f6c-4e1b-9b0a-5d0c8a3e2f71'

function bytesOf(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex')
}

export function uuidV5(name: string, namespace: string = TENURE_NAMESPACE): string {
  const hash = createHash('sha1').update(bytesOf(namespace)).update(name, 'utf8').digest()
  const b = hash.subarray(0, 16)
  b[6] = (b[6]! & 0x0f) | 0x50
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = b.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
