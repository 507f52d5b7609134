/**
 * Page cursors: opaque to clients (base64url), a position to us. Opaque so the format can change
 * (say, to a compound key) without breaking a client that only hands back what it received.
 */
import { AuditError } from './errors.ts'

export function encodeCursor(position: number): string {
  return Buffer.from(`v1:${position}`, 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string): number {
  const match = /^v1:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const position = match ? Number(match[1]) : NaN
  if (!Number.isSafeInteger(position)) {
    throw new AuditError('invalid_cursor', 'cursor is not one this API returned', { status: 400, details: { cursor } })
  }
  return position
}
