/**
 * The auditor's journey out of the box, in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): no audit.signingKey configured, as in the sandbox. The audit trail says how
 * much signed checkpoints cover; a report exported from the console is signed with the data
 * folder's key, and the offline steps the page shows, run as shown, say VERIFIED.
 *
 * Screenshots go to test-results/console/ (git-ignored); UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { needsChromium, openSignedIn, SHOTS, startBrowser, type OpenedPage } from '../helpers/e2e.ts'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { BIN } from '../helpers/process.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { recordAudit } from '../../src/audit/index.ts'
import { readFile } from 'node:fs/promises'



const has = (tool: string) => spawnSync(tool, ['version'], { encoding: 'utf8' }).status === 0 || spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0

describe('auditor in the console, with no signing key configured', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  let folder: string
  let auditor: string

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'tenure-e2e-audit-'))
    // No workers: no scheduled checkpoint is made behind the test's back.
    t = await startTestTenure({ workers: { enabled: false } })
    auditor = (await createApiToken(t.running.pool, { name: 'auditor', role: 'auditor', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  async function openAudit(): Promise<OpenedPage> {
    const opened = await openSignedIn(browser, t.url, auditor, { acceptDownloads: true })
    await opened.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click()
    return opened
  }

  test('when the audit trail has no signed checkpoint, then the console says it is not covered instead of a green "Intact", and says how much is covered once one is signed', async () => {
    const { page, problems, close } = await openAudit()
    await page.getByRole('button', { name: 'Verify the audit trail' }).click()
    const verdict = page.getByTestId('chain-verdict').locator('p')
    await verdict.filter({ hasText: 'no entry is covered by a signed checkpoint' }).waitFor()
    assert.equal(await verdict.getAttribute('class'), 'notice', 'a warning, not the green ok style')
    assert.equal(await verdict.getAttribute('data-coverage'), 'none')

    const made = await fetch(`${t.url}/api/v1/audit/checkpoints`, { method: 'POST', headers: { authorization: `Bearer ${auditor}` } })
    assert.equal(made.status, 201)
    await page.getByRole('button', { name: 'Verify the audit trail' }).click()
    await verdict.filter({ hasText: /entries covered by 1 signed checkpoint; last checkpoint/ }).waitFor()
    assert.equal(await verdict.getAttribute('class'), 'ok-text')
    assert.match((await verdict.textContent()) ?? '', /^Chain intact; (\d+) of \1 entries covered by 1 signed checkpoint/)
    await close()
    assert.deepEqual(problems, [])
  })

  test('when an auditor exports a report, then it verifies in the browser, and the offline steps the page shows say VERIFIED when run as shown', async () => {
    const { page, problems, close } = await openAudit()
    await page.getByLabel('Format').selectOption('csv')
    await page.getByRole('button', { name: 'Export and verify' }).click()
    await page.getByTestId('report-verdict').filter({ hasText: 'Manifest verified' }).waitFor()
    const steps = page.getByTestId('offline-steps')
    await steps.waitFor()

    const published = (await (await fetch(`${t.url}/api/v1/reports/signing-key`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as { fingerprint: string }
    assert.equal(await page.getByTestId('key-fingerprint').textContent(), published.fingerprint)
    assert.match((await page.getByTestId('key-warning').textContent()) ?? '', /configure one from a secret store for production/)
    await page.screenshot({ path: path.join(SHOTS, 'audit-report-offline.png'), fullPage: true })

    const save = async (name: RegExp): Promise<string> => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()])
      const file = path.join(folder, download.suggestedFilename())
      await download.saveAs(file)
      return file
    }
    await save(/^Save report/)
    await save(/^Save manifest/)
    assert.equal(path.basename(await save(/^Save public key/)), 'KEY.pem')

    // The command exactly as shown, with `tenure` being this checkout's CLI; no database, no configuration.
    const command = (await page.getByTestId('verify-command').textContent()) ?? ''
    const args = command.split(' ')
    assert.equal(args[0], 'tenure')
    const env = { PATH: process.env.PATH ?? '', HOME: folder, TENURE_CONFIG: path.join(folder, 'absent.yaml') }
    const verified = spawnSync(process.execPath, [BIN, ...args.slice(1)], { cwd: folder, env, encoding: 'utf8' })
    assert.equal(verified.status, 0, verified.stdout + verified.stderr)
    assert.match(verified.stdout, /^VERIFIED/m)

    if (has('openssl') && has('jq')) {
      const script = (await page.getByTestId('openssl-commands').textContent()) ?? ''
      const run = spawnSync('sh', ['-c', `set -e\n${script}`], { cwd: folder, env, encoding: 'utf8' })
      assert.equal(run.status, 0, run.stdout + run.stderr)
      const out = run.stdout.trim().split('\n')
      assert.match(out.at(-1) ?? '', /Signature Verified Successfully/)
      assert.ok(out.some((l) => l.includes(published.fingerprint)), 'the fingerprint line matches')
    }
    await close()
    assert.deepEqual(problems, [])
  })

  test('when an auditor searches the audit log by employee, then their entries show newest first with server-side paging, export as CSV, and an unknown employee is said to be unknown', async () => {
    const ada = '6f1c7d4e-8a2b-4c3d-9e5f-0a1b2c3d4e5f'
    await t.running.pool.query(`INSERT INTO employees (id, source, external_id, display_name, email) VALUES ($1, 'generic', 'HR-ADA', 'Ada Lovelace', 'ada@example.com')`, [ada])
    await recordAudit(
      t.running.pool,
      Array.from({ length: 60 }, (_, i) => ({
        actor: { type: 'system' as const, id: 'engine' },
        action: i === 59 ? 'exception.requested' : 'job.enqueued',
        subject: { employeeId: ada, system: 'google', accountId: null },
        details: { i },
      })),
    )
    const { page, problems, close } = await openAudit()
    await page.getByLabel('Employee').fill('HR-ADA')
    await page.getByRole('button', { name: 'Search the log' }).click()
    const count = page.getByTestId('log-count')
    await count.filter({ hasText: '50 entries shown, more match' }).waitFor()
    const rows = page.getByRole('region', { name: 'Audit log entries' }).locator('tbody tr')
    assert.match((await rows.first().textContent()) ?? '', /exception\.requested/, 'newest first')
    // The log itself in the picture, not the report form above it: its card at the top of the window.
    const log = page.getByRole('region', { name: 'Audit log', exact: true })
    await log.evaluate((el) => el.scrollIntoView({ block: 'start' }))
    assert.ok(Math.abs((await log.boundingBox())!.y) < 2, 'the audit log starts at the top of the window')
    await page.screenshot({ path: path.join(SHOTS, 'audit-log.png'), fullPage: false })
    await page.getByRole('button', { name: 'Next 50' }).click()
    await count.filter({ hasText: '60 entries shown, all that match' }).waitFor()
    assert.equal(await rows.count(), 60)

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()])
    const file = path.join(folder, download.suggestedFilename())
    await download.saveAs(file)
    assert.equal(path.basename(file), 'audit-events.csv')
    const lines = (await readFile(file, 'utf8')).split('\r\n').filter(Boolean)
    assert.equal(lines.length, 61, 'a header and every matching entry, not just the pages shown')

    await page.getByLabel('Employee').fill('HR-NOBODY')
    await page.getByRole('button', { name: 'Search the log' }).click()
    await page.getByTestId('log-unknown-employee').filter({ hasText: 'No employee matches “HR-NOBODY”' }).waitFor()
    await close()
    assert.deepEqual(problems, [])
  })
})
