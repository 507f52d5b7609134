/**
 * Ed25519 keys for checkpoint signatures. Accepted forms, so operators can use whatever their
 * secret store or tooling produces:
 *   private: PKCS#8 PEM, or base64 of the raw 32-byte seed, of PKCS#8 DER (48 bytes), or of a
 *            libsodium/NaCl 64-byte secret key (seed ‖ public key);
 *   public:  a KeyObject, SPKI PEM, or base64 of the raw 32-byte key or of SPKI DER (44 bytes).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { AuditError } from './errors.ts'

/** DER prefixes of an Ed25519 PKCS#8 private key and SPKI public key (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export type PublicKeyInput = KeyObject | string

function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) return undefined
  return Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AuditError('signing_key_invalid', `${what} is a ${key.asymmetricKeyType ?? 'symmetric'} key, not Ed25519`)
  }
  return key
}

export function loadPrivateKey(material: string): KeyObject {
  const text = material.trim()
  try {
    if (text.startsWith('-----BEGIN')) return requireEd25519(createPrivateKey(text), 'the audit signing key')
    const bytes = decodeBase64(text)
    if (bytes?.length === 32) return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, bytes]), format: 'der', type: 'pkcs8' })
    if (bytes?.length === 64) {
      return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, bytes.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
    }
    if (bytes?.length === 48) return requireEd25519(createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }), 'the audit signing key')
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw new AuditError('signing_key_invalid', `the audit signing key cannot be read: ${(err as Error).message}`, { cause: err })
  }
  throw new AuditError(
    'signing_key_invalid',
    'the audit signing key must be an Ed25519 PKCS#8 PEM or base64 of a 32-byte seed (see generateSigningKey())',
  )
}

export function loadPublicKey(input: PublicKeyInput): KeyObject {
  try {
    if (typeof input !== 'string') {
      return requireEd25519(input.type === 'private' ? createPublicKey(input) : input, 'the audit public key')
    }
    const text = input.trim()
    if (text.startsWith('-----BEGIN')) return requireEd25519(createPublicKey(text), 'the audit public key')
    const bytes = decodeBase64(text)
    if (bytes?.length === 32) return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, bytes]), format: 'der', type: 'spki' })
    if (bytes?.length === 44) return requireEd25519(createPublicKey({ key: bytes, format: 'der', type: 'spki' }), 'the audit public key')
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw new AuditError('public_key_invalid', `the audit public key cannot be read: ${(err as Error).message}`, { status: 400, cause: err })
  }
  throw new AuditError('public_key_invalid', 'the audit public key must be an Ed25519 SPKI PEM or base64 of the raw 32-byte key', {
    status: 400,
  })
}

/** The raw 32-byte public key (the last 32 bytes of its SPKI DER). */
export function rawPublicKey(key: KeyObject): Buffer {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' })
  return spki.subarray(spki.length - 32)
}

/** `ed25519:` + the first 32 hex digits of sha256(raw public key): names the key in each checkpoint. */
export function keyId(key: KeyObject): string {
  return `ed25519:${createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 32)}`
}

/** The SPKI DER of the public key: what `openssl pkey -pubin -outform DER` writes (its SHA-256 is the key's fingerprint). */
export function publicKeyDer(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' })
}

export function publicKeyPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return publicKey.export({ format: 'pem', type: 'spki' }).toString()
}

export interface GeneratedSigningKey {
  /** base64 of the 32-byte seed: put this in the secret store and reference it as `signingKey`. */
  privateKey: string
  privateKeyPem: string
  /** SPKI PEM: give this to auditors. */
  publicKeyPem: string
  /** base64 of the raw 32-byte public key. */
  publicKey: string
  keyId: string
}

/** A fresh Ed25519 key pair, for the sandbox, development and `tenure audit keygen`. */
export function generateSigningKey(): GeneratedSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
  return {
    privateKey: pkcs8.subarray(pkcs8.length - 32).toString('base64'),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKeyPem(publicKey),
    publicKey: rawPublicKey(publicKey).toString('base64'),
    keyId: keyId(publicKey),
  }
}
