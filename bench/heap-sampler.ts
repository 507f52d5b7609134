/**
 * A preload (`node --import`) that writes what a Tenure process's memory is made of, every 250 ms,
 * as JSON lines to `$TENURE_BENCH_HEAP_LOG/<pid>.jsonl`: process.memoryUsage(), each V8 heap
 * space (committed and used MB) and the garbage collections since the last line (count and ms by
 * kind). bench/harness.ts adds it to the Tenure process's node flags when TENURE_BENCH_HEAP_LOG
 * names a folder; the worker process inherits the flag and the variable, so both processes of
 * `tenure serve` write a file. A diagnosis tool (which process grows, and which space), not a
 * benchmark figure: the sampling costs each process a little CPU.
 *
 *   TENURE_BENCH_HEAP_LOG=/tmp/heap npm run bench -- --quick --scenario memory --no-append
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import v8 from 'node:v8'

const dir = process.env.TENURE_BENCH_HEAP_LOG
if (dir) {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${process.pid}.jsonl`)
  const mb = (x: number) => Math.round((x / 1048576) * 10) / 10
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  }
  let gc: Record<string, { n: number; ms: number }> = {}
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[((entry as { detail?: unknown }).detail as { kind?: number } | null)?.kind ?? -1] ?? 'other'
      const k = (gc[kind] ??= { n: 0, ms: 0 })
      k.n += 1
      k.ms += entry.duration
    }
  }).observe({ entryTypes: ['gc'] })
  const started = Date.now()
  setInterval(() => {
    const m = process.memoryUsage()
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), [mb(s.space_size), mb(s.space_used_size)]]))
    const line = { t: Date.now() - started, argv1: path.basename(process.argv[1] ?? ''), rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), spaces, gc }
    gc = {}
    appendFileSync(file, JSON.stringify(line) + '\n')
  }, 250).unref()
}
