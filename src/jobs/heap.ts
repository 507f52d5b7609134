import v8 from 'node:v8'
import vm from 'node:vm'

/**
 * V8 heap flags for the worker process `tenure serve` forks (src/worker-process.ts adds them to
 * the child's command line).
 *
 * What a burst of work does to the worker process's RSS without them (docs/benchmarks.md, "What
 * misses, why", memory): its live heap stays at about 41 MB whatever the number of leavers in
 * flight, but V8 sizes its young generation from the heap limit (4 GB on a 64-bit machine with
 * enough memory: semi-spaces of up to 64 MB, a 128 MB young generation) and lets the old
 * generation grow to up to 4 times its live size before a full collection. Under a layoff the
 * young generation grows to its maximum and the old space fills with garbage, and the pages
 * touched stay resident: about +300 MB of RSS for nothing held.
 *
 * - `--max-semi-space-size=16`: a young generation of at most 32 MB. Smaller semi-spaces mean
 *   more scavenges, and objects that live across a job's await get copied and promoted more:
 *   4 MB cost the worker process about 13 % more CPU in a layoff, 16 MB nothing measurable. 8 MB
 *   with the growing factor below took 13 MB more off the peak with 10,000 leavers in flight
 *   (99 MB of anonymous memory instead of 113) but the worker process's CPU over a 100-leaver
 *   layoff went from 12.5-15.1 s (16 MB and 100 %) to 14.9-15.6 s (docs/benchmarks.md, "What
 *   misses", memory, 2026-12-07), so it was not taken.
 * - `--heap-growing-percent=25`: a full collection when the old generation has grown by a
 *   quarter since what was live after the last one (V8's own factor goes up to 4 on a fast
 *   machine, 100 % was the previous setting). The worker's old space holds about 27-31 MB live
 *   and, with 100, kept 62 MB committed under 10,000 leavers in flight; with 25, 35 MB
 *   (same wave): 112.6 MB of anonymous memory at the peak of 10,000 in flight instead of
 *   141.6. More full collections (about twice as many, each 20-40 ms at this size), and the
 *   worker process's CPU over a 100-leaver layoff 13.3 / 14.9 s against 15.1 / 13.2 / 12.5 s with
 *   100: within the noise of the shared machine. It is no limit: a larger live set just grows the heap, unlike
 *   `--max-old-space-size`.
 *
 * An operator's choice wins: a flag already given to the parent (its command line, which the
 * child inherits after these, or NODE_OPTIONS, which the child reads too) is not set here. The
 * flags bin/tenure.js gave the parent for its own role (TENURE_HEAP_FLAGS, below) are not the
 * operator's: the child does not inherit them.
 *
 * `tenure worker` runs the same work, and bin/tenure.js starts it with the same flags.
 */
export const WORKER_HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=25']

/**
 * V8 heap flags for the HTTP process of `tenure serve` (bin/tenure.js starts it with them, bench/
 * harness.ts too). It only acknowledges webhooks and answers the API (the engine and the job
 * workers run in its worker process), but with V8's defaults a burst of webhooks grew its young
 * generation to 128 MB (two 64 MB semi-spaces: V8 sizes them from the heap limit) and let its old
 * generation grow to 4 times what is live before a full collection: with 10,000 leavers posted
 * at once it peaked at 340 MB of RSS for about 40 MB live (docs/benchmarks.md, "What misses",
 * memory). A request's garbage dies within the request, so a young generation of 8 MB (4 MB
 * semi-spaces) collects it as well, in more and shorter scavenges (each well under a
 * millisecond for what an acknowledgement keeps alive). What does survive (requests waiting on
 * the group commit across a scavenge) is promoted, so the old generation fills with garbage at
 * about 1 MB/s under a burst: `--heap-growing-percent=50` collects it when the old generation has
 * grown by half over what was live (about 26 MB), where 100 let it reach 54-58 MB committed with
 * 10,000 leavers posted; 25 halved that again but cost the HTTP process's collections 0.8 s over
 * 3,000 acknowledgements (12 full collections; +20 % CPU at load 11), which the ack latency
 * target cannot spare.
 *
 * With `workers.inProcess` the engine runs in this process too: its bursts then scavenge more
 * often (4 MB semi-spaces cost the worker process about 13 % more CPU in a layoff). Such a
 * deployment sets `NODE_OPTIONS=--max-semi-space-size=16`, which wins over these.
 */
export const SERVE_HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50']

/**
 * This process's node flags less those bin/tenure.js added for its role (listed in
 * TENURE_HEAP_FLAGS): what an operator gave, and what a child may inherit.
 */
export function operatorExecArgv(execArgv: readonly string[] = process.execArgv, launcher: string = process.env.TENURE_HEAP_FLAGS ?? ''): string[] {
  const ours = new Set(launcher.split(/\s+/).filter(Boolean))
  return execArgv.filter((a) => !ours.has(a))
}

/** The name of a node/V8 flag (`--max-semi-space-size=4` → `max-semi-space-size`; `_` as `-`). */
const flagName = (arg: string) => arg.replace(/^--/, '').split('=')[0]!.replaceAll('_', '-')

/** WORKER_HEAP_FLAGS less those the operator already set (parent's execArgv or NODE_OPTIONS). */
export function workerHeapFlags(execArgv: readonly string[] = operatorExecArgv(), nodeOptions: string = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName))
  return WORKER_HEAP_FLAGS.filter((flag) => !given.has(flagName(flag)))
}

/**
 * One full garbage collection when start-up is done (src/main.ts calls it before `tenure serve`
 * listens and before a worker process says it is ready), so that an idle process gives back what
 * its start-up took.
 *
 * Start-up allocates a lot and keeps little: every module's source, compilation, the zod schemas,
 * pg-boss's migrations. V8 grows the young generation to its maximum for that burst (two 16 MB
 * semi-spaces in each process) and sizes the old generation for it, but none of it fills the old
 * generation, so no full collection runs, and V8's memory reducer (which shrinks the young
 * generation and gives unused pages back once a process allocates little) is only armed by a full
 * collection. Without this a process that has just started and then waits keeps its start-up
 * heap for as long as it waits: 139 MB of RSS for the HTTP process and 115 MB for the worker
 * process (compiled, one system), where after it the reducer brings them to about 107 and 97 MB
 * some 8 s later (docs/operations.md, "Process model", *Memory*).
 *
 * A regular full collection (tens of ms on a heap of 40 MB), not V8's "last resort" one (which
 * shrinks at once but repeats up to 7 times, 120-150 ms): the shrinking is left to the reducer,
 * which does it only while the process is idle. Nothing is listening yet, so no request waits.
 *
 * Node exposes a collection only behind `--expose-gc`: the flag is switched on for the moment it
 * takes to read `gc` from a fresh context (Node's documented v8.setFlagsFromString use), then off
 * again, so no other code finds a `gc` global.
 */
export function collectStartupGarbage(): { ms: number; heapBeforeMB: number; heapAfterMB: number } {
  const heapMB = () => Math.round((v8.getHeapStatistics().total_heap_size / 1048576) * 10) / 10
  const heapBeforeMB = heapMB()
  const started = performance.now()
  let gc = (globalThis as { gc?: (options?: { type?: string; execution?: string }) => void }).gc
  if (!gc) {
    v8.setFlagsFromString('--expose-gc')
    try {
      gc = vm.runInNewContext('gc') as typeof gc
    } finally {
      v8.setFlagsFromString('--no-expose-gc')
    }
  }
  gc!({ type: 'major', execution: 'sync' })
  return { ms: Math.round(performance.now() - started), heapBeforeMB, heapAfterMB: heapMB() }
}
