/**
 * `tenure employees plan <id|email> [--what-if move|termination|rehire …]`: the dry-run plan of
 * one employee, or what every system would do for a proposed change, through the HTTP API of a
 * running server (TENURE_URL, TENURE_TOKEN) like the other commands that act as a person. Reads
 * only: the what-if route writes nothing and calls no target.
 */
import { Option, type Command } from 'commander'
import { apiCall as call, apiCommandKit, CliError, type ApiClientDeps, type ApiCommandDeps } from '../commands/api-client.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Profile attributes a move or a rehire may change (the canonical profile's keys, docs/hr-events.md). */
const PROFILE_OPTIONS = [
  ['department', 'department'],
  ['title', 'title'],
  ['location', 'location'],
  ['employment-type', 'employmentType'],
  ['cost-center', 'costCenter'],
  ['manager-id', 'managerId'],
  ['manager-email', 'managerEmail'],
  ['work-email', 'workEmail'],
  ['time-zone', 'timeZone'],
  ['country-code', 'countryCode'],
  ['first-name', 'firstName'],
  ['last-name', 'lastName'],
] as const

interface PlanOptions {
  whatIf?: 'move' | 'termination' | 'rehire'
  effectiveDate?: string
  effectiveAt?: string
  immediate?: boolean
  startDate?: string
  json?: boolean
  [key: string]: unknown
}

interface Summary {
  id: string
  email: string | null
  externalId: string
  displayName: string | null
}

/** An employee's id from a Tenure id, an email or an HR id: exactly one match, or a message saying why not. */
async function resolveEmployee(deps: ApiClientDeps, who: string): Promise<string> {
  if (UUID.test(who)) return who
  const page = (await call(deps, 'GET', `/api/v1/employees?q=${encodeURIComponent(who)}&limit=20`)) as { items: Summary[] }
  const exact = page.items.filter((e) => e.email?.toLowerCase() === who.toLowerCase() || e.externalId === who)
  if (exact.length === 1) return exact[0]!.id
  if (exact.length > 1) throw new CliError(`${who} matches ${exact.length} employees (${exact.map((e) => e.id).join(', ')}): give the Tenure id`)
  throw new CliError(`no employee with email or HR id ${who}`)
}

function whatIfBody(o: PlanOptions): Record<string, unknown> {
  const profile: Record<string, string> = {}
  for (const [, key] of PROFILE_OPTIONS) if (typeof o[key] === 'string') profile[key] = o[key]
  switch (o.whatIf) {
    case 'move':
      return { change: 'move', profile }
    case 'termination':
      return { change: 'termination', ...(o.effectiveDate ? { effectiveDate: o.effectiveDate } : {}), ...(o.effectiveAt ? { effectiveAt: o.effectiveAt } : {}), ...(o.immediate ? { immediate: true } : {}) }
    case 'rehire':
      return { change: 'rehire', ...(o.startDate ? { startDate: o.startDate } : {}), ...(Object.keys(profile).length > 0 ? { profile } : {}) }
    default:
      throw new CliError(`--what-if must be move, termination or rehire (got ${String(o.whatIf)})`)
  }
}

type Lists = Record<string, string[]>

interface WhatIfAnswer {
  change: string
  state: { now: string; after: string; settled: string }
  effectiveAt: string | null
  deadline: { kind: string; at: string } | null
  systems: Array<{
    system: string
    kind: string | null
    account: string
    add: Lists
    remove: Lists
    kept: Lists
    rules: string[]
    jobs: Array<{ action: string; phase?: string; at: string; startAfter?: string }>
    cutoff: { startAfter?: string; steps: Array<{ step: string; unsupported?: string }>; options: Record<string, unknown> } | null
    cleanup: { steps: Array<{ step: string; unsupported?: string }>; options: Record<string, unknown> } | null
    exceptions: string[]
    deadlineAt: string | null
  }>
  exceptions: Array<{ id: string; kind: string; system: string | null; applies: boolean; effect: string }>
  notes: string[]
}

const listText = (sign: string, lists: Lists) =>
  Object.entries(lists)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => `${sign}${k}: ${v.join(', ')}`)
    .join('  ')

const stepsText = (steps: Array<{ step: string; unsupported?: string }>) => steps.map((s, i) => `${i + 1}. ${s.step}${s.unsupported ? ' (not supported here)' : ''}`).join('  ')

const optionsText = (options: Record<string, unknown>) =>
  Object.entries(options)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ')

