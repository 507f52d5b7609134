/**
 * The signed checkpoint: the chain head at one moment, signed with Ed25519 and chained to the
 * previous checkpoint by its signature (the shape of CloudTrail's digest files). This is what is
 * stored in audit_checkpoints, published to the file/webhook, and handed to auditors.
 */
import { sign, verify, type KeyObject } from 'node:crypto'
import canonicalize from 'canonicalize'
import { z } from 'zod'
import { keyId, loadPublicKey, type PublicKeyInput } from './keys.ts'
import { isoFromPg, toSafeInteger } from './rows.ts'

/** Domain separation: a signature over a checkpoint can never be mistaken for one over anything else. */
export const CHECKPOINT_TYPE = 'tenure.audit.checkpoint/v1'

export interface CheckpointPayload {
  type: typeof CHECKPOINT_TYPE
  /** 1, 2, 3…: gapless, like seq. */
  id: number
  /** When the checkpoint was signed (ISO UTC, ms). */
  created_at: string
  /** The head of the chain: its seq, hash and occurred_at (seq 0 and the genesis hash for an empty chain). */
  seq: number
  hash: string
  occurred_at: string | null
  /** Events appended since the previous checkpoint. */
  count: number
  /** Signature of checkpoint id - 1; null for the first. */
  previous_signature: string | null
  key_id: string
}

export interface SignedCheckpoint extends CheckpointPayload {
  /** base64 Ed25519 signature over the RFC 8785 canonical JSON of every other field. */
  signature: string
}

const iso = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'ISO 8601 UTC with milliseconds')

/** For checkpoints from outside (published files, webhook receivers, auditors). */
export const signedCheckpointSchema = z
  .object({
    type: z.literal(CHECKPOINT_TYPE),
    id: z.number().int().positive(),
    created_at: iso,
    seq: z.number().int().nonnegative(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    occurred_at: iso.nullable(),
    count: z.number().int().nonnegative(),
    previous_signature: z.string().min(1).nullable(),
    key_id: z.string().min(1),
    signature: z.string().min(1),
  })
  .strict()

export function checkpointPayloadBytes(cp: CheckpointPayload): Buffer {
  const payload: CheckpointPayload = {
    type: cp.type,
    id: cp.id,
    created_at: cp.created_at,
    seq: cp.seq,
    hash: cp.hash,
    occurred_at: cp.occurred_at,
    count: cp.count,
    previous_signature: cp.previous_signature,
    key_id: cp.key_id,
  }
  return Buffer.from(canonicalize(payload) ?? '', 'utf8')
}

export function signCheckpoint(payload: CheckpointPayload, privateKey: KeyObject): SignedCheckpoint {
  // Ed25519 takes no digest algorithm: node:crypto wants null.
  const signature = sign(null, checkpointPayloadBytes(payload), privateKey).toString('base64')
  return { ...payload, signature }
}

/** Trusted public keys by key id (several during a key rotation). */
export type TrustedKeys = Map<string, KeyObject>

export function trustedKeys(input: PublicKeyInput | PublicKeyInput[]): TrustedKeys {
  const keys: TrustedKeys = new Map()
  for (const item of Array.isArray(input) ? input : [input]) {
    const key = loadPublicKey(item)
    keys.set(keyId(key), key)
  }
  return keys
}

/** Why a checkpoint's signature does not hold, or null when it does. */
export function checkpointSignatureProblem(cp: SignedCheckpoint, keys: TrustedKeys): string | null {
  const key = keys.get(cp.key_id)
  if (!key) return `checkpoint #${cp.id} is signed with key ${cp.key_id}, which is not among the trusted keys (${[...keys.keys()].join(', ')})`
  let ok: boolean
  try {
    ok = verify(null, checkpointPayloadBytes(cp), key, Buffer.from(cp.signature, 'base64'))
  } catch {
    ok = false
  }
  return ok ? null : `checkpoint #${cp.id} (seq ${cp.seq}) has an invalid signature: it was forged or altered after signing`
}

export interface DbCheckpointRow {
  id: string | number
  created_at: string
  seq: string | number
  hash: string
  occurred_at: string | null
  count: string | number
  previous_signature: string | null
  key_id: string
  signature: string
}

export function fromDbCheckpoint(row: DbCheckpointRow): SignedCheckpoint {
  return {
    type: CHECKPOINT_TYPE,
    id: toSafeInteger(row.id, 'checkpoint id'),
    created_at: isoFromPg(row.created_at),
    seq: toSafeInteger(row.seq, 'checkpoint seq'),
    hash: row.hash,
    occurred_at: row.occurred_at === null ? null : isoFromPg(row.occurred_at),
    count: toSafeInteger(row.count, 'checkpoint count'),
    previous_signature: row.previous_signature,
    key_id: row.key_id,
    signature: row.signature,
  }
}
