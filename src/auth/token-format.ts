/**
 * The API token format, built so that secret scanners can find leaked tokens with one regular
 * expression and reject look-alikes offline (the same idea as GitHub's `ghp_` tokens:
 * https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/):
 *
 *   tnr_adm_<43 chars: base64url of 32 random bytes><6 chars: base62 CRC-32 of everything before>
 *   └┬┘ └┬┘
 *    │   role: adm (admin) · apr (approver) · opr (operator) · aud (auditor)
 *    Tenure
 *
 *   TOKEN_PATTERN = /\btnr_(?:adm|apr|opr|aud)_[A-Za-z0-9_-]{43}[A-Za-z0-9]{6}\b/
 *
 * The first 16 characters (`tnr_adm_` + 8 random characters) are the token's public *prefix*:
 * stored in clear, shown by `tenure tokens list`, used to find the row. Only the SHA-256 of the
 * whole token is stored; the token itself is shown once, at creation.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { crc32 } from 'node:zlib'
import type { Role } from './roles.ts'

export const TOKEN_ROLE_CODES: Record<Role, string> = { admin: 'adm', approver: 'apr', operator: 'opr', auditor: 'aud' }

export const TOKEN_PATTERN = /\btnr_(?:adm|apr|opr|aud)_[A-Za-z0-9_-]{43}[A-Za-z0-9]{6}\b/
const EXACT = /^tnr_(adm|apr|opr|aud)_([A-Za-z0-9_-]{43})([A-Za-z0-9]{6})$/

export const TOKEN_LENGTH = 57
export const PREFIX_LENGTH = 16

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

function base62(n: number, width: number): string {
  let out = ''
  let rest = n
  for (let i = 0; i < width; i++) {
    out = BASE62[rest % 62]! + out
    rest = Math.floor(rest / 62)
  }
  return out
}

function checksum(body: string): string {
  // 62^6 > 2^32, so six characters hold any CRC-32.
  return base62(crc32(body), 6)
}

export interface GeneratedToken {
  token: string
  prefix: string
  sha256: Buffer
}

export function generateToken(role: Role): GeneratedToken {
  const body = `tnr_${TOKEN_ROLE_CODES[role]}_${randomBytes(32).toString('base64url')}`
  const token = body + checksum(body)
  return { token, prefix: token.slice(0, PREFIX_LENGTH), sha256: hashToken(token) }
}

export interface ParsedToken {
  prefix: string
  role: Role
}

/** Shape and checksum only (no database): a typo or a look-alike is refused without a lookup. */
export function parseToken(candidate: string): ParsedToken | null {
  const match = EXACT.exec(candidate)
  if (!match) return null
  const body = candidate.slice(0, TOKEN_LENGTH - 6)
  if (checksum(body) !== match[3]) return null
  const role = (Object.keys(TOKEN_ROLE_CODES) as Role[]).find((r) => TOKEN_ROLE_CODES[r] === match[1])
  if (!role) return null
  return { prefix: candidate.slice(0, PREFIX_LENGTH), role }
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

/** Constant-time comparison of two SHA-256 digests. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  // timingSafeEqual throws on a length mismatch; both are digests, so a mismatch is a bad row.
  if (a.length !== 32 || b.length !== 32) return false
  return timingSafeEqual(a, b)
}

/** `90d`, `12h`, `30m`, `2w`, `1y` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(m|min|h|d|w|y)$/i.exec(text.trim())
  if (!match) throw new RangeError(`"${text}" is not a duration: write a number and a unit, e.g. 30m, 12h, 90d, 2w, 1y`)
  const n = Number(match[1])
  const unit = match[2]!.toLowerCase()
  const ms = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[unit]!
  if (n <= 0) throw new RangeError(`"${text}": the duration must be positive`)
  return n * ms
}
