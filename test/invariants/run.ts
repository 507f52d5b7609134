/**
 * Run scenarios against one pipeline and report: shared by the test in `npm test` (fixed seed,
 * few runs) and `npm run check:invariants` (as many runs and seeds as you like).
 */
import fc from 'fast-check'
import { tenureView, type Violation } from './check.ts'
import { startPipeline, type Pipeline } from './harness.ts'
import { describeScenario, parseScenario, runScenario, scenarioArbitrary, type ScenarioOptions } from './model.ts'

export interface InvariantRunOptions extends ScenarioOptions {
  seed: number
  runs: number
  /** Replay one failing run: the `path` fast-check printed with the seed. */
  path?: string
  /** Shrink a failure to a smaller scenario (each try replays through the whole pipeline). */
  shrink: boolean
  log: (line: string) => void
}

export interface InvariantRunResult {
  runs: number
  commands: number
  kills: number
  violations: Violation[]
  failure?: { seed: number; path: string | undefined; scenario: string; violations: Violation[] }
}

export async function runInvariantCheck(options: InvariantRunOptions): Promise<InvariantRunResult> {
  const pipeline = await startPipeline({ log: options.log })
  let runs = 0
  let commands = 0
  let last: { scenario: string; violations: Violation[] } | undefined
  let failing: { scenario: string; violations: Violation[] } | undefined
  try {
    const property = fc.asyncProperty(scenarioArbitrary(options), async ({ skewGeneric, skewBamboo, cmds }) => {
      runs += 1
      const list = [...cmds]
      commands += list.length
      const scenario = describeScenario({ generic: skewGeneric, bamboohr: skewBamboo }, list)
      options.log(`run ${runs}: ${scenario}`)
      const violations = await runScenario(pipeline, { generic: skewGeneric, bamboohr: skewBamboo }, cmds, options.log)
      last = { scenario, violations }
      if (violations.length > 0) {
        failing = last
        await reportViolations(pipeline, violations, options.log)
        return false
      }
      return true
    })
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: options.runs,
      endOnFailure: !options.shrink,
      ...(options.path ? { path: options.path } : {}),
    })
    const result: InvariantRunResult = { runs, commands, kills: pipeline.kills, violations: failing?.violations ?? [] }
    if (details.failed) {
      const counterexample = details.counterexample?.[0] as { cmds?: Iterable<unknown>; skewGeneric?: number; skewBamboo?: number } | undefined
      result.failure = {
        seed: details.seed,
        path: details.counterexamplePath ?? undefined,
        scenario: counterexample
          ? describeScenario({ generic: counterexample.skewGeneric ?? 0, bamboohr: counterexample.skewBamboo ?? 0 }, counterexample.cmds ?? [])
          : (failing?.scenario ?? ''),
        violations: failing?.violations ?? [],
      }
      if (details.errorInstance && !failing) throw details.errorInstance
    }
    return result
  } finally {
    await pipeline.stop()
  }
}

/** Each violation, what Tenure says about it, and with INVARIANT_DEBUG the person's audit trail. */
async function reportViolations(pipeline: Pipeline, violations: Violation[], log: (line: string) => void): Promise<void> {
  for (const v of violations) log(`  VIOLATION ${v.rule} ${v.system} ${v.person}: ${v.detail}`)
  for (const line of await tenureView(pipeline.pool, violations)) log(`  tenure says ${line}`)
  if (!process.env.INVARIANT_DEBUG) return
  const { rows } = await pipeline.pool.query<{ line: string }>(
    `SELECT to_char(a.occurred_at, 'HH24:MI:SS.MS') || ' ' || a.action || ' ' || coalesce(a.system, '') || ' ' || left(a.details::text, CASE WHEN a.action = 'target.revoked' THEN 3000 ELSE 300 END) AS line
       FROM audit_events a JOIN employees e ON e.id::text = a.employee_id
      WHERE e.source || ':' || e.external_id = ANY($1) AND a.action NOT IN ('target.api_called') ORDER BY a.seq`,
    [[...new Set(violations.map((v) => v.person.split(' ')[0]!))]],
  )
  for (const r of rows) log(`    ${r.line}`)
  const inbox = await pipeline.pool.query<{ line: string }>(
    `SELECT to_char(received_at, 'HH24:MI:SS.MS') || ' inbox ' || vendor_event_type || ' ' || status || ' events=' || events_count || ' dedupe=' || left(dedupe_key, 40) || coalesce(' error=' || left(error::text, 200), '') AS line
       FROM hr_inbox WHERE source || ':' || employee_external_id = ANY($1) ORDER BY seq`,
    [[...new Set(violations.map((v) => v.person.split(' ')[0]!))]],
  )
  for (const r of inbox.rows) log(`    ${r.line}`)
}

/**
 * Replay one printed scenario exactly (a shrunk one included), `times` times on one pipeline: the
 * scenario text a failure printed, passed to `npm run check:invariants -- --scenario '…'`.
 */
export async function replayScenario(text: string, options: { times: number; log: (line: string) => void }): Promise<{ runs: number; violations: Violation[] }> {
  const { skew, cmds } = parseScenario(text)
  const pipeline = await startPipeline({ log: options.log })
  let runs = 0
  try {
    for (let i = 0; i < options.times; i++) {
      runs += 1
      options.log(`replay ${runs}: ${describeScenario(skew, cmds)}`)
      const violations = await runScenario(pipeline, skew, cmds, options.log)
      if (violations.length > 0) {
        await reportViolations(pipeline, violations, options.log)
        return { runs, violations }
      }
    }
    return { runs, violations: [] }
  } finally {
    await pipeline.stop()
  }
}
