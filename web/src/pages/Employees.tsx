import { useState, type FormEvent } from 'react'
import { getJson, qs } from '../api.ts'
import { Link } from '../router.tsx'
import type { CountedPage, EmployeeDetail, EmployeeSummary, Exception, Page, PlanSystem, TimelineItem } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { WhatIf } from './WhatIf.tsx'
import { Badge, ErrorBox, Json, Loading, Section, TableWrap, Time, useData } from '../ui.tsx'
import { CutOffNow } from './Terminate.tsx'

const EMPLOYEES_PER_PAGE = 50

export function Employees() {
  const [q, setQ] = useState('')
  const [query, setQuery] = useState('')
  const pager = usePager()
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
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('; ') || '(account only)'
}

const ACTION_LABELS: Record<string, string> = {
  'employee.hired': 'HR: hired',
  'employee.updated': 'HR: changed',
  'employee.terminated': 'HR: terminated',
  'employee.termination_rescinded': 'HR: termination rescinded',
}

function timelineText(t: TimelineItem): string {
  const d = t.details
  if (t.action === 'target.api_called') {
    // One target API call: what was asked, what the vendor answered, how long it took.
    const ms = typeof d.durationMs === 'number' ? ` in ${Math.round(d.durationMs)} ms` : ''
    const err = d.errorKind ? ` (${String(d.errorKind)})` : ''
    return `${String(d.method ?? '')} ${String(d.path ?? d.operation ?? '')} → ${String(d.status ?? 'no answer')}${err}${ms} · attempt ${String(d.attempt ?? '?')}`
  }
  const bits: string[] = []
  for (const key of ['from', 'to', 'status', 'outcome', 'reason', 'attempt', 'error', 'kind', 'exceptionId', 'note', 'checks']) {
    const v = d[key]
    if (v !== undefined && v !== null && v !== '') bits.push(`${key}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  }
  return bits.join(' · ')
}

export function EmployeePage({ id }: { id: string }) {
  const emp = useData(() => getJson<EmployeeDetail>(`/api/v1/employees/${id}`), [id], 4000)
  const plan = useData(() => getJson<{ state: string; systems: PlanSystem[] }>(`/api/v1/employees/${id}/plan`), [id])
  const exceptions = useData(() => getJson<Page<Exception>>(`/api/v1/exceptions${qs({ employeeId: id, limit: 50 })}`), [id], 10_000)
  const [kind, setKind] = useState<'all' | 'hr_event' | 'audit'>('all')
  if (emp.error) return <ErrorBox error={emp.error} />
  if (!emp.data) return <Loading what="the employee" />
  const e = emp.data
  const timeline = [...e.timeline].reverse().filter((t) => kind === 'all' || t.kind === kind)
  return (
    <>
      <p className="crumbs">
        <Link to="/employees">Employees</Link> ›
      </p>
      <h1>
        {e.displayName ?? e.externalId} <Badge value={e.state} label={e.state} />
      </h1>
      <dl className="facts">
        <dt>HR id</dt>
        <dd>
          {e.source}:{e.externalId}
        </dd>
        <dt>Email</dt>
        <dd>{e.email ?? '—'}</dd>
        <dt>Department</dt>
        <dd>{e.department ?? '—'}</dd>
        <dt>Start date</dt>
        <dd>
          <Time iso={e.startDate} dateOnly />
        </dd>
        <dt>Next action</dt>
        <dd>
          {e.nextAction ? (
            <>
              {e.nextAction} at <Time iso={e.nextActionAt} />
            </>
          ) : (
            '—'
          )}
        </dd>
      </dl>
      <CutOffNow employee={e} onDone={emp.reload} />

      <Section title="Accounts per system" id="accounts">
        {e.accounts.length === 0 ? (
          <p className="muted">No account yet.</p>
        ) : (
          <TableWrap label="Accounts">
            <thead>
              <tr>
                <th scope="col">System</th>
                <th scope="col">Status</th>
                <th scope="col">Login</th>
                <th scope="col">Attempts</th>
                <th scope="col">Revoked</th>
                <th scope="col">Verified</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {e.accounts.map((a) => (
                <tr key={a.system} data-testid={`account-${a.system}`}>
                  <th scope="row">{a.system}</th>
                  <td>
                    <Badge value={a.status} />
                    {a.waitingOn ? <div className="muted small">waiting on {a.waitingOn}</div> : null}
                  </td>
                  <td>{a.login ?? a.accountId ?? '—'}</td>
                  <td>{a.attempts}</td>
                  <td>
                    <Time iso={a.revokedAt} />
                  </td>
                  <td>
                    <Time iso={a.verifiedAt} />
                  </td>
                  <td>
                    <Json value={a.lastError} />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        )}
      </Section>

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
                  <th scope="row">{s.system}</th>
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

      {(exceptions.data?.items.length ?? 0) > 0 && (
        <Section title="Exceptions" id="exceptions">
          <ul className="plain">
            {exceptions.data!.items.map((x) => (
              <li key={x.id}>
                <Badge value={x.status} /> {x.kind.replaceAll('_', ' ')} on {x.system ?? 'every system'} until <Time iso={x.endsAt} />: {x.reason}
              </li>
            ))}
          </ul>
        </Section>
      )}

      {e.pendingJobs.length > 0 && (
        <Section title="Pending jobs" id="jobs">
          <ul className="plain">
            {e.pendingJobs.map((j) => (
              <li key={j.id}>
                {j.queue} {j.action ?? ''} {j.phase ?? ''} <Badge value={j.state} /> {j.retryCount > 0 ? `retry ${j.retryCount}` : ''} from <Time iso={j.startAfter} />
              </li>
            ))}
          </ul>
        </Section>
      )}

      <Section
        title="Timeline"
        id="timeline"
        actions={
          <div className="row">
            <label htmlFor="tl-kind">Show</label>
            <select id="tl-kind" value={kind} onChange={(ev) => setKind(ev.target.value as typeof kind)}>
              <option value="all">everything</option>
              <option value="hr_event">HR events</option>
              <option value="audit">audit trail</option>
            </select>
          </div>
        }
      >
        <p className="muted small">Newest first: HR events, state transitions, jobs and their attempts, target API results, verifications, exceptions; audit rows with their sequence number.</p>
        <ol className="timeline" aria-label="Timeline">
          {timeline.map((t, i) => (
            <li key={`${t.kind}-${t.seq ?? i}-${t.at}`} className={t.kind}>
              <Time iso={t.at} /> {t.seq !== null ? <span className="seq">#{t.seq}</span> : <span className="seq">HR</span>} <strong>{ACTION_LABELS[t.action] ?? t.action}</strong>
              {t.system ? <span className="chip">{t.system}</span> : null} <span className="muted small">{t.actor}</span>
              <div className="small">{timelineText(t)}</div>
            </li>
          ))}
        </ol>
      </Section>
    </>
  )
}
