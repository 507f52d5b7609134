import { useState } from 'react'
import { getJson, qs } from '../api.ts'
import { Link } from '../router.tsx'
import type { Case, CaseCounts, CountedPage, EmployeeSummary, SystemStatus } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { Badge, Countdown, ErrorBox, Loading, Section, TableWrap, Time, useData, utcText, useTitle } from '../ui.tsx'

const REFRESH_MS = 3000
const JOINER_DAYS = 14
const CASES_PER_PAGE = 50
/** Someone leaving (or gone) is not a joiner any more, whatever their start date. */
const LEAVING = new Set(['terminationScheduled', 'deprovisioning', 'offboarded', 'cancelled'])

function isoDate(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
}

export function Dashboard() {
  useTitle('Dashboard')
  const pager = usePager()
  const [health, setHealth] = useState<'open' | 'at_risk' | 'breached'>('open')
  const [search, setSearch] = useState('')
  const [q, setQ] = useState('')
  // Open and closed cases in one load, so a case that just closed is never shown in both lists or neither.
  const both = useData(
    () =>
      Promise.all([
        getJson<CountedPage<Case>>(`/api/v1/cases${qs({ kind: 'leaver', status: health, q, limit: CASES_PER_PAGE, cursor: pager.cursor })}`),
        getJson<CountedPage<Case>>(`/api/v1/cases${qs({ kind: 'leaver', status: 'closed', limit: 5 })}`),
      ]),
    [pager.cursor, health, q],
    REFRESH_MS,
  )
  const open = { ...both, data: both.data?.[0] }
  const closed = { ...both, data: both.data?.[1] }
  // The figures count every case on the server, not the rows of one page.
  const counts = useData(() => getJson<CaseCounts>(`/api/v1/cases/counts${qs({ kind: 'leaver' })}`), [], REFRESH_MS)
  const systems = useData(() => getJson<{ items: SystemStatus[] }>('/api/v1/systems'), [], REFRESH_MS)
  const today = new Date()
  const joiners = useData(
    () =>
      getJson<CountedPage<EmployeeSummary>>(
        `/api/v1/employees${qs({ startsFrom: isoDate(today), startsBefore: isoDate(new Date(today.getTime() + JOINER_DAYS * 86_400_000)), limit: 50 })}`,
      ),
    [],
    REFRESH_MS * 5,
  )

  const cases = open.data?.items ?? []
  const figures = counts.data
  const sys = systems.data?.items ?? []
  const deadLetters = sys.reduce((n, s) => n + s.deadLetters, 0)
  const troubled = sys.filter((s) => s.deadLetters > 0 || s.rateLimitedLastHour > 0 || !s.enabled)
  const queued = sys.filter((s) => s.queued > 0)

  return (
    <>
      <h1>Dashboard</h1>
      <ul className="stats" aria-label="Summary">
        <li data-testid="count-open">
          <strong>{figures ? figures.open : '…'}</strong> open leaver cases
        </li>
        <li className={figures?.breached ? 'bad' : ''} data-testid="count-breached">
          <strong>{figures ? figures.breached : '…'}</strong> breached
        </li>
        <li className={figures?.atRisk ? 'warn' : ''} data-testid="count-at-risk">
          <strong>{figures ? figures.atRisk : '…'}</strong> at risk
        </li>
        <li className={deadLetters ? 'bad' : ''}>
          <strong>{systems.data ? deadLetters : '…'}</strong> dead letters
        </li>
      </ul>

      <ErrorBox error={counts.error} />
      <Section
        title="Open leaver cases, least time left first"
        id="open-cases"
        actions={
          <form
            className="row wrap"
            role="search"
            onSubmit={(e) => {
              e.preventDefault()
              setQ(search.trim())
              pager.first()
            }}
          >
            <label htmlFor="case-health">Show</label>
            <select
              id="case-health"
              value={health}
              onChange={(e) => {
                setHealth(e.target.value as typeof health)
                pager.first()
              }}
            >
              <option value="open">every open case</option>
              <option value="at_risk">at risk</option>
              <option value="breached">breached</option>
            </select>
            <label htmlFor="case-q">Leaver</label>
            <input id="case-q" type="search" size={14} placeholder="name or HR id" value={search} onChange={(e) => setSearch(e.target.value)} />
            <button type="submit">Find</button>
          </form>
        }
      >
        <ErrorBox error={open.error} />
        {open.loading && !open.data ? (
          <Loading what="cases" />
        ) : !open.data ? null : cases.length === 0 && pager.index === 0 ? (
          <p className="muted">
            {health === 'open' && !q ? "No open leaver case. Every leaver's access is revoked and verified." : 'No open leaver case matches.'}
          </p>
        ) : (
          <TableWrap label="Open leaver cases">
            <thead>
              <tr>
                <th scope="col">Leaver</th>
                <th scope="col">Health</th>
                <th scope="col">Time left</th>
                <th scope="col">Deadline</th>
                <th scope="col">Systems verified</th>
                <th scope="col">Waiting on</th>
              </tr>
            </thead>
            <tbody>
              {cases.map((c) => (
                <CaseRow key={c.id} c={c} />
              ))}
            </tbody>
          </TableWrap>
        )}
        <PagerBar label="open cases" pager={pager} limit={CASES_PER_PAGE} shown={cases.length} total={open.data?.total} nextCursor={open.data?.nextCursor} />
      </Section>

      <div className="grid2">
        <Section title="Systems needing attention" id="systems">
          <ErrorBox error={systems.error} />
          {systems.data && troubled.length === 0 ? <p className="muted">Every system is healthy: no dead letters, no rate limiting in the last hour.</p> : null}
          {troubled.length > 0 && (
            <ul className="plain">
              {troubled.map((s) => (
                <li key={s.system} data-testid={`system-${s.system}`}>
                  <strong>{s.system}</strong>{' '}
                  {!s.enabled && <Badge value="failed" label={`disabled: ${s.reason ?? 'not configured'}`} />}{' '}
                  {s.deadLetters > 0 && <Badge value="dead_letter" label={`${s.deadLetters} dead letter${s.deadLetters === 1 ? '' : 's'}`} />}{' '}
                  {s.rateLimitedLastHour > 0 && <Badge value="at_risk" label={`rate-limited ${s.rateLimitedLastHour}× in the last hour`} />}
                </li>
              ))}
            </ul>
          )}
          {deadLetters > 0 && (
            <p>
              <Link to="/operations">Retry or redrive failed jobs</Link>
            </p>
          )}
        </Section>

        <Section title="Forecast for queued work" id="forecast">
          <ErrorBox error={systems.error} />
          {systems.data && queued.length === 0 ? <p className="muted">Nothing queued.</p> : null}
          {queued.length > 0 && (
            <ul className="plain">
              {queued.map((s) => (
                <li key={s.system}>
                  <strong>{s.system}</strong>: {s.queued} job{s.queued === 1 ? '' : 's'} queued, done by <Time iso={s.forecastDoneAt} /> at its rate limit
                </li>
              ))}
            </ul>
          )}
        </Section>
      </div>

      <div className="grid2">
        <Section title={`Joiners starting in the next ${JOINER_DAYS} days`} id="joiners">
          <ErrorBox error={joiners.error} />
          {joiners.data && joiners.data.items.filter((e) => !LEAVING.has(e.state)).length === 0 ? <p className="muted">No joiner starts soon.</p> : null}
          {joiners.data && joiners.data.items.some((e) => !LEAVING.has(e.state)) && (
            <ul className="plain">
              {joiners.data.items
                .filter((e) => !LEAVING.has(e.state))
                .sort((a, b) => (a.startDate ?? '').localeCompare(b.startDate ?? ''))
                .map((e) => (
                  <li key={e.id}>
                    <Link to={`/employees/${e.id}`}>{e.displayName ?? e.externalId}</Link> starts <Time iso={e.startDate} dateOnly />{' '}
                    <Badge value={e.state} label={e.state} />
                  </li>
                ))}
            </ul>
          )}
          {joiners.data && joiners.data.total > joiners.data.items.length ? (
            <p className="muted small" data-testid="joiners-more">
              Showing {joiners.data.items.length} of {joiners.data.total} people starting in the next {JOINER_DAYS} days (the most recently changed).{' '}
              <Link to="/employees">All employees</Link>
            </p>
          ) : null}
        </Section>

        <Section title="Recently closed leaver cases" id="closed-cases">
          <ErrorBox error={closed.error} />
          {closed.data && closed.data.items.length === 0 ? <p className="muted">None yet.</p> : null}
          {closed.data && closed.data.items.length > 0 && (
            <ul className="plain">
              {closed.data.items.map((c) => (
                <li key={c.id} data-testid={`closed-${c.externalId}`}>
                  <Link to={`/employees/${c.employeeId}`}>{c.employeeName ?? c.externalId}</Link> <Badge value="closed" /> closed <Time iso={c.closedAt} />
                  {c.breachedAt ? <Badge value="breached" label="deadline was missed" /> : null}
                </li>
              ))}
            </ul>
          )}
        </Section>
      </div>
    </>
  )
}

