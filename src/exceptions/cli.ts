/**
 * `tenure exceptions request | list | show | approve | reject | revoke | extend`: a client of the HTTP API
 * of a running server, the way `gh` and `stripe` are. It finds the server through TENURE_URL
 * (default http://127.0.0.1:$PORT, PORT defaulting to 8080) and authenticates with the API token
 * in TENURE_TOKEN, so every action is checked (roles, four-eyes) and recorded by the server, as
 * the person the token belongs to. Results go to stdout (`--json` for machines); errors to
 * stderr with exit code 1.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { EXCEPTION_KINDS } from '../../state-machines/lifecycle-types.ts'
import { durationMs } from './config.ts'
import { apiCall as call, apiCommandKit, type ApiCommandDeps } from '../commands/api-client.ts'

export interface ExceptionCommandsDeps extends ApiCommandDeps {
  now?: () => Date
}

interface ApiException {
  id: string
  kind: string
  employeeId: string
  system: string | null
  reason: string
  requestedBy: string
  requestedAt: string
  startsAt: string
  endsAt: string
  status: string
  approvalsNeeded: number
  approvals: { actorId: string; role: string; at: string; reason: string | null }[]
  decidedAt: string | null
  rejectedBy: string | null
  rejectionReason: string | null
  revokedAt: string | null
  revokedBy: string | null
  revokeReason: string | null
  expiredAt: string | null
  caseId: string | null
  details: Record<string, unknown>
}


/** An ISO 8601 time, or a duration from now: `+8h`, `3d`, `90m`. */
export function parseWhen(value: string, now: Date): string {
  const relative = durationMs(value.replace(/^\+/, ''))
  if (relative !== undefined) return new Date(now.getTime() + relative).toISOString()
  const ms = Date.parse(value)
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new InvalidArgumentError('an ISO 8601 time (2025-03-01T18:00:00Z) or a duration from now (+8h, 3d, 90m)')
  }
  return new Date(ms).toISOString()
}



