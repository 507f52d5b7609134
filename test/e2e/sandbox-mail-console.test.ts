/**
 * The sandbox's "E-mail sent" card, as a newcomer meets it: they ask for an exception in the
 * console, and the approvers' e-mail Tenure sent for it (caught by the sandbox's local SMTP sink,
 * src/sandbox/mail.ts) shows on the Sandbox page with its subject, its recipient and its text.
 * Real Tenure with the sandbox and its workers, real SMTP over loopback, Debian's Chromium.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { needsChromium, openSignedIn, requestExceptionOnApprovals, SHOTS, startBrowser } from '../helpers/e2e.ts'
import { hrEvent, startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'

const DAY = 86_400_000

describe('the sandbox mail card in the console', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  let admin: string

  before(async () => {
    // No notify.email: the sandbox starts its SMTP sink and points e-mail at it.
    t = await startTestTenure({ sandbox: { enabled: true }, policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] } })
    admin = (await createApiToken(t.running.pool, { name: 'Ines Admin', role: 'admin', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    const profile = { employeeId: 'HR-MAE', firstName: 'Mae', lastName: 'Mailcard' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'HR-MAE', { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'e2e-hire-mae' })
    await t.until('the joiner to be active', async () => (await t.employeeState('HR-MAE')) === 'active')
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
  })

  test('when an admin requests an exception in the console, then the approvers\' e-mail shows in the Sandbox page\'s mail card with its subject, recipient and text', async () => {
    assert.equal(t.running.config.notify.email, undefined, 'no e-mail configured: the sandbox brings its own sink')
    const { page, problems, close } = await openSignedIn(browser, t.url, admin)
    const nav = page.getByRole('navigation', { name: 'Main' })
    await nav.getByRole('link', { name: 'Sandbox' }).click()
    const card = page.getByRole('region', { name: 'E-mail sent' })
    await card.getByText(/caught by a local SMTP server \(127\.0\.0\.1:\d+\)/).waitFor()
    await card.getByText('None yet.', { exact: false }).waitFor()

    await nav.getByRole('link', { name: 'Approvals' }).click()
    await requestExceptionOnApprovals(page, { search: 'Mailcard', employee: 'Mae Mailcard', kind: 'legal_hold', until: new Date(Date.now() + 30 * DAY), reason: 'Litigation hold from legal, matter LEG-2026-204' })
    await page.getByTestId('decision-notice').filter({ hasText: /^Requested legal hold on every system for Mae Mailcard/ }).waitFor()

    // The card refreshes by itself (every 3 s): no reload.
    await nav.getByRole('link', { name: 'Sandbox' }).click()
    const mail = card.getByRole('listitem').filter({ has: page.getByRole('button', { name: '[Tenure warning] Approval needed: legal_hold for Mae Mailcard', exact: true }) })
    await mail.waitFor()
    await mail.getByText('to approvers@example.com,').waitFor()
    const subject = mail.getByRole('button', { name: /Approval needed/ })
    assert.equal(await subject.getAttribute('aria-expanded'), 'false')
    await subject.click()
    assert.equal(await subject.getAttribute('aria-expanded'), 'true')
    await mail.locator('pre').filter({ hasText: 'Litigation hold from legal, matter LEG-2026-204' }).waitFor()
    await mail.locator('pre').filter({ hasText: 'Requested by: Ines Admin' }).waitFor()
    await card.scrollIntoViewIfNeeded()
    await card.screenshot({ path: path.join(SHOTS, 'sandbox-mail.png') })
    await close()
    assert.deepEqual(problems, [])
  })
})
