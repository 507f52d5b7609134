/**
 * The access-revocation report end to end: HR webhooks drive the real engine, the sandbox target
 * and a manual system; the report is exported over the API and the CLI and checked row by row,
 * total by total, and against its signed manifest.
 *
 * Timeline (T0 = start; the engine's clock runs with real time plus an offset the test moves):
 *   met       Ada  immediate at T0; sandbox verified at once, badge attested at T0+2h (deadline T0+4h)
 *   breached  Bob  effective T0-5h (HR 5 h late): sandbox verified ~T0, badge never attested
 *   waived    Cy   effective T0-3h: badge attested at T0+2h, after its deadline T0+1h, within an
 *                  sla_waiver approved at T0+10min that runs to T0+3h
 *   pending   Di   effective T0+3h (a formula-injection name)
 *   gap       Fay  immediate; an account in legacy-crm that the case does not cover
 *   gap       Gus  a termination HR reported that Tenure never applied (no case)
 *   (and reconciliation reports Ada's termination a second time: a duplicate, accounted for)
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command } from 'commander'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { BIN, ROOT } from '../helpers/process.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'
import { generateSigningKey, keyId, loadPrivateKey } from '../../src/audit/keys.ts'
import { LOCAL_KEY_FILE } from '../../src/audit/local-key.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { applyEvent } from '../../src/lifecycle/engine.ts'
import { validateConfig } from '../../src/config/load.ts'
import type { ConfigInput } from '../../src/config/index.ts'
import { registerReportCommands } from '../../src/reports/cli.ts'
import { verifyReportFile, type ReportManifest } from '../../src/reports/manifest.ts'
import type { ReportRow } from '../../src/reports/rows.ts'
import { REPORT_RETENTION_QUEUE } from '../../src/reports/retention.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const SECRET = `whsec_${Buffer.from('reports-integration-secret-32-by!').toString('base64')}`
const HOUR = 3_600_000
const key = generateSigningKey()

const config: ConfigInput = {
  hr: { generic: { secrets: [SECRET] } },
  systems: { sandbox: { enabled: true }, manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities', provisionTasks: false }] },
  policy: {
    rules: [
      { name: 'everyone', grant: { sandbox: { groups: ['staff'] } } },
      { name: 'facilities', match: { department: 'Facilities' }, grant: { 'manual:badge': {} } },
    ],
    systems: { sandbox: { leaver: { delete: true } } },
  },
  audit: { signingKey: key.privateKey },
}

/** Minimal RFC 4180 reader (the format's rules, to read back what a spreadsheet would). */
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

