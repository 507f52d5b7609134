import { useState, type FormEvent } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import { Link } from '../router.tsx'
import type { CountedPage, DeadLetter, Page, SystemStatus } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { Badge, ErrorBox, Json, Loading, Section, TableWrap, Time, useData, useTitle } from '../ui.tsx'

/** GET /api/v1/hr/inbox (src/api/operations.ts hrInboxItemSchema). */
interface HrInboxItem {
  id: string
  source: string
  hrEmployeeId: string
  vendorEventType: string
  foundBy: string
  status: string
  occurredAt: string | null
  receivedAt: string
  processedAt: string | null
  eventsCount: number
  error: unknown
  timestampsClamped: Array<{ eventId: string; type: string; vendorOccurredAt: string; clampedTo: string }> | null
}

/** What became of the notice, in words an operator can act on. */
function inboxOutcome(r: HrInboxItem): string {
  if (r.status === 'not_found') return 'The HR system has no such employee (re-fetch found nothing): nothing was applied. Check the id and the API user\'s scope.'
  if (r.status === 'failed') return failureText(r.error) ?? 'could not be read'
  if (r.timestampsClamped?.length)
    return r.timestampsClamped.map((c) => `${c.type}: vendor said ${c.vendorOccurredAt}, clamped to ${c.clampedTo}`).join('; ')
  return r.status
}

const DEAD_PER_PAGE = 25

