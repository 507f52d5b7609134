/**
 * `tenure hr holds list | show | confirm | reject`: mass-termination holds, through the HTTP API
 * of a running server (TENURE_URL, default http://127.0.0.1:$PORT; the API token in
 * TENURE_TOKEN), like `tenure exceptions`: every decision is checked (roles) and recorded by the
 * server as the person the token belongs to. `--json` prints what the API returned.
 */
import type { Command } from 'commander'
import { apiCall as call, apiCommandKit, type ApiCommandDeps } from '../commands/api-client.ts'

export type HoldCommandsDeps = ApiCommandDeps

interface ApiHold {
  id: string
  source: string
  status: string
  thresholdPerHour: number
  heldCount: number
  firstHeldAt: string
  lastHeldAt: string
  earliestEffectiveAt: string | null
  decidedBy: string | null
  decidedAt: string | null
  reason: string | null
  notices?: number
}

interface ApiHoldItem {
  seq: number
  hrEmployeeId: string
  employeeName: string | null
  eventTypes: string[] | null
  vendorEventType: string
  effectiveAt: string | null
  why: string
  status: string
}



function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function summary(h: ApiHold): string {
  const rows: [string, string][] = [
    ['id', h.id],
    ['source', h.source],
    ['status', h.status],
    ['held', `${h.heldCount} notice(s), threshold ${h.thresholdPerHour}/hour`],
    ['held since', `${h.firstHeldAt} (last ${h.lastHeldAt})`],
    ['earliest effective', h.earliestEffectiveAt ?? '-'],
  ]
  if (h.decidedAt) rows.push([h.status, `${h.decidedAt} by ${h.decidedBy ?? '?'}: ${h.reason ?? ''}`])
  if (h.notices !== undefined) rows.push([h.status === 'confirmed' ? 'released' : 'rejected notices', String(h.notices)])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

export function registerHoldCommands(hr: Command, options: HoldCommandsDeps = {}): Command {
  const { deps, run, print } = apiCommandKit(options)

  const cmd = hr.command('holds').description('mass-termination holds: terminations over a source’s hourly threshold, waiting for a decision (docs/hr-sources.md)')

  cmd
    .command('list')
    .description('list holds, open ones first')
    .option('--status <status>', 'open, confirmed or rejected')
    .option('--source <source>', 'only this HR source')
    .option('--json', 'print JSON')
    .action((o: { status?: string; source?: string; json?: boolean }) =>
      run(async () => {
        const items: ApiHold[] = []
        let cursor: string | null = null
        do {
          const q = new URLSearchParams({ limit: '200' })
          if (o.status) q.set('status', o.status)
          if (o.source) q.set('source', o.source)
          if (cursor) q.set('cursor', cursor)
          const page = (await call(deps, 'GET', `/api/v1/hr/holds?${q.toString()}`)) as { items: ApiHold[]; nextCursor: string | null }
          items.push(...page.items)
          cursor = page.nextCursor
        } while (cursor)
        print(items, o.json, () =>
          items.length === 0
            ? 'no holds\n'
            : columns([
                ['ID', 'SOURCE', 'STATUS', 'HELD', 'SINCE', 'EARLIEST EFFECTIVE', 'DECIDED BY'],
                ...items.map((h) => [h.id, h.source, h.status, String(h.heldCount), h.firstHeldAt, h.earliestEffectiveAt ?? '-', h.decidedBy ?? '-']),
              ]),
        )
      })(),
    )

  cmd
    .command('show <id>')
    .description('one hold and every notice it holds, in the order they would be applied')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      run(async () => {
        let hold: (ApiHold & { items: ApiHoldItem[]; nextCursor: string | null }) | undefined
        const items: ApiHoldItem[] = []
        let cursor: string | null = null
        do {
          const q = new URLSearchParams({ limit: '5000', ...(cursor ? { cursor } : {}) })
          const page = (await call(deps, 'GET', `/api/v1/hr/holds/${encodeURIComponent(id)}?${q.toString()}`)) as ApiHold & { items: ApiHoldItem[]; nextCursor: string | null }
          hold ??= page
          items.push(...page.items)
          cursor = page.nextCursor
        } while (cursor)
        const full = { ...hold!, items, nextCursor: null }
        print(full, o.json, () =>
          summary(full) +
          '\n' +
          columns([
            ['SEQ', 'EMPLOYEE', 'NAME', 'EVENT', 'EFFECTIVE', 'WHY', 'STATUS'],
            ...items.map((i) => [String(i.seq), i.hrEmployeeId, i.employeeName ?? '-', i.eventTypes?.join(',') ?? i.vendorEventType, i.effectiveAt ?? '-', i.why, i.status]),
          ]),
        )
      })(),
    )

  for (const decision of ['confirm', 'reject'] as const) {
    cmd
      .command(`${decision} <id>`)
      .description(decision === 'confirm' ? 'apply every held notice, in the order HR sent them (approver or admin)' : 'keep the held notices as rejected, never applied (approver or admin)')
      .requiredOption('--reason <text>', 'why (kept in the audit trail, sent to the approvals channel)')
      .option('--json', 'print JSON')
      .action((id: string, o: { reason: string; json?: boolean }) =>
        run(async () => {
          const h = (await call(deps, 'POST', `/api/v1/hr/holds/${encodeURIComponent(id)}/${decision}`, { reason: o.reason })) as ApiHold
          print(h, o.json, () => summary(h))
        })(),
      )
  }
  return cmd
}
