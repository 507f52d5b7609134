import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { csvField, csvHeader, csvLine, csvRow, CSV_COLUMNS } from './csv.ts'
import { escapeHtml, htmlSectionRow } from './html.ts'
import { decideOutcome, originalDeadline, waivedDeadline, type ExceptionFact, type OutcomeInput, type ReportRow } from './rows.ts'
import { percentile, TotalsAccumulator } from './totals.ts'

/** A minimal RFC 4180 reader, to prove what a spreadsheet would see. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      i++
    } else field += c
  }
  return rows
}

function sampleRow(overrides: Partial<ReportRow> = {}): ReportRow {
  return {
    caseId: '7d0c1c2e-2f6b-4b8e-9a3c-1d2e3f4a5b6c',
    caseStatus: 'closed',
    employee: { id: 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b', hrId: 'E1', source: 'generic', name: 'Ada Lovelace', email: 'ada@example.com' },
    hrEvent: { id: null, sourceEventId: 'evt-1', foundBy: 'webhook', notifiedAt: '2025-03-01T09:00:00.000Z', receivedAt: '2025-03-01T09:00:01.000Z', otherSourceEventIds: [] },
    terminationEffectiveAt: '2025-03-01T09:00:00.000Z',
    hrLateByMinutes: 0,
    system: 'sandbox',
    accountId: 'acc-1',
    steps: { disabledAt: null, sessionsRevokedAt: null, groupsRemovedAt: null, deletedAt: null, all: [] },
    revokedAt: null,
    verifiedAt: '2025-03-01T09:05:00.000Z',
    slaDeadline: '2025-03-01T13:00:00.000Z',
    outcome: 'met',
    outcomeReason: 'Revocation verified 5 min after the termination took effect.',
    waivedUntil: null,
    minutesToRevoke: 5,
    lastError: null,
    escalations: [],
    breachedAt: null,
    exceptions: [],
    manualAttestation: null,
    residualAccess: [],
    auditSeqs: { hrEventStored: 1, termination: 2, revokedCutoff: 3, revokedCleanup: null, verified: 4, slaBreached: null },
    ...overrides,
  }
}

describe('CSV', () => {
  test('when a cell starts with =, +, -, @, a tab or a carriage return, then it is prefixed with a single quote', () => {
    for (const danger of ['=1+1', '+1', '-2+3+cmd|" /C calc"!A0', '@SUM(A1)', '\tx', '\r=x']) {
      const field = csvField(danger)
      const parsed = parseCsv(`${field}\r\n`)[0]![0]!
      assert.equal(parsed, `'${danger}`, `${JSON.stringify(danger)} became ${JSON.stringify(parsed)}`)
    }
    assert.equal(csvField('Ada'), 'Ada')
    assert.equal(csvField('a=b'), 'a=b', 'only the first character matters')
  })

  test('when a number is negative, then it stays a number (our own arithmetic is not a formula)', () => {
    assert.equal(csvField(-12.5), '-12.5')
    assert.equal(csvField(null), '')
  })

  test('when a cell holds commas, quotes or line breaks, then it is quoted with doubled quotes (RFC 4180)', () => {
    const cells = ['a,b', 'say "hi"', 'two\nlines', 'plain']
    const line = csvLine(cells)
    assert.equal(line, '"a,b","say ""hi""","two\nlines",plain\r\n')
    assert.deepEqual(parseCsv(line), [cells])
  })

  test('when a row is written, then it has one field per header column, and a formula-like name is neutralised', () => {
    const header = parseCsv(csvHeader())[0]!
    assert.equal(header.length, CSV_COLUMNS.length)
    const row = parseCsv(csvRow(sampleRow({ employee: { id: null, hrId: '=HR1', source: 'generic', name: '=HYPERLINK("https://evil.example","x")', email: null } })))[0]!
    assert.equal(row.length, header.length)
    const get = (name: string) => row[header.indexOf(name)]
    assert.equal(get('name'), `'=HYPERLINK("https://evil.example","x")`)
    assert.equal(get('hr_employee_id'), `'=HR1`)
    assert.equal(get('minutes_to_revoke'), '5')
    assert.equal(get('audit_seq_verified'), '4')
    assert.equal(get('verified_at'), '2025-03-01T09:05:00.000Z')
  })
})

describe('HTML', () => {
  test('when text carries markup, then it is escaped', () => {
    assert.equal(escapeHtml(`<script>alert("x")</script>&'`), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;')
    const html = htmlSectionRow(sampleRow({ employee: { id: null, hrId: 'E<1>', source: 'generic', name: '<img src=x onerror=alert(1)>', email: null } }))
    assert.ok(!html.includes('<img'))
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'))
  })
})

const base: OutcomeInput = {
  gap: null,
  caseStatus: 'open',
  system: 'sandbox',
  systemStatus: 'verified',
  effectiveAt: '2025-03-01T09:00:00.000Z',
  deadlineAt: '2025-03-01T13:00:00.000Z',
  verifiedAt: null,
  asOf: '2025-03-02T00:00:00.000Z',
  exceptions: [],
  hrLateByMinutes: 0,
  waitingOn: null,
  lastError: null,
}

function waiver(overrides: Partial<ExceptionFact> = {}): ExceptionFact {
  return {
    id: 'x1',
    caseId: null,
    kind: 'sla_waiver',
    status: 'approved',
    system: 'sandbox',
    reason: 'vendor outage',
    requestedBy: 'op-1',
    requestedAt: '2025-03-01T10:00:00.000Z',
    startsAt: '2025-03-01T10:00:00.000Z',
    endsAt: '2025-03-01T18:00:00.000Z',
    approvers: ['boss-1'],
    decidedAt: '2025-03-01T11:00:00.000Z',
    rejectedBy: null,
    revokedAt: null,
    revokedBy: null,
    expiredAt: null,
    newDeadlineAt: null,
    ...overrides,
  }
}

describe('outcome', () => {
  test('when verification is on or before the deadline, then the outcome is met', () => {
    assert.equal(decideOutcome({ ...base, verifiedAt: '2025-03-01T13:00:00.000Z' }).outcome, 'met')
  })

  test('when verification is after the deadline, then it is breached, and the reason says by how much and that HR was late', () => {
    const r = decideOutcome({ ...base, verifiedAt: '2025-03-01T14:30:00.000Z', hrLateByMinutes: 300 })
    assert.equal(r.outcome, 'breached')
    assert.match(r.reason, /90 min after the SLA deadline/)
    assert.match(r.reason, /HR reported the termination 5 h after/)
  })

  test('when a waiver approved before the deadline covers a late verification, then it is waived; approved after the deadline, it stays breached', () => {
    const late = { ...base, verifiedAt: '2025-03-01T15:00:00.000Z' }
    const waived = decideOutcome({ ...late, exceptions: [waiver()] })
    assert.equal(waived.outcome, 'waived')
    assert.equal(waived.waivedUntil, '2025-03-01T18:00:00.000Z')
    assert.match(waived.reason, /approved by boss-1/)
    assert.equal(decideOutcome({ ...late, exceptions: [waiver({ decidedAt: '2025-03-01T13:30:00.000Z' })] }).outcome, 'breached')
    assert.equal(decideOutcome({ ...late, exceptions: [waiver({ status: 'rejected' })] }).outcome, 'breached')
    assert.equal(decideOutcome({ ...late, exceptions: [waiver({ system: 'google' })] }).outcome, 'breached')
    assert.equal(decideOutcome({ ...late, exceptions: [waiver({ revokedAt: '2025-03-01T14:00:00.000Z', status: 'revoked' })] }).outcome, 'breached')
    assert.equal(decideOutcome({ ...base, verifiedAt: '2025-03-01T19:00:00.000Z', exceptions: [waiver()] }).outcome, 'breached')
  })

  test('when a revocation delay was approved, then the budget counts again from its end', () => {
    const delay = waiver({ kind: 'delay_revocation', endsAt: '2025-03-02T09:00:00.000Z' })
    const w = waivedDeadline([delay], 'sandbox', base.effectiveAt, base.deadlineAt)
    assert.equal(w?.until, '2025-03-02T13:00:00.000Z')
    assert.equal(decideOutcome({ ...base, verifiedAt: '2025-03-02T12:00:00.000Z', exceptions: [delay] }).outcome, 'waived')
  })

  test('when nothing is verified, then it is pending before the deadline, breached after, and a gap once the case closed', () => {
    assert.equal(decideOutcome({ ...base, asOf: '2025-03-01T12:00:00.000Z' }).outcome, 'pending')
    const breached = decideOutcome({ ...base, lastError: { action: 'deprovision', kind: 'AuthFailed', message: 'token expired', at: null } })
    assert.equal(breached.outcome, 'breached')
    assert.match(breached.reason, /AuthFailed: token expired/)
    assert.equal(decideOutcome({ ...base, caseStatus: 'closed', systemStatus: 'done' }).outcome, 'gap')
    assert.equal(decideOutcome({ ...base, systemStatus: 'absent' }).outcome, 'no_account')
    assert.equal(decideOutcome({ ...base, caseStatus: 'cancelled' }).outcome, 'rescinded')
    assert.equal(decideOutcome({ ...base, gap: 'account_not_in_case' }).outcome, 'gap')
  })

  test('when an sla_waiver moved the projected deadline, then the original one is measured against', () => {
    const raw = [{ kind: 'sla_waiver', details: { systems: [{ system: 'sandbox', originalDeadlineAt: '2025-03-01T13:00:00.000Z', waived: true }] } }]
    assert.equal(originalDeadline('2025-03-01T18:00:00.000Z', null, 'sandbox', raw), '2025-03-01T13:00:00.000Z')
    assert.equal(originalDeadline('2025-03-01T18:00:00.000Z', '2025-03-01T13:00:00.000Z', 'sandbox', []), '2025-03-01T13:00:00.000Z')
    assert.equal(originalDeadline('2025-03-01T13:00:00.000Z', null, 'google', raw), '2025-03-01T13:00:00.000Z')
  })
})

describe('totals', () => {
  test('when rows stream past, then leavers, outcomes, median and p95 are counted exactly', () => {
    const acc = new TotalsAccumulator()
    const minutes = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200]
    minutes.forEach((m, i) => acc.add(sampleRow({ caseId: `case-${Math.floor(i / 2)}`, minutesToRevoke: m })))
    acc.add(sampleRow({ caseId: null, system: null, outcome: 'gap', minutesToRevoke: null, hrEvent: { ...sampleRow().hrEvent, id: 'hr-gap' } }))
    const t = acc.result()
    assert.equal(t.leavers, 11)
    assert.equal(t.rows, 21)
    assert.equal(t.systems, 1, 'twenty rows of one system are one system')
    assert.equal(t.outcomes.met, 20)
    assert.equal(t.outcomes.gap, 1)
    assert.equal(t.minutesToRevoke.median, 100)
    assert.equal(t.minutesToRevoke.p95, 190)
    assert.equal(t.minutesToRevoke.max, 200)
    assert.equal(percentile(new Float64Array([]), 0.5), null)
  })

  test('when two leavers each had the same 7 systems, then the totals say 7 systems and 14 rows, not 14 systems', () => {
    const acc = new TotalsAccumulator()
    const systems = ['sandbox', 'google', 'slack', 'github', 'okta', 'manual:badge', 'legacy-crm']
    for (const caseId of ['case-a', 'case-b']) for (const system of systems) acc.add(sampleRow({ caseId, system }))
    acc.add(sampleRow({ caseId: null, system: null, outcome: 'gap', minutesToRevoke: null, hrEvent: { ...sampleRow().hrEvent, id: 'hr-gap' } }))
    const t = acc.result()
    assert.deepEqual({ leavers: t.leavers, rows: t.rows, systems: t.systems }, { leavers: 3, rows: 15, systems: 7 })
  })
})