function CaseRow({ c }: { c: Case }) {
  const verified = c.systems.filter((s) => s.verifiedAt).length
  const waiting = c.systems.filter((s) => !s.verifiedAt)
  return (
    <tr className={`health-${c.health}`} data-testid={`case-${c.externalId}`}>
      <th scope="row">
        <Link to={`/employees/${c.employeeId}`}>{c.employeeName ?? c.externalId}</Link>
        <div className="muted small">{c.externalId}</div>
      </th>
      <td>
        <Badge value={c.health} />
      </td>
      <td>
        <Countdown deadline={c.deadlineAt} />
      </td>
      <td>
        <Time iso={c.deadlineAt} />
      </td>
      <td>
        {verified} / {c.systems.length}
      </td>
      <td>
        {waiting.length === 0
          ? '—'
          : waiting.map((s) => (
              <span key={s.system} className="chip" title={`${s.waitingOn ? `waiting on ${s.waitingOnException?.kind ? `a ${s.waitingOnException.kind.replaceAll('_', ' ')} exception${s.waitingOnException.endsAt ? ` until ${utcText(s.waitingOnException.endsAt)}` : ''}${s.waitingOnException.requestedByName ? ` (asked by ${s.waitingOnException.requestedByName})` : ''}` : 'an exception'}` : s.status.replaceAll('_', ' ')}${s.attempts > 1 ? `, ${s.attempts} attempts` : ''}${s.forecastDoneAt ? `; queue done by ${utcText(s.forecastDoneAt)}` : ''}`}>
                {s.system}
                {s.lastError ? ' (failing)' : ''}
              </span>
            ))}
      </td>
    </tr>
  )
}
