import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
// @ts-expect-error plain JavaScript on purpose (it must run on old Node); no declarations
import { NODE_NEEDED, nodeVersionProblem } from '../bin/node-check.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const problem = nodeVersionProblem as (version: string, execPath?: string) => string | undefined

/** A Node older than 22.12 on this machine, if there is one (the machines here ship Node 20 as /usr/bin/node). */
function oldNode(): { path: string; version: string } | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(candidate)) continue
    const run = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' })
    const version = run.stdout?.trim()
    if (run.status === 0 && version && problem(version)) return { path: candidate, version }
  }
  return undefined
}

describe('the Node version check', () => {
  test('when Node is older than 22.12, then one line names the version found, the version needed and how to get it', () => {
    for (const version of ['20.20.2', 'v18.19.0', '22.11.0', '22.0.0']) {
      const line = problem(version, '/usr/bin/node')
      assert.ok(line, version)
      assert.doesNotMatch(line, /\n/)
      assert.match(line, new RegExp(`Node\\.js ${version.replace(/^v/, '').replaceAll('.', '\\.')}`))
      assert.match(line, /22\.12\.0 or newer/)
      assert.match(line, /\/usr\/bin\/node/)
      assert.match(line, /nodejs\.org|nvm install 24/)
    }
    assert.equal(NODE_NEEDED, '22.12.0')
  })

  test('when Node is 22.12 or newer, then there is nothing to say', () => {
    for (const version of ['22.12.0', '22.18.1', '23.0.0', '24.21.0', '26.1.0']) assert.equal(problem(version), undefined, version)
  })

  const old = oldNode()
  test(
    'when an entry point runs under an old Node, then it prints that one line and exits non-zero; npm install only warns',
    { skip: !old && 'no Node older than 22.12 on this machine' },
    () => {
      const entries: Array<{ args: string[]; status: number }> = [
        { args: ['bin/tenure.js', 'serve', '--sandbox'], status: 1 }, // npm start, tenure …
        { args: ['bin/node-check.js', 'scripts/test.ts'], status: 1 }, // npm test
        { args: ['bin/node-check.js', '--warn'], status: 0 }, // npm install's preinstall
      ]
      for (const { args, status } of entries) {
        const run = spawnSync(old!.path, args, { cwd: ROOT, encoding: 'utf8' })
        assert.equal(run.status, status, `${args.join(' ')}: ${run.stderr}`)
        assert.equal(run.stdout, '')
        const lines = run.stderr.trimEnd().split('\n')
        assert.equal(lines.length, 1, run.stderr)
        assert.equal(lines[0]!.replace(/^warning: /, ''), problem(old!.version, old!.path))
      }
    },
  )
})
