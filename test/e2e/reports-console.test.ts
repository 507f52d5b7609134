/**
 * The auditor's reports in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * the access-revocation report for a period in each format the CLI writes (CSV, JSON, NDJSON,
 * HTML), a report for one employee named by e-mail, an unknown name said to be unknown, and the
 * report history: every report listed with who made it, paged on the server, its manifest saved
 * again and a saved copy verified against it (and a changed copy refused).
 *
 * HR terminations that Tenure never applied (no case: gap rows) are the data, so no engine or
 * worker runs behind the test. Screenshots go to test-results/console/ (git-ignored);
 * UPDATE_SCREENSHOTS=1 refreshes docs/console/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { needsChromium, openSignedIn, SHOTS, startBrowser, type OpenedPage } from '../helpers/e2e.ts'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { verifyReportFile, type ReportManifest } from '../../src/reports/manifest.ts'
import type { ReportRow } from '../../src/reports/rows.ts'

const HOUR = 3_600_000

describe('auditor exports reports and reads the report history in the console', needsChromium, () => {
  let t: TestTenure
  let browser: Browser
  let folder: string
  let auditor: string
  let auditorId: string
  const ada = randomUUID()

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'tenure-e2e-reports-'))
    t = await startTestTenure({ workers: { enabled: false } })
    const made = await createApiToken(t.running.pool, { name: 'Internal audit', role: 'auditor', expiresAt: null, createdBy: { type: 'system', id: 'e2e' }, now: new Date() })
    auditor = made.token
    auditorId = made.apiToken.id
    await t.running.pool.query(`INSERT INTO employees (id, source, external_id, display_name, email) VALUES ($1, 'generic', 'HR-ADA', 'Ada Lovelace', 'ada@example.com')`, [ada])
    // Two terminations HR reported that no leaver case accounts for: gap rows, one per person.
    for (const [hrId, hoursAgo] of [['HR-ADA', 2], ['HR-BOB', 3]] as const) {
      const at = new Date(Date.now() - hoursAgo * HOUR).toISOString()
      await t.running.pool.query(
        `INSERT INTO hr_events (event_id, source, source_event_id, employee_external_id, type, occurred_at, received_at, found_by, payload)
         VALUES ($1, 'generic', $2, $3, 'employee.terminated', $4, $4, 'reconciliation', $5)`,
        [randomUUID(), `evt-${hrId}`, hrId, at, JSON.stringify({ type: 'employee.terminated', employeeId: hrId, effectiveAt: at, immediate: false })],
      )
    }
    browser = await startBrowser()
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  async function openAudit(viewport?: { width: number; height: number }): Promise<OpenedPage> {
    const opened = await openSignedIn(browser, t.url, auditor, { acceptDownloads: true, ...(viewport ? { viewport } : {}) })
    await opened.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click()
    return opened
  }

  const save = async (page: Page, link: RegExp | string, scope = page.locator('body')): Promise<string> => {
    const [download] = await Promise.all([page.waitForEvent('download'), scope.getByRole('link', { name: link }).click()])
    const file = path.join(folder, download.suggestedFilename())
    await download.saveAs(file)
    return file
  }

  test('when an auditor exports the period in each format the CLI has, then each downloads, verifies against its signed manifest and says 2 leavers', async () => {
    const { page, problems, close } = await openAudit()
    const seen: Record<string, string> = {}
    for (const format of ['csv', 'json', 'ndjson', 'html']) {
      await page.getByLabel('Format').selectOption(format)
      await page.getByRole('button', { name: 'Export and verify' }).click()
      await page.getByTestId('report-verdict').filter({ hasText: 'Manifest verified' }).waitFor()
      const totals = page.getByTestId('report-totals')
      assert.match((await totals.textContent()) ?? '', /Leavers2Rows \(leaver × system\)2Systems0/)
      const file = await save(page, /^Save report/)
      const manifestFile = await save(page, /^Save manifest/)
      assert.equal(path.extname(file), `.${format}`)
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as ReportManifest
      assert.equal(manifest.query.format, format)
      assert.equal((await verifyReportFile(file, manifest)).ok, true, `${format} verifies offline`)
      seen[format] = await readFile(file, 'utf8')
    }
    assert.equal(seen.csv!.trim().split('\r\n').length, 3, 'a header and two rows')
    assert.equal((JSON.parse(seen.json!) as { rows: unknown[] }).rows.length, 2)
    assert.equal(seen.ndjson!.trim().split('\n').length, 2)
    assert.match(seen.html!, /<title>Access revocation report/)
    await close()
    assert.deepEqual(problems, [])
  })

  test('when an auditor asks for one employee by e-mail, then the report holds only that person; a name matching nobody is said to be unknown', async () => {
    const { page, problems, close } = await openAudit()
    await page.getByLabel('Report for').selectOption('employee')
    await page.getByLabel('Leaver (HR id, e-mail or Tenure id)').fill('ada@example.com')
    assert.equal(await page.getByLabel('All time').isChecked(), true)
    await page.getByLabel('Format').selectOption('json')
    await page.getByRole('button', { name: 'Export and verify' }).click()
    await page.getByTestId('report-verdict').filter({ hasText: 'Manifest verified' }).waitFor()
    assert.match((await page.getByTestId('report-scope-text').textContent()) ?? '', /^Employee ada@example.com, all time$/)
    assert.equal(await page.getByTestId('report-scope-text').locator('[title]').getAttribute('title'), ada, 'the Tenure id on hover')
    const by = page.getByTestId('report-totals').locator('.person').last()
    assert.deepEqual([await by.textContent(), await by.getAttribute('title')], ['Internal audit', `api_token:${auditorId}`], 'generated by: the name, the id on hover')
    const file = await save(page, /^Save report/)
    assert.match(path.basename(file), /^access-revocations_employee-ada_example\.com\.json$/)
    const doc = JSON.parse(await readFile(file, 'utf8')) as { rows: ReportRow[] }
    assert.deepEqual(doc.rows.map((r) => [r.employee.hrId, r.outcome]), [['HR-ADA', 'gap']])
    await page.screenshot({ path: path.join(SHOTS, 'reports-employee.png'), fullPage: false })

    await page.getByLabel('Leaver (HR id, e-mail or Tenure id)').fill('nobody@example.com')
    await page.getByRole('button', { name: 'Export and verify' }).click()
    await page.getByRole('alert').filter({ hasText: 'no employee matches "nobody@example.com"' }).waitFor()
    assert.match((await page.getByRole('alert').textContent()) ?? '', /404 employee_not_found/)
    await close()
    assert.deepEqual(problems, [])
  })

  test('when reports were generated, then the history lists them newest first with who made them, pages on the server, downloads a past report again (the same bytes), saves a manifest again and verifies a saved copy', async () => {
    // More reports than one page holds (the console shows 10 a page): six through the API, the
    // newest a January NDJSON.
    for (const query of [
      'employee=HR-BOB&format=html',
      'from=2025-01-01&to=2025-04-01&format=csv',
      'employee=HR-BOB&format=csv',
      'from=2025-01-01&to=2025-02-01&format=json',
      'employee=HR-BOB&from=2025-01-01&to=2027-01-01&format=ndjson',
      'from=2025-01-01&to=2025-02-01&format=ndjson',
    ]) {
      const res = await fetch(`${t.url}/api/v1/reports/access-revocations?${query}`, { headers: { authorization: `Bearer ${auditor}` } })
      assert.equal(res.status, 200, query)
      await res.arrayBuffer()
    }
    const { page, problems, close } = await openAudit()
    const history = page.getByRole('region', { name: 'Report history' })
    const pager = page.getByTestId('pager-reports')
    await pager.filter({ hasText: 'Showing 1–10 of 11 reports' }).waitFor()
    const rows = history.locator('tbody tr')
    assert.equal(await rows.count(), 10)
    const newest = rows.first()
    assert.match((await newest.textContent()) ?? '', /Internal audit.*2025-01-01 – 2025-01-31NDJSON0signed/)
    assert.equal(await newest.locator('.person').first().getAttribute('title'), `Internal audit\napi_token:${auditorId}`, 'the name (cut when long) and the id on hover')
    // The history itself in the picture, not the report form above it.
    await page.locator('section[aria-labelledby="report-history"]').evaluate((el) => el.scrollIntoView({ block: 'start' }))
    await page.screenshot({ path: path.join(SHOTS, 'reports-history.png'), fullPage: false })

    await pager.getByRole('button', { name: 'Next' }).click()
    await pager.filter({ hasText: 'Showing 11–11 of 11 reports' }).waitFor()
    const oldest = rows.first()
    assert.match((await oldest.textContent()) ?? '', /CSV/, 'the first report made, on the last page')
    await pager.getByRole('button', { name: 'Previous' }).click()
    await pager.filter({ hasText: 'Showing 1–10 of 11 reports' }).waitFor()

    // The one-employee report: its manifest saved again, a copy saved back then verified against it.
    const adaRow = rows.filter({ hasText: 'Ada Lovelace' }).filter({ hasText: 'JSON' })
    assert.equal(await adaRow.count(), 1)
    const reportId = (await adaRow.getAttribute('data-report-id'))!
    const [download] = await Promise.all([page.waitForEvent('download'), adaRow.getByRole('button', { name: 'Save manifest' }).click()])
    const manifestFile = path.join(folder, `history-${download.suggestedFilename()}`)
    await download.saveAs(manifestFile)
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as ReportManifest
    assert.equal(manifest.id, reportId)
    assert.equal(download.suggestedFilename(), 'access-revocations_employee-ada_example.com.json.manifest.json')

    const copy = path.join(folder, 'access-revocations_employee-ada_example.com.json')
    assert.equal((await verifyReportFile(copy, manifest)).ok, true, 'the copy saved in the previous test is this report')
    await adaRow.getByLabel(/^Verify a saved copy/).setInputFiles(copy)
    await adaRow.getByTestId('history-verdict').filter({ hasText: 'is this report, unchanged' }).waitFor()

    const changed = path.join(folder, 'changed.json')
    await writeFile(changed, (await readFile(copy, 'utf8')).replace('HR-ADA', 'HR-ADB'))
    await adaRow.getByLabel(/^Verify a saved copy/).setInputFiles(changed)
    await adaRow.getByTestId('history-verdict').filter({ hasText: 'changed.json is not this report as signed' }).waitFor()

    // Download again: the same bytes as the copy saved back then, which verify against the same manifest.
    const [again] = await Promise.all([page.waitForEvent('download'), adaRow.getByRole('button', { name: 'Download again' }).click()])
    assert.equal(again.suggestedFilename(), 'access-revocations_employee-ada_example.com.json')
    const againFile = path.join(folder, 'again', again.suggestedFilename())
    await again.saveAs(againFile)
    assert.ok((await readFile(againFile)).equals(await readFile(copy)), 'byte for byte the report first downloaded')
    assert.equal((await verifyReportFile(againFile, manifest)).ok, true)

    // Run again: the form takes the scope and format back.
    await adaRow.getByRole('button', { name: 'Run again' }).click()
    // The form re-renders after the click: wait for the scope to change (CI read it one render early).
    const reportFor = page.getByLabel('Report for')
    for (const until = Date.now() + 10_000; (await reportFor.inputValue()) !== 'employee' && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50))
    await page.getByLabel('Leaver (HR id, e-mail or Tenure id)').waitFor()
    assert.equal(await reportFor.inputValue(), 'employee')
    assert.equal(await page.getByLabel('Leaver (HR id, e-mail or Tenure id)').inputValue(), 'ada@example.com')
    assert.equal(await page.getByLabel('Format').inputValue(), 'json')
    await page.getByRole('button', { name: 'Export and verify' }).click()
    await page.getByTestId('report-verdict').filter({ hasText: 'Manifest verified' }).waitFor()
    await pager.filter({ hasText: 'Showing 1–10 of 12 reports' }).waitFor()
    await close()
    assert.deepEqual(problems, [])
  })

  test('when the report history is read at 390 px and at 1440 px, then the page does not scroll sideways and who generated each report stays on one line', async () => {
    for (const viewport of [{ width: 390, height: 844 }, { width: 1440, height: 900 }]) {
      const { page, problems, close } = await openAudit(viewport)
      const history = page.getByRole('region', { name: 'Report history' })
      await page.getByTestId('pager-reports').filter({ hasText: /^Showing 1–10 of \d+ reports/ }).waitFor()
      // A report made just now, so its offline steps (wide commands) are on the page too.
      await page.getByRole('button', { name: 'Export and verify' }).click()
      await page.getByTestId('offline-steps').waitFor()
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
      assert.ok(overflow <= 0, `${viewport.width} px: the page scrolls sideways by ${overflow}px`)
      // The generated-by name: one line box of text, however narrow the window (the table scrolls instead).
      const by = history.locator('tbody tr').first().locator('td').nth(1).locator('.person')
      assert.equal(await by.textContent(), 'Internal audit')
      // The line boxes the text spans, counted by their tops.
      const lines = await by.evaluate((el) => {
        const range = el.ownerDocument.createRange()
        range.selectNodeContents(el)
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size
      })
      assert.equal(lines, 1, `${viewport.width} px: "Internal audit" wraps onto ${lines} lines`)
      await close()
      assert.deepEqual(problems, [])
    }
  })
})
