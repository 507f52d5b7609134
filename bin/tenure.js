#!/usr/bin/env node
// The `tenure` command. Tenure's sources are TypeScript run directly by Node's type stripping
// (on by default from Node 23.6 / 22.18). On an older 22.x, re-run once with the flag.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

if (!process.features.typescript && !process.env.TENURE_STRIP_TYPES_FLAG) {
  const entry = fileURLToPath(import.meta.url)
  const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings', entry, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, TENURE_STRIP_TYPES_FLAG: '1' },
  })
  process.exit(result.status ?? 1)
}
await import('../src/cli.ts')
