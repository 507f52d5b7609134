import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { userInfo } from 'node:os'
import { Command, CommanderError } from 'commander'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { runTenure } from '../../test/helpers/process.ts'
import { validateConfig } from '../config/load.ts'
import { createPool, type Pool } from '../db/pool.ts'
import { silentLogger } from '../log.ts'
import { registerTokenCommands } from './cli.ts'
import { fakeClock, startHarness, type Harness } from './test-support.ts'
import { TOKEN_PATTERN } from './token-format.ts'

describe('tenure tokens', () => {
  let db: TestDatabase
  let pool: Pool
  let h: Harness
  const clock = fakeClock()

  /** Runs one command in-process, as `tenure tokens …` would, and returns what it printed. */
  async function tenure(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    let stdout = ''
    let stderr = ''
    const program = new Command().exitOverride().configureOutput({ writeErr: (t) => void (stderr += t), writeOut: (t) => void (stdout += t) })
    registerTokenCommands(program, {
      loadConfig: async () => ({ config: validateConfig({ database: { url: db.url }, log: { level: 'silent' } }) }),
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
      now: clock.now,
    })
    try {
      await program.parseAsync(['node', 'tenure', 'tokens', ...args])
    } catch (err) {
      if (err instanceof CommanderError) Object.assign(err, { stdout, stderr })
      throw err
    }
    return { stdout, stderr }
  }

  before(async () => {
    db = await createTestDatabase('cli')
    pool = createPool({ url: db.url, max: 3, statementTimeoutMs: 10_000, log: silentLogger })
    // The first command migrates the empty database itself.
    await tenure('list')
    h = await startHarness({ pool, clock })
  })
  after(async () => {
    await h.close()
    await pool.end()
    await db.drop()
  })

  test('when a token is created, then stdout holds the token alone and it works on the API at once', async () => {
    const { stdout, stderr } = await tenure('create', '--role', 'operator', '--name', 'nightly-sync')
    const token = stdout.trim()
    assert.equal(stdout, `${token}\n`)
    assert.match(token, TOKEN_PATTERN)
    assert.match(stderr, /only time the token is shown/)
    assert.equal(stderr.includes(token), false)
    const me = await h.call('get', '/api/v1/whoami', { token })
    assert.equal(me.status, 200)
    const row = (await pool.query('SELECT created_by, expires_at FROM api_tokens WHERE name = $1', ['nightly-sync'])).rows[0]
    assert.equal(row.created_by, `system:cli:${userInfo().username}`)
    assert.equal(row.expires_at, null)
  })

  test('when --expires is given, then the token expires that long from now; a bad duration is refused', async () => {
    const { stdout } = await tenure('create', '--role', 'auditor', '--name', 'quarterly', '--expires', '12h', '--json')
    const created = JSON.parse(stdout) as { token: string; apiToken: { expiresAt: string; role: string } }
    assert.equal(created.apiToken.expiresAt, new Date(clock.now().getTime() + 12 * 3_600_000).toISOString())
    assert.equal(created.apiToken.role, 'auditor')
    await assert.rejects(tenure('create', '--role', 'auditor', '--name', 'x', '--expires', 'soon'), (err: unknown) => {
      assert.ok(err instanceof CommanderError)
      assert.equal(err.exitCode, 1)
      assert.match((err as CommanderError & { stderr: string }).stderr, /is not a duration/)
      return true
    })
    await assert.rejects(tenure('create', '--role', 'root', '--name', 'x'), /Allowed choices are admin, approver, operator, auditor/)
    await assert.rejects(tenure('create', '--name', 'x'), /required option '--role <role>' not specified/)
  })

  test('when tokens are listed, then names, roles and prefixes show and no secret does', async () => {
    const { stdout: token } = await tenure('create', '--role', 'admin', '--name', 'listed')
    const { stdout } = await tenure('list')
    assert.match(stdout, /^ID\s+NAME\s+ROLE\s+PREFIX\s+STATUS/)
    assert.match(stdout, /listed\s+admin\s+tnr_adm_\S{8}\s+active/)
    assert.equal(stdout.includes(token.trim().slice(16)), false)
    const json = JSON.parse((await tenure('list', '--json')).stdout) as Array<{ name: string }>
    assert.ok(json.some((t) => t.name === 'listed'))
    assert.equal(JSON.stringify(json).includes(token.trim()), false)
  })

  test('when a token is revoked by id, prefix or the leaked token itself, then the API refuses it at once', async () => {
    for (const by of ['id', 'prefix', 'token'] as const) {
      const { stdout } = await tenure('create', '--role', 'approver', '--name', `revoke-by-${by}`, '--json')
      const { token, apiToken } = JSON.parse(stdout) as { token: string; apiToken: { id: string } }
      assert.equal((await h.call('get', '/api/v1/whoami', { token })).status, 200)
      const reference = by === 'id' ? apiToken.id : by === 'prefix' ? token.slice(0, 16) : token
      const { stderr } = await tenure('revoke', reference)
      assert.match(stderr, new RegExp(`Revoked API token ${apiToken.id}`))
      const refused = await h.call('get', '/api/v1/whoami', { token })
      assert.equal(refused.status, 401, by)
      assert.equal((refused.json as { error: { code: string } }).error.code, 'token_revoked')
      assert.match((await tenure('revoke', apiToken.id)).stderr, /already revoked/)
    }
    const { stdout } = await tenure('list')
    assert.equal(stdout.includes('revoke-by-'), false, 'revoked tokens are hidden by default')
    assert.match((await tenure('list', '--all')).stdout, /revoke-by-id\s+approver\s+\S+\s+revoked/)
  })

  test('when no token matches, then revoke fails without echoing the whole reference', async () => {
    const reference = 'tnr_adm_' + 'Q'.repeat(49)
    await assert.rejects(tenure('revoke', reference), (err: unknown) => {
      assert.ok(err instanceof CommanderError)
      assert.equal(err.exitCode, 1)
      const stderr = (err as CommanderError & { stderr: string }).stderr
      assert.match(stderr, /no API token matches "tnr_adm_QQQQQQQQ…"/)
      assert.equal(stderr.includes(reference), false)
      return true
    })
  })

  test('when the real `tenure tokens create` runs, then it prints only the token on stdout', async () => {
    const run = runTenure(['tokens', 'create', '--role', 'auditor', '--name', 'spawned'], { DATABASE_URL: db.url, LOG_LEVEL: 'info' })
    const { code } = await run.exited
    assert.equal(code, 0, run.stderr())
    assert.match(run.stdout(), new RegExp(`^${TOKEN_PATTERN.source}\\n$`))
    assert.match(run.stderr(), /Created API token/)
  })
})
