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
 *   4 MB cost the worker process about 13 % more CPU in a layoff, 16 MB nothing measurable.
 * - `--heap-growing-percent=100`: a full collection when the old generation has doubled since
 *   what was live after the last one (V8's own factor goes up to 4 on a fast machine). It is no
 *   limit: a larger live set just grows the heap, unlike `--max-old-space-size`.
 *
 * An operator's choice wins: a flag already given to the parent (its command line, which the
 * child inherits after these, or NODE_OPTIONS, which the child reads too) is not set here.
 */
export const WORKER_HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=100']

/** The name of a node/V8 flag (`--max-semi-space-size=4` → `max-semi-space-size`; `_` as `-`). */
const flagName = (arg: string) => arg.replace(/^--/, '').split('=')[0]!.replaceAll('_', '-')

/** WORKER_HEAP_FLAGS less those the operator already set (parent's execArgv or NODE_OPTIONS). */
export function workerHeapFlags(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName))
  return WORKER_HEAP_FLAGS.filter((flag) => !given.has(flagName(flag)))
}