export function formatWhatIf(p: WhatIfAnswer): string {
  const out: string[] = []
  out.push(`What if: ${p.change} (${p.state.now} → ${p.state.after}${p.state.settled !== p.state.after ? ` → ${p.state.settled}` : ''})`)
  if (p.effectiveAt) out.push(`Effective: ${p.effectiveAt}`)
  if (p.deadline) out.push(`Deadline: ${p.deadline.at} (${p.deadline.kind === 'leaver_sla' ? 'revocation SLA' : 'day one'})`)
  out.push('Nothing was changed: no job queued, no system called.', '')
  for (const s of p.systems) {
    out.push(`${s.system}${s.kind ? ` [${s.kind}]` : ''}: account ${s.account}${s.rules.length ? ` (rules: ${s.rules.join(', ')})` : ''}`)
    const add = listText('+', s.add)
    const remove = listText('−', s.remove)
    if (add) out.push(`  ${add}`)
    if (remove) out.push(`  ${remove}`)
    const kept = listText('=', s.kept ?? {})
    if (kept) out.push(`  ${kept} (kept on the disabled account)`)
    if (s.jobs.length) out.push(`  jobs: ${s.jobs.map((j) => `${j.action}${j.phase ? `:${j.phase}` : ''}`).join(' → ')}`)
    if (s.cutoff) out.push(`  cut-off${s.cutoff.startAfter ? ` (not before ${s.cutoff.startAfter})` : ''}: ${stepsText(s.cutoff.steps)}`)
    if (s.cleanup) out.push(`  clean-up: ${stepsText(s.cleanup.steps)}${Object.keys(s.cleanup.options).length ? `  [${optionsText(s.cleanup.options)}]` : ''}`)
    if (s.exceptions.length) out.push(`  exceptions: ${s.exceptions.join(', ')}`)
    if (s.deadlineAt) out.push(`  deadline: ${s.deadlineAt}`)
  }
  if (p.exceptions.length) {
    out.push('', 'Exceptions:')
    for (const x of p.exceptions) out.push(`  ${x.applies ? 'applies' : 'does not apply'}: ${x.kind} on ${x.system ?? 'every system'} (${x.id}): ${x.effect}`)
  }
  if (p.notes.length) out.push('', ...p.notes.map((n) => `Note: ${n}`))
  return `${out.join('\n')}\n`
}

interface PlanAnswer {
  state: string
  systems: Array<{ system: string; create: boolean; remove: boolean; add: Lists; removeItems: Lists; rules: string[] }>
}

function formatPlan(p: PlanAnswer): string {
  const lines = p.systems.map((s) => {
    const change = [s.create ? 'create account' : s.remove ? 'remove account' : '', listText('+', s.add), listText('−', s.removeItems)].filter(Boolean).join('  ')
    return `${s.system}: ${change || 'no change'}${s.rules.length ? ` (rules: ${s.rules.join(', ')})` : ''}`
  })
  return `Plan for the current profile (${p.state}):\n${lines.join('\n')}\n`
}

/** Finds or adds the `employees` group, so other `tenure employees …` commands can share it. */
export function registerEmployeeCommands(program: Command, options: ApiCommandDeps = {}): Command {
  const { deps, run, print } = apiCommandKit(options)
  const employees = program.commands.find((c) => c.name() === 'employees') ?? program.command('employees').description('employees, through the API of a running server')
  const plan = employees
    .command('plan <employee>')
    .description('the dry-run plan for the current profile, or with --what-if what every system would do for a proposed change (changes nothing)')
    .addOption(new Option('--what-if <change>', 'a proposed change').choices(['move', 'termination', 'rehire']))
    .option('--effective-date <date>', 'termination: date-only effective date (YYYY-MM-DD)')
    .option('--effective-at <datetime>', 'termination: exact moment (ISO 8601 with offset)')
    .option('--immediate', 'termination: for cause, revoke now')
    .option('--start-date <date>', 'rehire: day one (YYYY-MM-DD; default today)')
    .option('--json', 'print JSON')
  for (const [flag, key] of PROFILE_OPTIONS) plan.option(`--${flag} <value>`, `move / rehire: new ${key}`)
  plan.action((who: string, o: PlanOptions) =>
    run(async () => {
      if (!o.whatIf && PROFILE_OPTIONS.some(([, key]) => o[key] !== undefined))
        throw new CliError('profile options (--department …) describe a proposed change: add --what-if move or --what-if rehire')
      const id = await resolveEmployee(deps, who)
      if (!o.whatIf) {
        const out = (await call(deps, 'GET', `/api/v1/employees/${id}/plan`)) as PlanAnswer
        print(out, o.json, () => formatPlan(out))
        return
      }
      const out = (await call(deps, 'POST', `/api/v1/employees/${id}/plan/what-if`, whatIfBody(o))) as WhatIfAnswer
      print(out, o.json, () => formatWhatIf(out))
    })(),
  )
  return employees
}
