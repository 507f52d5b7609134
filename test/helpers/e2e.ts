/**
 * What every console browser test shares: Debian's Chromium driven by playwright-core, the
 * console built when web/dist is older than its sources, where screenshots go
 * (test-results/console/, git-ignored; UPDATE_SCREENSHOTS=1 refreshes docs/console/), and the
 * `describe` option that skips, saying why, on a machine without Chromium.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { ROOT } from './process.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/console') : path.join(ROOT, 'test-results/console')
/** How long a page may take to show what a step waits for. */
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
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] })
}
