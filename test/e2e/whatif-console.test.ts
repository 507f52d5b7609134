/**
 * The IT admin's "What if…" in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): on an employee's page, propose a termination and then a move, and read per
 * system the grants and removals, the ordered cut-off and clean-up steps, the exception that
 * applies and the deadline; nothing is queued, written or sent to a target meanwhile.
 *
 * Screenshots go to test-results/console/ (git-ignored); UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { needsChromium, openSignedIn, SHOTS, startBrowser } from '../helpers/e2e.ts'
import { hrEvent, startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SANDBOX_ENTRA_GROUPS } from '../../src/sandbox/index.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

describe('What if… in the console', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  let admin: string
  let employeeId: string
  let holdId: string

  before(async () => {
    t = await startTestTenure({
      sandbox: { enabled: true },
      policy: {
        rules: [
          { name: 'everyone', grant: { sandbox: { groups: ['staff'] }, google: { groups: ['everyone@example.com'] }, entra: { groups: [SANDBOX_ENTRA_GROUPS.allStaff.id], licences: ['Microsoft 365 E3'] } } },
          { name: 'engineering', match: { department: 'Engineering' }, grant: { google: { groups: ['engineering@example.com'] } } },
          { name: 'sales', match: { department: 'Sales' }, grant: { google: { groups: ['sales@example.com'] } } },
        ],
        systems: { google: { slaMinutes: 60, leaver: { transferData: true, leaversOrgUnit: '/Leavers' } }, sandbox: { leaver: { delete: true } } },
      },
    })
    admin = (await createApiToken(t.running.pool, { name: 'it-admin', role: 'admin', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    const approver = (await createApiToken(t.running.pool, { name: 'legal', role: 'approver', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })).token
    const profile = { employeeId: 'WIC-1', firstName: 'Ada', lastName: 'Whatif', workEmail: 'ada.whatif@example.com', department: 'Engineering', managerEmail: 'grace@example.com' }
    const hired = await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'WIC-1', { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'hire-WIC-1' })
    employeeId = hired.employeeId
    await t.until('every account provisioned', async () => {
      const { rows } = await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM employee_accounts WHERE employee_id = $1 AND status = 'active'`, [employeeId])
      return rows[0]!.n === 3 && (await t.employeeState('WIC-1')) === 'active'
    }, 60_000)
    const call = async (token: string, p: string, body: unknown) =>
      (await (await fetch(`${t.url}${p}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { id: string; status: string }
    holdId = (await call(admin, '/api/v1/exceptions', { kind: 'legal_hold', employeeId, system: 'entra', endsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(), reason: 'litigation hold on the mailbox, case 2026-17' })).id
    assert.equal((await call(approver, `/api/v1/exceptions/${holdId}/approve`, { reason: 'legal confirmed the hold' })).status, 'active')
    // The approval's notifications (Slack emulator, audit) are sent before the journey starts.
    await t.until('nothing due for the employee', async () => {
      const { rows } = await t.running.pool.query(
        `SELECT 1 FROM ${t.running.config.queue.schema}.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() AND (data::text LIKE '%' || $1 || '%' OR name = 'notify')`,
        [employeeId],
      )
      return rows.length === 0
    }, 60_000)
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
  })

  test('when an admin asks what a termination and then a move would do, then each system shows its steps in order, the legal hold and the deadline, and nothing happens', async () => {
    const footprint = async () => {
      const q = async (sql: string) => (await sealedQuery(t.running.pool, sql, [employeeId])).rows
      const e = t.running.emulators!
      return {
        employee: await q('SELECT version, state FROM employees WHERE id = $1'),
        audit: await q('SELECT count(*)::int AS n FROM audit_events WHERE employee_id = $1'),
        jobs: await q(`SELECT count(*)::int AS n FROM ${t.running.config.queue.schema}.job WHERE data->>'employeeId' = $1`),
        targets: [e.google.kit.stats.requests, e.entra.kit.stats.requests],
      }
    }
    const before = await footprint()
    const { context, page, problems } = await openSignedIn(browser, t.url, admin)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Employees' }).click()
    await page.getByRole('link', { name: 'Ada Whatif' }).click()
    await page.getByRole('heading', { name: 'What if…' }).waitFor()

    // Termination, for cause.
    await page.getByRole('button', { name: 'Plan a change…' }).click()
    await page.getByRole('radio', { name: 'Termination' }).check()
    await page.getByLabel('Immediately, for cause').check()
    await page.getByRole('button', { name: 'Show what would happen' }).click()
    const result = page.getByTestId('what-if-result')
    await result.getByText('Nothing was changed').waitFor()
    await result.getByText('active → deprovisioning → offboarded').waitFor()
    assert.match((await page.getByTestId('what-if-deadline').textContent()) ?? '', /revocation SLA/)

    const google = page.getByTestId('whatif-system-google')
    const texts = async (card: typeof google, phase: string) => await card.getByRole('list', { name: `${phase} steps` }).getByRole('listitem').allTextContents()
    const steps = async (card: typeof google, phase: string) => (await texts(card, phase)).map((t) => t.replace(' (not supported here)', ''))
    assert.deepEqual(await steps(google, 'Cut-off'), ['disable', 'revoke sessions', 'revoke tokens'])
    assert.deepEqual(await steps(google, 'Clean-up'), ['remove groups', 'remove roles', 'remove licences', 'remove products', 'remove channels', 'transfer data', 'move org unit'])
    assert.ok((await texts(google, 'Clean-up')).includes('remove licences (not supported here)'), 'Google says which steps it does not do')
    await google.getByText('data to grace@example.com · org unit /Leavers').waitFor()
    await google.getByText('− groups: engineering@example.com, everyone@example.com').waitFor()
    const entra = page.getByTestId('whatif-system-entra')
    assert.deepEqual(await steps(entra, 'Clean-up'), ['remove roles', 'remove groups', 'convert mailbox', 'remove products', 'remove channels'], 'under the hold: no licence removal, no delete')
    await entra.getByText('= licences: Microsoft 365 E3 (kept on the disabled account)').waitFor()
    await entra.getByText('legal hold', { exact: true }).first().waitFor()
    await page.getByTestId(`what-if-exception-${holdId}`).getByText('applies').waitFor()
    assert.equal((await steps(page.getByTestId('whatif-system-sandbox'), 'Clean-up')).at(-1), 'delete')
    await page.locator('section[aria-labelledby="what-if"]').screenshot({ path: path.join(SHOTS, 'what-if.png') })

    // A move to Sales: one group in, one out, nothing else.
    await page.getByRole('radio', { name: 'Move' }).check()
    await page.getByLabel('Department').fill('Sales')
    await page.getByRole('button', { name: 'Show what would happen' }).click()
    await result.getByText('none (a move has no deadline)').waitFor()
    await google.getByText('+ groups: sales@example.com').waitFor()
    await google.getByText('− groups: engineering@example.com').waitFor()
    await page.getByTestId('whatif-system-entra').getByText('No change to what is granted.').waitFor()

    // At phone width the panel fits: the page does not scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByRole('heading', { name: 'What if…' }).waitFor()
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`)
    await context.close()
    assert.deepEqual(problems, [])
    assert.deepEqual(await footprint(), before, 'no audit row, no job, no change, no call to a target')
  })
})
