/**
 * How the benchmark reads what a Tenure process takes from the machine (bench/harness.ts):
 * /proc/<pid>/status and /proc/<pid>/smaps_rollup, and the sums over `tenure serve`'s two processes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { pairMemory, parseProcKb, processMemoryOf, readProcessMemory } from '../bench/harness.ts'

// Linux 6.x, a Node process of `tenure serve` (figures from one of the in-flight runs, trimmed).
const ROLLUP = `55ae4d02c000-7ffe9d239000 ---p 00000000 00:00 0                          [rollup]
Rss:              143360 kB
Pss:               93696 kB
Pss_Dirty:         80384 kB
Pss_Anon:          80384 kB
Pss_File:          13312 kB
Pss_Shmem:             0 kB
Shared_Clean:      61440 kB
Shared_Dirty:          0 kB
Private_Clean:      1536 kB
Private_Dirty:     80384 kB
Referenced:       143360 kB
Anonymous:         80384 kB
Swap:                  0 kB
`
const STATUS = `Name:\tnode
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t 1234567 kB
VmRSS:\t  143360 kB
RssAnon:\t   80384 kB
RssFile:\t   62976 kB
RssShmem:\t       0 kB
Threads:\t11
`

test('when smaps_rollup is parsed, then every "Key: N kB" line is read in kB and the [rollup] header is skipped', () => {
  const kb = parseProcKb(ROLLUP)
  assert.equal(kb.Rss, 143360)
  assert.equal(kb.Pss, 93696)
  assert.equal(kb.Pss_Anon, 80384)
  assert.equal(kb.Pss_File, 13312)
  assert.equal(kb.Shared_Clean, 61440)
  assert.equal(Object.keys(kb).some((k) => k.includes('rollup') || k.includes('-')), false)
})

test('when /proc/<pid>/status is parsed, then its kB lines are read and Threads, Name and State are not', () => {
  const kb = parseProcKb(STATUS)
  assert.deepEqual(
    { VmRSS: kb.VmRSS, RssAnon: kb.RssAnon, RssFile: kb.RssFile, RssShmem: kb.RssShmem },
    { VmRSS: 143360, RssAnon: 80384, RssFile: 62976, RssShmem: 0 },
  )
  assert.equal(kb.Threads, undefined)
  assert.equal(kb.Name, undefined)
})

test('when a process is read, then its RSS, anonymous, file-backed, PSS and shared figures come out in MB', () => {
  assert.deepEqual(processMemoryOf(4242, STATUS, ROLLUP), {
    pid: 4242,
    rssMB: 140,
    anonMB: 78.5,
    fileMB: 61.5,
    pssMB: 91.5,
    pssAnonMB: 78.5,
    pssFileMB: 13,
    sharedCleanMB: 60,
    privateMB: 80,
  })
})

test('when the kernel does not give a figure (Pss_Anon before Linux 5.x), then it is unknown (NaN), not 0', () => {
  const old = ROLLUP.split('\n').filter((l) => !l.startsWith('Pss_Anon') && !l.startsWith('Pss_File')).join('\n')
  const m = processMemoryOf(1, STATUS, old)
  assert.ok(Number.isNaN(m.pssAnonMB))
  assert.ok(Number.isNaN(m.pssFileMB))
  assert.equal(m.pssMB, 91.5)
})

test('when two processes map the same Node binary, then the pair counted once adds their anonymous memory and only the larger file-backed set', () => {
  const serve = processMemoryOf(1, STATUS, ROLLUP)
  const worker = { ...serve, pid: 2, rssMB: 186, anonMB: 120.8, fileMB: 65.2, pssMB: 135.5 }
  assert.deepEqual(pairMemory([serve, worker]), { rssMB: 326, pssMB: 227, onceMB: 264.5 })
  // One process alone: counted once is its own anonymous plus file-backed memory, i.e. its RSS.
  assert.deepEqual(pairMemory([serve]), { rssMB: 140, pssMB: 91.5, onceMB: 140 })
})

test('when this process is read from /proc, then PSS is at most RSS and counted once equals its own RSS', { skip: !existsSync('/proc/self/smaps_rollup') && 'no /proc/<pid>/smaps_rollup here' }, () => {
  const m = readProcessMemory(process.pid)
  assert.ok(m, 'read')
  assert.ok(m.rssMB > 10)
  assert.ok(m.pssMB <= m.rssMB + 0.2)
  assert.ok(Math.abs(m.anonMB + m.fileMB - m.rssMB) < 1, `${m.anonMB} + ${m.fileMB} vs ${m.rssMB}`)
  assert.equal(readProcessMemory(2 ** 22 + 7), undefined)
})
