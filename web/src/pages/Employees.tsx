import { useState, type FormEvent } from 'react'
import { getJson, qs } from '../api.ts'
import { Link } from '../router.tsx'
import type { CountedPage, EmployeeDetail, EmployeeSummary, Exception, Page, PlanSystem, TimelineItem, TimelinePage } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { WhatIf } from './WhatIf.tsx'
import { CutOffNow } from './Terminate.tsx'
import { eventLabel, systemLabel, valueText } from '../event-labels.ts'
import { Badge, Countdown, ErrorBox, Loading, Person, Section, TableWrap, Time, useData, useTitle } from '../ui.tsx'

const EMPLOYEES_PER_PAGE = 50

export function Employees() {
  const [q, setQ] = useState('')
  const [query, setQuery] = useState('')
  const pager = usePager()
  useTitle('Employees')
  const list = useData(() => getJson<CountedPage<EmployeeSummary>>(`/api/v1/employees${qs({ q: query, limit: EMPLOYEES_PER_PAGE, cursor: pager.cursor })}`), [query, pager.cursor], 5000)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    setQuery(q.trim())
    pager.first()
  }
  return (
    <>
      <h1>Employees</h1>
      <form className="row" onSubmit={submit} role="search">
        <label htmlFor="q">Search by name, email or HR id</label>
        <input id="q" type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading what="employees" /> : null}
      {list.data && list.data.items.length === 0 && pager.index === 0 ? <p className="muted">No employee matches.</p> : null}
      {list.data && list.data.items.length > 0 && (
        <TableWrap label="Employees">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">HR id</th>
              <th scope="col">State</th>
              <th scope="col">Department</th>
              <th scope="col">Start date</th>
              <th scope="col">Last change</th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((e) => (
              <tr key={e.id}>
                <th scope="row">
                  <Link to={`/employees/${e.id}`}>{e.displayName ?? e.externalId}</Link>
                </th>
                <td>
                  {e.source}:{e.externalId}
                </td>
                <td>
                  <Badge value={e.state} label={e.state} />
                </td>
                <td>{e.department ?? '—'}</td>
                <td>
                  <Time iso={e.startDate} dateOnly />
                </td>
                <td>
                  <Time iso={e.updatedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
      {list.data && <PagerBar label="employees" pager={pager} limit={EMPLOYEES_PER_PAGE} shown={list.data.items.length} total={list.data.total} nextCursor={list.data.nextCursor} />}
    </>
  )
}

function grantText(g: Record<string, unknown> | null): string {
  if (!g) return '—'
  return Object.entries(g)
    .filter(([, v]) => !(Array.isArray(v) && v.length === 0) && v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${valueText(v)}`)
    .join('; ') || '(account only)'
}

type Account = EmployeeDetail['accounts'][number]
type CurrentCase = NonNullable<EmployeeDetail['currentCase']>

/** What an account or a case system waits on, in words: the exception's kind, its end, who asked. */
export function WaitingOn({ w, id }: { w: Account['waitingOnException']; id: string | null }) {
  if (!id) return null
  if (!w || !w.kind) return <span title={id}>waiting on an exception Tenure cannot find</span>
  return (
    <span title={`exception ${w.exceptionId}`}>
      waiting on a {w.kind.replaceAll('_', ' ')} exception{w.endsAt ? <> until <Time iso={w.endsAt} /></> : null}
      {w.requestedBy ? (
        <>
          {' '}
          (asked by <Person id={w.requestedBy} name={w.requestedByName} />)
        </>
      ) : null}
    </span>
  )
}

/** The last error as code and message, never the stored JSON. */
export function LastError({ e }: { e: Account['lastErrorSummary'] }) {
  if (!e) return null
  return (
    <span className="error-text" data-testid="last-error">
      <code>{e.code}</code> {e.message}
      {e.action ? <span className="muted small"> (while trying to {e.action.replaceAll('_', ' ')}{e.at ? <>, <Time iso={e.at} /></> : null})</span> : null}
    </span>
  )
}

function CaseSummary({ c }: { c: CurrentCase }) {
  const open = c.status === 'open' || c.status === 'scheduled'
  return (
    <span data-testid="current-case">
      {c.kind === 'leaver' ? 'Leaver' : 'Joiner'} case <Badge value={c.health} />{' '}
      {open && c.deadlineAt ? (
        <>
          <Countdown deadline={c.deadlineAt} /> <span className="muted small">(deadline <Time iso={c.deadlineAt} />)</span>
        </>
      ) : c.closedAt ? (
        <span className="muted small">
          closed <Time iso={c.closedAt} />
        </span>
      ) : null}
    </span>
  )
}

function AccountLine({ a }: { a: Account }) {
  return (
    <li data-testid={`account-${a.system}`}>
      <strong title={a.system}>{systemLabel(a.system)}</strong> <Badge value={a.status} />
      {a.login || a.accountId ? <span className="muted small"> {a.login ?? a.accountId}</span> : null}
      {a.attempts > 1 ? <span className="muted small"> · {a.attempts} attempts</span> : null}
      {a.revokedAt ? (
        <span className="muted small">
          {' '}
          · revoked <Time iso={a.revokedAt} />
        </span>
      ) : null}
      {a.verifiedAt ? (
        <span className="muted small">
          {' '}
          · verified <Time iso={a.verifiedAt} />
        </span>
      ) : null}
      {a.waitingOn ? (
        <div className="small">
          <WaitingOn w={a.waitingOnException} id={a.waitingOn} />
        </div>
      ) : null}
      {a.lastErrorSummary ? (
        <div className="small">
          Last error: <LastError e={a.lastErrorSummary} />
        </div>
      ) : null}
    </li>
  )
}

/** What the timeline's "Show" filter offers: a kind, or actions (exact or `area.*`). */
const TIMELINE_FILTERS: Array<{ value: string; label: string; kind?: 'hr_event' | 'audit'; action?: string }> = [
  { value: '', label: 'everything' },
  { value: 'hr', label: 'HR events', kind: 'hr_event' },
  { value: 'state', label: 'state changes', action: 'lifecycle.transitioned' },
  { value: 'jobs', label: 'jobs', action: 'job.*' },
  { value: 'calls', label: 'target API calls', action: 'target.api_called' },
  { value: 'checks', label: 'revocations and checks', action: 'target.revoked,target.verified' },
  { value: 'exceptions', label: 'exceptions', action: 'exception.*' },
  { value: 'tasks', label: 'manual tasks', action: 'task.*' },
  { value: 'sla', label: 'SLA and escalations', action: 'sla.*' },
  { value: 'reconciliation', label: 'reconciliation', action: 'reconciliation.*' },
]

const TIMELINE_PER_PAGE = 25

function timelineText(t: TimelineItem): string {
  const d = t.details
  if (t.action === 'target.api_called') {
    // One target API call: what was asked, what the vendor answered, how long it took.
    const ms = typeof d.durationMs === 'number' ? ` in ${Math.round(d.durationMs)} ms` : ''
    const err = d.errorKind ? ` (${String(d.errorKind)})` : ''
    return `${String(d.method ?? '')} ${String(d.path ?? d.operation ?? '')} → ${String(d.status ?? 'no answer')}${err}${ms} · attempt ${String(d.attempt ?? '?')}`
  }
  const bits: string[] = []
  for (const key of ['status', 'outcome', 'reason', 'attempt', 'error', 'kind', 'note', 'checks', 'foundBy']) {
    const v = d[key]
    if (v === undefined || v === null || v === '') continue
    if (key === 'checks' && Array.isArray(v)) {
      // What a verification read back: each check by name, passed or not.
      const checks = (v as Array<{ name?: unknown; ok?: unknown; detail?: unknown }>).map((c) => `${String(c.name ?? '?').replaceAll('_', ' ')} ${c.ok === true ? '✓' : c.ok === false ? '✗' : '?'}${c.ok === false && c.detail ? ` (${valueText(c.detail)})` : ''}`)
      bits.push(`checks: ${checks.join(', ')}`)
    } else bits.push(`${key === 'foundBy' ? 'found by' : key}: ${valueText(v)}`)
  }
  return bits.join(' · ')
}

function Timeline({ id }: { id: string }) {
  const [show, setShow] = useState('')
  const [system, setSystem] = useState('')
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const pager = usePager()
  const filter = TIMELINE_FILTERS.find((f) => f.value === show) ?? TIMELINE_FILTERS[0]!
  // A day picked as "to" includes that day: the API's `to` is exclusive.
  const toExclusive = to ? new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10) : ''
  const page = useData(
    () =>
      getJson<TimelinePage>(
        `/api/v1/employees/${id}/timeline${qs({ kind: filter.kind, action: filter.action, system, from, to: toExclusive, limit: TIMELINE_PER_PAGE, cursor: pager.cursor })}`,
      ),
    [id, show, system, from, to, pager.cursor],
    pager.index === 0 ? 5000 : undefined,
  )
  const change = (set: (v: string) => void) => (ev: { target: { value: string } }) => {
    set(ev.target.value)
    pager.first()
  }
  return (
    <Section title="Timeline" id="timeline">
      <div className="row wrap filters">
        <span className="field">
          <label htmlFor="tl-kind">Show</label>
          <select id="tl-kind" value={show} onChange={change(setShow)}>
            {TIMELINE_FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </span>
        <span className="field">
          <label htmlFor="tl-system">System</label>
          <select id="tl-system" value={system} onChange={change(setSystem)}>
            <option value="">every system</option>
            {(page.data?.systems ?? (system ? [system] : [])).map((s) => (
              <option key={s} value={s}>
                {systemLabel(s)}
              </option>
            ))}
          </select>
        </span>
        <span className="field">
          <label htmlFor="tl-from">From</label>
          <input id="tl-from" type="date" value={from} onChange={change(setFrom)} />
        </span>
        <span className="field">
          <label htmlFor="tl-to">To (inclusive)</label>
          <input id="tl-to" type="date" value={to} onChange={change(setTo)} />
        </span>
      </div>
      <p className="muted small">Newest first: HR events, state changes, jobs and their attempts, target API results, checks, exceptions, tasks. Hover a name for its id.</p>
      <ErrorBox error={page.error} />
      {page.loading && !page.data ? <Loading what="the timeline" /> : null}
      {page.data && page.data.items.length === 0 && pager.index === 0 ? <p className="muted">Nothing matches.</p> : null}
      {page.data && (
        <ol className="timeline" aria-label="Timeline">
          {page.data.items.map((t) => (
            <li key={`${t.kind}-${t.seq ?? String(t.details.eventId ?? '')}-${t.at}`} className={t.kind} data-action={t.action}>
              <Time iso={t.at} /> {t.seq !== null ? <span className="seq">#{t.seq}</span> : <span className="seq">HR</span>}{' '}
              <strong title={t.action}>{eventLabel(t.action, t.system, t.details)}</strong> <span className="muted small">by <Person id={t.actor ?? t.actorId} name={t.actorName} /></span>
              {timelineText(t) ? <div className="small detail">{timelineText(t)}</div> : null}
            </li>
          ))}
        </ol>
      )}
      {page.data && <PagerBar label="timeline entries" pager={pager} limit={TIMELINE_PER_PAGE} shown={page.data.items.length} total={page.data.total} nextCursor={page.data.nextCursor} />}
    </Section>
  )
}

export function EmployeePage({ id }: { id: string }) {
  const emp = useData(() => getJson<EmployeeDetail>(`/api/v1/employees/${id}`), [id], 4000)
  const plan = useData(() => getJson<{ state: string; systems: PlanSystem[] }>(`/api/v1/employees/${id}/plan`), [id])
  const exceptions = useData(() => getJson<Page<Exception>>(`/api/v1/exceptions${qs({ employeeId: id, limit: 50 })}`), [id], 10_000)
  useTitle(emp.data ? (emp.data.displayName ?? emp.data.externalId) : 'Employee')
  if (emp.error) return <ErrorBox error={emp.error} />
  if (!emp.data) return <Loading what="the employee" />
  const e = emp.data
  return (
    <>
      <p className="crumbs">
        <Link to="/employees">Employees</Link> ›
      </p>
      <h1>
        {e.displayName ?? e.externalId} <Badge value={e.state} label={e.state.replaceAll('_', ' ')} />
      </h1>

      <section aria-labelledby="summary" className="card summary" data-testid="employee-summary">
        <div className="card-head">
          <h2 id="summary">Summary</h2>
          {/* Actions on this person (cut off now, what if…) sit here, beside the summary they act on. */}
          <div className="row wrap" data-testid="employee-actions">
            <CutOffNow employee={e} onDone={emp.reload} />
          </div>
        </div>
        <dl className="facts">
          <dt>State</dt>
          <dd>{e.state.replaceAll('_', ' ')}</dd>
          <dt>HR id</dt>
          <dd>
            {e.source}:{e.externalId}
          </dd>
          <dt>Email</dt>
          <dd>{e.email ?? '—'}</dd>
          <dt>Department</dt>
          <dd>{e.department ?? '—'}</dd>
          <dt>Manager</dt>
          <dd data-testid="manager">
            {!e.manager ? (
              '—'
            ) : e.manager.id ? (
              <Link to={`/employees/${e.manager.id}`} title={`HR id ${e.manager.externalId}`}>
                {e.manager.name ?? e.manager.externalId}
              </Link>
            ) : (
              <span title="not known to Tenure">HR id {e.manager.externalId}</span>
            )}
          </dd>
          <dt>Start date</dt>
          <dd>
            <Time iso={e.startDate} dateOnly />
          </dd>
          <dt>Case</dt>
          <dd>{e.currentCase ? <CaseSummary c={e.currentCase} /> : <span className="muted">none</span>}</dd>
          <dt>Next action</dt>
          <dd>
            {e.nextAction ? (
              <>
                {e.nextAction.replaceAll('_', ' ')} at <Time iso={e.nextActionAt} />
              </>
            ) : (
              '—'
            )}
          </dd>
        </dl>
        <h3 id="accounts">Accounts per system</h3>
        {e.accounts.length === 0 ? (
          <p className="muted">No account yet.</p>
        ) : (
          <ul className="plain accounts" aria-labelledby="accounts">
            {e.accounts.map((a) => (
              <AccountLine key={a.system} a={a} />
            ))}
          </ul>
        )}
      </section>

      {(exceptions.data?.items.length ?? 0) > 0 && (
        <Section title="Exceptions" id="exceptions">
          <ul className="plain">
            {exceptions.data!.items.map((x) => (
              <li key={x.id}>
                <Badge value={x.status} /> {x.kind.replaceAll('_', ' ')} on {systemLabel(x.system)} until <Time iso={x.endsAt} />, asked by{' '}
                <Person id={x.requestedBy} name={x.requestedByName} />: {x.reason}
              </li>
            ))}
          </ul>
        </Section>
      )}

      {e.pendingJobs.length > 0 && (
        <Section title="Pending jobs" id="jobs">
          <ul className="plain">
            {e.pendingJobs.map((j) => (
              <li key={j.id} title={`job ${j.id}`}>
                {j.queue} {j.action ?? ''} {j.phase ?? ''} <Badge value={j.state} /> {j.retryCount > 0 ? `retry ${j.retryCount}` : ''} from <Time iso={j.startAfter} />
              </li>
            ))}
          </ul>
        </Section>
      )}

      <Timeline id={id} />

      <Section title="Dry-run plan (what policy wants, changes nothing)" id="plan">
        <ErrorBox error={plan.error} />
        {plan.data && (
          <TableWrap label="Plan">
            <thead>
              <tr>
                <th scope="col">System</th>
                <th scope="col">Wanted</th>
                <th scope="col">Provisioned</th>
                <th scope="col">Change</th>
                <th scope="col">Rules</th>
              </tr>
            </thead>
            <tbody>
              {plan.data.systems.map((s) => (
                <tr key={s.system}>
                  <th scope="row" title={s.system}>
                    {systemLabel(s.system)}
                  </th>
                  <td>{grantText(s.desired)}</td>
                  <td>{grantText(s.provisioned)}</td>
                  <td>
                    {s.create ? 'create account' : s.remove ? 'remove account' : ''}
                    {Object.entries(s.add).map(([k, v]) => (v.length ? ` +${k}: ${v.join(', ')}` : ''))}
                    {Object.entries(s.removeItems).map(([k, v]) => (v.length ? ` −${k}: ${v.join(', ')}` : ''))}
                    {!s.create && !s.remove && Object.values(s.add).every((v) => v.length === 0) && Object.values(s.removeItems).every((v) => v.length === 0)
                      ? 'none'
                      : ''}
                  </td>
                  <td>{s.rules.join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        )}
      </Section>

      <WhatIf employeeId={id} profile={e.profile} />
    </>
  )
}
