import { useState, type FormEvent } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import { Link } from '../router.tsx'
import type { Case, CountedPage, EmployeeDetail, Exception, Page } from '../types.ts'
import { Badge, ErrorBox, Json, Loading, Section, Time, formatDuration, useData } from '../ui.tsx'

const PENDING = ['requested', 'awaiting_second_approval'] as const

interface Context {
  name: string | null
  /** The leaver case's current deadline, when the exception was asked against one. */
  deadlineAt: string | null
}

function lateBy(x: Exception, ctx: Context | undefined) {
  if (!ctx?.deadlineAt) return null
  const late = Date.parse(x.endsAt) - Date.parse(ctx.deadlineAt)
  return late > 0 ? (
    <strong>
      {' '}
      Approving it puts revocation {formatDuration(late)} past the deadline (<Time iso={ctx.deadlineAt} />).
    </strong>
  ) : (
    <> It ends before the deadline (<Time iso={ctx.deadlineAt} />).</>
  )
}

function effect(x: Exception, ctx: Context | undefined) {
  const d = x.details
  const on = x.system ?? 'every system'
  switch (x.kind) {
    case 'sla_waiver':
      return (
        <>
          Moves the revocation deadline from <Time iso={d.originalDeadlineAt as string | undefined} /> to <Time iso={d.newDeadlineAt as string | undefined} /> on {on}
          {d.breachNotHidden ? ' (a breach already recorded stays on the record)' : ''}.
        </>
      )
    case 'delay_revocation':
      return (
        <>
          Revocation on {on} waits until <Time iso={x.endsAt} />.
          {ctx?.deadlineAt ? lateBy(x, ctx) : ' If the employee leaves before then, revocation on this system waits past the four-hour deadline.'}
        </>
      )
    case 'retain_account':
      return <>The account on {on} is disabled on time but kept (not deleted) until <Time iso={x.endsAt} />. The deadline does not move.</>
    case 'legal_hold':
      return <>The account on {on} is disabled on time and never deleted while the hold lasts (until <Time iso={x.endsAt} />). The deadline does not move.</>
    case 'extra_access':
      return (
        <>
          Grants access beyond policy on {on} until <Time iso={x.endsAt} />: <Json value={d.grant} />
        </>
      )
    default:
      return null
  }
}

/** What stops this viewer from deciding, in words; null when they may. Mirrors the API's four-eyes rules. */
function blocker(x: Exception, me: { id: string; roles: readonly string[] }, approver: boolean): string | null {
  if (!approver) return 'Only approvers decide exceptions.'
  if (x.requestedBy === me.id) return 'You asked for this: four-eyes rule, another approver must decide.'
  if (x.approvals.some((a) => a.actorId === me.id)) return 'You approved already; the second approval must come from a different admin.'
  if (x.status === 'awaiting_second_approval' && !me.roles.includes('admin')) return 'The second approval of an SLA waiver needs an admin.'
  return null
}

export function Approvals() {
  const { me } = useViewer()
  const approver = can.decideExceptions(me.roles)
  const pending = useData(async () => {
    const pages = await Promise.all(PENDING.map((status) => getJson<CountedPage<Exception>>(`/api/v1/exceptions${qs({ status, limit: 100 })}`)))
    return {
      items: pages.flatMap((p) => p.items).sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)),
      total: pages.reduce((n, p) => n + p.total, 0),
    }
  }, [], 5000)
  // Who each request is about, and the deadline it would move: read once per exception.
  const context = useData(async () => {
    const out = new Map<string, Context>()
    await Promise.all(
      (pending.data?.items ?? []).map(async (x) => {
        const [emp, kase] = await Promise.all([
          getJson<EmployeeDetail>(`/api/v1/employees/${x.employeeId}`).catch(() => null),
          x.caseId ? getJson<Case>(`/api/v1/cases/${x.caseId}`).catch(() => null) : null,
        ])
        out.set(x.id, { name: emp?.displayName ?? emp?.externalId ?? null, deadlineAt: kase?.deadlineAt ?? null })
      }),
    )
    return out
  }, [(pending.data?.items ?? []).map((x) => x.id).join()])
  const recent = useData(() => getJson<Page<Exception>>(`/api/v1/exceptions${qs({ limit: 20 })}`), [], 10_000)
  // The decided card leaves the pending list at once; what happened stays said here.
  const [notice, setNotice] = useState<string | null>(null)
  const decided_ = (message: string) => {
    setNotice(message)
    pending.reload()
    recent.reload()
  }
  const decided = (recent.data?.items ?? []).filter((x) => !(PENDING as readonly string[]).includes(x.status))
  return (
    <>
      <h1>{approver ? 'Approvals' : 'Exceptions'}</h1>
      <aside className="rules" aria-label="Four-eyes rules">
        <h2>Four-eyes rules</h2>
        <ul>
          <li>The person who asked for an exception cannot approve or reject it.</li>
          <li>An SLA waiver needs two approvals; the second from a different person who is an admin.</li>
          <li>Every decision needs a reason; it goes to the requester and into the audit trail.</li>
          {!approver && <li>Your roles ({me.roles.join(', ')}) can see exceptions but not decide them.</li>}
        </ul>
      </aside>
      <p role="status" className={notice ? 'ok-text' : 'visually-hidden'} data-testid="decision-notice">
        {notice}
      </p>
      <Section title="Waiting for a decision" id="pending">
        <ErrorBox error={pending.error} />
        {pending.loading && !pending.data ? <Loading what="exceptions" /> : null}
        {pending.data && pending.data.items.length === 0 ? <p className="muted">Nothing waits for a decision.</p> : null}
        {pending.data && pending.data.total > pending.data.items.length ? (
          <p className="notice" data-testid="pending-more">
            Showing {pending.data.items.length} of {pending.data.total} waiting for a decision (the newest 100 of each status); decide these and the rest appear.
          </p>
        ) : null}
        <ul className="cards">
          {pending.data?.items.map((x) => (
            <ExceptionCard key={x.id} x={x} ctx={context.data?.get(x.id)} block={blocker(x, me, approver)} mine={x.requestedBy === me.id} withdraw={approver && x.requestedBy === me.id} onDone={decided_} />
          ))}
        </ul>
      </Section>
      <Section title="Recently decided" id="decided">
        <ErrorBox error={recent.error} />
        {recent.data && decided.length === 0 ? <p className="muted">None.</p> : null}
        <ul className="plain">
          {decided.map((x) => (
            <li key={x.id}>
              <Badge value={x.status} /> {x.kind.replaceAll('_', ' ')} on {x.system ?? 'every system'} — {x.reason}{' '}
              <span className="muted small">
                asked <Time iso={x.requestedAt} />
                {x.rejectionReason ? `; rejected: ${x.rejectionReason}` : ''}
              </span>
            </li>
          ))}
        </ul>
      </Section>
    </>
  )
}

