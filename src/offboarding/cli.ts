/**
 * `tenure employees terminate <id|email> --reason "…"` and `tenure employees emergency list |
 * approve | reject`: emergency off-boarding through the HTTP API of a running server (TENURE_URL,
 * TENURE_TOKEN), so the server checks the roles and the four-eyes rule and records the person the
 * token belongs to. Results go to stdout (`--json` for machines); errors to stderr, exit code 1.
 */
import type { Command } from 'commander'
import { apiCall as call, apiCommandKit, CliError, type ApiCommandDeps } from '../commands/api-client.ts'

interface ApiEmergency {
  id: string
  employeeId: string
  employeeName: string | null
  externalId: string
  status: string
  reason: string
  requestedBy: string
  requestedByName: string | null
  requestedAt: string
  expiresAt: string | null
  decidedBy: string | null
  decidedByName: string | null
  appliedAt: string | null
  caseId: string | null
  hrStatus: string
  discrepancyTaskId: string | null
}

interface TerminateAnswer {
  outcome: string
  employeeId: string
  state: string
  request: ApiEmergency | null
  case: { id: string; status: string; deadlineAt: string | null } | null
  jobsEnqueued: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const OUTCOME_TEXT: Record<string, string> = {
  terminated: 'access is being cut now',
  pending_approval: 'waiting for a second approver (tenure employees emergency approve <request id>)',
  already_leaving: 'already leaving or gone: nothing new was done',
  already_requested: 'a request already waits: nothing new was done',
  rejected: 'rejected: nothing was cut',
}

function answerText(a: TerminateAnswer): string {
  const who = a.request ? `${a.request.employeeName ?? a.request.externalId} (${a.employeeId})` : a.employeeId
  const lines = [`${who}: ${OUTCOME_TEXT[a.outcome] ?? a.outcome}`, `state      ${a.state}`]
  if (a.request) lines.push(`request    ${a.request.id} (${a.request.status}${a.request.expiresAt ? `, expires ${a.request.expiresAt}` : ''})`)
  if (a.case) lines.push(`case       ${a.case.id} (${a.case.status}, deadline ${a.case.deadlineAt ?? '—'})`)
  if (a.outcome === 'terminated') lines.push(`jobs       ${a.jobsEnqueued} queued`)
  return `${lines.join('\n')}\n`
}

function rowText(e: ApiEmergency): string {
  const by = e.requestedByName ?? e.requestedBy
  return `${e.id}  ${e.status.padEnd(8)} hr:${e.hrStatus.padEnd(12)} ${(e.employeeName ?? e.externalId).padEnd(24)} by ${by} at ${e.requestedAt}  "${e.reason}"\n`
}

export function registerEmergencyCommands(program: Command, options: ApiCommandDeps = {}): void {
  const { deps, run, print } = apiCommandKit(options)
  const employees = program.commands.find((c) => c.name() === 'employees') ?? program.command('employees').description('employees (through the API of a running server)')

  /** A Tenure employee id, or an email / HR id that names exactly one employee. */
  async function resolveEmployee(ref: string): Promise<string> {
    if (UUID.test(ref)) return ref
    const page = (await call(deps, 'GET', `/api/v1/employees?q=${encodeURIComponent(ref)}&limit=20`)) as { items: { id: string; email: string | null; externalId: string; displayName: string | null }[] }
    const wanted = ref.toLowerCase()
    const exact = page.items.filter((e) => e.email?.toLowerCase() === wanted || e.externalId.toLowerCase() === wanted)
    if (exact.length === 1) return exact[0]!.id
    if (exact.length === 0) throw new CliError(`no employee with the email or HR id ${ref}`)
    throw new CliError(`${ref} names ${exact.length} employees (${exact.map((e) => e.id).join(', ')}): give the Tenure id`)
  }

  employees
    .command('terminate <employee>')
    .description('cut a person off now, without waiting for HR (emergency off-boarding); <employee> is the Tenure id, the work email or the HR id')
    .requiredOption('--reason <text>', 'why (at least 10 characters); goes into the audit trail')
    .option('--json', 'print the API answer as JSON')
    .action((ref: string, opts: { reason: string; json?: boolean }) =>
      run(async () => {
        const id = await resolveEmployee(ref)
        const answer = (await call(deps, 'POST', `/api/v1/employees/${id}/terminate`, { reason: opts.reason, effective: 'now' })) as TerminateAnswer
        print(answer, opts.json, () => answerText(answer))
      })(),
    )

  const emergency = employees.command('emergency').description('emergency terminations: list, approve or reject pending requests')
  emergency
    .command('list')
    .description('emergency terminations, newest first')
    .option('--status <status>', 'pending | applied | rejected | expired')
    .option('--json', 'print JSON')
    .action((opts: { status?: string; json?: boolean }) =>
      run(async () => {
        const page = (await call(deps, 'GET', `/api/v1/emergency-terminations${opts.status ? `?status=${encodeURIComponent(opts.status)}` : ''}`)) as { items: ApiEmergency[]; total: number }
        print(page, opts.json, () => (page.items.length === 0 ? 'no emergency terminations\n' : page.items.map(rowText).join('')))
      })(),
    )
  for (const decision of ['approve', 'reject'] as const) {
    const cmd = emergency
      .command(`${decision} <request>`)
      .description(decision === 'approve' ? 'approve a pending emergency termination (never your own): access is cut now' : 'reject a pending emergency termination (or withdraw your own)')
    if (decision === 'reject') cmd.requiredOption('--reason <text>', 'why (at least 10 characters)')
    else cmd.option('--reason <text>', 'an optional note for the audit trail (at least 10 characters)')
    cmd
      .option('--json', 'print JSON')
      .action((id: string, opts: { reason?: string; json?: boolean }) =>
        run(async () => {
          const answer = (await call(deps, 'POST', `/api/v1/emergency-terminations/${encodeURIComponent(id)}/${decision}`, opts.reason !== undefined ? { reason: opts.reason } : {})) as TerminateAnswer
          print(answer, opts.json, () => answerText(answer))
        })(),
      )
  }
}