describe('access-revocation report (real engine, API, CLI, manifest)', () => {
  let t: TestTenure
  let offset = 0
  const now = () => new Date(Date.now() + offset)
  const T0 = new Date()
  const at = (ms: number) => new Date(T0.getTime() + ms).toISOString()
  const from = new Date(T0.getTime() - 24 * HOUR).toISOString()
  const to = new Date(T0.getTime() + 24 * HOUR).toISOString()
  let auditorToken: string
  let dir: string
  const ids: Record<string, string> = {}
  const caseOf: Record<string, string> = {}

  const post = async (payload: unknown) => {
    const body = Buffer.from(JSON.stringify(payload))
    const res = await fetch(`${t.url}/webhooks/hr/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date(), `msg_${randomUUID().replaceAll('-', '')}`) },
      body,
    })
    assert.equal(res.status, 202, await res.text())
  }
  // Sealed first: the audit entries of an action are chained moments after its commit.
  const q = async <T>(text: string, values: unknown[] = []) => (await sealedQuery(t.running.pool, text, values)).rows as T[]

  /** What POST /api/v1/tasks/:id/complete does: the attestation completes the task and verifies the system. */
  async function attest(hrId: string, note: string, evidenceRef: string) {
    const [task] = await q<{ id: string; system: string }>(`SELECT id, system FROM manual_tasks WHERE employee_external_id = $1 AND kind = 'revoke' AND status = 'open'`, [hrId])
    assert.ok(task, `an open revocation task for ${hrId}`)
    const actor = { type: 'api_token' as const, id: 'facilities-lead' }
    const attestation = { by: actor.id, byType: actor.type, at: now().toISOString(), doneAt: now().toISOString(), note, evidenceRef }
    await applyEvent(
      t.running.engine,
      ids[hrId]!,
      { type: 'account.verified', system: task.system, revoked: true, checks: [{ name: 'revocation_attested', ok: true }], now: now().toISOString() },
      {
        actor,
        correlationId: `task:${task.id}`,
        audit: [
          {
            actor,
            action: 'task.completed',
            subject: { employeeId: ids[hrId]!, system: task.system, accountId: hrId },
            details: { taskId: task.id, kind: 'revoke', ...attestation },
          },
        ],
        within: async (client) => {
          await client.query(`UPDATE manual_tasks SET status = 'completed', completed_at = now(), completed_by = $2, attestation = $3 WHERE id = $1`, [task.id, actor.id, JSON.stringify(attestation)])
        },
      },
    )
  }

  const api = (query: string, token = auditorToken) => fetch(`${t.url}/api/v1/reports/access-revocations?${query}`, { headers: { authorization: `Bearer ${token}` } })

  before(async () => {
    t = await startTestTenure(config, { now })
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-reports-it-'))
    auditorToken = (await createApiToken(t.running.pool, { name: 'auditor', role: 'auditor', expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token

    const today = T0.toISOString().slice(0, 10)
    const people = [
      { id: 'R-ADA', firstName: 'Ada', lastName: 'Lovelace', department: 'Facilities' },
      { id: 'R-BOB', firstName: 'Bob', lastName: 'Breach', department: 'Facilities' },
      { id: 'R-CY', firstName: 'Cy', lastName: 'Waiver', department: 'Facilities' },
      { id: 'R-DI', firstName: '=HYPERLINK("https://evil.example","click")', lastName: 'Pending', department: 'Sales' },
      { id: 'R-FAY', firstName: 'Fay', lastName: 'Gap', department: 'Sales' },
    ]
    await Promise.all(
      people.map((p) =>
        post({
          type: 'employee.hired',
          timestamp: new Date().toISOString(),
          data: { employeeId: p.id, profile: { firstName: p.firstName, lastName: p.lastName, department: p.department, workEmail: `${p.id.toLowerCase()}@example.com` }, startDate: today, preHire: false },
        }),
      ),
    )
    for (const p of people) await t.until(`${p.id} to be active`, async () => (await t.employeeState(p.id)) === 'active')
    for (const row of await q<{ id: string; external_id: string }>('SELECT id, external_id FROM employees')) ids[row.external_id] = row.id

    // Fay holds an account in a system the leaver case will not cover.
    await q(`INSERT INTO employee_accounts (employee_id, system, account_id, status) VALUES ($1, 'legacy-crm', 'crm-7', 'active')`, [ids['R-FAY']])

    // HR enters each termination now (the notice's timestamp), whatever moment it takes effect.
    const terminate = (id: string, data: Record<string, unknown>) =>
      post({ type: 'employee.terminated', timestamp: new Date().toISOString(), data: { employeeId: id, voluntary: 'voluntary', ...data } })
    await Promise.all([
      terminate('R-ADA', { immediate: true }),
      terminate('R-BOB', { effectiveAt: at(-5 * HOUR) }),
      terminate('R-CY', { effectiveAt: at(-3 * HOUR) }),
      terminate('R-DI', { effectiveAt: at(3 * HOUR) }),
      terminate('R-FAY', { immediate: true }),
    ])
    // A termination stored from HR that was never applied: no case.
    await q(
      `INSERT INTO hr_events (event_id, source, source_event_id, employee_external_id, type, occurred_at, received_at, found_by, payload)
       VALUES ($1, 'generic', 'evt-ghost', 'R-GUS', 'employee.terminated', $2, $2, 'reconciliation', $3)`,
      [randomUUID(), at(-2 * HOUR), JSON.stringify({ type: 'employee.terminated', employeeId: 'R-GUS', effectiveAt: at(-2 * HOUR), immediate: false })],
    )

    const sandboxVerified = async (id: string) =>
      (await q(`SELECT 1 FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'leaver' AND cs.system = 'sandbox' AND cs.verified_at IS NOT NULL`, [ids[id]])).length === 1
    for (const id of ['R-ADA', 'R-BOB', 'R-CY', 'R-FAY']) await t.until(`${id}'s sandbox revocation to be verified`, () => sandboxVerified(id))
    for (const id of ['R-ADA', 'R-CY']) {
      await t.until(`${id}'s badge task`, async () => (await q(`SELECT 1 FROM manual_tasks WHERE employee_external_id = $1 AND kind = 'revoke'`, [id])).length === 1)
    }
    await t.until('the case of Di to be scheduled', async () => (await q(`SELECT 1 FROM cases WHERE employee_id = $1 AND kind = 'leaver' AND status = 'scheduled'`, [ids['R-DI']])).length === 1)
    for (const row of await q<{ id: string; employee_id: string }>(`SELECT id, employee_id FROM cases WHERE kind = 'leaver'`)) {
      caseOf[Object.entries(ids).find(([, v]) => v === row.employee_id)![0]] = row.id
    }
    await t.until('the breach of Bob to be escalated and recorded', async () => {
      const [c] = await q<{ breached_at: Date | null; n: number }>(
        `SELECT c.breached_at, (SELECT count(*)::int FROM case_escalations e WHERE e.case_id = c.id) AS n FROM cases c WHERE c.id = $1`,
        [caseOf['R-BOB']],
      )
      return c?.breached_at !== null && c?.n === 3
    })

    // Reconciliation later finds Ada's termination again: a repeat notice, recorded as a duplicate.
    const [ada] = await q<{ effective_at: Date }>('SELECT effective_at FROM cases WHERE id = $1', [caseOf['R-ADA']])
    await q(
      `INSERT INTO hr_events (event_id, source, source_event_id, employee_external_id, employee_id, type, occurred_at, received_at, found_by, payload, outcome, outcome_reason)
       VALUES ($1, 'generic', 'recon-ada-1', 'R-ADA', $2, 'employee.terminated', $3, now(), 'reconciliation', $4, 'duplicate', 'termination already in progress')`,
      [randomUUID(), ids['R-ADA'], ada!.effective_at, JSON.stringify({ type: 'employee.terminated', employeeId: 'R-ADA', effectiveAt: ada!.effective_at.toISOString(), immediate: false })],
    )

    // Cy's waiver, approved before the badge's deadline (T0+1h), extends it to T0+3h.
    await q(
      `INSERT INTO exceptions (id, kind, employee_id, system, reason, requested_by, requested_by_type, requested_at, starts_at, ends_at, status, approvals, decided_at, details, case_id, snapshot)
       VALUES ($1, 'sla_waiver', $2, 'manual:badge', 'Badge office closed until the afternoon', 'it-ops', 'api_token', $3, $3, $4, 'approved', $5, $6, '{}', $7, '{}')`,
      [randomUUID(), ids['R-CY'], at(5 * 60_000), at(3 * HOUR), JSON.stringify([{ actorId: 'ciso', role: 'approver', at: at(10 * 60_000), reason: 'ok' }]), at(10 * 60_000), caseOf['R-CY']],
    )

    // Two hours later both badges are handed back.
    offset = 2 * HOUR
    await attest('R-ADA', 'Badge collected at the exit interview', 'door-log-4711')
    await attest('R-CY', 'Badge deactivated', 'door-log-4712')
    for (const id of ['R-ADA', 'R-CY', 'R-FAY']) await t.until(`${id} to be offboarded`, async () => (await t.employeeState(id)) === 'offboarded')
  })

  after(async () => {
    await t?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('when the period is exported as CSV, then every leaver and system has exactly the right row, outcome and evidence', async () => {
    const res = await api(`from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=csv`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/)
    const text = await res.text()
    const [header, ...data] = parseCsv(text)
    assert.ok(header)
    const rows = data.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])))
    const summary = rows.map((r) => `${r.hr_employee_id} ${r.system || '-'} ${r.outcome}`)
    assert.deepEqual(summary, [
      'R-BOB manual:badge breached',
      'R-BOB sandbox breached',
      'R-CY manual:badge waived',
      'R-CY sandbox met',
      ...(rows[4]!.hr_employee_id === 'R-ADA'
        ? ['R-ADA manual:badge met', 'R-ADA sandbox met', 'R-FAY legacy-crm gap', 'R-FAY sandbox met']
        : ['R-FAY legacy-crm gap', 'R-FAY sandbox met', 'R-ADA manual:badge met', 'R-ADA sandbox met']),
      'R-DI sandbox pending',
      'R-GUS - gap',
    ])
    const row = (hrId: string, system: string) => rows.find((r) => r.hr_employee_id === hrId && (r.system || '-') === system)!

    // Met, with every step and the audit rows that back them.
    const ada = row('R-ADA', 'sandbox')
    assert.equal(ada.found_by, 'webhook')
    assert.equal(ada.other_hr_source_event_ids, 'recon-ada-1', 'the repeat notice is accounted for by this case')
    for (const column of ['disabled_at', 'sessions_revoked_at', 'deleted_at', 'verified_at', 'hr_notified_at', 'received_at', 'sla_deadline']) {
      assert.match(ada[column]!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, `${column} is ISO 8601 UTC`)
    }
    assert.equal(Date.parse(ada.sla_deadline!) - Date.parse(ada.termination_effective_at!), 4 * HOUR)
    const expected: Record<string, string> = {
      audit_seq_hr_event_stored: 'hr.event_stored',
      audit_seq_termination: 'lifecycle.transitioned',
      audit_seq_revoked_cutoff: 'target.revoked',
      audit_seq_revoked_cleanup: 'target.revoked',
      audit_seq_verified: 'target.verified',
    }
    for (const [column, action] of Object.entries(expected)) {
      const [audit] = await q<{ action: string; system: string | null; employee_id: string | null }>('SELECT action, system, employee_id FROM audit_events WHERE seq = $1', [Number(ada[column])])
      assert.equal(audit?.action, action, `${column} points at ${action}`)
      if (action.startsWith('target.')) assert.deepEqual([audit?.system, audit?.employee_id], ['sandbox', ids['R-ADA']])
    }
    const badge = row('R-ADA', 'manual:badge')
    assert.equal(badge.attested_by, 'facilities-lead')
    assert.equal(badge.attestation_note, 'Badge collected at the exit interview')
    assert.equal(badge.attestation_evidence, 'door-log-4711')
    assert.ok(badge.manual_task_id)
    const [completed] = await q<{ action: string }>('SELECT action FROM audit_events WHERE seq = $1', [Number(badge.audit_seq_verified)])
    assert.equal(completed?.action, 'task.completed')

    // Breached: late HR, never-attested badge, escalations sent.
    const bobBadge = row('R-BOB', 'manual:badge')
    assert.equal(bobBadge.verified_at, '')
    assert.match(bobBadge.outcome_reason!, /Not verified .* after the SLA deadline\. HR reported the termination 5 h after it took effect/)
    // All three steps were overdue when HR told us, so they went out at once (in whatever order).
    assert.deepEqual(bobBadge.escalations!.split('; ').map((e) => e.split(' ')[0]).sort(), ['breach', 'notify', 'page'])
    assert.ok(bobBadge.breached_at)
    const [breach] = await q<{ action: string }>('SELECT action FROM audit_events WHERE seq = $1', [Number(bobBadge.audit_seq_sla_breached)])
    assert.equal(breach?.action, 'sla.breached')
    const bobSandbox = row('R-BOB', 'sandbox')
    assert.ok(Number(bobSandbox.minutes_to_revoke) >= 300, 'verified five hours after the effective moment')
    assert.ok(Number(bobSandbox.hr_late_by_minutes) >= 300 && Number(bobSandbox.hr_late_by_minutes) < 302, 'HR told us five hours late')

    // Waived: measured against the original deadline, within the approved waiver.
    const cy = row('R-CY', 'manual:badge')
    assert.equal(cy.sla_deadline, at(1 * HOUR), 'the original deadline, not the one the waiver moved')
    assert.equal(cy.waived_until, at(3 * HOUR))
    assert.match(cy.outcome_reason!, /within an approved exception: sla_waiver .*approved by ciso/)
    const exceptions = JSON.parse(cy.exceptions!) as Array<{ kind: string; approvers: string[]; reason: string }>
    assert.deepEqual(exceptions.map((x) => [x.kind, x.approvers, x.reason]), [['sla_waiver', ['ciso'], 'Badge office closed until the afternoon']])
    const [moved] = await q<{ deadline_at: Date }>(`SELECT deadline_at FROM case_systems WHERE case_id = $1 AND system = 'manual:badge'`, [caseOf['R-CY']])
    assert.equal(moved?.deadline_at.toISOString(), at(3 * HOUR), 'the exceptions trigger moved the projected deadline; the report did not follow it')

    // Pending, and its formula-injection name neutralised.
    const di = row('R-DI', 'sandbox')
    assert.equal(di.name, `'=HYPERLINK("https://evil.example","click") Pending`)
    assert.ok(text.includes(`"'=HYPERLINK(""https://evil.example"",""click"") Pending"`), 'RFC 4180 quoting of the guarded cell')
    assert.ok(data.every((r) => r.every((cell) => !/^[=+\-@\t\r]/.test(cell) || /^-\d/.test(cell))), 'no cell starts a formula')

    // Gaps are listed, never dropped.
    assert.match(row('R-FAY', 'legacy-crm').outcome_reason!, /does not cover/)
    const gus = row('R-GUS', '-')
    assert.equal(gus.case_id, '')
    assert.equal(gus.found_by, 'reconciliation')
    assert.match(gus.outcome_reason!, /no leaver case/)
  })

  test('when the period is exported as JSON, then totals and the HR population account for every termination', async () => {
    const res = await api(`from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=json`)
    assert.equal(res.status, 200)
    const doc = (await res.json()) as {
      rows: ReportRow[]
      population: { events: Array<{ hrEmployeeId: string; status: string; caseId: string | null }>; totals: Record<string, number> }
      totals: { leavers: number; rows: number; systems: number; outcomes: Record<string, number>; minutesToRevoke: { median: number; p95: number; count: number } }
    }
    assert.equal(doc.rows.length, 10)
    assert.deepEqual(
      { leavers: doc.totals.leavers, rows: doc.totals.rows, systems: doc.totals.systems },
      { leavers: 6, rows: 10, systems: 3 },
    )
    assert.deepEqual(doc.totals.outcomes, { met: 4, breached: 2, waived: 1, pending: 1, no_account: 0, rescinded: 0, gap: 2 })
    const minutes = doc.rows.flatMap((r) => (r.minutesToRevoke === null ? [] : [r.minutesToRevoke])).sort((a, b) => a - b)
    assert.equal(doc.totals.minutesToRevoke.count, 6)
    assert.equal(doc.totals.minutesToRevoke.median, minutes[Math.ceil(0.5 * minutes.length) - 1])
    assert.equal(doc.totals.minutesToRevoke.p95, minutes[Math.ceil(0.95 * minutes.length) - 1])
    assert.deepEqual(doc.population.totals, { terminations: 7, inReport: 5, duplicate: 1, superseded: 0, gap: 1 })
    assert.deepEqual(
      doc.population.events.map((e) => [e.hrEmployeeId, e.status]).sort(),
      [['R-ADA', 'duplicate'], ['R-ADA', 'in_report'], ['R-BOB', 'in_report'], ['R-CY', 'in_report'], ['R-DI', 'in_report'], ['R-FAY', 'in_report'], ['R-GUS', 'gap']],
    )
    for (const e of doc.population.events) if (e.caseId) assert.ok(doc.rows.some((r) => r.caseId === e.caseId), `${e.hrEmployeeId}'s case is in the rows`)
  })

  test('when an export is downloaded, then its manifest is linked, signed, and fails after a one-byte change', async () => {
    const res = await api(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}&format=ndjson`)
    assert.equal(res.status, 200)
    const bytes = Buffer.from(await res.arrayBuffer())
    assert.equal(Number(res.headers.get('content-length')), bytes.length)
    const link = /^<([^>]+)>; rel="describedby"/.exec(res.headers.get('link') ?? '')?.[1]
    assert.ok(link, 'a Link to the manifest')
    const manifestRes = await fetch(`${t.url}${link}`, { headers: { authorization: `Bearer ${auditorToken}` } })
    assert.equal(manifestRes.status, 200)
    const manifestText = await manifestRes.text()
    const manifest = JSON.parse(manifestText) as ReportManifest
    assert.equal(res.headers.get('repr-digest'), `sha-256=:${Buffer.from(manifest.file.sha256, 'hex').toString('base64')}:`)
    assert.equal(manifest.query.format, 'ndjson')
    assert.equal(manifest.query.from, `${from.slice(0, 10)}T00:00:00.000Z`)
    assert.equal(manifest.rowCount, bytes.toString('utf8').trim().split('\n').length)
    assert.equal(manifest.signer?.keyId, key.keyId)
    const [head] = await q<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events WHERE seq = $1', [manifest.auditChainHead.seq])
    assert.equal(head?.hash, manifest.auditChainHead.hash, 'the chain head the report names is on the chain')
    const [exported] = await q<{ details: { reportId: string; sha256: string } }>(`SELECT details FROM audit_events WHERE action = 'report.exported' AND details ->> 'reportId' = $1`, [manifest.id])
    assert.equal(exported?.details.sha256, manifest.file.sha256, 'the export itself is on the audit trail')

    const file = path.join(dir, 'api.ndjson')
    await writeFile(file, bytes)
    assert.equal((await verifyReportFile(file, manifest, { publicKey: key.publicKeyPem })).ok, true)
    const tampered = Buffer.from(bytes)
    tampered[Math.floor(tampered.length / 2)]! ^= 0x20
    await writeFile(file, tampered)
    const failed = await verifyReportFile(file, manifest, { publicKey: key.publicKeyPem })
    assert.equal(failed.ok, false)
    assert.equal(failed.checks.find((c) => c.name === 'sha256')?.ok, false)

    const keyRes = await fetch(`${t.url}/api/v1/reports/signing-key`, { headers: { authorization: `Bearer ${auditorToken}` } })
    assert.equal(((await keyRes.json()) as { keyId: string }).keyId, key.keyId)
  })

  test('when the CLI exports, then it writes the file and its manifest, and `tenure reports verify` checks them offline', async () => {
    const out = path.join(dir, 'q.csv')
    const program = new Command().exitOverride()
    const stdout: string[] = []
    const stderr: string[] = []
    let exitCode = 0
    registerReportCommands(program, {
      loadConfig: async () => ({ config: validateConfig({ ...config, database: { url: t.db.url }, log: { level: 'silent' } }) }),
      stdout: (s) => void stdout.push(s),
      stderr: (s) => void stderr.push(s),
      now,
      setExitCode: (code) => {
        exitCode = code
      },
    })
    await program.parseAsync(['node', 'tenure', 'reports', 'access-revocations', '--from', from, '--to', to, '--out', out])
    assert.match(stderr.join(''), /Leavers 6: met 4, breached 2, waived 1, pending 1, gaps 2\. HR terminations in the period: 7\./)
    const manifestPath = `${out}.manifest.json`
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ReportManifest
    assert.equal(manifest.file.name, 'q.csv')
    assert.equal(manifest.generatedBy.startsWith('system:cli:'), true)
    const keyPath = path.join(dir, 'key.pem')
    await writeFile(keyPath, key.publicKeyPem)

    // The real command, in a process with no database and no configuration.
    const env = { PATH: process.env.PATH ?? '', HOME: dir, TENURE_CONFIG: path.join(dir, 'absent.yaml') }
    const ok = spawnSync(process.execPath, [BIN, 'reports', 'verify', out, manifestPath, '--public-key', keyPath], { cwd: ROOT, env, encoding: 'utf8' })
    assert.equal(ok.status, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /VERIFIED/)

    const csv = await readFile(out)
    csv[csv.length - 5]! ^= 0x01
    await writeFile(out, csv)
    stdout.length = 0
    await program.parseAsync(['node', 'tenure', 'reports', 'verify', out, manifestPath, '--public-key', keyPath])
    assert.equal(exitCode, 1)
    assert.match(stdout.join(''), /FAIL sha256/)
    assert.match(stdout.join(''), /NOT VERIFIED/)
  })

  test('when the CLI exports one employee, then the file holds their rows only and the manifest names them; nobody by that name is an error', async () => {
    const out = path.join(dir, 'ada.json')
    const program = new Command().exitOverride()
    const stderr: string[] = []
    let exitCode = 0
    registerReportCommands(program, {
      loadConfig: async () => ({ config: validateConfig({ ...config, database: { url: t.db.url }, log: { level: 'silent' } }) }),
      stdout: () => {},
      stderr: (s) => void stderr.push(s),
      now,
      setExitCode: (code) => {
        exitCode = code
      },
    })
    await program.parseAsync(['node', 'tenure', 'reports', 'access-revocations', '--employee', 'r-ada@example.com', '--format', 'json', '--out', out])
    assert.match(stderr.join(''), /Leavers 1: met 2/)
    const doc = JSON.parse(await readFile(out, 'utf8')) as { rows: ReportRow[] }
    assert.deepEqual([...new Set(doc.rows.map((r) => r.employee.hrId))], ['R-ADA'])
    const manifest = JSON.parse(await readFile(`${out}.manifest.json`, 'utf8')) as ReportManifest
    assert.deepEqual(manifest.query.employee, { named: 'r-ada@example.com', employeeIds: [ids['R-ADA']] })
    assert.equal((await verifyReportFile(out, manifest, { publicKey: key.publicKeyPem })).ok, true)

    stderr.length = 0
    await program.parseAsync(['node', 'tenure', 'reports', 'access-revocations', '--employee', 'R-NOBODY', '--out', path.join(dir, 'nobody.csv')])
    assert.equal(exitCode, 1)
    assert.match(stderr.join(''), /no employee matches "R-NOBODY"/)
  })

  test('when the HTML summary is requested, then it states the totals, the completeness and each breach with its reason, self-contained', async () => {
    const res = await api(`from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=html`)
    assert.equal(res.status, 200)
    const html = await res.text()
    assert.doesNotMatch(html, /<script|<link|src="http|href="http/i, 'no external assets, no scripts')
    assert.match(html, /<b>6<\/b>leavers/)
    assert.match(html, /<b>4<\/b>met the deadline/)
    assert.match(html, /<b>2<\/b>breached/)
    assert.match(html, /HR reported <b>7<\/b> terminations/)
    const breaches = /<h2>Breaches \(2\)<\/h2>([\s\S]*?)<\/table>/.exec(html)?.[1] ?? ''
    assert.match(breaches, /Bob Breach/)
    for (const step of ['notify', 'page', 'breach']) assert.match(breaches, new RegExp(`Escalations sent: .*${step} at`))
    assert.match(html, /<h2>Gaps \(2\)<\/h2>/)
    assert.match(html, /<h2>Waived \(1\)<\/h2>[\s\S]*approved by ciso/)
    assert.ok(html.includes('&#39;=HYPERLINK(') || html.includes('=HYPERLINK(&quot;'), 'names are escaped in HTML')
  })

  test('when one employee is named by e-mail, HR id or Tenure id, then every format holds only their rows, with their totals, and the manifest says whom', async () => {
    const named = ['r-bob@example.com', 'R-BOB', ids['R-BOB']!]
    const csv = await api(`employee=${encodeURIComponent(named[0]!)}&format=csv`)
    assert.equal(csv.status, 200, await csv.clone().text())
    assert.match(csv.headers.get('content-disposition') ?? '', /filename="access-revocations_employee-r-bob_example.com\.csv"/)
    const [header, ...data] = parseCsv(await csv.text())
    const hrCol = header!.indexOf('hr_employee_id')
    assert.deepEqual(data.map((r) => `${r[hrCol]} ${r[header!.indexOf('system')]}`), ['R-BOB manual:badge', 'R-BOB sandbox'])

    const json = await api(`employee=${encodeURIComponent(named[1]!)}&format=json`)
    assert.equal(json.status, 200)
    const doc = (await json.json()) as { rows: ReportRow[]; totals: { leavers: number; rows: number; systems: number; outcomes: Record<string, number> }; population: { totals: Record<string, number> }; employee: { named: string; employeeIds: string[] } }
    assert.deepEqual(doc.employee.employeeIds, [ids['R-BOB']])
    assert.deepEqual({ leavers: doc.totals.leavers, rows: doc.totals.rows, systems: doc.totals.systems, breached: doc.totals.outcomes.breached }, { leavers: 1, rows: 2, systems: 2, breached: 2 })
    assert.deepEqual(doc.population.totals, { terminations: 1, inReport: 1, duplicate: 0, superseded: 0, gap: 0 })

    const ndjson = await api(`employee=${ids['R-BOB']}&format=ndjson`)
    assert.equal(ndjson.status, 200)
    const lines = (await ndjson.text()).trim().split('\n').map((l) => JSON.parse(l) as ReportRow)
    assert.deepEqual(lines.map((r) => r.employee.hrId), ['R-BOB', 'R-BOB'])
    const manifest = JSON.parse(await (await fetch(`${t.url}/api/v1/reports/exports/${ndjson.headers.get('x-report-id')}/manifest`, { headers: { authorization: `Bearer ${auditorToken}` } })).text()) as ReportManifest
    assert.deepEqual(manifest.query, { from: null, to: null, format: 'ndjson', employee: { named: ids['R-BOB'], employeeIds: [ids['R-BOB']] } })
    assert.equal(manifest.rowCount, 2)
    assert.equal(manifest.signer?.keyId, key.keyId)
    const [audited] = await q<{ employee_id: string; details: { employee: string } }>(`SELECT employee_id, details FROM audit_events WHERE action = 'report.exported' AND details ->> 'reportId' = $1`, [manifest.id])
    assert.equal(audited?.employee_id, ids['R-BOB'], "the report about Bob is on Bob's audit trail")

    const html = await api(`employee=R-BOB&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=html`)
    assert.equal(html.status, 200)
    const page = await html.text()
    assert.match(page, /The terminations of <b>Bob Breach \(R-BOB\)<\/b>, effective from/)
    assert.match(page, /<b>1<\/b>leavers/)
    assert.doesNotMatch(page, /Ada Lovelace|Cy Waiver/)
  })

  test('when the employee is known only from an HR termination Tenure never applied, then the report shows that gap; a name matching nobody is a 404, not an empty report', async () => {
    const gus = await api('employee=R-GUS&format=json')
    assert.equal(gus.status, 200)
    const doc = (await gus.json()) as { rows: ReportRow[]; totals: { leavers: number; outcomes: Record<string, number> } }
    assert.deepEqual(doc.rows.map((r) => [r.employee.hrId, r.outcome]), [['R-GUS', 'gap']])
    assert.equal(doc.totals.outcomes.gap, 1)

    const nobody = await api('employee=nobody%40example.com')
    assert.equal(nobody.status, 404)
    const body = (await nobody.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'employee_not_found')
    assert.match(body.error.message, /no employee matches "nobody@example.com"/)
    const half = await api(`employee=R-BOB&from=${from.slice(0, 10)}`)
    assert.equal(half.status, 400)
    assert.match(((await half.json()) as { error: { message: string } }).error.message, /give both from and to, or neither/)
    const none = await api('format=csv')
    assert.equal(none.status, 400)
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /required for a period report/)
  })

  test('when the query is wrong or the caller is not an auditor, then the export is refused', async () => {
    const bad = await api(`from=2025-04-01&to=2025-01-01`)
    assert.equal(bad.status, 400)
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /query\.to: must be after from/)
    const operator = (await createApiToken(t.running.pool, { name: 'op', role: 'operator', expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    assert.equal((await api(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}`, operator)).status, 403)
  })
  test('when reports were generated, then the history lists every one newest first, paged on the server, with who, scope, format, rows and signature', async () => {
    const [{ n }] = (await q<{ n: number }>('SELECT count(*)::int AS n FROM report_exports')) as [{ n: number }]
    assert.ok(n >= 10, `every export of this file is recorded (${n})`)
    type Item = {
      id: string
      format: string
      scope: string
      from: string | null
      employee: { named: string; employeeIds: string[]; name: string | null } | null
      rowCount: number
      sha256: string
      generatedAt: string
      generatedBy: { id: string; name: string | null }
      signature: { status: string; keyId: string | null; currentKey: boolean }
      manifestUrl: string
    }
    const seen: Item[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res = await fetch(`${t.url}/api/v1/reports?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { headers: { authorization: `Bearer ${auditorToken}` } })
      assert.equal(res.status, 200)
      const page = (await res.json()) as { items: Item[]; nextCursor: string | null; total: number }
      assert.equal(page.total, n)
      assert.ok(page.items.length <= 3)
      seen.push(...page.items)
      cursor = page.nextCursor
      pages += 1
    } while (cursor && pages < 20)
    assert.equal(seen.length, n, 'the pages together hold every report, once')
    assert.equal(new Set(seen.map((i) => i.id)).size, n)
    assert.deepEqual(seen.map((i) => i.generatedAt), seen.map((i) => i.generatedAt).sort().reverse(), 'newest first')
    assert.ok(seen.every((i) => i.signature.status === 'valid' && i.signature.keyId === key.keyId && i.signature.currentKey))

    const formats = new Set(seen.map((i) => i.format))
    assert.deepEqual([...formats].sort(), ['csv', 'html', 'json', 'ndjson'])
    const bob = seen.find((i) => i.scope === 'employee' && i.format === 'ndjson')!
    assert.deepEqual(bob.employee, { named: ids['R-BOB'], employeeIds: [ids['R-BOB']], name: 'Bob Breach' })
    assert.equal(bob.from, null)
    assert.equal(bob.rowCount, 2)
    const byApi = seen.find((i) => i.generatedBy.id.startsWith('api_token:'))!
    assert.equal(byApi.generatedBy.name, 'auditor', "the token's name, with its id")
    const byCli = seen.find((i) => i.generatedBy.id.startsWith('system:cli:'))!
    assert.match(byCli.generatedBy.name ?? '', /\(command line\)$/)
    const manifest = (await (await fetch(`${t.url}${bob.manifestUrl}`, { headers: { authorization: `Bearer ${auditorToken}` } })).json()) as ReportManifest
    assert.equal(manifest.file.sha256, bob.sha256)

    // A stored manifest changed after signing says so.
    const [tampered] = await q<{ id: string }>(`SELECT id FROM report_exports WHERE id = $1`, [byApi.id])
    assert.ok(tampered)
    await q(`UPDATE report_exports SET manifest = replace(manifest, '"rowCount": ', '"rowCount": 1') WHERE id = $1`, [byApi.id])
    const again = (await (await fetch(`${t.url}/api/v1/reports?limit=100`, { headers: { authorization: `Bearer ${auditorToken}` } })).json()) as { items: Item[] }
    assert.equal(again.items.find((i) => i.id === byApi.id)?.signature.status, 'invalid')

    const bad = await fetch(`${t.url}/api/v1/reports?cursor=nonsense`, { headers: { authorization: `Bearer ${auditorToken}` } })
    assert.equal(bad.status, 400)
    const operator = (await createApiToken(t.running.pool, { name: 'op2', role: 'operator', expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    assert.equal((await fetch(`${t.url}/api/v1/reports`, { headers: { authorization: `Bearer ${operator}` } })).status, 403)

    // The command line lists the same history.
    const program = new Command().exitOverride()
    const stdout: string[] = []
    registerReportCommands(program, {
      loadConfig: async () => ({ config: validateConfig({ ...config, database: { url: t.db.url }, log: { level: 'silent' } }) }),
      stdout: (s) => void stdout.push(s),
      stderr: () => {},
    })
    await program.parseAsync(['node', 'tenure', 'reports', 'history', '--limit', '100'])
    const printed = stdout.join('')
    assert.match(printed, new RegExp(`${bob.id}  ndjson +2 rows  employee Bob Breach \\(${ids['R-BOB']}\\), all time  by `))
    assert.match(printed, new RegExp(`${byApi.id} .* by auditor \\[api_token:`))
    assert.match(printed, new RegExp(`${byApi.id} .*INVALID`))
    assert.match(printed, new RegExp(`${n} of ${n} reports\\.\\n$`))
  })

  test('when a past report is downloaded again from the history, then it is the same bytes with the same signed digest; a changed byte in storage is refused (409), and past reports.keepDays the file is pruned once (410)', async () => {
    const auth = { headers: { authorization: `Bearer ${auditorToken}` } }
    const get = (p: string) => fetch(`${t.url}${p}`, auth)
    const first = await api(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}&format=json`)
    assert.equal(first.status, 200)
    const original = Buffer.from(await first.arrayBuffer())
    const reportId = first.headers.get('x-report-id')!
    const manifestText = await (await get(`/api/v1/reports/exports/${reportId}/manifest`)).text()
    const manifest = JSON.parse(manifestText) as ReportManifest
    // Running the same query again is another report (its own id, time and chain head): not the evidence handed out.
    const rerun = Buffer.from(await (await api(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}&format=json`)).arrayBuffer())
    assert.notDeepEqual(rerun, original, 'regenerating does not give the same bytes')

    type Item = { id: string; sha256: string; file: { status: string; keptUntil: string | null; url: string | null } }
    const history = async () => ((await (await get('/api/v1/reports?limit=100')).json()) as { items: Item[] }).items.find((i) => i.id === reportId)!
    const listed = await history()
    assert.equal(listed.file.status, 'kept')
    assert.equal(listed.file.url, `/api/v1/reports/exports/${reportId}/file`)
    assert.equal(Date.parse(listed.file.keptUntil!) - Date.parse(manifest.generatedAt), 400 * 86_400_000, 'kept for reports.keepDays (default 400)')

    const again = await get(listed.file.url!)
    assert.equal(again.status, 200)
    const bytes = Buffer.from(await again.arrayBuffer())
    assert.ok(bytes.equals(original), 'byte for byte the report first handed out')
    assert.equal(again.headers.get('repr-digest'), first.headers.get('repr-digest'))
    assert.equal(again.headers.get('content-disposition'), first.headers.get('content-disposition'))
    assert.equal(again.headers.get('link'), first.headers.get('link'))
    const file = path.join(dir, 'again.json')
    await writeFile(file, bytes)
    assert.equal((await verifyReportFile(file, manifest, { publicKey: key.publicKeyPem })).ok, true, '`tenure reports verify` passes on the copy downloaded again')
    const [audited] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'report.downloaded_again' AND details ->> 'reportId' = $1`, [reportId])
    assert.equal(audited!.n, 1, 'who downloaded it again is on the audit trail')

    // A byte changed in the database: the bytes no longer hash to the signed manifest, nothing is sent.
    const flip = () => q(`UPDATE report_file_chunks SET data = set_byte(data, 10, get_byte(data, 10) # 32) WHERE export_id = $1 AND seq = 0`, [reportId])
    await flip()
    const changed = await get(listed.file.url!)
    assert.equal(changed.status, 409)
    assert.equal(((await changed.json()) as { error: { code: string } }).error.code, 'report_file_mismatch')
    await flip()
    assert.equal((await get(listed.file.url!)).status, 200)

    // An export made before files were kept (simulated: its file rows removed) says so.
    const old = await api(`from=${from.slice(0, 10)}&to=${to.slice(0, 10)}&format=csv`)
    const oldId = old.headers.get('x-report-id')!
    await old.arrayBuffer()
    await q('DELETE FROM report_file_chunks WHERE export_id = $1', [oldId])
    await q('DELETE FROM report_files WHERE export_id = $1', [oldId])
    const notKept = await get(`/api/v1/reports/exports/${oldId}/file`)
    assert.equal(notKept.status, 410)
    assert.equal(((await notKept.json()) as { error: { code: string } }).error.code, 'report_file_not_kept')

    // Past reports.keepDays: the daily retention job removes the bytes once; the manifest stays.
    const retention = async () => {
      const jobId = await t.running.boss.send(REPORT_RETENTION_QUEUE, {})
      return t.until('the retention job to complete', async () => {
        const job = await t.running.boss.getJobById(REPORT_RETENTION_QUEUE, jobId!)
        return job?.state === 'completed' ? (job.output as { pruned: number }) : undefined
      })
    }
    offset = 401 * 86_400_000
    try {
      assert.ok((await retention()).pruned >= 1)
      assert.deepEqual(await retention(), { pruned: 0 }, 'a second sweep finds nothing')
      const gone = await get(listed.file.url!)
      assert.equal(gone.status, 410)
      assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'report_file_pruned')
      assert.equal((await history()).file.status, 'pruned')
      const [chunks] = await q<{ n: number }>('SELECT count(*)::int AS n FROM report_file_chunks WHERE export_id = $1', [reportId])
      assert.equal(chunks!.n, 0, 'the bytes are gone')
      assert.equal(await (await get(`/api/v1/reports/exports/${reportId}/manifest`)).text(), manifestText, 'the signed manifest stays')
      const [pruned] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'report.files_pruned' AND details -> 'reportIds' ? $1`, [reportId])
      assert.equal(pruned!.n, 1, 'pruned once, on the audit trail')
    } finally {
      offset = 0
    }
  })
})

/** Whether a command-line tool is on the PATH (the openssl route of docs/reports.md needs openssl and jq). */
function has(tool: string): boolean {
  return spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0 || spawnSync(tool, ['version'], { encoding: 'utf8' }).status === 0
}

describe('reports signed out of the box (no audit.signingKey configured, as in the sandbox)', () => {
  let t: TestTenure
  let dir: string
  let auditor: string
  const unconfigured: ConfigInput = { hr: { generic: { secrets: [SECRET] } } }
  const get = (p: string) => fetch(`${t.url}${p}`, { headers: { authorization: `Bearer ${auditor}` } })

  before(async () => {
    t = await startTestTenure(unconfigured)
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-reports-unconfigured-'))
    auditor = (await createApiToken(t.running.pool, { name: 'auditor', role: 'auditor', expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
  })
  after(async () => {
    await t?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('when an auditor exports a report, then it is signed with the data folder key that signs checkpoints, served with its fingerprint, and `tenure reports verify` says VERIFIED', async () => {
    const localKey = loadPrivateKey(await readFile(path.join(t.running.config.database.dataDir, LOCAL_KEY_FILE), 'utf8'))

    const keyRes = await get('/api/v1/reports/signing-key')
    assert.equal(keyRes.status, 200, 'the public key is served (it answered 404 without a configured key)')
    const published = (await keyRes.json()) as { keyId: string; fingerprint: string; pem: string; source: string; warning: string | null }
    assert.equal(published.keyId, keyId(localKey))
    assert.equal(published.source, 'data_folder')
    assert.match(published.warning ?? '', /configure one from a secret store for production/)
    const checkpointKey = (await (await get('/api/v1/audit/public-key')).json()) as { keyId: string }
    assert.equal(checkpointKey.keyId, published.keyId, 'one key signs checkpoints and reports')

    const res = await get(`/api/v1/reports/access-revocations?from=2025-01-01&to=2025-02-01&format=csv`)
    assert.equal(res.status, 200)
    const file = path.join(dir, 'r.csv')
    await writeFile(file, Buffer.from(await res.arrayBuffer()))
    const manifestRes = await get(`/api/v1/reports/exports/${res.headers.get('x-report-id')}/manifest`)
    const manifestText = await manifestRes.text()
    const manifest = JSON.parse(manifestText) as ReportManifest
    assert.equal(manifest.signer?.keyId, published.keyId, 'the manifest is signed')
    const manifestPath = `${file}.manifest.json`
    await writeFile(manifestPath, manifestText)
    const keyPath = path.join(dir, 'KEY.pem')
    await writeFile(keyPath, published.pem)

    // The steps the console shows, as an auditor runs them: no database, no configuration.
    const env = { PATH: process.env.PATH ?? '', HOME: dir, TENURE_CONFIG: path.join(dir, 'absent.yaml') }
    const verified = spawnSync(process.execPath, [BIN, 'reports', 'verify', file, manifestPath, '--public-key', keyPath], { cwd: ROOT, env, encoding: 'utf8' })
    assert.equal(verified.status, 0, verified.stdout + verified.stderr)
    assert.match(verified.stdout, /^VERIFIED/m)

    if (has('openssl') && has('jq')) {
      // The openssl route (docs/reports.md): the fingerprint, the file's SHA-256, and the Ed25519 signature over the canonical manifest.
      const sh = (script: string) => spawnSync('sh', ['-c', script], { cwd: dir, env, encoding: 'utf8' })
      const fingerprint = sh('openssl pkey -pubin -in KEY.pem -outform DER | openssl dgst -sha256 -r | cut -d" " -f1')
      assert.equal(fingerprint.stdout.trim(), published.fingerprint)
      assert.equal(sh('openssl dgst -sha256 -r r.csv | cut -d" " -f1').stdout.trim(), manifest.file.sha256)
      const openssl = sh(
        "jq -cjS 'del(.signature)' r.csv.manifest.json > manifest.signed && jq -r .signature r.csv.manifest.json | openssl base64 -d -A > manifest.sig && " +
          'openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in manifest.signed -sigfile manifest.sig',
      )
      assert.match(openssl.stdout, /Signature Verified Successfully/, openssl.stdout + openssl.stderr)
    }
  })

  test('when the CLI exports without a configured key, then its manifest carries the same key', async () => {
    const out = path.join(dir, 'cli.ndjson')
    const program = new Command().exitOverride()
    const stderr: string[] = []
    registerReportCommands(program, {
      loadConfig: async () => ({ config: validateConfig({ ...unconfigured, database: { url: t.db.url, dataDir: t.running.config.database.dataDir }, log: { level: 'silent' } }) }),
      stdout: () => {},
      stderr: (s) => void stderr.push(s),
    })
    await program.parseAsync(['node', 'tenure', 'reports', 'access-revocations', '--from', '2025-01-01', '--to', '2025-02-01', '--format', 'ndjson', '--out', out])
    const manifest = JSON.parse(await readFile(`${out}.manifest.json`, 'utf8')) as ReportManifest
    const published = (await (await get('/api/v1/reports/signing-key')).json()) as { keyId: string }
    assert.equal(manifest.signer?.keyId, published.keyId)
    assert.match(stderr.join(''), /signed by ed25519:/)
  })
})
