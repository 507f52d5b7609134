import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { silentLogger } from '../log.ts'
import { ensureSandboxTokens, SANDBOX_TOKENS_FILE } from './sandbox.ts'
import { startHarness, type Harness } from './test-support.ts'
import { revokeApiToken } from './tokens.ts'

describe('sandbox tokens', () => {
  let h: Harness
  let dir: string
  before(async () => {
    h = await startHarness()
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-sandbox-'))
  })
  after(async () => {
    await h.close()
    await rm(dir, { recursive: true, force: true })
  })

  const readFileTokens = async () => JSON.parse(await readFile(path.join(dir, SANDBOX_TOKENS_FILE), 'utf8')) as { tokens: Record<string, { id: string; token: string }> }

  test('when the sandbox starts on an empty database, then one token per role is made, printed once, saved 0600, and each works with its role', async () => {
    let printed = ''
    const created = await ensureSandboxTokens(h.pool, silentLogger, { dataDir: dir, url: h.url, write: (t) => void (printed += t), now: h.clock.now })
    assert.deepEqual(created.map((t) => [t.role, t.name]), [
      ['admin', 'sandbox-admin'],
      ['approver', 'sandbox-approver'],
      ['operator', 'sandbox-operator'],
      ['auditor', 'sandbox-auditor'],
    ])
    for (const t of created) assert.ok(printed.includes(t.token), `${t.role} token printed`)
    assert.match(printed, new RegExp(`curl -H "Authorization: Bearer tnr_adm_\\S+" ${h.url}/api/v1/whoami`))
    const file = path.join(dir, SANDBOX_TOKENS_FILE)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const saved = await readFileTokens()
    for (const t of created) {
      assert.deepEqual(saved.tokens[t.role], { id: t.id, name: t.name, token: t.token })
      const me = await h.call('get', '/api/v1/whoami', { token: t.token })
      assert.equal(me.status, 200)
      assert.deepEqual((me.json as { roles: string[] }).roles, [t.role])
    }
  })

  test('when the sandbox starts again, then nothing is created or printed and the file stays', async () => {
    const before = await readFileTokens()
    let printed = ''
    const again = await ensureSandboxTokens(h.pool, silentLogger, { dataDir: dir, write: (t) => void (printed += t), now: h.clock.now })
    assert.deepEqual(again, [])
    assert.equal(printed, '')
    assert.deepEqual(await readFileTokens(), before)
  })

  test('when a sandbox token was revoked, then the next start replaces that one only, and the file keeps the others', async () => {
    const before = await readFileTokens()
    await revokeApiToken(h.pool, before.tokens.operator!.id, { revokedBy: { type: 'system', id: 'test' }, now: h.clock.now() })
    let printed = ''
    const replaced = await ensureSandboxTokens(h.pool, silentLogger, { dataDir: dir, write: (t) => void (printed += t), now: h.clock.now })
    assert.deepEqual(replaced.map((t) => t.role), ['operator'])
    assert.equal(printed.includes(before.tokens.admin!.token), false, 'tokens shown before are not shown again')
    const after = await readFileTokens()
    assert.deepEqual(after.tokens.admin, before.tokens.admin)
    assert.equal(after.tokens.operator!.token, replaced[0]!.token)
  })

  test('when two processes start the sandbox at once, then one set of tokens is made', async () => {
    await h.pool.query(`UPDATE api_tokens SET revoked_at = now() WHERE name LIKE 'sandbox-%' AND revoked_at IS NULL`)
    const [a, b] = await Promise.all([
      ensureSandboxTokens(h.pool, silentLogger, { write: () => {}, now: h.clock.now }),
      ensureSandboxTokens(h.pool, silentLogger, { write: () => {}, now: h.clock.now }),
    ])
    assert.equal(a.length + b.length, 4)
    const { rows } = await h.pool.query(`SELECT name, count(*)::int AS n FROM api_tokens WHERE name LIKE 'sandbox-%' AND revoked_at IS NULL GROUP BY name`)
    assert.deepEqual(rows.map((r) => r.n), [1, 1, 1, 1])
  })
})
