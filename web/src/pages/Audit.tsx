import { useState, type FormEvent } from 'react'
import { getJson, qs, request } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import type { VerifyResult } from '../types.ts'
import type { AuditRow } from '../../../src/audit/record.ts'
import { Link } from '../router.tsx'
import { Reports } from './Reports.tsx'
import { ErrorBox, Json, Person, Section, TableWrap, Time, useTitle } from '../ui.tsx'
import { eventLabel, systemLabel } from '../event-labels.ts'

export function Audit() {
  useTitle('Audit')
  const { me } = useViewer()
  return (
    <>
      <h1>Audit</h1>
      {can.audit(me.roles) && <Reports />}
      {can.audit(me.roles) && <LogPanel />}
      {can.audit(me.roles) && <ChainPanel />}
    </>
  )
}

function ChainPanel() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [result, setResult] = useState<VerifyResult | null>(null)
  const [at, setAt] = useState<string | null>(null)
  const verify = async () => {
    setBusy(true)
    setError(null)
    try {
      setResult(await getJson<VerifyResult>('/api/v1/audit/verify'))
      setAt(new Date().toISOString())
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Section title="Audit-trail verification" id="chain">
      <p className="muted">Recomputes every hash of the tamper-evident chain and checks the signed checkpoints.</p>
      <button type="button" onClick={verify} disabled={busy}>
        {busy ? 'Verifying…' : 'Verify the audit trail'}
      </button>
      <ErrorBox error={error} />
      {result && (
        <div aria-live="polite" data-testid="chain-verdict">
          {result.ok ? (
            <p className={result.coverage === 'none' ? 'notice' : 'ok-text'} data-coverage={result.coverage}>
              {result.summary.charAt(0).toUpperCase() + result.summary.slice(1)}. Verified up to #{result.head.seq}
              {result.newestCheckpoint && (
                <>
                  ; newest checkpoint #{result.newestCheckpoint.id} signed <Time iso={result.newestCheckpoint.createdAt} />
                </>
              )}
              . Checked <Time iso={at} />.
            </p>
          ) : (
            <p className="error">
              Failed at #{result.firstBadSeq}: {result.reason.replaceAll('_', ' ')}. {result.message}
            </p>
          )}
        </div>
      )}
    </Section>
  )
}

interface LogFilters {
  employee: string
  actor: string
  action: string
  system: string
  from: string
  to: string
}

interface LogPage {
  events: AuditRow[]
  nextCursor: string | null
  /** With an employee filter: the Tenure ids it matched (empty: no such employee). */
  employees: string[] | null
  /** This page's actors by name, keyed `type:id`; null: only the id is known. */
  actorNames: Record<string, string | null>
  /** This page's employees by display name, keyed by Tenure id. */
  employeeNames: Record<string, string | null>
}

const NO_FILTERS: LogFilters = { employee: '', actor: '', action: '', system: '', from: '', to: '' }
const LOG_PAGE_SIZE = 50

/** The filters as the API's query: dates are whole UTC days (`to` exclusive, like the report). */
function logQuery(f: LogFilters): Record<string, string> {
  const q: Record<string, string> = {}
  if (f.employee.trim()) q.employee = f.employee.trim()
  if (f.actor.trim()) q.actor = f.actor.trim()
  if (f.action.trim()) q.action = f.action.trim()
  if (f.system.trim()) q.system = f.system.trim()
  if (f.from) q.from = `${f.from}T00:00:00Z`
  if (f.to) q.to = `${f.to}T00:00:00Z`
  return q
}

/**
 * The audit log, searchable like Okta's System Log: by employee (HR id, e-mail or Tenure id),
 * actor, action (or a prefix such as `exception.*`), system and period, newest first, paged on the
 * server; every match exported as CSV or NDJSON.
 */
