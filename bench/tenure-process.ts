/**
 * One Tenure server in a process of its own (with, by default, its worker process beside it), steered by the benchmark over IPC. Tenure runs apart
 * from the load generator and the emulators so that (1) its RSS and heap are Tenure's alone and
 * (2) the generator's own event-loop work never shows up as Tenure's ack latency.
 *
 * Messages in:  { type: 'memory', gc?: boolean }  → { type: 'memory', sample } (TenureMemoryReply, bench/harness.ts)
 *               { type: 'stop' }                  → { type: 'stopped' }, then exit
 * Message out at start: { type: 'ready', url, workerPid } or { type: 'failed', message }.
 * The config comes as JSON in TENURE_BENCH_CONFIG (a ConfigInput). TENURE_BENCH_MODE=worker runs
 * what `tenure worker` runs instead (job workers and the engine only, no HTTP, no worker child):
 * the scale scenario's extra worker processes on the same database (bench/scale.ts).
 */
import { validateConfig } from '../src/config/load.ts'
import type { ConfigInput } from '../src/config/index.ts'
import { startTenure, type Running } from '../src/main.ts'
import { silentLogger } from '../src/log.ts'
import v8 from 'node:v8'

const send = (message: unknown) => new Promise<void>((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()))
const mb = (x: number) => Math.round((x / 1048576) * 10) / 10

let running: Running | undefined
let stopping: Promise<void> | undefined
const stop = (reason: string) => {
  stopping ??= (async () => {
    await running?.stop(reason).catch(() => undefined)
  })()
  return stopping
}

process.on('message', (raw: unknown) => {
  const message = raw as { type?: string; gc?: boolean }
  if (message.type === 'memory') {
    const gc = (globalThis as { gc?: () => void }).gc
    if (message.gc && gc) {
      gc()
      gc()
    }
    const m = process.memoryUsage()
    // `tenure serve` runs its engine in a worker process: the RSS targets are about the whole of
    // `tenure serve`, so the benchmark reads both processes' /proc figures (bench/harness.ts,
    // readProcessMemory) from the pids given here; the heap figures are the serve process's.
    const heapSpacesMB = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.space_size)]))
    void send({
      type: 'memory',
      sample: {
        pid: process.pid,
        workerPid: running?.workerProcess?.pid(),
        // Stopped while idle (workers.idleStopSeconds): then the sample is the serve process alone.
        ...(running?.workerProcess ? { workerState: running.workerProcess.state() } : {}),
        rssMB: mb(m.rss),
        heapUsedMB: mb(m.heapUsed),
        heapTotalMB: mb(m.heapTotal),
        arrayBuffersMB: mb(m.arrayBuffers),
        externalMB: mb(m.external),
        heapSpacesMB,
      },
    })
  } else if (message.type === 'stop') {
    void stop('benchmark phase done').then(async () => {
      await send({ type: 'stopped' })
      // process.exit() would skip the --cpu-prof write; the event loop is empty once Tenure stopped.
      process.disconnect()
    })
  }
})
// The benchmark went away (crash, kill -9): do not stay behind holding connections.
process.on('disconnect', () => void stop('benchmark disconnected').then(() => process.exit(0)))
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal).then(() => process.exit(0)))

try {
  const input = JSON.parse(process.env.TENURE_BENCH_CONFIG ?? '{}') as ConfigInput
  const mode = process.env.TENURE_BENCH_MODE === 'worker' ? 'worker' : 'serve'
  running = await startTenure({ config: validateConfig(input), mode, log: silentLogger })
  await send({ type: 'ready', url: running.url, workerPid: running.workerProcess?.pid() })
} catch (err) {
  await send({ type: 'failed', message: err instanceof Error ? err.stack ?? err.message : String(err) })
  process.exit(1)
}
