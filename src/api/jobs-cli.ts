/**
 * `tenure jobs dead-letters | retry | settle`: jobs that failed for good, through the HTTP API of a
 * running server (TENURE_URL, the API token in TENURE_TOKEN), like `tenure hr holds`: the server
 * checks the operator role and records each decision as the person the token belongs to.
 */
import type { Command } from 'commander'
import { apiCall as call, apiCommandKit, type ApiCommandDeps } from '../commands/api-client.ts'

export type DeadLetterCommandsDeps = ApiCommandDeps

interface ApiDeadLetter {
  id: string
  system: string
  externalId: string
  action: string
  phase: string | null
  failure: unknown
  createdAt: string
}

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function why(f: unknown): string {
  const m = f as { kind?: unknown; message?: unknown } | null
  return typeof m?.message === 'string' ? `${typeof m.kind === 'string' ? `${m.kind}: ` : ''}${m.message}`.slice(0, 80) : '-'
}

export function registerDeadLetterCommands(jobs: Command, options: DeadLetterCommandsDeps = {}): Command {
  const { deps, run, print } = apiCommandKit(options)

  jobs
    .command('dead-letters')
    .description('jobs that failed for good and wait for a person, newest first')
    .option('--system <system>', 'only this system')
    .option('--employee <id>', "only this employee's (Tenure id)")
    .option('--json', 'print JSON')
    .action((o: { system?: string; employee?: string; json?: boolean }) =>
      run(async () => {
        const items: ApiDeadLetter[] = []
        let cursor: string | null = null
        let total: number
        do {
          const q = new URLSearchParams({ limit: '200' })
          if (o.system) q.set('system', o.system)
          if (o.employee) q.set('employeeId', o.employee)
          if (cursor) q.set('cursor', cursor)
          const page = (await call(deps, 'GET', `/api/v1/jobs/dead-letters?${q.toString()}`)) as { items: ApiDeadLetter[]; nextCursor: string | null; total: number }
          items.push(...page.items)
          total = page.total
          cursor = page.nextCursor
        } while (cursor)
        print({ items, total }, o.json, () =>
          items.length === 0
            ? 'no failed jobs\n'
            : columns([
                ['ID', 'SYSTEM', 'EMPLOYEE', 'ACTION', 'FAILED', 'WHY'],
                ...items.map((j) => [j.id, j.system, j.externalId, `${j.action}${j.phase ? ` ${j.phase}` : ''}`, j.createdAt, why(j.failure)]),
              ]),
        )
      })(),
    )

  jobs
    .command('retry <id>')
    .description('run a failed job again, once (operators); a second retry of the same dead letter is refused')
    .requiredOption('--reason <text>', 'what was fixed (on the audit trail)')
    .option('--json', 'print JSON')
    .action((id: string, o: { reason: string; json?: boolean }) =>
      run(async () => {
        const out = (await call(deps, 'POST', `/api/v1/jobs/dead-letters/${encodeURIComponent(id)}/redrive`, { reason: o.reason })) as { jobId: string | null; system: string }
        print(out, o.json, () => `${out.system}: retried${out.jobId ? ` as job ${out.jobId}` : ''}\n`)
      })(),
    )

  jobs
    .command('settle <id>')
    .description('settle a failed job without retrying it (operators): accept the failure, or record it as resolved by hand')
    .requiredOption('--outcome <outcome>', 'accepted (a leaver’s access becomes residual access with a task) or resolved_by_hand')
    .requiredOption('--reason <text>', 'why, at least 10 characters (on the audit trail)')
    .option('--json', 'print JSON')
    .action((id: string, o: { outcome: string; reason: string; json?: boolean }) =>
      run(async () => {
        const out = (await call(deps, 'POST', `/api/v1/jobs/dead-letters/${encodeURIComponent(id)}/settle`, { outcome: o.outcome, reason: o.reason })) as {
          system: string
          outcome: string
          caseChanged: boolean
          residualTaskIds: string[]
        }
        print(out, o.json, () =>
          [
            `${out.system}: ${out.outcome.replaceAll('_', ' ')}${out.caseChanged ? '' : ' (the case had moved on; only the dead letter was settled)'}`,
            ...out.residualTaskIds.map((t) => `residual-access task to decide: ${t}`),
          ].join('\n') + '\n',
        )
      })(),
    )
  return jobs
}
