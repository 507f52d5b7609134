import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { resolveLogFormat } from '../log.ts'
import { formatSandboxSummary, readSandboxTokens } from './summary.ts'

describe('the sandbox start-up summary', () => {
  test('when the sandbox is ready, then the summary names the URL, the console, one token per role, every emulator, the data folder and how to stop', () => {
    const text = formatSandboxSummary({
      url: 'http://127.0.0.1:8080',
      dataDir: '/srv/tenure/.tenure',
      consoleEnabled: true,
      tokens: { admin: 'tnr_adm_1', approver: 'tnr_apr_2', operator: 'tnr_opr_3', auditor: 'tnr_aud_4' },
      tokensFile: '/srv/tenure/.tenure/sandbox-tokens.json',
      emulators: { google: 'http://127.0.0.1:4001', slack: 'http://127.0.0.1:4002' },
      hrEmulators: { bamboohr: 'http://127.0.0.1:5001', workday: 'http://127.0.0.1:5002' },
      mailPort: 2525,
    })
    assert.match(text, /E-mail +caught by an SMTP sink on 127\.0\.0\.1:2525: the console's Sandbox page, GET \/api\/v1\/sandbox\/mail/)
    assert.match(text, /Tenure is listening on http:\/\/127\.0\.0\.1:8080/)
    assert.match(text, /Console +http:\/\/127\.0\.0\.1:8080\//)
    for (const [role, token] of [['admin', 'tnr_adm_1'], ['approver', 'tnr_apr_2'], ['operator', 'tnr_opr_3'], ['auditor', 'tnr_aud_4']]) {
      assert.match(text, new RegExp(`^ +${role} +${token}$`, 'm'))
    }
    assert.match(text, /sandbox-tokens\.json/)
    for (const url of ['4001', '4002', '5001', '5002']) assert.match(text, new RegExp(`http://127\\.0\\.0\\.1:${url}`))
    assert.match(text, /HR emulators +bamboohr/)
    assert.match(text, /Data +\/srv\/tenure\/\.tenure/)
    assert.match(text, /Stop +Ctrl-C/)
    assert.ok(text.split('\n').length < 25, 'short')
    assert.ok(text.split('\n').every((line) => line.length <= 120 || line.includes('Authorization')), 'lines fit a terminal')
  })

  test('when the cluster lives outside the data folder, then the summary says where', () => {
    const text = formatSandboxSummary({
      url: 'http://127.0.0.1:8080',
      dataDir: '/root/tenure/.tenure',
      postgresDir: '/var/lib/tenure/clusters/0123456789abcdef/pg',
      consoleEnabled: false,
      tokens: {},
      emulators: {},
      hrEmulators: {},
    })
    assert.match(text, /PostgreSQL +\/var\/lib\/tenure\/clusters\/0123456789abcdef\/pg/)
    assert.match(text, /tokens create/)
  })

  test('when sandbox-tokens.json holds the tokens, then they are read in role order; a missing file reads as none', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-summary-'))
    try {
      assert.deepEqual((await readSandboxTokens(dir)).tokens, {})
      await writeFile(
        path.join(dir, 'sandbox-tokens.json'),
        JSON.stringify({ tokens: { auditor: { id: 'a', name: 'sandbox-auditor', token: 'tnr_aud_x' }, admin: { id: 'b', name: 'sandbox-admin', token: 'tnr_adm_y' } } }),
      )
      const { tokens } = await readSandboxTokens(dir)
      assert.deepEqual(Object.entries(tokens), [
        ['admin', 'tnr_adm_y'],
        ['auditor', 'tnr_aud_x'],
      ])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('the log format', () => {
  test('when LOG_FORMAT is unset or auto, then a terminal gets readable lines and a pipe gets JSON', () => {
    assert.equal(resolveLogFormat(undefined, true), 'pretty')
    assert.equal(resolveLogFormat('auto', true), 'pretty')
    assert.equal(resolveLogFormat(undefined, false), 'json')
    assert.equal(resolveLogFormat('auto', false), 'json')
  })

  test('when LOG_FORMAT is json or pretty, then that is used whatever stdout is', () => {
    assert.equal(resolveLogFormat('json', true), 'json')
    assert.equal(resolveLogFormat('pretty', false), 'pretty')
  })
})
