/**
 * The human summary (`format=html`): one self-contained page (inline CSS, no script, no external
 * asset, so it opens the same from an e-mail attachment or an evidence folder years later) for a
 * reader who has never seen Tenure: what was measured, the totals, whether every termination HR
 * reported is accounted for, and each row that was not met with the reason why.
 */
import type { PopulationTotals, ReportTotals } from './totals.ts'
import { OUTCOME_MEANINGS, type Outcome, type ReportRow } from './rows.ts'

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const e = escapeHtml

function moment(value: string | null): string {
  if (value === null) return '<span class="none">—</span>'
  return `<time datetime="${e(value)}">${e(value.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC'))}</time>`
}

function num(value: number | null, unit = ''): string {
  return value === null ? '—' : `${value.toLocaleString('en-US', { maximumFractionDigits: 1 })}${unit}`
}

export interface HtmlMeta {
  /** Null on a one-employee report over all time. */
  from: string | null
  to: string | null
  /** A one-employee report: the name asked for and the names it resolved to. */
  employee?: { named: string; names: string[] } | null
  generatedAt: string
  generatedBy: string
  auditChainHead: { seq: number; hash: string }
  tenureVersion: string
  reportId: string
}

const STYLE = `
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 2rem auto; max-width: 78rem; padding: 0 1.5rem; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #d5d9e2; padding-bottom: .3rem; }
  p.lead { color: #4a5468; margin-top: 0; }
  table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: 13.5px; }
  th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid #e6e9ef; }
  th { background: #f3f5f9; font-weight: 600; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .cards { display: flex; flex-wrap: wrap; gap: .7rem; margin: 1rem 0; }
  .card { border: 1px solid #d5d9e2; border-radius: 6px; padding: .6rem .9rem; min-width: 7.5rem; }
  .card b { display: block; font-size: 1.5rem; }
  .met b { color: #1e7b3c; } .breached b { color: #b3261e; } .waived b { color: #8a5a00; } .pending b { color: #2d5fa8; } .gap b { color: #b3261e; }
  .ok { color: #1e7b3c; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
  .none { color: #8a93a6; } code { font-size: 12px; word-break: break-all; }
  footer { margin-top: 2.5rem; color: #4a5468; font-size: 13px; border-top: 1px solid #d5d9e2; padding-top: .8rem; }
  @media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
`

function who(meta: HtmlMeta): string {
  const employee = meta.employee
  if (!employee) return ''
  return employee.names.length > 0 ? `${employee.names.join(', ')} (${employee.named})` : employee.named
}

function titleScope(meta: HtmlMeta): string {
  const period = meta.from !== null && meta.to !== null ? `${meta.from.slice(0, 10)} to ${meta.to.slice(0, 10)}` : ''
  return meta.employee ? `for ${who(meta)}${period ? ` ${period}` : ''}` : period
}

function leadScope(meta: HtmlMeta): string {
  const period = meta.from !== null && meta.to !== null ? `effective from ${moment(meta.from)} up to (not including) ${moment(meta.to)}` : 'whenever they took effect'
  return meta.employee ? `The terminations of <b>${e(who(meta))}</b>, ${period}.` : `Terminations ${period}.`
}

