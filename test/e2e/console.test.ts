/**
 * The web console end to end, in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core: no browser download), against a whole Tenure in-process with the sandbox's
 * emulators, real workers, the local OpenID Connect issuer, and the console built by Vite.
 *
 * Screenshots of the main screens go to test-results/console/ (git-ignored); run with
 * UPDATE_SCREENSHOTS=1 to refresh the ones in docs/console/ that docs/console.md shows.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { needsChromium, openPage, signInWithToken, SHOTS, startBrowser, type OpenedPage } from '../helpers/e2e.ts'
import { reconcileDeps, startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { reconcileSystem } from '../../src/jobs/target-reconcile.ts'
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import { generateSigningKey } from '../../src/audit/index.ts'
import { verifyReportFile } from '../../src/reports/manifest.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

describe('web console in headless Chromium', needsChromium, () => {
  let t: TestTenure
  let oidc: OidcIssuer
  let browser: Browser
  let downloads: string
  const key = generateSigningKey()
  const tokens = {} as Record<'admin' | 'approverA' | 'approverB' | 'operator' | 'auditor', { token: string; id: string }>

  before(async () => {
    downloads = await mkdtemp(path.join(tmpdir(), 'tenure-e2e-'))
    oidc = await startOidcIssuer({ user: { sub: 'sso-grace', name: 'Grace SSO', email: 'grace@example.com', roles: ['tenure-approvers'] } })
    t = await startTestTenure({
      sandbox: { enabled: true },
      systems: {
        manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities', provisionTasks: false, instructions: { revoke: 'Deactivate the badge and collect the card.' } }],
      },
      policy: {
        rules: [
          { name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } },
          { name: 'sales', match: { department: 'Sales' }, grant: { slack: { channels: ['general'] } } },
        ],
        systems: { sandbox: { leaver: { delete: true } } },
      },
      audit: { signingKey: key.privateKey },
      auth: { oidc: { issuer: oidc.issuer, audience: oidc.audience, roleMapping: { approver: ['tenure-approvers'] } } },
      console: { oidc: { clientId: 'tenure-console' } },
    })
    oidc.clients = [{ clientId: 'tenure-console', redirectUris: [`${t.url}/auth/callback`] }]
    const make = async (name: keyof typeof tokens, role: Role) => {
      const created = await createApiToken(t.running.pool, { name, role, expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })
      tokens[name] = { token: created.token, id: created.apiToken.id }
    }
    await Promise.all([make('admin', 'admin'), make('approverA', 'approver'), make('approverB', 'approver'), make('operator', 'operator'), make('auditor', 'auditor')])
    browser = await startBrowser()
  })

  after(async () => {
    await browser?.close()
    await t?.stop()
    await oidc?.close()
    if (downloads) await rm(downloads, { recursive: true, force: true })
  })

  /** A fresh browser context (New York time); every CSP violation or uncaught error its pages report lands in `problems`. */
  const open = (options: { viewport?: { width: number; height: number } } = {}): Promise<OpenedPage> =>
    openPage(browser, { viewport: options.viewport ?? { width: 1280, height: 900 }, timezoneId: 'America/New_York', acceptDownloads: true })

  const signIn = (page: Page, who: keyof typeof tokens): Promise<void> => signInWithToken(page, t.url, tokens[who].token)

  async function api(who: keyof typeof tokens, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${t.url}${url}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who].token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  /** An employee hired through the sandbox route (the same signed webhook path), ready for exceptions. */
  async function hire(externalId: string, department = 'Engineering', until: string[] = ['ready', 'active']): Promise<string> {
    const sent = await api('admin', 'POST', '/api/v1/sandbox/hr-events', { event: 'joiner', employeeId: externalId, firstName: 'Katherine', lastName: 'Johnson', department })
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    return t.until(`${externalId} to be ${until.join(' or ')}`, async () => {
      const { rows } = await t.running.pool.query<{ id: string; state: string }>(`SELECT id, state FROM employees WHERE source = 'generic' AND external_id = $1`, [externalId])
      return rows[0] && until.includes(rows[0].state) ? rows[0].id : undefined
    })
  }

  const legalHold = (employeeId: string, reason: string) => ({
    kind: 'legal_hold',
    employeeId,
    system: 'sandbox',
    endsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    reason,
  })

  test('when a user signs in with an API token, then the console shows who they are and only the screens of their role', async () => {
    const { context, page, problems } = await open()
    await page.goto(`${t.url}/`)
    // Keyboard first: the first Tab lands on the sign-in controls, each with a label.
    await page.getByLabel('API token').fill('tnr_opr_not-a-real-token-0000000000000000000000000000')
    await page.getByLabel('API token').press('Enter')
    await page.getByRole('alert').filter({ hasText: 'This token was refused' }).waitFor()
    await page.getByLabel('API token').fill(tokens.operator.token)
    await page.getByRole('button', { name: 'Sign in with token' }).click()
    await page.getByTestId('whoami').filter({ hasText: 'operator' }).waitFor()
    const nav = page.getByRole('navigation', { name: 'Main' })
    const links = await nav.getByRole('link').allTextContents()
    assert.deepEqual(links, ['Dashboard', 'Employees', 'Exceptions', 'Manual tasks', 'Operations', 'Findings', 'Sandbox'])
    // A skip link is the first stop for keyboard users, and focus is visible.
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content')
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    // The session survives a reload (sessionStorage), and sign-out ends it.
    await page.reload()
    await page.getByTestId('whoami').waitFor()
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in to Tenure' }).waitFor()
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when a leaver is sent from the sandbox panel, then it appears on the dashboard with a live countdown and closes once its last system is revoked', async () => {
    const { context, page, problems } = await open()
    const id = `E${Date.now().toString().slice(-6)}`
    await signIn(page, 'admin')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sandbox' }).click()
    await page.getByLabel('HR employee id').fill(id)
    await page.getByRole('button', { name: 'Send joiner' }).click()
    const row = page.getByTestId(`sandbox-${id}`)
    await row.filter({ hasText: /ready|active/ }).waitFor()
    // A mover: the department changes through the same signed webhook.
    await page.getByLabel('Department (joiner, mover)').selectOption('Facilities')
    await page.getByRole('button', { name: 'Send mover' }).click()
    await t.until('the mover to be applied', async () => {
      const { rows } = await t.running.pool.query<{ department: string }>(`SELECT department FROM employees WHERE source = 'generic' AND external_id = $1`, [id])
      return rows[0]?.department === 'Facilities'
    })
    await page.screenshot({ path: path.join(SHOTS, 'sandbox.png'), fullPage: true })

    await page.getByRole('button', { name: 'Send leaver' }).click()
    await row.filter({ hasText: /deprovisioning|terminationScheduled|offboarded/ }).waitFor()
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
    const kase = page.getByTestId(`case-${id}`)
    await kase.waitFor()
    // The badge waits for a person: the case stays open, on track (a quarter of the budget is far), and its countdown ticks.
    await kase.getByText('on track').waitFor()
    const countdown = kase.getByTestId('countdown')
    const first = await countdown.textContent()
    assert.match(first ?? '', /^(?:3h \d\dm|4h 00m) \d\ds left$/, 'about four hours left (the default SLA)')
    await countdown.filter({ hasNotText: first ?? '' }).waitFor()
    assert.match((await kase.locator('time').getAttribute('title')) ?? '', /UTC$/)
    await kase.getByText('manual:badge').waitFor()
    await page.screenshot({ path: path.join(SHOTS, 'dashboard.png'), fullPage: true })

    // The employee page: state, accounts, plan and one timeline with audit sequence numbers.
    await kase.getByRole('link').first().click()
    await page.getByRole('heading', { name: 'Timeline' }).waitFor()
    const timeline = page.getByRole('list', { name: 'Timeline' })
    await timeline.locator('.seq', { hasText: /^#\d+$/ }).first().waitFor()
    // The timeline is paged (newest first): the HR events, whatever page they fell on, by the filter.
    await page.getByLabel('Show', { exact: true }).selectOption({ label: 'HR events' })
    await timeline.getByText('HR: terminated').waitFor()
    await page.getByLabel('Show', { exact: true }).selectOption({ label: 'everything' })
    await page.getByTestId('account-sandbox').getByText(/^(revoked|verifying|verified|cleaning|done|absent)$/).waitFor()
    await page.screenshot({ path: path.join(SHOTS, 'employee.png'), fullPage: true })

    // The last system is the badge: attest it in Manual tasks, and the case closes.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Manual tasks' }).click()
    const task = page.getByTestId(`task-${id}-revoke`)
    await task.getByLabel('Attestation: what was done').fill('Badge deactivated in the door system, card collected at the desk.')
    await task.getByLabel(/Evidence reference/).fill('DOOR-4711')
    await page.screenshot({ path: path.join(SHOTS, 'tasks.png'), fullPage: true })
    await task.getByRole('button', { name: 'Complete task' }).click()
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
    await page.getByTestId(`closed-${id}`).waitFor()
    // The open-case list and the closed list load separately (server-side pages): the closed case
    // leaves the open ones by the dashboard's next refresh at the latest.
    await page.getByTestId(`case-${id}`).waitFor({ state: 'detached', timeout: 15_000 })
    assert.equal(await page.getByTestId(`case-${id}`).count(), 0, 'a closed case is no longer among the open ones')
    // Rescind goes through the webhook too: HR's withdrawal is recorded against the employee.
    const rescind = await api('operator', 'POST', '/api/v1/sandbox/hr-events', { event: 'rescind', employeeId: id })
    assert.equal(rescind.status, 202, JSON.stringify(rescind.body))
    await t.until('the rescind to reach the employee', async () => {
      const { rows } = await t.running.pool.query(`SELECT 1 FROM hr_events WHERE source = 'generic' AND type = 'employee.termination_rescinded' AND employee_id = (SELECT id FROM employees WHERE source = 'generic' AND external_id = $1)`, [id])
      return rows.length === 1
    })
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when an approver opens the inbox, then they approve another user\'s exception and are not offered their own, which the API refuses anyway', async () => {
    const employeeId = await hire(`X${Date.now().toString().slice(-6)}`)
    const theirs = await api('operator', 'POST', '/api/v1/exceptions', legalHold(employeeId, 'Litigation hold requested by legal (case 2026-117)'))
    assert.equal(theirs.status, 201, JSON.stringify(theirs.body))
    const mine = await api('approverA', 'POST', '/api/v1/exceptions', legalHold(employeeId, 'Keep the mailbox for the handover'))
    assert.equal(mine.status, 201, JSON.stringify(mine.body))

    const { context, page, problems } = await open()
    await signIn(page, 'approverA')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click()
    const theirCard = page.getByTestId(`exception-${String(theirs.body.id)}`)
    const myCard = page.getByTestId(`exception-${String(mine.body.id)}`)
    await theirCard.waitFor()
    await myCard.waitFor()
    await page.getByRole('complementary', { name: 'Four-eyes rules' }).getByText('cannot approve or reject it').waitFor()
    // Four-eyes, visible before any click: no Approve on their own request, and why.
    assert.equal(await myCard.getByRole('button', { name: 'Approve' }).count(), 0)
    await myCard.getByTestId('four-eyes').filter({ hasText: 'You asked for this' }).waitFor()
    await page.screenshot({ path: path.join(SHOTS, 'approvals.png'), fullPage: true })

    await theirCard.getByLabel('Reason for your decision').fill('Legal confirmed the hold in ticket LEG-88')
    await theirCard.getByRole('button', { name: 'Approve' }).click()
    await page.getByTestId('decision-notice').filter({ hasText: /^Approved legal hold on sandbox for Katherine Johnson: now active\.$/ }).waitFor()
    await theirCard.waitFor({ state: 'detached' })
    await page.getByRole('region', { name: 'Recently decided' }).getByText('Litigation hold requested by legal').waitFor()

    // Forced: the same browser session calls the API directly; the server refuses.
    const forced = await page.evaluate(
      async ({ id }) => {
        const session = JSON.parse(sessionStorage.getItem('tenure.session') ?? '{}') as { token: string }
        const res = await fetch(`/api/v1/exceptions/${id}/approve`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ reason: 'approving my own request' }),
        })
        return { status: res.status, body: (await res.json()) as { error: { code: string } } }
      },
      { id: String(mine.body.id) },
    )
    assert.equal(forced.status, 403)
    assert.equal(forced.body.error.code, 'four_eyes')
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when an operator opens the exceptions, then no approve button is offered and the API refuses a forced approval', async () => {
    const employeeId = await hire(`Y${Date.now().toString().slice(-6)}`)
    const pending = await api('approverB', 'POST', '/api/v1/exceptions', legalHold(employeeId, 'Regulator inquiry: keep the account'))
    assert.equal(pending.status, 201)
    const { context, page, problems } = await open()
    await signIn(page, 'operator')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Exceptions' }).click()
    const card = page.getByTestId(`exception-${String(pending.body.id)}`)
    await card.getByTestId('four-eyes').filter({ hasText: 'Only approvers decide exceptions' }).waitFor()
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0)
    assert.equal(await page.getByRole('button', { name: 'Reject' }).count(), 0)
    const forced = await api('operator', 'POST', `/api/v1/exceptions/${String(pending.body.id)}/approve`, { reason: 'forcing it' })
    assert.equal(forced.status, 403)
    assert.equal((forced.body.error as { code: string }).code, 'forbidden')
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when an operator acknowledges a reconciliation finding with a reason, then it moves to acknowledged with who and why, on the audit trail', async () => {
    // An account someone made by hand in the sandbox target: the next run reports it as an orphan.
    await t.running.pool.query(
      `INSERT INTO sandbox_accounts (id, system, employee_external_id, login, active) VALUES (gen_random_uuid(), 'sandbox', 'svc-backup', 'svc.backup@example.com', true)`,
    )
    await reconcileSystem(reconcileDeps(t), t.running.registry.get('sandbox')!, 'e2e-reconcile')
    const listed = await api('auditor', 'GET', '/api/v1/reconciliation/findings?kind=orphan_account')
    const finding = (listed.body.items as Array<{ id: string; login: string }>).find((f) => f.login === 'svc.backup@example.com')
    assert.ok(finding, 'the run found the hand-made account')

    const { context, page, problems } = await open()
    await signIn(page, 'operator')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Findings' }).click()
    const card = page.getByTestId(`finding-${finding.id}`)
    await card.getByText('svc.backup@example.com').waitFor()
    const reason = card.getByLabel(/^Reason/)
    const acknowledge = card.getByRole('button', { name: 'Acknowledge' })
    await reason.fill('backup')
    assert.equal(await acknowledge.isDisabled(), true, 'a reason shorter than the server accepts is not offered')
    await reason.fill('Backup service account, owned by the platform team')
    await acknowledge.click()
    await card.waitFor({ state: 'detached' })
    await page.getByLabel('Show').selectOption('acknowledged')
    const acknowledged = page.getByTestId(`finding-${finding.id}`)
    await acknowledged.getByTestId('acknowledgement').filter({ hasText: 'Backup service account, owned by the platform team' }).waitFor()
    await acknowledged.getByText('acknowledged', { exact: true }).waitFor()
    assert.equal(await acknowledged.getByRole('button', { name: 'Acknowledge' }).count(), 0)
    await page.screenshot({ path: path.join(SHOTS, 'findings.png'), fullPage: true })
    const { rows } = await sealedQuery(t.running.pool, `SELECT actor_id, details FROM audit_events WHERE action = 'reconciliation.finding_acknowledged'`)
    assert.equal(rows.length, 1)
    assert.equal(rows[0].actor_id, tokens.operator.id)
    assert.equal(rows[0].details.reason, 'Backup service account, owned by the platform team')
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when a job failed for good, then an operator retries it from the console and the redrive is on the audit trail with the operator as actor', async () => {
    const slack = t.running.emulators!.slack
    // Slack refuses the account once with a 400: Permanent, so the job is dead-lettered at once.
    slack.kit.injectFault({ pathIncludes: '/scim/', method: 'POST', status: 400, times: 1 })
    const externalId = `R${Date.now().toString().slice(-6)}`
    const employeeId = await hire(externalId, 'Sales', ['provisioning', 'ready', 'active'])
    const dead = await t.until('the dead letter', async () => {
      const page = await api('operator', 'GET', '/api/v1/jobs/dead-letters?system=slack')
      return (page.body.items as Array<{ id: string; employeeId: string }>).find((j) => j.employeeId === employeeId)
    })
    const { context, page, problems } = await open()
    await signIn(page, 'operator')
    await page.getByTestId('system-slack').getByText('1 dead letter').waitFor()
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click()
    const card = page.getByTestId(`dead-${dead.id}`)
    await card.getByText('HTTP 400').waitFor()
    await card.getByLabel(/Reason/).fill('Slack SCIM rejected the user once; the app config was fixed')
    await page.screenshot({ path: path.join(SHOTS, 'operations.png'), fullPage: true })
    await card.getByRole('button', { name: 'Retry job' }).click()
    await card.waitFor({ state: 'detached' })
    await t.until('the Slack account to be provisioned', async () => {
      const { rows } = await t.running.pool.query<{ status: string }>(`SELECT status FROM employee_accounts WHERE employee_id = $1 AND system = 'slack'`, [employeeId])
      return rows[0]?.status === 'active'
    })
    const audit = await sealedQuery<{ actor_type: string; actor_id: string; details: { reason: string } }>(t.running.pool,
      `SELECT actor_type, actor_id, details FROM audit_events WHERE action = 'job.redriven' AND employee_id = $1`,
      [employeeId],
    )
    assert.equal(audit.rows.length, 1)
    assert.deepEqual([audit.rows[0]!.actor_type, audit.rows[0]!.actor_id], ['api_token', tokens.operator.id])
    assert.match(audit.rows[0]!.details.reason, /app config was fixed/)
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when a job failed for good and will not be retried, then an operator accepts the failure with a reason from the console and the decision is on the audit trail', async () => {
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ pathIncludes: '/scim/', method: 'POST', status: 400, times: 1 })
    const externalId = `S${Date.now().toString().slice(-6)}`
    const employeeId = await hire(externalId, 'Sales', ['provisioning', 'ready', 'active'])
    const dead = await t.until('the dead letter', async () => {
      const page = await api('operator', 'GET', '/api/v1/jobs/dead-letters?system=slack')
      return (page.body.items as Array<{ id: string; employeeId: string }>).find((j) => j.employeeId === employeeId)
    })
    const { context, page, problems } = await open()
    await signIn(page, 'operator')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click()
    const card = page.getByTestId(`dead-${dead.id}`)
    await card.getByLabel(/Reason/).fill('short')
    assert.ok(await card.getByRole('button', { name: 'Accept failure' }).isDisabled(), 'a reason of a few characters cannot settle a failure')
    await card.getByLabel(/Reason/).fill('Contractor works without Slack; agreed with the team lead')
    await card.getByRole('button', { name: 'Accept failure' }).click()
    await card.waitFor({ state: 'detached' })
    const audit = await sealedQuery<{ actor_id: string; details: { outcome: string; reason: string } }>(t.running.pool,
      `SELECT actor_id, details FROM audit_events WHERE action = 'job.settled' AND employee_id = $1`,
      [employeeId],
    )
    assert.equal(audit.rows.length, 1)
    assert.equal(audit.rows[0]!.actor_id, tokens.operator.id)
    assert.deepEqual([audit.rows[0]!.details.outcome, audit.rows[0]!.details.reason], ['accepted', 'Contractor works without Slack; agreed with the team lead'])
    const again = await api('operator', 'POST', `/api/v1/jobs/dead-letters/${dead.id}/redrive`, { reason: 'second try' })
    assert.equal(again.status, 409)
    assert.equal((again.body.error as { code: string }).code, 'dead_letter_settled')
    await context.close()
    assert.deepEqual(problems, [])
  })

  test("when a leaver's Slack cut-off fails for good, then an approver decides the residual-access task in the console: kept under a legal hold they request from the task and another approver approves", async () => {
    const externalId = `Q${Date.now().toString().slice(-6)}`
    const employeeId = await hire(externalId, 'Sales')
    await t.until('Slack active', async () => {
      const { rows } = await t.running.pool.query<{ status: string }>(`SELECT status FROM employee_accounts WHERE employee_id = $1 AND system = 'slack'`, [employeeId])
      return rows[0]?.status === 'active'
    })
    const slack = t.running.emulators!.slack
    for (const method of ['PATCH', 'DELETE'] as const) slack.kit.injectFault({ method, pathIncludes: '/scim/', status: 400, times: Number.POSITIVE_INFINITY })
    try {
      const left = await api('admin', 'POST', '/api/v1/sandbox/hr-events', { event: 'leaver', employeeId: externalId })
      assert.equal(left.status, 202, JSON.stringify(left.body))
      // A refused cut-off step fails the phase for good (provisioners/kit/revocation.ts): the account is the residual item.
      await t.until('one residual-access task', async () => {
        const r = await api('approverA', 'GET', '/api/v1/tasks?kind=residual&status=open&limit=100')
        return (r.body.items as Array<{ employeeId: string }>).filter((x) => x.employeeId === employeeId).length === 1 || undefined
      })
    } finally {
      slack.kit.clearFaults()
    }
    const { context, page, problems } = await open()
    await signIn(page, 'approverA')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Manual tasks' }).click()
    const cards = page.getByTestId(`task-${externalId}-residual`)
    const disable = cards.filter({ hasText: 'account' })
    await disable.getByLabel('Attestation: what was done').fill('Kept: the workspace export is under legal hold')
    const complete = disable.getByRole('button', { name: 'Complete task' })
    assert.ok(await complete.isDisabled(), 'no decision yet')
    await disable.getByTestId(/^task-missing-/).filter({ hasText: 'Choose a decision' }).waitFor()
    await disable.getByLabel(/Accepted: kept under an approved exception/).check()
    // No exception allows keeping it yet: the form says so instead of failing with a 400.
    await disable.getByText(/has no approved or active retain-account, legal-hold or extra-access exception for slack/).waitFor()
    assert.ok(await complete.isDisabled())

    // The approver asks for the exception from the task itself; another approver decides it.
    const request = disable.getByTestId(/^task-request-exception-/)
    await request.getByLabel('Exception to request').selectOption('legal_hold')
    await request.getByLabel('Until (date)').fill(new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10))
    await request.getByLabel(/Why keep it/).fill('Litigation hold on the Slack workspace export')
    await request.getByRole('button', { name: 'Request exception' }).click()
    await disable.getByTestId(/^task-waiting-exception-/).filter({ hasText: 'legal hold request for slack is waiting for approval' }).waitFor()
    const requested = await api('approverB', 'GET', `/api/v1/exceptions?employeeId=${employeeId}&status=requested`)
    const hold = { body: (requested.body.items as Array<{ id: string; kind: string; system: string; requestedBy: string }>).find((x) => x.kind === 'legal_hold' && x.system === 'slack')! }
    assert.equal(hold.body.requestedBy, tokens.approverA.id, 'requested as the approver who completes the task')
    const approved = await api('approverB', 'POST', `/api/v1/exceptions/${String(hold.body.id)}/approve`, { reason: 'Legal confirmed the hold in LEG-90' })
    assert.equal(approved.status, 200, JSON.stringify(approved.body))
    // Choosing the decision again reads the person's exceptions again.
    await disable.getByLabel(/Removed by hand/).check()
    await disable.getByLabel(/Accepted: kept under an approved exception/).check()
    await disable.getByLabel('Exception that allows keeping it').selectOption(String(hold.body.id))
    await page.screenshot({ path: path.join(SHOTS, 'tasks-residual.png'), fullPage: true })
    await complete.click()
    await disable.waitFor({ state: 'detached' })

    const done = await api('approverA', 'GET', '/api/v1/tasks?kind=residual&status=completed&limit=100')
    const mine = (done.body.items as Array<{ employeeId: string; title: string; resolution: string; exceptionId: string | null }>).filter((x) => x.employeeId === employeeId)
    assert.deepEqual(
      mine.map((x) => [x.title.includes('account') ? 'account' : x.title, x.resolution, x.exceptionId]),
      [['account', 'accepted', String(hold.body.id)]],
    )
    // Every residual item decided: Slack is resolved on the leaver case (the badge task is another matter).
    await t.until('Slack resolved on the leaver case', async () => {
      const { rows } = await t.running.pool.query<{ status: string }>(
        `SELECT cs.status FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'leaver' AND cs.system = 'slack' ORDER BY c.opened_at DESC LIMIT 1`,
        [employeeId],
      )
      return rows[0]?.status === 'done' || undefined
    })
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when an auditor exports the access-revocation report, then the console verifies its manifest and the downloaded files verify offline', async () => {
    const { context, page, problems } = await open()
    await signIn(page, 'auditor')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click()
    await page.getByLabel('Format').selectOption('csv')
    await page.getByRole('button', { name: 'Export and verify' }).click()
    await page.getByTestId('report-verdict').filter({ hasText: 'Manifest verified' }).waitFor()
    await page.getByTestId('report-totals').getByText('Leavers').waitFor()
    await page.getByRole('button', { name: 'Verify the audit trail' }).click()
    await page.getByTestId('chain-verdict').filter({ hasText: /chain intact/i }).waitFor()
    await page.screenshot({ path: path.join(SHOTS, 'audit.png'), fullPage: true })

    const save = async (name: RegExp): Promise<string> => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()])
      const file = path.join(downloads, download.suggestedFilename())
      await download.saveAs(file)
      return file
    }
    const report = await save(/^Save report/)
    const manifest = await save(/^Save manifest/)
    assert.match(path.basename(report), /\.csv$/)
    const verdict = await verifyReportFile(report, JSON.parse(await readFile(manifest, 'utf8')), { publicKey: key.publicKeyPem })
    assert.ok(verdict.ok, JSON.stringify(verdict.checks))
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when a user signs in with single sign-on, then the authorization code flow with PKCE brings them back signed in with their mapped role', async () => {
    const { context, page, problems } = await open()
    await page.goto(`${t.url}/approvals`)
    const [authorize] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(`${oidc.issuer}/authorize`)),
      page.getByRole('button', { name: 'Sign in with single sign-on' }).click(),
    ])
    const q = new URL(authorize.url()).searchParams
    assert.equal(q.get('code_challenge_method'), 'S256')
    assert.equal(q.get('client_id'), 'tenure-console')
    await page.getByTestId('whoami').filter({ hasText: 'Grace SSO (approver)' }).waitFor()
    // Back where they started, with the code and state gone from the address bar.
    assert.equal(new URL(page.url()).pathname, '/approvals')
    await page.getByRole('heading', { name: 'Approvals', level: 1 }).waitFor()
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when the console is opened at phone width, then the dashboard stays readable without sideways scrolling of the page', async () => {
    const { context, page, problems } = await open({ viewport: { width: 390, height: 844 } })
    await signIn(page, 'admin')
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    // Joiners starting soon come from GET /api/v1/employees?startsFrom=&startsBefore= (today's hires are in, old dates out).
    await page.getByRole('region', { name: /Joiners starting/ }).getByText('Katherine Johnson').first().waitFor()
    const past = await api('operator', 'GET', '/api/v1/employees?startsFrom=2000-01-01&startsBefore=2000-01-02')
    assert.deepEqual(past.body.items, [])
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`)
    await page.screenshot({ path: path.join(SHOTS, 'phone-dashboard.png'), fullPage: true })
    await context.close()
    assert.deepEqual(problems, [])
  })

  test('when there are more open leaver cases than one page, then the dashboard counts every one of them from the server and pages through the list', async () => {
    // 110 open leaver cases (3 of them breached, with the latest deadlines: on the last page), more than the 100 rows the dashboard used to count.
    const prefix = `P${Date.now().toString().slice(-5)}-`
    await t.running.pool.query(
      `WITH e AS (
         INSERT INTO employees (id, source, external_id, display_name, state, account_key)
         SELECT gen_random_uuid(), 'generic', $1 || lpad(n::text, 3, '0'), 'Paged Leaver ' || n, 'deprovisioning', $1 || n FROM generate_series(1, 110) n
         RETURNING id, external_id)
       INSERT INTO cases (id, employee_id, kind, generation, status, effective_at, deadline_at, breached_at)
       SELECT gen_random_uuid(), e.id, 'leaver', 1, 'open', now(), now() + (substring(e.external_id from '...$')::int || ' days')::interval,
              CASE WHEN substring(e.external_id from '...$')::int > 107 THEN now() END
         FROM e`,
      [prefix],
    )
    try {
      const { context, page, problems } = await open()
      await signIn(page, 'operator')
      // The counts are the server's, over every open case: earlier tests' cases may still close while
      // this one runs (their workers go on), so the page must agree with the server at one moment.
      const shown = async (id: string): Promise<string> => (await page.getByTestId(id).textContent()) ?? ''
      let counts = { open: 0, breached: 0, atRisk: 0 }
      for (let agreed = false, tries = 0; !agreed; tries++) {
        counts = (await api('operator', 'GET', '/api/v1/cases/counts')).body as typeof counts
        agreed =
          (await shown('count-open').catch(() => '')) === `${counts.open} open leaver cases` &&
          (await shown('count-breached').catch(() => '')) === `${counts.breached} breached` &&
          (await shown('count-at-risk').catch(() => '')) === `${counts.atRisk} at risk`
        if (!agreed) {
          assert.ok(tries < 120, `the dashboard never showed the server's counts ${JSON.stringify(counts)}`)
          await page.waitForTimeout(250)
        }
      }
      assert.ok(counts.open >= 110 && counts.breached >= 3, JSON.stringify(counts))
      const pager = page.getByTestId('pager-open-cases')
      await pager.getByText(/^Showing 1–50 of \d+ open cases/).waitFor()
      // Paging, on this test's 110 cases alone (found by the HR id prefix they share), so that the
      // pages do not move under the test when other cases close: 50, 50, then the last 10.
      await page.getByRole('searchbox', { name: 'Leaver' }).fill(prefix)
      await page.getByRole('button', { name: 'Find' }).click()
      await pager.getByText('Showing 1–50 of 110 open cases').waitFor()
      assert.equal(await page.getByTestId(`case-${prefix}110`).count(), 0, 'the last case is not on the first page')
      await pager.getByRole('button', { name: 'Next' }).click()
      await pager.getByText('Showing 51–100 of 110 open cases').waitFor()
      await pager.getByRole('button', { name: 'Next' }).click()
      await pager.getByText('Showing 101–110 of 110 open cases').waitFor()
      await page.getByTestId(`case-${prefix}110`).getByText('breached').waitFor()
      assert.equal(await pager.getByRole('button', { name: 'Next' }).count(), 0, 'no page after the last')
      await pager.getByRole('button', { name: 'Previous' }).click()
      await pager.getByText('Showing 51–100 of 110 open cases').waitFor()
      // Filtered on the server: the breached ones (of this test's cases), and one leaver by HR id; each starts at the first page.
      await page.getByLabel('Show').selectOption('breached')
      await pager.getByText('Showing 1–3 of 3 open cases').waitFor()
      await page.getByTestId(`case-${prefix}109`).getByText('breached').waitFor()
      await page.getByLabel('Show').selectOption('open')
      await page.getByRole('searchbox', { name: 'Leaver' }).fill(`${prefix}042`)
      await page.getByRole('button', { name: 'Find' }).click()
      await pager.getByText('Showing 1–1 of 1 open cases').waitFor()
      await page.getByTestId(`case-${prefix}042`).waitFor()
      await context.close()
      assert.deepEqual(problems, [])
    } finally {
      await t.running.pool.query(`DELETE FROM cases WHERE employee_id IN (SELECT id FROM employees WHERE external_id LIKE $1 || '%')`, [prefix])
      await t.running.pool.query(`DELETE FROM employees WHERE external_id LIKE $1 || '%'`, [prefix])
    }
  })

  test('when the server cannot be reached, then one banner says so, the countdowns stop, and no list claims to be empty; when it answers again, the banner goes', async () => {
    const externalId = `D${Date.now().toString().slice(-6)}`
    await t.running.pool.query(
      `WITH e AS (INSERT INTO employees (id, source, external_id, display_name, state, account_key) VALUES (gen_random_uuid(), 'generic', $1, 'Down Leaver', 'deprovisioning', $1) RETURNING id)
       INSERT INTO cases (id, employee_id, kind, generation, status, effective_at, deadline_at) SELECT gen_random_uuid(), e.id, 'leaver', 1, 'open', now(), now() + interval '2 hours' FROM e`,
      [externalId],
    )
    try {
      const { context, page, problems } = await open()
      await signIn(page, 'operator')
      const countdown = page.getByTestId(`case-${externalId}`).getByTestId('countdown')
      await countdown.waitFor()
      // The server goes away (as the browser sees it: every API call refused).
      await context.route('**/api/v1/**', (route) => route.abort('connectionrefused'))
      await page.getByTestId('server-down').getByText('Cannot reach the Tenure server').waitFor()
      await countdown.filter({ hasText: /\(paused\)$/ }).waitFor()
      const frozen = await countdown.textContent()
      // Showing that something does not change needs time to pass: two ticks of the one-second clock.
      await page.waitForTimeout(2200)
      assert.equal(await countdown.textContent(), frozen, 'the countdown stopped')
      assert.equal(await page.getByRole('alert').count(), 1, 'one banner, not an error in every section')

      // A page first opened while the server is down claims nothing about what it could not load.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click()
      await page.getByRole('heading', { name: 'Operations', level: 1 }).waitFor()
      assert.equal(await page.getByText('No failed job.').count(), 0)
      assert.equal(await page.getByText('Every HR notice was applied.').count(), 0)
      assert.equal(await page.getByRole('alert').count(), 1)
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Exceptions' }).click()
      await page.getByRole('heading', { name: 'Exceptions', level: 1 }).waitFor()
      assert.equal(await page.getByText('Nothing waits for a decision.').count(), 0)
      assert.equal(await page.getByRole('region', { name: 'Recently decided' }).getByText('None.').count(), 0, '"None" only for what was read')
      assert.equal(await page.getByRole('alert').count(), 1)
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click()

      // Back: the banner goes by itself and the page loads.
      await context.unroute('**/api/v1/**')
      await page.getByTestId('server-down').waitFor({ state: 'detached' })
      await page.getByRole('region', { name: 'Systems', exact: true }).waitFor()
      await context.close()
      assert.deepEqual(
        problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)),
        [],
      )
    } finally {
      await t.running.pool.query(`DELETE FROM cases WHERE employee_id = (SELECT id FROM employees WHERE external_id = $1)`, [externalId])
      await t.running.pool.query(`DELETE FROM employees WHERE external_id = $1`, [externalId])
    }
  })
})