export function Operations() {
  useTitle('Operations')
  const { me } = useViewer()
  const systems = useData(() => getJson<{ items: SystemStatus[] }>('/api/v1/systems'), [], 4000)
  const [deadSystem, setDeadSystem] = useState('')
  const [deadSort, setDeadSort] = useState<'-created' | 'created'>('-created')
  const pager = usePager()
  const dead = useData(
    () => getJson<CountedPage<DeadLetter>>(`/api/v1/jobs/dead-letters${qs({ system: deadSystem, sort: deadSort, limit: DEAD_PER_PAGE, cursor: pager.cursor })}`),
    [deadSystem, deadSort, pager.cursor],
    4000,
  )
  const inbox = useData(() => getJson<Page<HrInboxItem>>(`/api/v1/hr/inbox${qs({ attention: 'true', limit: 50 })}`), [], 8000)
  const mayRedrive = can.redrive(me.roles)
  return (
    <>
      <h1>Operations</h1>
      <Section title="Target systems" id="systems">
        <ErrorBox error={systems.error} />
        {systems.loading && !systems.data ? <Loading what="systems" /> : null}
        {systems.data && (
          <TableWrap label="Systems">
            <thead>
              <tr>
                <th scope="col">System</th>
                <th scope="col">Status</th>
                <th scope="col">Queued</th>
                <th scope="col">Dead letters</th>
                <th scope="col">Rate-limited (1 h)</th>
                <th scope="col">Queue done by</th>
                <th scope="col">Limits per minute</th>
              </tr>
            </thead>
            <tbody>
              {systems.data.items.map((s) => (
                <tr key={s.system}>
                  <th scope="row">{s.system}</th>
                  <td>{s.enabled ? <Badge value="active" label="enabled" /> : <Badge value="failed" label={`disabled: ${s.reason ?? ''}`} />}</td>
                  <td>{s.queued}</td>
                  <td>{s.deadLetters > 0 ? <Badge value="dead_letter" label={String(s.deadLetters)} /> : 0}</td>
                  <td>{s.rateLimitedLastHour}</td>
                  <td>{s.queued > 0 ? <Time iso={s.forecastDoneAt} /> : <span className="muted">nothing queued</span>}</td>
                  <td>
                    {Object.entries(s.limits)
                      .map(([b, l]) => `${b}: ${l.perMinute}`)
                      .join(', ') || '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        )}
      </Section>
      <Section title="HR notices that need a look" id="hr-inbox">
        <ErrorBox error={inbox.error} />
        {inbox.loading && !inbox.data ? <Loading what="HR notices" /> : null}
        {inbox.data && inbox.data.items.length === 0 ? <p className="muted">Every HR notice was applied.</p> : null}
        {inbox.data && inbox.data.items.length > 0 && (
          <TableWrap label="HR notices that need a look">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Source</th>
                <th scope="col">HR employee id</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">What happened</th>
              </tr>
            </thead>
            <tbody>
              {inbox.data.items.map((r) => (
                <tr key={r.id} data-testid={`hr-inbox-${r.id}`}>
                  <td>
                    <Time iso={r.receivedAt} />
                  </td>
                  <td>{r.source}</td>
                  <th scope="row">{r.hrEmployeeId}</th>
                  <td>{r.vendorEventType}</td>
                  <td>
                    <Badge value={r.status === 'not_found' ? 'at_risk' : r.status === 'processed' ? 'requested' : r.status} label={r.timestampsClamped?.length && r.status === 'processed' ? 'timestamp clamped' : r.status.replaceAll('_', ' ')} />
                  </td>
                  <td>{inboxOutcome(r)}</td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        )}
      </Section>
      <Section title="Failed jobs (dead letters)" id="dead-letters">
        {!mayRedrive && <p className="notice">Only operators retry or redrive failed jobs.</p>}
        <div className="row wrap">
          <label htmlFor="dead-system">System</label>
          <select
            id="dead-system"
            value={deadSystem}
            onChange={(e) => {
              setDeadSystem(e.target.value)
              pager.first()
            }}
          >
            <option value="">every system</option>
            {systems.data?.items.map((s) => (
              <option key={s.system} value={s.system}>
                {s.system}
                {s.deadLetters ? ` (${s.deadLetters})` : ''}
              </option>
            ))}
          </select>
          <label htmlFor="dead-sort">Order</label>
          <select
            id="dead-sort"
            value={deadSort}
            onChange={(e) => {
              setDeadSort(e.target.value as typeof deadSort)
              pager.first()
            }}
          >
            <option value="-created">newest first</option>
            <option value="created">oldest first</option>
          </select>
        </div>
        <ErrorBox error={dead.error} />
        {dead.loading && !dead.data ? <Loading what="failed jobs" /> : null}
        {dead.data && dead.data.items.length === 0 && pager.index === 0 ? <p className="muted">No failed job.</p> : null}
        <ul className="cards">
          {dead.data?.items.map((j) => (
            <DeadLetterCard key={j.id} j={j} mayRedrive={mayRedrive} onDone={() => (dead.reload(), systems.reload())} />
          ))}
        </ul>
        {dead.data && <PagerBar label="failed jobs" pager={pager} limit={DEAD_PER_PAGE} shown={dead.data.items.length} total={dead.data.total} nextCursor={dead.data.nextCursor} />}
      </Section>
    </>
  )
}

/** The failure as the job recorded it: its kind and the vendor's message, or nothing readable. */
function failureText(f: unknown): string | null {
  if (typeof f !== 'object' || f === null || typeof (f as { message?: unknown }).message !== 'string') return null
  const { kind, message, attempt } = f as { kind?: unknown; message: string; attempt?: unknown }
  return `${typeof kind === 'string' ? `${kind}: ` : ''}${message}${typeof attempt === 'number' ? ` (attempt ${attempt})` : ''}`
}

function DeadLetterCard({ j, mayRedrive, onDone }: { j: DeadLetter; mayRedrive: boolean; onDone: () => void }) {
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const act = async (what: 'redrive' | 'accepted' | 'resolved_by_hand') => {
    setBusy(true)
    setError(null)
    try {
      if (what === 'redrive') await postJson(`/api/v1/jobs/dead-letters/${j.id}/redrive`, { reason: reason.trim() })
      else await postJson(`/api/v1/jobs/dead-letters/${j.id}/settle`, { outcome: what, reason: reason.trim() })
      onDone()
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void act('redrive')
  }
  // The API asks at least 10 characters of a reason to settle a failure without retrying it.
  const settleable = reason.trim().length >= 10
  return (
    <li className="card" data-testid={`dead-${j.id}`}>
      <h3>
        {j.system}: {j.action} {j.phase ?? ''}
      </h3>
      <dl className="facts">
        <dt>Employee</dt>
        <dd>
          <Link to={`/employees/${j.employeeId}`} title={`HR id ${j.externalId}`}>
            {j.employeeName ?? j.externalId}
          </Link>
        </dd>
        <dt>Failed</dt>
        <dd>
          <Time iso={j.createdAt} />
        </dd>
        <dt>Why</dt>
        <dd>{failureText(j.failure) ?? <Json value={j.failure} />}</dd>
      </dl>
      {mayRedrive && (
        <form className="stack" onSubmit={submit}>
          <label htmlFor={`redrive-${j.id}`}>Reason (what was fixed, done by hand, or why the failure is accepted); recorded in the audit trail</label>
          <input id={`redrive-${j.id}`} required maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="row wrap">
            <button type="submit" className="primary" disabled={busy || !reason.trim()}>
              Retry job
            </button>
            <button type="button" disabled={busy || !settleable} onClick={() => void act('accepted')}>
              Accept failure
            </button>
            <button type="button" disabled={busy || !settleable} onClick={() => void act('resolved_by_hand')}>
              Resolved by hand
            </button>
          </div>
          <p className="muted small">
            Accept failure: the job is not retried; a leaver&apos;s access that may remain becomes residual access with a task to decide on, a joiner goes without it.
            Resolved by hand: someone did it by hand. Both need a reason of at least 10 characters.
          </p>
        </form>
      )}
      <ErrorBox error={error} />
    </li>
  )
}
