/**
 * The IT admin's journey in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * open Admin, create an API token (its secret shown once), see it listed, revoke it, read the HR
 * sources' and target systems' health, and reconcile one system now. Workers are off, so the run
 * stays queued and a second click finds it. Then, with SSO configured (the OIDC test issuer), the
 * people who signed in are listed with their roles and the claim value that mapped each.
 *
 * Screenshots go to test-results/console/ (git-ignored); UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { needsChromium, openSignedIn, SHOTS, startBrowser } from '../helpers/e2e.ts'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { TARGET_RECONCILE_QUEUE } from '../../src/jobs/queues.ts'
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc.ts'

const roleMapping = { admin: ['tenure-admins'], approver: ['it-approvers'], operator: ['it-ops'], auditor: ['compliance'] }

describe('IT admin in the console', needsChromium, () => {
  let t: TestTenure
  let hr: HrEmulators
  let browser: Browser
  let admin: string
  let idp: OidcIssuer

  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    idp = await startOidcIssuer()
    t = await startTestTenure({
      hr: { hibob: hr.config.hibob },
      systems: { sandbox: { enabled: true } },
      workers: { enabled: false },
      auth: { oidc: { issuer: idp.issuer, audience: idp.audience, roleMapping } },
    })
    admin = (await createApiToken(t.running.pool, { name: 'it-admin', role: 'admin', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
    await hr?.close()
    await idp?.close()
  })

  test('when an admin creates, sees and revokes a token, reads the health of sources and systems and reconciles one system now, then each step shows and is real', async () => {
    const { context, page, problems } = await openSignedIn(browser, t.url, admin)
    page.on('dialog', (d) => void d.accept())
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click()
    await page.getByRole('heading', { name: 'Administration' }).waitFor()

    // Create: the secret is shown once, and it works.
    await page.getByLabel('Name', { exact: true }).fill('ci-deploy')
    await page.getByLabel('Role', { exact: true }).selectOption('operator')
    await page.getByLabel('Expires', { exact: true }).selectOption('30d')
    await page.getByRole('button', { name: 'Create token' }).click()
    const secret = (await page.getByTestId('new-token-secret').textContent()) ?? ''
    assert.match(secret, /^tnr_/)
    const row = page.getByTestId('token-ci-deploy')
    await row.filter({ hasText: 'active' }).waitFor()
    assert.match((await row.textContent()) ?? '', /operator/)
    const whoami = async () => (await fetch(`${t.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } })).status
    assert.equal(await whoami(), 200)
    await page.getByTestId('role-operator').filter({ hasText: 'ci-deploy' }).waitFor()
    await page.getByRole('button', { name: 'Done, hide it' }).click()
    assert.equal(await page.getByTestId('new-token').count(), 0, 'once hidden, the secret is gone from the page')

    // Revoke: the row says so and the token stops working.
    await page.getByRole('button', { name: 'Revoke ci-deploy' }).click()
    await row.filter({ hasText: 'revoked' }).waitFor()
    assert.equal(await whoami(), 401)

    // Health: nothing recorded yet, so unknown, never ok.
    const system = page.getByTestId('system-sandbox')
    await system.waitFor()
    assert.match((await system.textContent()) ?? '', /unknown/)
    const source = page.getByTestId('source-hibob')
    assert.match((await source.textContent()) ?? '', /unknown/)
    assert.match((await source.textContent()) ?? '', /none received/)

    // Reconcile now: queued; a second click finds the same run.
    await page.getByRole('button', { name: 'Reconcile sandbox now' }).click()
    await system.getByRole('status').filter({ hasText: /^Queued \(job [0-9a-f]{8}\)$/ }).waitFor()
    await system.getByText('queued', { exact: true }).waitFor()
    await page.getByRole('button', { name: 'Reconcile sandbox now' }).click()
    await system.getByRole('status').filter({ hasText: /^Already queued/ }).waitFor()
    const jobs = await t.running.pool.query(`SELECT id FROM ${t.running.config.queue.schema}.job WHERE name = $1 AND data->>'system' = 'sandbox'`, [TARGET_RECONCILE_QUEUE])
    assert.equal(jobs.rows.length, 1, 'two clicks, one run')
    await page.screenshot({ path: path.join(SHOTS, 'admin.png'), fullPage: true })

    // At phone width the tables scroll inside their boxes; the page itself does not.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByRole('heading', { name: 'Administration' }).waitFor()
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`)
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when people signed in with SSO, then the admin sees who holds which role and through which claim value, and can filter by role', async () => {
    const signIn = async (claims: Record<string, unknown>) => {
      const res = await fetch(`${t.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${await idp.sign(claims)}` } })
      assert.equal(res.status, 200, await res.text())
    }
    await signIn({ sub: 'u-grace', name: 'Grace Hopper', email: 'grace@example.com', auth_time: Math.floor(Date.now() / 1000) - 3600, roles: ['tenure-admins', 'compliance'] })
    await signIn({ sub: 'u-alan', name: 'Alan Turing', email: 'alan@example.com', roles: ['it-ops'] })

    const { context, page, problems } = await openSignedIn(browser, t.url, admin)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click()
    await page.getByRole('heading', { name: 'Signed in with SSO' }).waitFor()

    const grace = page.getByTestId('sso-user-u-grace')
    await grace.waitFor()
    const text = (await grace.textContent()) ?? ''
    for (const want of ['Grace Hopper', 'grace@example.com', 'admin', 'via tenure-admins', 'auditor', 'via compliance']) assert.ok(text.includes(want), `${want} in ${text}`)
    // The configured mapping beside it: the operator role comes from it-ops.
    assert.match((await page.getByTestId('role-operator').textContent()) ?? '', /it-ops/)

    await page.getByLabel('Holding role').selectOption('operator')
    await page.getByTestId('sso-user-u-grace').waitFor({ state: 'detached' })
    assert.match((await page.getByTestId('sso-user-u-alan').textContent()) ?? '', /operator.*via it-ops/)
    await page.getByText('1 person in all').waitFor()
    await page.getByLabel('Holding role').selectOption('')
    await grace.waitFor()
    await page.getByRole('heading', { name: 'Signed in with SSO' }).scrollIntoViewIfNeeded()
    await page.screenshot({ path: path.join(SHOTS, 'admin-sso-users.png'), fullPage: true })
    await context.close()
    assert.deepEqual(problems, [])
  })
})
