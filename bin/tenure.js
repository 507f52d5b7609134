#!/usr/bin/env node
// The `tenure` command. Tenure's sources are TypeScript run directly by Node's type stripping;
// node-check.js first refuses a Node older than 22.12 in one line, and turns type stripping on
// where this Node does not by default (before 22.18 / 23.6).
import { fileURLToPath } from 'node:url'
import { runTypeScript } from './node-check.js'

runTypeScript(fileURLToPath(new URL('../src/cli.ts', import.meta.url)), process.argv.slice(2)).catch((err) => {
  process.stderr.write(`tenure: ${(err && err.stack) || err}\n`)
  process.exit(1)
})