function LogPanel() {
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS)
  const [applied, setApplied] = useState<LogFilters | null>(null)
  const [rows, setRows] = useState<AuditRow[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [matched, setMatched] = useState<string[] | null>(null)
  const [names, setNames] = useState<{ actors: Record<string, string | null>; employees: Record<string, string | null> }>({ actors: {}, employees: {} })
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  const load = async (f: LogFilters, cursor: string | null) => {
    setBusy(true)
    setError(null)
    try {
      const page = await getJson<LogPage>(`/api/v1/audit/events${qs({ ...logQuery(f), order: 'desc', limit: LOG_PAGE_SIZE, cursor })}`)
      setRows((before) => (cursor ? [...before, ...page.events] : page.events))
      setNext(page.nextCursor)
      setNames((before) => ({ actors: { ...before.actors, ...page.actorNames }, employees: { ...before.employees, ...page.employeeNames } }))
      setMatched(page.employees)
      setApplied(f)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const exportAs = async (format: 'csv' | 'ndjson') => {
    if (!applied) return
    setError(null)
    try {
      const res = await request(`/api/v1/audit/events${qs({ ...logQuery(applied), format })}`, { headers: { Accept: '*/*' } })
      const url = URL.createObjectURL(await res.blob())
      const a = document.createElement('a')
      a.href = url
      a.download = `audit-events.${format}`
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 10_000)
    } catch (err) {
      setError(err)
    }
  }

  const field = (name: keyof LogFilters, label: string, placeholder: string, type = 'text') => (
    <div className="field">
      <label htmlFor={`log-${name}`}>{label}</label>
      <input id={`log-${name}`} type={type} placeholder={placeholder} value={filters[name]} onChange={(e) => setFilters({ ...filters, [name]: e.target.value })} />
    </div>
  )

  return (
    <Section title="Audit log" id="log">
      <p className="muted">Every recorded fact, newest first. Leave a filter empty to match everything.</p>
      <form
        className="row wrap"
        onSubmit={(e: FormEvent) => {
          e.preventDefault()
          void load(filters, null)
        }}
      >
        {field('employee', 'Employee', 'HR id, e-mail or Tenure id')}
        {field('actor', 'Actor', 'token id, SSO subject, tenure')}
        {field('action', 'Action', 'exception.* or job.enqueued')}
        {field('system', 'System', 'google, manual:badge')}
        {field('from', 'From (UTC date)', '', 'date')}
        {field('to', 'To (exclusive, UTC date)', '', 'date')}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Searching…' : 'Search the log'}
        </button>
      </form>
      <ErrorBox error={error} />
      {applied && (
        <div aria-live="polite" data-testid="log-results">
          {matched !== null && matched.length === 0 ? (
            <p className="notice" data-testid="log-unknown-employee">
              No employee matches “{applied.employee.trim()}” (by HR id, e-mail or Tenure id): nothing to show, which is not the same as no events.
            </p>
          ) : (
            <>
              <p className="row wrap">
                <span data-testid="log-count">
                  {rows.length} entr{rows.length === 1 ? 'y' : 'ies'} shown{next ? ', more match' : ', all that match'}
                </span>
                <button type="button" onClick={() => void exportAs('csv')}>
                  Export CSV
                </button>
                <button type="button" onClick={() => void exportAs('ndjson')}>
                  Export NDJSON
                </button>
              </p>
              {rows.length > 0 && (
                <TableWrap label="Audit log entries">
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>When</th>
                      <th>Actor</th>
                      <th>Action</th>
                      <th>Employee</th>
                      <th>System</th>
                      <th>Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={r.seq}>
                        <td>{r.seq}</td>
                        <td>
                          <Time iso={r.occurred_at} />
                        </td>
                        <td>
                          <Person id={`${r.actor.type}:${r.actor.id}`} name={names.actors[`${r.actor.type}:${r.actor.id}`]} />{' '}
                          <span className="muted small">{r.actor.type.replaceAll('_', ' ')}</span>
                        </td>
                        <td>
                          {eventLabel(r.action, r.subject.system, r.details)}
                          {/* The recorded name too: it is what the Action filter and the exports use. */}
                          <div>
                            <code className="muted small">{r.action}</code>
                          </div>
                        </td>
                        <td>
                          {r.subject.employee_id ? (
                            <Link to={`/employees/${r.subject.employee_id}`} title={r.subject.employee_id}>
                              {names.employees[r.subject.employee_id] ?? `${r.subject.employee_id.slice(0, 8)}…`}
                            </Link>
                          ) : (
                            <span className="muted">—</span>
                          )}
                        </td>
                        <td title={r.subject.system ?? undefined}>{r.subject.system ? systemLabel(r.subject.system) : <span className="muted">—</span>}</td>
                        <td>
                          <Json value={r.details} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </TableWrap>
              )}
              {next && (
                <button type="button" onClick={() => void load(applied, next)} disabled={busy}>
                  {busy ? 'Loading…' : `Next ${LOG_PAGE_SIZE}`}
                </button>
              )}
            </>
          )}
        </div>
      )}
    </Section>
  )
}
