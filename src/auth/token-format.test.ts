import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ROLES } from './roles.ts'
import { generateToken, hashToken, parseDuration, parseToken, PREFIX_LENGTH, sameHash, TOKEN_LENGTH, TOKEN_PATTERN } from './token-format.ts'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('API token format', () => {
  test('when a token is generated, then secret scanners can match it and it parses back to its role and prefix', () => {
    for (const role of ROLES) {
      const { token, prefix, sha256 } = generateToken(role)
      assert.equal(token.length, TOKEN_LENGTH)
      assert.match(token, TOKEN_PATTERN)
      assert.match(`export TENURE_TOKEN="${token}"`, TOKEN_PATTERN, 'found inside surrounding text')
      assert.deepEqual(parseToken(token), { prefix, role })
      assert.equal(prefix, token.slice(0, PREFIX_LENGTH))
      assert.ok(sameHash(sha256, hashToken(token)))
    }
    assert.notEqual(generateToken('admin').token, generateToken('admin').token)
  })

  test('when any one character of the random part or checksum is changed, then the checksum refuses it offline', () => {
    const { token } = generateToken('operator')
    fc.assert(
      fc.property(fc.integer({ min: 8, max: TOKEN_LENGTH - 1 }), fc.constantFrom(...ALPHABET), (position, replacement) => {
        fc.pre(token[position] !== replacement)
        const altered = token.slice(0, position) + replacement + token.slice(position + 1)
        return parseToken(altered) === null
      }),
      { numRuns: 500 },
    )
  })

  test('when the role code is changed, then the token no longer parses', () => {
    const { token } = generateToken('auditor')
    assert.equal(parseToken(token.replace('tnr_aud_', 'tnr_adm_')), null)
    assert.equal(parseToken(token.slice(0, -1)), null)
    assert.equal(parseToken(`${token}x`), null)
    assert.equal(parseToken('ghp_' + token.slice(4)), null)
  })

  test('when hashes differ in length or content, then the comparison says no without throwing', () => {
    assert.equal(sameHash(hashToken('a'), hashToken('b')), false)
    assert.equal(sameHash(hashToken('a'), Buffer.alloc(5)), false)
  })

  test('when durations are written like 90d, 12h, 30m, 2w, 1y, then they convert; anything else is refused', () => {
    assert.equal(parseDuration('90d'), 90 * 86_400_000)
    assert.equal(parseDuration('12h'), 12 * 3_600_000)
    assert.equal(parseDuration('30m'), 30 * 60_000)
    assert.equal(parseDuration('2w'), 14 * 86_400_000)
    assert.equal(parseDuration('1y'), 365 * 86_400_000)
    for (const bad of ['', '0d', '-1d', '1.5h', 'forever', '90', 'd']) assert.throws(() => parseDuration(bad), RangeError, bad)
  })
})
