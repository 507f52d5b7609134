/**
 * Emergency off-boarding in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * one admin cuts a person off now from the employee page (reason, explicit confirmation), a second
 * admin approves it on the Approvals page (four-eyes is on), and the employee page then shows the
 * cut and what HR said since. The requester sees that someone else must approve.
 *
 * Screenshots go to test-results/console/ (git-ignored); UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { needsChromium, openSignedIn, SHOTS, startBrowser, type OpenedPage } from '../helpers/e2e.ts'
import { hrEvent, startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'

describe('emergency off-boarding in the console', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  const tokens: Record<'first' | 'second', string> = { first: '', second: '' }
  let employeeId: string

  before(async () => {
    t = await startTestTenure({
      sandbox: { enabled: true },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
      offboarding: { emergency: { requireSecondApprover: true } },
    })
    for (const who of ['first', 'second'] as const) {
      tokens[who] = (await createApiToken(t.running.pool, { name: `security-${who}`, role: 'admin', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    }
    const profile = { employeeId: 'S300', firstName: 'Trent', lastName: 'Intruder', department: 'Sales', workEmail: 's300@example.com' }
    employeeId = (
      await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'S300', { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'hire-S300',
      })
    ).employeeId
    await t.until('S300 to be active', async () => (await t.employeeState('S300')) === 'active')
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
  })

  const signIn = (token: string): Promise<OpenedPage> => openSignedIn(browser, t.url, token)

  test('when an admin cuts a person off now and a second admin approves it, then the request waits for the second person (counted beside Approvals for them, not for the requester), access is cut on approval and the employee page says so', async () => {
    const first = await signIn(tokens.first)
    const { page } = first
    await page.goto(`${t.url}/employees/${employeeId}`)
    await page.getByRole('heading', { name: /Trent Intruder/ }).waitFor()
    await page.getByTestId('cut-off-now').click()
    const form = page.getByTestId('cut-off-form')
    const submit = form.getByRole('button', { name: 'Request the cut-off' })
    await form.getByLabel(/Reason/).fill('Too short')
    await page.getByTestId('cut-off-confirm').check()
    assert.equal(await submit.isDisabled(), true, 'a reason under 10 characters cannot be sent')
    await form.getByLabel(/Reason/).fill('Phishing kit found on laptop, SOC-4242')
    assert.equal(await submit.isEnabled(), true)
    await page.screenshot({ path: path.join(SHOTS, 'emergency-offboarding.png'), fullPage: true })
    await submit.click()
    await page.getByTestId('cut-off-result').filter({ hasText: /Nothing is cut until a second person approves/ }).waitFor()
    assert.equal(await t.employeeState('S300'), 'active', 'nothing is cut before the second approval')

    // The requester sees the pending request on Approvals, and that someone else must approve it.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Approvals/ }).click()
    await page.getByTestId('emergency-four-eyes').waitFor()
    assert.equal(await page.getByTestId('emergency-approve').count(), 0, 'no Approve button for the requester')

    const second = await signIn(tokens.second)
    // The navigation's count: 1 waiting for the second admin; nothing for the requester, who cannot approve it.
    await second.page.getByRole('navigation', { name: 'Main' }).getByTestId('pending-count').filter({ hasText: /1$/ }).waitFor()
    await page.waitForResponse((r) => r.url().endsWith('/api/v1/approvals/pending-count') && r.ok())
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByTestId('pending-count').count(), 0, 'their own request is not counted for the requester')
    await second.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Approvals/ }).click()
    const card = second.page.locator('[data-testid^="emergency-pending-"]').filter({ hasText: 'Trent Intruder' })
    await card.getByText('Phishing kit found on laptop, SOC-4242').waitFor()
    await second.page.screenshot({ path: path.join(SHOTS, 'emergency-approval.png'), fullPage: true })
    await card.getByTestId('emergency-approve').click()
    // The decision is said on the page, by name, even after the request leaves the pending list.
    await second.page.getByRole('status').filter({ hasText: /Trent Intruder: Access is being cut now/ }).waitFor()
    await t.until('S300 to be leaving', async () => (await t.employeeState('S300')) !== 'active')

    await second.page.goto(`${t.url}/employees/${employeeId}`)
    const record = second.page.locator('[data-testid^="emergency-"]').filter({ hasText: 'cut off' }).first()
    await record.waitFor()
    assert.match((await record.textContent()) ?? '', /HR has not recorded the termination yet/)
    assert.equal(await second.page.getByTestId('cut-off-now').count(), 0, 'no second cut-off for someone already leaving')

    // At phone width the page does not scroll sideways.
    await second.page.setViewportSize({ width: 390, height: 844 })
    const overflow = await second.page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`)
    await first.close()
    await second.close()
    assert.deepEqual([...first.problems, ...second.problems], [])
  })
})