export function htmlHead(meta: HtmlMeta, totals: ReportTotals, population: PopulationTotals): string {
  const o = totals.outcomes
  const card = (cls: string, label: string, value: number | string) => `<div class="card ${cls}"><b>${typeof value === 'number' ? num(value) : value}</b>${e(label)}</div>`
  const complete = population.gap === 0 && o.gap === 0
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access revocation report ${e(titleScope(meta))}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Access revocation report</h1>
<p class="lead">${leadScope(meta)} Generated ${moment(meta.generatedAt)}.</p>
<p>When someone leaves, Tenure removes their access in every system they had an account in: it disables the account and ends
its sessions, then reads the account back from the system to <em>verify</em> that it can no longer be used. Each system has a
deadline (the SLA) counted from the moment HR says the employment ended. This report lists, for every person whose termination
took effect in the period and every system, when access was removed and verified, and whether that was on time.</p>

<h2>Totals</h2>
<div class="cards">
${card('', 'leavers', totals.leavers)}
${card('', 'systems', totals.systems)}
${card('', 'rows (leaver × system)', totals.rows)}
${card('met', 'met the deadline', o.met)}
${card('breached', 'breached', o.breached)}
${card('waived', 'waived (approved exception)', o.waived)}
${card('pending', 'pending (deadline not reached)', o.pending)}
${card('gap', 'gaps in evidence', o.gap)}
</div>
<table>
<tr><th>Measure</th><th class="n">Value</th></tr>
<tr><td>Median time from termination to verified revocation</td><td class="n">${num(totals.minutesToRevoke.median, ' min')}</td></tr>
<tr><td>95th percentile (95% of revocations were verified within)</td><td class="n">${num(totals.minutesToRevoke.p95, ' min')}</td></tr>
<tr><td>Longest</td><td class="n">${num(totals.minutesToRevoke.max, ' min')}</td></tr>
<tr><td>Verified revocations measured</td><td class="n">${num(totals.minutesToRevoke.count)}</td></tr>
<tr><td>Systems where the person had no account (nothing to revoke)</td><td class="n">${num(o.no_account)}</td></tr>
<tr><td>Terminations rescinded by HR before access was revoked</td><td class="n">${num(o.rescinded)}</td></tr>
</table>

<h2>Completeness</h2>
<p>HR reported <b>${num(population.terminations)}</b> termination${population.terminations === 1 ? '' : 's'} effective in this period (every notice Tenure stored,
from webhooks and from its regular comparison with the HR system).
${num(population.inReport)} opened a leaver case listed in this report; ${num(population.duplicate)} repeated a termination already listed;
${num(population.superseded)} were followed by a corrected date in another period; ${num(population.gap)} have no leaver case at all.
${complete ? '<span class="ok">Every termination is accounted for and no evidence is missing.</span>' : '<span class="bad">Some terminations or systems lack evidence: they are listed under “Gaps” below.</span>'}</p>
<table>
<tr><th>Outcome</th><th>Meaning</th><th class="n">Rows</th></tr>
${(Object.keys(OUTCOME_MEANINGS) as Outcome[]).map((k) => `<tr><td>${e(k)}</td><td>${e(OUTCOME_MEANINGS[k])}</td><td class="n">${num(o[k])}</td></tr>`).join('\n')}
</table>
`
}

export const HTML_SECTIONS: ReadonlyArray<{ outcome: Outcome; title: string; intro: string }> = [
  { outcome: 'breached', title: 'Breaches', intro: 'Access was verified as removed after the deadline, or is still not verified although the deadline has passed.' },
  { outcome: 'gap', title: 'Gaps', intro: 'Terminations or accounts for which Tenure holds no evidence of revocation. Each needs an explanation.' },
  { outcome: 'waived', title: 'Waived', intro: 'Late, or not yet done, under an exception that was approved in advance.' },
  { outcome: 'pending', title: 'Pending', intro: 'Not revoked yet; the deadline had not passed when this report was generated.' },
]

export function htmlSectionStart(section: { title: string; intro: string }, count: number): string {
  return `
<h2>${e(section.title)} (${num(count)})</h2>
<p>${e(section.intro)}</p>
<table>
<tr><th>Leaver</th><th>System</th><th>Termination effective</th><th>Deadline</th><th>Verified</th><th>Why</th><th>Evidence (audit seq)</th></tr>
`
}

/** What each audit sequence number records, in words. */
const SEQ_LABELS: Record<keyof ReportRow['auditSeqs'], string> = {
  hrEventStored: 'HR notice received',
  termination: 'termination applied',
  revokedCutoff: 'cut-off',
  revokedCleanup: 'clean-up',
  verified: 'verified',
  slaBreached: 'breach recorded',
}

export function htmlSectionRow(row: ReportRow): string {
  const hrNotice = row.caseId === null && row.hrEvent.sourceEventId ? `<br>HR notice <code>${e(row.hrEvent.sourceEventId)}</code>${row.hrEvent.foundBy ? ` (${e(row.hrEvent.foundBy)})` : ''}` : ''
  const person = `${row.employee.name ? e(row.employee.name) : '<span class="none">(no name)</span>'}<br><code>${e(row.employee.source)}:${e(row.employee.hrId)}</code>${hrNotice}`
  const details: string[] = [e(row.outcomeReason)]
  if (row.lastError) details.push(`Last error: ${e(row.lastError.kind ?? 'error')}: ${e(row.lastError.message)}`)
  if (row.escalations.length > 0) details.push(`Escalations sent: ${row.escalations.map((x) => `${e(x.step)} at ${moment(x.sentAt)}`).join(', ')}`)
  for (const x of row.exceptions) {
    details.push(`Exception ${e(x.kind)} (${e(x.status)})${x.approvers.length > 0 ? `, approved by ${e(x.approvers.join(', '))}` : ''}: “${e(x.reason)}”`)
  }
  if (row.residualAccess.length > 0) {
    const decided = (r: ReportRow['residualAccess'][number]) =>
      r.decision === 'pending' ? 'decision pending' : `${r.decision}${r.decidedBy ? ` by ${r.decidedBy}` : ''}${r.exceptionId ? ` under exception ${r.exceptionId}` : ''}`
    details.push(`Residual access: ${row.residualAccess.map((r) => `${e(r.kind)} ${e(r.id)} (${e(r.reason)}; ${e(decided(r))})`).join('; ')}`)
  }
  const seqs = (Object.keys(SEQ_LABELS) as Array<keyof ReportRow['auditSeqs']>)
    .filter((k) => row.auditSeqs[k] !== null)
    .map((k) => `${SEQ_LABELS[k]}&nbsp;${row.auditSeqs[k]}`)
    .join('<br>')
  return `<tr><td>${person}</td><td>${row.system ? e(row.system) : '<span class="none">—</span>'}</td><td>${moment(row.terminationEffectiveAt)}</td><td>${moment(row.slaDeadline)}</td><td>${moment(row.verifiedAt)}</td><td>${details.join('<br>')}</td><td>${seqs || '<span class="none">none</span>'}</td></tr>\n`
}

export function htmlSectionEnd(): string {
  return '</table>\n'
}

export function htmlFoot(meta: HtmlMeta): string {
  return `
<footer>
<p>Report <code>${e(meta.reportId)}</code>, generated by ${e(meta.generatedBy)} with Tenure ${e(meta.tenureVersion)} from the audit trail up to entry
${meta.auditChainHead.seq} (hash <code>${e(meta.auditChainHead.hash)}</code>). The “audit seq” numbers point to the entries of the tamper-evident
audit trail that record each fact. A signed manifest accompanies this file; check it with
<code>tenure reports verify FILE MANIFEST --public-key KEY.pem</code>. The full list of every leaver and system is in the CSV or JSON export of the same period.</p>
</footer>
</body>
</html>
`
}