function show(e: ApiException): string {
  const rows: [string, string][] = [
    ['id', e.id],
    ['kind', e.kind],
    ['status', e.status],
    ['employee', e.employeeId],
    ['system', e.system ?? '(every system)'],
    ['starts', e.startsAt],
    ['ends', e.endsAt],
    ['reason', e.reason],
    ['requested', `${e.requestedAt} by ${e.requestedBy}`],
    ['approvals', `${e.approvals.length} of ${e.approvalsNeeded}${e.approvals.map((a) => `\n  ${a.at} ${a.actorId} (${a.role})${a.reason ? `: ${a.reason}` : ''}`).join('')}`],
  ]
  if (e.decidedAt) rows.push(['decided', e.decidedAt])
  if (e.rejectedBy) rows.push(['rejected', `by ${e.rejectedBy}: ${e.rejectionReason ?? ''}`])
  if (e.revokedAt) rows.push(['revoked', `${e.revokedAt} by ${e.revokedBy ?? '?'}: ${e.revokeReason ?? ''}`])
  if (e.expiredAt) rows.push([e.status === 'lapsed' ? 'lapsed' : 'expired', e.expiredAt])
  if (e.caseId) rows.push(['case', e.caseId])
  if (typeof e.details.newDeadlineAt === 'string') rows.push(['deadline', `${String(e.details.originalDeadlineAt)} → ${e.details.newDeadlineAt}`])
  if (e.details.breachNotHidden === true) rows.push(['deadline', `the deadline ${String(e.details.originalDeadlineAt)} had passed when approved: the breach stays on record`])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

function table(items: ApiException[]): string {
  const rows = [['ID', 'KIND', 'STATUS', 'EMPLOYEE', 'SYSTEM', 'ENDS', 'REQUESTED BY']]
  for (const e of items) rows.push([e.id, e.kind, e.status, e.employeeId, e.system ?? '*', e.endsAt, e.requestedBy])
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function kindArg(value: string): string {
  if (!(EXCEPTION_KINDS as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${EXCEPTION_KINDS.join(', ')}`)
  return value
}

function jsonArg(value: string): unknown {
  try {
    return JSON.parse(value) as unknown
  } catch {
    throw new InvalidArgumentError('JSON, e.g. \'{"groups":["finance-admins"]}\'')
  }
}

export function registerExceptionCommands(program: Command, options: ExceptionCommandsDeps = {}): Command {
  const kit = apiCommandKit(options)
  const deps = { ...kit.deps, now: options.now ?? (() => new Date()) }
  const { run, print } = kit

  const cmd = program
    .command('exceptions')
    .description('request and decide exceptions to the default policy, through the API of a running server (TENURE_URL, TENURE_TOKEN; docs/exceptions.md)')

  cmd
    .command('request')
    .description('ask for an exception; approvers are notified')
    .requiredOption('--employee <id>', "Tenure's employee id (uuid)")
    .requiredOption('--kind <kind>', EXCEPTION_KINDS.join(' | '), kindArg)
    .option('--system <system>', 'the system it applies to (required for delay_revocation and extra_access)')
    .requiredOption('--until <time>', 'when it ends: ISO 8601 or a duration from now (+8h, 3d)')
    .option('--starts <time>', 'when it starts once approved: ISO 8601 or a duration from now (default: at approval)')
    .requiredOption('--reason <text>', 'why (sent to the approvers, kept in the audit trail)')
    .option('--grant <json>', 'extra_access: what it adds, e.g. \'{"groups":["finance-admins"]}\'', jsonArg)
    .option('--idempotency-key <key>', 'a retry with the same key returns the same exception')
    .option('--json', 'print the exception as JSON')
    .action((o: { employee: string; kind: string; system?: string; until: string; starts?: string; reason: string; grant?: unknown; idempotencyKey?: string; json?: boolean }) =>
      run(async () => {
        const now = deps.now()
        const body = {
          kind: o.kind,
          employeeId: o.employee,
          endsAt: parseWhen(o.until, now),
          reason: o.reason,
          ...(o.system ? { system: o.system } : {}),
          ...(o.starts ? { startsAt: parseWhen(o.starts, now) } : {}),
          ...(o.grant !== undefined ? { grant: o.grant } : {}),
        }
        const e = (await call(deps, 'POST', '/api/v1/exceptions', body, o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {})) as ApiException
        print(e, o.json, () => show(e))
      })(),
    )

  cmd
    .command('list')
    .description('list exceptions, newest first')
    .option('--status <status>', 'requested, awaiting_second_approval, approved, active, rejected, expired, revoked or lapsed')
    .option('--employee <id>', 'only this employee')
    .option('--kind <kind>', 'only this kind', kindArg)
    .option('--system <system>', 'only this system')
    .option('--limit <n>', 'items per page (1-200)', '50')
    .option('--all', 'follow every page')
    .option('--json', 'print JSON')
    .action((o: { status?: string; employee?: string; kind?: string; system?: string; limit: string; all?: boolean; json?: boolean }) =>
      run(async () => {
        const items: ApiException[] = []
        let cursor: string | null = null
        do {
          const q = new URLSearchParams({ limit: o.limit })
          if (o.status) q.set('status', o.status)
          if (o.employee) q.set('employeeId', o.employee)
          if (o.kind) q.set('kind', o.kind)
          if (o.system) q.set('system', o.system)
          if (cursor) q.set('cursor', cursor)
          const page = (await call(deps, 'GET', `/api/v1/exceptions?${q.toString()}`)) as { items: ApiException[]; nextCursor: string | null }
          items.push(...page.items)
          cursor = page.nextCursor
        } while (o.all && cursor)
        print(items, o.json, () => (items.length === 0 ? 'no exceptions\n' : table(items)))
      })(),
    )

  cmd
    .command('show <id>')
    .description('one exception with its approvals and decision')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      run(async () => {
        const e = (await call(deps, 'GET', `/api/v1/exceptions/${encodeURIComponent(id)}`)) as ApiException
        print(e, o.json, () => show(e))
      })(),
    )

  for (const decision of ['approve', 'reject', 'revoke'] as const) {
    const what = { approve: 'approve (not your own request; an sla_waiver needs a second, admin approval)', reject: 'reject a pending request', revoke: 'withdraw or end an exception early (the requester or an admin)' }[decision]
    cmd
      .command(`${decision} <id>`)
      .description(what)
      .requiredOption('--reason <text>', 'why (sent to the requester, kept in the audit trail)')
      .option('--json', 'print the exception as JSON')
      .action((id: string, o: { reason: string; json?: boolean }) =>
        run(async () => {
          const e = (await call(deps, 'POST', `/api/v1/exceptions/${encodeURIComponent(id)}/${decision}`, { reason: o.reason })) as ApiException
          print(e, o.json, () => show(e))
        })(),
      )
  }
  cmd
    .command('extend <id>')
    .description('move the end of an approved or active exception later (not your own: four eyes)')
    .requiredOption('--until <time>', 'the new end: ISO 8601 or a duration from now (+8h, 3d)')
    .requiredOption('--reason <text>', 'why (sent to the requester, kept in the audit trail)')
    .option('--json', 'print the exception as JSON')
    .action((id: string, o: { until: string; reason: string; json?: boolean }) =>
      run(async () => {
        const body = { endsAt: parseWhen(o.until, deps.now()), reason: o.reason }
        const e = (await call(deps, 'POST', `/api/v1/exceptions/${encodeURIComponent(id)}/extend`, body)) as ApiException
        print(e, o.json, () => show(e))
      })(),
    )
  return cmd
}
