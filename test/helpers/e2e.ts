/**
 * What every console browser test shares: Debian's Chromium driven by playwright-core, the
 * console built when web/dist is older than its sources, where screenshots go
 * (test-results/console/, git-ignored; UPDATE_SCREENSHOTS=1 refreshes docs/console/), and the
 * `describe` option that skips, saying why, on a machine without Chromium, and a page opened
 * and signed in with an API token that collects every error the page logs.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ROOT } from './process.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/console') : path.join(ROOT, 'test-results/console')
/** How long a page may take to show what a step waits for (a slow CI machine's first page load; short enough to fail fast). */
export const WAIT = 20_000

/** `describe(name, needsChromium, …)`: skipped with the reason where Chromium is missing. */
export const needsChromium = { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install chromium` }

/** Build the console when web/dist is missing or older than its sources. */
export async function ensureBuilt(): Promise<void> {
  const index = path.join(ROOT, 'web/dist/index.html')
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs)))
  const sources = Math.max(newest(path.join(ROOT, 'web/src')), statSync(path.join(ROOT, 'web/index.html')).mtimeMs)
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return
  const { build } = await import('vite')
  await build({ configFile: path.join(ROOT, 'web/vite.config.ts'), logLevel: 'warn' })
}

/** The console built, the screenshot folder made, and a headless Chromium. */
export async function startBrowser(): Promise<Browser> {
  await Promise.all([ensureBuilt(), mkdir(SHOTS, { recursive: true })])
  // Playwright gives every launch a fresh, empty profile (--user-data-dir) of its own.
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** A page in a context of its own, and what it logged that a test should fail on. */
export interface OpenedPage {
  context: BrowserContext
  page: Page
  /** Uncaught errors and console errors (a CSP violation logs one); the 401/403/404 answers a role check expects do not count. */
  problems: string[]
  close: () => Promise<void>
}

export interface PageOptions {
  /** 1440×900 unless given (the console's desktop width; 390×844 is the phone width the tests check). */
  viewport?: { width: number; height: number }
  timezoneId?: string
  acceptDownloads?: boolean
}

/** A fresh browser context and page; every error the page reports lands in `problems`. */
export async function openPage(browser: Browser, options: PageOptions = {}): Promise<OpenedPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1440, height: 900 },
    locale: 'en-US',
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    ...(options.acceptDownloads !== undefined ? { acceptDownloads: options.acceptDownloads } : {}),
  })
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT)
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403|404)/.test(m.text())) problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(e.message))
  return { context, page, problems, close: () => context.close() }
}

/** Sign in on the console at `url` with an API token, the way a user does, and wait until it says who they are. */
export async function signInWithToken(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`)
  await page.getByLabel('API token').fill(token)
  await page.getByRole('button', { name: 'Sign in with token' }).click()
  await page.getByTestId('whoami').waitFor()
}

/** `openPage` and `signInWithToken` in one: the start of almost every console journey. */
export async function openSignedIn(browser: Browser, url: string, token: string, options: PageOptions = {}): Promise<OpenedPage> {
  const opened = await openPage(browser, options)
  await signInWithToken(opened.page, url, token)
  return opened
}

/**
 * Ask for an exception the way a user does on Approvals (the page open): find the employee by
 * `search`, pick `employee` from what the search found, the kind, the end (your time zone) and
 * the reason, then submit. The caller waits for what the page says next.
 */
export async function requestExceptionOnApprovals(page: Page, request: { search: string; employee: string; kind: string; until: Date; reason: string }): Promise<void> {
  const form = page.getByRole('region', { name: 'Request an exception' })
  await form.getByLabel('Find the employee').fill(request.search)
  await form.getByLabel('Employee', { exact: true }).locator('option', { hasText: request.employee }).waitFor({ state: 'attached' })
  await form.getByLabel('Kind').selectOption(request.kind)
  await form.getByLabel('Until (your time zone)').fill(request.until.toISOString().slice(0, 16))
  await form.getByLabel(/^Reason/).fill(request.reason)
  await form.getByRole('button', { name: 'Request exception' }).click()
}