function ExceptionCard({
  x,
  ctx,
  block,
  mine,
  withdraw,
  onDone,
}: {
  x: Exception
  ctx: Context | undefined
  block: string | null
  mine: boolean
  withdraw: boolean
  onDone: (message: string) => void
}) {
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)
  const decide = (decision: 'approve' | 'reject' | 'revoke') => async (e?: FormEvent) => {
    e?.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const after = await postJson<Exception>(`/api/v1/exceptions/${x.id}/${decision}`, { reason: reason.trim() })
      const what = `${x.kind.replaceAll('_', ' ')} on ${x.system ?? 'every system'}${ctx?.name ? ` for ${ctx.name}` : ''}`
      const message = `${decision === 'approve' ? 'Approved' : decision === 'reject' ? 'Rejected' : 'Withdrew'} ${what}: now ${after.status.replaceAll('_', ' ')}.`
      setDone(message)
      setReason('')
      onDone(message)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const reasonId = `reason-${x.id}`
  const length = Date.parse(x.endsAt) - Date.parse(x.startsAt)
  return (
    <li className="card exception" data-testid={`exception-${x.id}`} aria-labelledby={`x-${x.id}`}>
      <h3 id={`x-${x.id}`}>
        {x.kind.replaceAll('_', ' ')} on {x.system ?? 'every system'}
        {ctx?.name ? ` for ${ctx.name}` : ''} <Badge value={x.status} />
      </h3>
      <dl className="facts">
        <dt>Who asked</dt>
        <dd>
          {mine ? <strong>you</strong> : x.requestedBy} ({x.requestedByType === 'oidc' ? 'SSO user' : x.requestedByType === 'api_token' ? 'API token' : 'system'}), <Time iso={x.requestedAt} />
        </dd>
        <dt>Why</dt>
        <dd>{x.reason}</dd>
        <dt>For how long</dt>
        <dd>
          {formatDuration(length)}: <Time iso={x.startsAt} /> to <Time iso={x.endsAt} />
        </dd>
        <dt>Effect</dt>
        <dd>{effect(x, ctx)}</dd>
        <dt>Employee</dt>
        <dd>
          <Link to={`/employees/${x.employeeId}`}>{ctx?.name ?? 'open the employee'}</Link>
        </dd>
        <dt>Approvals</dt>
        <dd>
          {x.approvals.length} of {x.approvalsNeeded}
          {x.approvals.map((a) => (
            <span key={a.actorId} className="muted small">
              {' '}
              · {a.actorId} ({a.role})
            </span>
          ))}
        </dd>
      </dl>
      {done ? (
        <p role="status" className="ok-text">
          {done}
        </p>
      ) : block ? (
        <p className="notice" data-testid="four-eyes">
          {block}
        </p>
      ) : null}
      {!done && (!block || withdraw) && (
        <form className="stack" onSubmit={block ? decide('revoke') : decide('approve')}>
          <label htmlFor={reasonId}>{block ? 'Reason to withdraw your request' : 'Reason for your decision'}</label>
          <textarea id={reasonId} required rows={2} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="row">
            {block ? (
              <button type="submit" disabled={busy || !reason.trim()}>
                Withdraw request
              </button>
            ) : (
              <>
                <button type="submit" className="primary" disabled={busy || !reason.trim()}>
                  Approve
                </button>
                <button type="button" className="danger" disabled={busy || !reason.trim()} onClick={() => void decide('reject')()}>
                  Reject
                </button>
              </>
            )}
          </div>
        </form>
      )}
      <ErrorBox error={error} />
    </li>
  )
}
