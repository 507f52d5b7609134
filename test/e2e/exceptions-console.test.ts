/**
 * Exceptions end to end in the console, in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): an admin requests a legal hold for a leaver from the console; a second
 * approver sees the pending count beside Approvals and approves it (the requester cannot);
 * the hold is extended, then revoked. An SLA waiver's card says from which deadline to which;
 * "Recently decided" says who decided, why and for whom, by name with the id on hover.
 *
 * No workers: the employee's lifecycle moves only by the events the test and the exceptions
 * send, so the leaver case stays scheduled while the waiver is asked against it.
 * Screenshots go to test-results/console/ (git-ignored); UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { Command } from 'commander'
import type { Browser, Page } from 'playwright-core'
import { needsChromium, openSignedIn, requestExceptionOnApprovals, SHOTS, startBrowser, type OpenedPage } from '../helpers/e2e.ts'
import { registerExceptionCommands } from '../../src/exceptions/cli.ts'
import { hrEvent, startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import { applyEvent, applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'

const DAY = 86_400_000


/** The date part as the console shows it (en-US, UTC): "Jan 5, 2027". */
const shown = (iso: string) => new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(iso))

describe('exceptions in the console: request, approve (four-eyes), extend, revoke', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  let leaver: string
  const tokens = {} as Record<'admin' | 'approver' | 'auditor' | 'operator', { token: string; id: string; name: string }>

  before(async () => {
    t = await startTestTenure({
      systems: { sandbox: { enabled: true } },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }], systems: { sandbox: { leaver: { delete: true } } } },
      workers: { enabled: false },
    })
    const make = async (key: keyof typeof tokens, name: string, role: Role) => {
      const created = await createApiToken(t.running.pool, { name, role, expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })
      tokens[key] = { token: created.token, id: created.apiToken.id, name }
    }
    await Promise.all([make('admin', 'Ines Admin', 'admin'), make('approver', 'Alice Approver', 'approver'), make('auditor', 'Audrey Auditor', 'auditor'), make('operator', 'Otto Operator', 'operator')])
    // A leaver: hired, account provisioned, terminated with a last day two days ahead (a scheduled case).
    const engine = t.running.engine
    const hired = await applyHrEvent(
      engine,
      hrEvent('employee.hired', 'HR-GRACE', { profile: { employeeId: 'HR-GRACE', firstName: 'Grace', lastName: 'Hopper' }, startDate: new Date().toISOString().slice(0, 10), preHire: false }),
      { actor: SYSTEM_ACTOR, correlationId: 'e2e-hire' },
    )
    leaver = hired.employeeId
    await applyEvent(engine, leaver, { type: 'account.provisioned', system: 'sandbox', accountId: 'sandbox-grace', now: new Date().toISOString() }, { actor: SYSTEM_ACTOR, correlationId: 'e2e-prov' })
    await applyHrEvent(engine, hrEvent('employee.terminated', 'HR-GRACE', { immediate: false, voluntary: 'voluntary', effectiveAt: new Date(Date.now() + 2 * DAY).toISOString() }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'e2e-leave',
    })
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
  })

  async function api(who: keyof typeof tokens, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${t.url}${url}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who].token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  const signIn = (who: keyof typeof tokens): Promise<OpenedPage> => openSignedIn(browser, t.url, tokens[who].token, { timezoneId: 'UTC' })

  const nav = (page: Page) => page.getByRole('navigation', { name: 'Main' })
  let hold = ''

  test('when an admin requests a legal hold for a leaver in the console, then a second approver sees 1 pending beside Approvals and approves it, which the requester could not', async () => {
    const admin = await signIn('admin')
    await nav(admin.page).getByRole('link', { name: 'Approvals' }).click()
    await admin.page.getByRole('heading', { name: 'Approvals', level: 1 }).waitFor()
    assert.equal(await admin.page.title(), 'Approvals · Tenure')
    await requestExceptionOnApprovals(admin.page, { search: 'Hopper', employee: 'Grace Hopper', kind: 'legal_hold', until: new Date(Date.now() + 30 * DAY), reason: 'Litigation hold from legal, matter LEG-2026-117' })
    await admin.page.getByTestId('decision-notice').filter({ hasText: /^Requested legal hold on every system for Grace Hopper: now requested/ }).waitFor()
    const listed = await api('admin', 'GET', `/api/v1/exceptions?employeeId=${leaver}&status=requested`)
    const items = listed.body.items as { id: string; requestedBy: string; requestedByName: string | null }[]
    assert.equal(items.length, 1)
    hold = items[0]!.id
    assert.equal(items[0]!.requestedByName, 'Ines Admin')

    // Four-eyes: the requester is told why, is offered no Approve, and the API refuses anyway.
    const mine = admin.page.getByTestId(`exception-${hold}`)
    await mine.getByTestId('four-eyes').filter({ hasText: 'You asked for this' }).waitFor()
    assert.equal(await mine.getByRole('button', { name: 'Approve' }).count(), 0)
    const self = await api('admin', 'POST', `/api/v1/exceptions/${hold}/approve`, { reason: 'approving my own request' })
    assert.equal(self.status, 403)
    assert.equal((self.body.error as { code: string }).code, 'four_eyes')
    await admin.close()
    assert.deepEqual(admin.problems, [])

    const approver = await signIn('approver')
    const count = nav(approver.page).getByTestId('pending-count')
    await count.filter({ hasText: /^, waiting: 1$/ }).waitFor()
    await approver.page.screenshot({ path: path.join(SHOTS, 'approvals-pending-count.png'), clip: { x: 0, y: 0, width: 1440, height: 80 } })
    await nav(approver.page).getByRole('link', { name: 'Approvals' }).click()
    const card = approver.page.getByTestId(`exception-${hold}`)
    await card.getByRole('heading', { name: /for Grace Hopper/ }).waitFor()
    await card.getByText('Ines Admin').waitFor()
    assert.equal(await card.getByText('Ines Admin').getAttribute('title'), tokens.admin.id, 'the id on hover')
    await card.getByLabel('Reason for your decision').fill('Legal confirmed the hold in ticket LEG-88')
    await card.getByRole('button', { name: 'Approve' }).click()
    await approver.page.getByTestId('decision-notice').filter({ hasText: /^Approved legal hold on every system for Grace Hopper: now active\.$/ }).waitFor()
    // The count goes at once (the approval told the navigation), not at the next refresh.
    await count.waitFor({ state: 'detached' })
    await approver.close()
    assert.deepEqual(approver.problems, [])
  })

  test('when the approver extends the active hold and the admin revokes it, then the end moves in the exception and in the employee\'s lifecycle, and Recently decided says who, why and for whom', async () => {
    assert.ok(hold, 'the hold of the first test')
    const approver = await signIn('approver')
    await nav(approver.page).getByRole('link', { name: 'Approvals' }).click()
    const card = approver.page.getByTestId(`in-force-${hold}`)
    await card.getByRole('heading', { name: /for Grace Hopper/ }).waitFor()
    const before = (await api('approver', 'GET', `/api/v1/exceptions/${hold}`)).body as { endsAt: string }
    const newEnd = new Date(Date.parse(before.endsAt) + 10 * DAY)
    newEnd.setUTCSeconds(0, 0)
    await card.getByLabel('New end (your time zone)').fill(newEnd.toISOString().slice(0, 16))
    await card.getByLabel('Reason to extend').fill('Legal extended the matter by ten days')
    await card.getByRole('button', { name: 'Extend' }).click()
    await approver.page.getByTestId('decision-notice').filter({ hasText: /^Extended legal hold on every system for Grace Hopper until/ }).waitFor()
    await card.getByTestId('extension').filter({ hasText: 'Alice Approver' }).waitFor()
    await card.getByTestId('ends-at').filter({ hasText: shown(newEnd.toISOString()) }).waitFor()
    const after = (await api('approver', 'GET', `/api/v1/exceptions/${hold}`)).body as { endsAt: string; status: string }
    assert.equal(after.endsAt, newEnd.toISOString())
    assert.equal(after.status, 'active')
    const { rows } = await t.running.pool.query<{ until: string }>(`SELECT snapshot->'context'->'exceptions'->$2->>'until' AS until FROM employees WHERE id = $1`, [leaver, hold])
    assert.equal(rows[0]?.until, newEnd.toISOString(), "the employee's lifecycle holds the new end")
    // Only the admin may revoke someone else's exception: the approver is told so.
    await card.getByText('Only the requester or an admin revokes it.').waitFor()
    await approver.close()
    assert.deepEqual(approver.problems, [])

    const admin = await signIn('admin')
    await nav(admin.page).getByRole('link', { name: 'Approvals' }).click()
    const mine = admin.page.getByTestId(`in-force-${hold}`)
    await mine.getByRole('heading', { name: /for Grace Hopper/ }).waitFor()
    await mine.getByTestId('extend-blocked').filter({ hasText: 'You asked for this' }).waitFor()
    await mine.getByLabel(/^Reason to revoke/).fill('The matter settled; hold no longer needed')
    await mine.getByRole('button', { name: 'Revoke' }).click()
    await admin.page.getByTestId('decision-notice').filter({ hasText: /^Revoked legal hold on every system for Grace Hopper: now revoked\.$/ }).waitFor()
    const decided = admin.page.getByTestId(`decided-${hold}`)
    await decided.waitFor()
    assert.equal(await decided.getByTestId('decided-employee').textContent(), 'Grace Hopper')
    assert.equal(await decided.getByTestId('decided-employee').getAttribute('title'), leaver)
    const approval = decided.getByTestId('decided-approval')
    assert.match((await approval.textContent()) ?? '', /approved by Alice Approver: “Legal confirmed the hold in ticket LEG-88”/)
    assert.equal(await approval.getByText('Alice Approver').getAttribute('title'), tokens.approver.id)
    assert.match((await decided.getByTestId('decided-revocation').textContent()) ?? '', /revoked by Ines Admin .*: “The matter settled; hold no longer needed”/)
    await admin.page.locator('#decided').scrollIntoViewIfNeeded()
    await admin.page.screenshot({ path: path.join(SHOTS, 'approvals-decided.png'), fullPage: true })
    await admin.close()
    assert.deepEqual(admin.problems, [])
  })

  test('when an SLA waiver waits for approval, then its card says the deadline it moves from and to', async () => {
    const endsAt = new Date(Date.now() + 2.5 * DAY).toISOString()
    const asked = await api('admin', 'POST', '/api/v1/exceptions', { kind: 'sla_waiver', employeeId: leaver, endsAt, reason: 'Vendor outage: the sandbox API is down for maintenance' })
    assert.equal(asked.status, 201, JSON.stringify(asked.body))
    const details = asked.body.details as { originalDeadlineAt?: string; newDeadlineAt?: string }
    assert.ok(details.originalDeadlineAt, 'the API says the deadline it moves from')
    assert.equal(details.newDeadlineAt, endsAt)
    const approver = await signIn('approver')
    await nav(approver.page).getByTestId('pending-count').filter({ hasText: /1$/ }).waitFor()
    await nav(approver.page).getByRole('link', { name: 'Approvals' }).click()
    const effect = approver.page.getByTestId(`exception-${String(asked.body.id)}`).getByTestId('waiver-effect')
    await effect.waitFor()
    const text = (await effect.textContent()) ?? ''
    assert.match(text, new RegExp(`^Moves the revocation deadline from ${shown(details.originalDeadlineAt)}.* to ${shown(endsAt)}`))
    assert.doesNotMatch(text, /—/)
    await approver.page.getByTestId(`exception-${String(asked.body.id)}`).screenshot({ path: path.join(SHOTS, 'approvals-waiver.png') })
    await approver.close()
    assert.deepEqual(approver.problems, [])
  })

  test('when the pending count cannot be read, then the navigation shows "?" and never 0, and the figure comes back when it can', async () => {
    const approver = await signIn('approver')
    const count = nav(approver.page).getByTestId('pending-count')
    await count.filter({ hasText: /1$/ }).waitFor()
    // Tenure answers, but not this list: an error from the server, not a server that is down.
    await approver.page.route(/\/api\/v1\/approvals\/pending-count$/, (route) =>
      route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'the count failed', details: null } }) }),
    )
    await count.filter({ hasText: /^\?$/ }).waitFor()
    assert.match((await count.getAttribute('title')) ?? '', /could not be read/)
    await approver.page.unroute(/\/api\/v1\/approvals\/pending-count$/)
    await count.filter({ hasText: /1$/ }).waitFor({ timeout: 30_000 })
    await approver.close()
    assert.deepEqual(
      approver.problems.filter((p) => !/status of 500/.test(p)),
      [],
    )
  })

  test('when the extend endpoint is called by a wrong role or with a bad end, then 403, or 400 with a machine-readable code', async () => {
    const x = await api('operator', 'POST', '/api/v1/exceptions', { kind: 'retain_account', employeeId: leaver, endsAt: new Date(Date.now() + 20 * DAY).toISOString(), reason: 'Keep the account for the audit of Q3' })
    assert.equal(x.status, 201, JSON.stringify(x.body))
    const id = String(x.body.id)
    const notApproved = await api('approver', 'POST', `/api/v1/exceptions/${id}/extend`, { endsAt: new Date(Date.now() + 25 * DAY).toISOString(), reason: 'one more week please' })
    assert.equal(notApproved.status, 409)
    assert.equal((notApproved.body.error as { code: string }).code, 'not_extendable')
    assert.equal((await api('approver', 'POST', `/api/v1/exceptions/${id}/approve`, { reason: 'Audit asked for it, ok' })).status, 200)
    for (const who of ['auditor', 'operator'] as const) {
      const refused = await api(who, 'POST', `/api/v1/exceptions/${id}/extend`, { endsAt: new Date(Date.now() + 25 * DAY).toISOString(), reason: 'one more week please' })
      assert.equal(refused.status, 403, who)
    }
    const earlier = await api('approver', 'POST', `/api/v1/exceptions/${id}/extend`, { endsAt: new Date(Date.now() + 10 * DAY).toISOString(), reason: 'shorter is not an extension' })
    assert.equal(earlier.status, 400)
    assert.equal((earlier.body.error as { code: string }).code, 'validation_failed')
    const short = await api('approver', 'POST', `/api/v1/exceptions/${id}/extend`, { endsAt: new Date(Date.now() + 25 * DAY).toISOString(), reason: 'short' })
    assert.equal(short.status, 400)
    assert.equal((short.body.error as { code: string }).code, 'validation_failed')
    const own = await api('operator', 'POST', `/api/v1/exceptions/${id}/revoke`, { reason: 'no longer needed, thanks' })
    assert.equal(own.status, 403, 'revoke needs the approver role at the route')

    // The same through the CLI (`tenure exceptions extend`), a client of this endpoint.
    const cli = async (who: keyof typeof tokens, args: string[]) => {
      let stdout = ''
      let stderr = ''
      let code = 0
      const program = new Command().exitOverride()
      registerExceptionCommands(program, { env: { TENURE_URL: t.url, TENURE_TOKEN: tokens[who].token }, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) })
      await program.parseAsync(['node', 'tenure', 'exceptions', ...args])
      return { stdout, stderr, code }
    }
    const refused = await cli('operator', ['extend', id, '--until', '+25d', '--reason', 'one more week please'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^403 forbidden/)
    const extended = await cli('approver', ['extend', id, '--until', '+25d', '--reason', 'audit needs one more week', '--json'])
    assert.equal(extended.code, 0, extended.stderr)
    const after = JSON.parse(extended.stdout) as { endsAt: string; details: { extensions: { by: string }[] } }
    assert.ok(Math.abs(Date.parse(after.endsAt) - (Date.now() + 25 * DAY)) < 60_000)
    assert.deepEqual(after.details.extensions.map((e) => e.by), [tokens.approver.id])
  })
})
