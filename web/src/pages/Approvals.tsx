import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { getJson, postJson, qs, request } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can, hasRole } from '../roles.ts'
import { Link } from '../router.tsx'
import type { Case, CountedPage, EmployeeDetail, EmployeeSummary, Exception, Page, SystemStatus } from '../types.ts'
import { Badge, ErrorBox, Json, Loading, Person, Section, Time, formatDuration, useData, useTitle } from '../ui.tsx'
import { PendingEmergencies } from './Terminate.tsx'

const PENDING = ['requested', 'awaiting_second_approval'] as const
const IN_FORCE = ['approved', 'active'] as const
/** How often the pending list and the navigation's count are read again (as the other live views). */
const LIVE_MS = 5000
/** Fired after this console changed an exception: the navigation's count reads again at once. */
const CHANGED = 'tenure:exceptions-changed'

function changed(): void {
  window.dispatchEvent(new Event(CHANGED))
}

const kindText = (k: string) => k.replaceAll('_', ' ')

/**
 * Employees' names by id, read once per id from the employees API and kept for the page's life.
 * A name that could not be read stays unknown (the id is shown), never an empty name.
 */
const nameCache = new Map<string, string | null>()
function useEmployeeNames(ids: string[]): Map<string, string | null> {
  const key = [...new Set(ids)].sort().join()
  const names = useData(async () => {
    await Promise.all(
      key
        .split(',')
        .filter((id) => id && !nameCache.has(id))
        .map(async (id) => {
          const emp = await getJson<EmployeeDetail>(`/api/v1/employees/${id}`).catch(() => null)
          if (emp) nameCache.set(id, emp.displayName ?? emp.externalId)
        }),
    )
    return new Map(nameCache)
  }, [key])
  return names.data ?? nameCache
}

/** What waits for a decision: the figure beside Approvals in the navigation. Unknown, never 0, when it could not be read. */
export function PendingCount() {
  // Counted by the server for this viewer: exceptions and emergency off-boardings they may decide,
  // never their own requests (four-eyes), so the figure is what they can act on.
  const count = useData(async () => (await getJson<{ total: number }>('/api/v1/approvals/pending-count')).total, [], LIVE_MS)
  const { reload } = count
  useEffect(() => {
    window.addEventListener(CHANGED, reload)
    return () => window.removeEventListener(CHANGED, reload)
  }, [reload])
  if (count.error) {
    return (
      <span className="nav-count unknown" data-testid="pending-count" title="The number waiting for a decision could not be read">
        ?
      </span>
    )
  }
  if (count.data === undefined || count.data === 0) return null
  return (
    <span className="nav-count" data-testid="pending-count" title={`${count.data} waiting for a decision`}>
      <span className="visually-hidden">, waiting: </span>
      {count.data}
    </span>
  )
}

interface Context {
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
    case 'sla_waiver': {
      // The API says where the deadline stands and where approving moves it (details, set at the
      // request and replaced by what was applied once decided); older rows fall back to the case.
      const from = typeof d.originalDeadlineAt === 'string' ? d.originalDeadlineAt : ctx?.deadlineAt
      const decided = !(PENDING as readonly string[]).includes(x.status)
      if (decided && d.newDeadlineAt === null) {
        return (
          <span data-testid="waiver-effect">
            The deadline (<Time iso={from} />) on {on} did not move: it had passed when the waiver was decided, so the breach stays on the record.
          </span>
        )
      }
      const to = typeof d.newDeadlineAt === 'string' ? d.newDeadlineAt : x.endsAt
      return (
        <span data-testid="waiver-effect">
          {decided ? 'Moved' : 'Moves'} the revocation deadline from <Time iso={from} /> to <Time iso={to} /> on {on}
          {!decided && from ? <>, if approved before <Time iso={from} /></> : null}
          {d.breachNotHidden ? ' (a breach already recorded stays on the record)' : ''}.
        </span>
      )
    }
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

/** Why this viewer cannot extend it; null when they may (mirrors src/exceptions/service.ts extensionRefusal). */
function extendBlocker(x: Exception, me: { id: string }, approver: boolean): string | null {
  if (!approver) return 'Only approvers extend exceptions.'
  if (x.requestedBy === me.id) return 'You asked for this: four-eyes rule, another approver must extend it.'
  if (x.kind === 'sla_waiver') return 'An SLA waiver is not extended: request a new one (both approvals again).'
  if (x.kind === 'delay_revocation' && x.status === 'active') return 'A delay in force is not extended: revoke it and request a new delay.'
  return null
}

function Requester({ x, me }: { x: Exception; me: { id: string } }) {
  return (
    <>
      {x.requestedBy === me.id ? <strong title={x.requestedBy}>you</strong> : <Person id={x.requestedBy} name={x.requestedByName} />} (
      {x.requestedByType === 'oidc' ? 'SSO user' : x.requestedByType === 'api_token' ? 'API token' : 'system'}), <Time iso={x.requestedAt} />
    </>
  )
}

function Approvers({ x }: { x: Exception }) {
  return (
    <>
      {x.approvals.length} of {x.approvalsNeeded}
      {x.approvals.map((a) => (
        <span key={a.actorId} className="muted small">
          {' '}
          · <Person id={a.actorId} name={a.actorName} /> ({a.role})
        </span>
      ))}
    </>
  )
}

export function Approvals() {
  const { me } = useViewer()
  const approver = can.decideExceptions(me.roles)
  useTitle(approver ? 'Approvals' : 'Exceptions')
  const pending = useData(async () => {
    const pages = await Promise.all(PENDING.map((status) => getJson<CountedPage<Exception>>(`/api/v1/exceptions${qs({ status, limit: 100 })}`)))
    return {
      items: pages.flatMap((p) => p.items).sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)),
      total: pages.reduce((n, p) => n + p.total, 0),
    }
  }, [], LIVE_MS)
  // The deadline a pending request would move: read once per exception.
  const context = useData(async () => {
    const out = new Map<string, Context>()
    await Promise.all(
      (pending.data?.items ?? []).map(async (x) => {
        const kase = x.caseId ? await getJson<Case>(`/api/v1/cases/${x.caseId}`).catch(() => null) : null
        out.set(x.id, { deadlineAt: kase?.deadlineAt ?? null })
      }),
    )
    return out
  }, [(pending.data?.items ?? []).map((x) => x.id).join()])
  const inForce = useData(async () => {
    const pages = await Promise.all(IN_FORCE.map((status) => getJson<CountedPage<Exception>>(`/api/v1/exceptions${qs({ status, limit: 100 })}`)))
    return { items: pages.flatMap((p) => p.items).sort((a, b) => a.endsAt.localeCompare(b.endsAt)), total: pages.reduce((n, p) => n + p.total, 0) }
  }, [], 10_000)
  const recent = useData(() => getJson<Page<Exception>>(`/api/v1/exceptions${qs({ limit: 20 })}`), [], 10_000)
  const decided = (recent.data?.items ?? []).filter((x) => !(PENDING as readonly string[]).includes(x.status))
  const names = useEmployeeNames([...(pending.data?.items ?? []), ...(inForce.data?.items ?? []), ...decided].map((x) => x.employeeId))
  // The decided card leaves its list at once; what happened stays said here.
  const [notice, setNotice] = useState<string | null>(null)
  const done = (message: string) => {
    setNotice(message)
    pending.reload()
    inForce.reload()
    recent.reload()
    changed()
  }
  const mayRequest = hasRole(me.roles, 'approver', 'operator')
  return (
    <>
      <h1>{approver ? 'Approvals' : 'Exceptions'}</h1>
      <aside className="rules" aria-label="Four-eyes rules">
        <h2>Four-eyes rules</h2>
        <ul>
          <li>The person who asked for an exception cannot approve or reject it, nor extend it.</li>
          <li>An SLA waiver needs two approvals; the second from a different person who is an admin.</li>
          <li>Every decision needs a reason; it goes to the requester and into the audit trail.</li>
          {!approver && <li>Your roles ({me.roles.join(', ')}) can see exceptions but not decide them.</li>}
        </ul>
      </aside>
      <p role="status" className={notice ? 'ok-text' : 'visually-hidden'} data-testid="decision-notice">
        {notice}
      </p>
      <PendingEmergencies />
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
            <ExceptionCard
              key={x.id}
              x={x}
              name={names.get(x.employeeId) ?? null}
              ctx={context.data?.get(x.id)}
              block={blocker(x, me, approver)}
              withdraw={approver && x.requestedBy === me.id}
              onDone={done}
            />
          ))}
        </ul>
      </Section>
      <Section title="In force" id="in-force">
        <ErrorBox error={inForce.error} />
        {inForce.loading && !inForce.data ? <Loading what="exceptions in force" /> : null}
        {inForce.data && inForce.data.items.length === 0 ? <p className="muted">No exception is approved or in force.</p> : null}
        {inForce.data && inForce.data.total > inForce.data.items.length ? (
          <p className="notice">
            Showing {inForce.data.items.length} of {inForce.data.total} (the newest 100 of each status).
          </p>
        ) : null}
        <ul className="cards">
          {inForce.data?.items.map((x) => (
            <InForceCard
              key={x.id}
              x={x}
              name={names.get(x.employeeId) ?? null}
              extendBlock={extendBlocker(x, me, approver)}
              mayRevoke={x.requestedBy === me.id || me.roles.includes('admin')}
              onDone={done}
            />
          ))}
        </ul>
      </Section>
      {mayRequest ? <RequestForm onDone={done} /> : null}
      <Section title="Recently decided" id="decided">
        <ErrorBox error={recent.error} />
        {recent.data && decided.length === 0 ? <p className="muted">None.</p> : null}
        <ul className="plain decided">
          {decided.map((x) => (
            <Decided key={x.id} x={x} name={names.get(x.employeeId) ?? null} />
          ))}
        </ul>
      </Section>
    </>
  )
}

/** One decided exception: what, for whom, who decided and why (names, ids on hover). */
function Decided({ x, name }: { x: Exception; name: string | null }) {
  return (
    <li data-testid={`decided-${x.id}`}>
      <Badge value={x.status} /> {kindText(x.kind)} on {x.system ?? 'every system'} for{' '}
      <Link to={`/employees/${x.employeeId}`} title={x.employeeId} data-testid="decided-employee">
        {name ?? x.employeeId}
      </Link>{' '}
      — <span className="reason">{x.reason}</span>
      <span className="muted small decided-by">
        {' '}
        asked by <Person id={x.requestedBy} name={x.requestedByName} /> <Time iso={x.requestedAt} />
        {x.approvals.map((a) => (
          <span key={a.actorId} data-testid="decided-approval">
            ; approved by <Person id={a.actorId} name={a.actorName} />
            {a.reason ? <>: “{a.reason}”</> : null}
          </span>
        ))}
        {x.rejectedBy ? (
          <span data-testid="decided-rejection">
            ; rejected by <Person id={x.rejectedBy} name={x.rejectedByName} />
            {x.rejectionReason ? <>: “{x.rejectionReason}”</> : null}
          </span>
        ) : null}
        {x.revokedBy ? (
          <span data-testid="decided-revocation">
            ; revoked by <Person id={x.revokedBy} name={x.revokedByName} /> <Time iso={x.revokedAt} />
            {x.revokeReason ? <>: “{x.revokeReason}”</> : null}
          </span>
        ) : null}
        {x.status === 'lapsed' ? '; nobody answered in time' : null}
      </span>
    </li>
  )
}

function ExceptionCard({
  x,
  name,
  ctx,
  block,
  withdraw,
  onDone,
}: {
  x: Exception
  name: string | null
  ctx: Context | undefined
  block: string | null
  withdraw: boolean
  onDone: (message: string) => void
}) {
  const { me } = useViewer()
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
      const what = `${kindText(x.kind)} on ${x.system ?? 'every system'}${name ? ` for ${name}` : ''}`
      const message = `${decision === 'approve' ? 'Approved' : decision === 'reject' ? 'Rejected' : 'Withdrew'} ${what}: now ${kindText(after.status)}.`
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
        {kindText(x.kind)} on {x.system ?? 'every system'}
        {name ? ` for ${name}` : ''} <Badge value={x.status} />
      </h3>
      <dl className="facts">
        <dt>Who asked</dt>
        <dd>
          <Requester x={x} me={me} />
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
          <Link to={`/employees/${x.employeeId}`} title={x.employeeId}>
            {name ?? 'open the employee'}
          </Link>
        </dd>
        <dt>Approvals</dt>
        <dd>
          <Approvers x={x} />
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

/** `datetime-local` text (the viewer's time zone) for an ISO instant, and back. */
function localInput(iso: string): string {
  const d = new Date(iso)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
function fromLocalInput(value: string): string | null {
  const ms = new Date(value).getTime()
  return Number.isNaN(ms) ? null : new Date(ms).toISOString()
}

/** An approved or active exception: extend it (another approver) or revoke it (its requester or an admin). */
function InForceCard({ x, name, extendBlock, mayRevoke, onDone }: { x: Exception; name: string | null; extendBlock: string | null; mayRevoke: boolean; onDone: (message: string) => void }) {
  const { me } = useViewer()
  const [until, setUntil] = useState(() => localInput(new Date(Date.parse(x.endsAt) + 7 * 86_400_000).toISOString()))
  const [extendReason, setExtendReason] = useState('')
  const [revokeReason, setRevokeReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const what = `${kindText(x.kind)} on ${x.system ?? 'every system'}${name ? ` for ${name}` : ''}`
  const act = (run: () => Promise<string>) => async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      onDone(await run())
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const extend = act(async () => {
    const endsAt = fromLocalInput(until)
    const after = await postJson<Exception>(`/api/v1/exceptions/${x.id}/extend`, { endsAt: endsAt ?? until, reason: extendReason.trim() })
    setExtendReason('')
    return `Extended ${what} until ${new Date(after.endsAt).toLocaleString()}.`
  })
  const revoke = act(async () => {
    const after = await postJson<Exception>(`/api/v1/exceptions/${x.id}/revoke`, { reason: revokeReason.trim() })
    return `Revoked ${what}: now ${kindText(after.status)}.`
  })
  const extensions = Array.isArray(x.details.extensions) ? (x.details.extensions as { by: string; at: string; from: string; to: string; reason: string | null }[]) : []
  const approverNames = (x.details.approverNames ?? {}) as Record<string, string>
  return (
    <li className="card exception" data-testid={`in-force-${x.id}`} aria-labelledby={`f-${x.id}`}>
      <h3 id={`f-${x.id}`}>
        {kindText(x.kind)} on {x.system ?? 'every system'}
        {name ? ` for ${name}` : ''} <Badge value={x.status} />
      </h3>
      <dl className="facts">
        <dt>Who asked</dt>
        <dd>
          <Requester x={x} me={me} />
        </dd>
        <dt>Why</dt>
        <dd>{x.reason}</dd>
        <dt>Until</dt>
        <dd data-testid="ends-at">
          <Time iso={x.endsAt} /> (from <Time iso={x.startsAt} />)
        </dd>
        <dt>Approved by</dt>
        <dd>
          <Approvers x={x} />
        </dd>
        {extensions.length > 0 ? (
          <>
            <dt>Extended</dt>
            <dd>
              {extensions.map((ext) => (
                <span key={ext.at} className="small" data-testid="extension">
                  by <Person id={ext.by} name={approverNames[ext.by]} /> from <Time iso={ext.from} /> to <Time iso={ext.to} />
                  {ext.reason ? <>: “{ext.reason}”</> : null}{' '}
                </span>
              ))}
            </dd>
          </>
        ) : null}
        <dt>Effect</dt>
        <dd>{effect(x, undefined)}</dd>
      </dl>
      {extendBlock ? (
        <p className="notice" data-testid="extend-blocked">
          {extendBlock}
        </p>
      ) : (
        <form className="stack" onSubmit={extend} aria-label={`Extend ${what}`}>
          <label htmlFor={`until-${x.id}`}>New end (your time zone)</label>
          <input id={`until-${x.id}`} type="datetime-local" required value={until} min={localInput(x.endsAt)} onChange={(e) => setUntil(e.target.value)} />
          <label htmlFor={`extend-${x.id}`}>Reason to extend</label>
          <textarea id={`extend-${x.id}`} required rows={2} maxLength={2000} value={extendReason} onChange={(e) => setExtendReason(e.target.value)} />
          <div className="row">
            <button type="submit" className="primary" disabled={busy || !extendReason.trim() || !until}>
              Extend
            </button>
          </div>
        </form>
      )}
      {mayRevoke ? (
        <form className="stack" onSubmit={revoke} aria-label={`Revoke ${what}`}>
          <label htmlFor={`revoke-${x.id}`}>Reason to revoke (it ends now{x.kind === 'delay_revocation' ? ': the delayed revocation runs at once' : ''})</label>
          <textarea id={`revoke-${x.id}`} required rows={2} maxLength={2000} value={revokeReason} onChange={(e) => setRevokeReason(e.target.value)} />
          <div className="row">
            <button type="submit" className="danger" disabled={busy || !revokeReason.trim()}>
              Revoke
            </button>
          </div>
        </form>
      ) : (
        <p className="muted small">Only the requester or an admin revokes it.</p>
      )}
      <ErrorBox error={error} />
    </li>
  )
}

const REQUESTABLE = [
  { kind: 'legal_hold', label: 'Legal hold: disable on time, never delete or transfer data' },
  { kind: 'retain_account', label: 'Retain account: disable on time, keep (not delete)' },
  { kind: 'delay_revocation', label: 'Delay revocation on one system (e.g. keep a mailbox for a hand-over)' },
  { kind: 'sla_waiver', label: "SLA waiver: move a leaver case's revocation deadline (two approvals)" },
] as const

/** Ask for an exception. extra_access carries a grant: request it with the CLI or the API (docs/exceptions.md). */
function RequestForm({ onDone }: { onDone: (message: string) => void }) {
  const [find, setFind] = useState('')
  const [employeeId, setEmployeeId] = useState('')
  const [kind, setKind] = useState<(typeof REQUESTABLE)[number]['kind']>('legal_hold')
  const [system, setSystem] = useState('')
  const [until, setUntil] = useState(() => localInput(new Date(Date.now() + 30 * 86_400_000).toISOString()))
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  // One key per filled-in form: a double submit returns the same exception instead of a second one.
  const [key, setKey] = useState(() => crypto.randomUUID())
  const matches = useData(
    async () => (find.trim().length < 2 ? null : getJson<CountedPage<EmployeeSummary>>(`/api/v1/employees${qs({ q: find.trim(), limit: 10 })}`)),
    [find],
  )
  const systems = useData(() => getJson<{ items: SystemStatus[] }>('/api/v1/systems'), [])
  const options = useMemo(() => matches.data?.items ?? [], [matches.data])
  useEffect(() => {
    if (options.length > 0 && !options.some((o) => o.id === employeeId)) setEmployeeId(options[0]!.id)
  }, [options, employeeId])
  const needsSystem = kind === 'delay_revocation'
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const endsAt = fromLocalInput(until)
      const res = await request('/api/v1/exceptions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ kind, employeeId, endsAt: endsAt ?? until, reason: reason.trim(), ...(system ? { system } : {}) }),
      })
      const created = (await res.json()) as Exception
      const who = options.find((o) => o.id === employeeId)
      onDone(`Requested ${kindText(created.kind)} on ${created.system ?? 'every system'}${who ? ` for ${who.displayName ?? who.externalId}` : ''}: now ${kindText(created.status)}; another approver decides.`)
      setReason('')
      setKey(crypto.randomUUID())
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Section title="Request an exception" id="request">
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <label htmlFor="x-find">Find the employee (name, email or HR id)</label>
        <input id="x-find" type="search" value={find} onChange={(e) => setFind(e.target.value)} autoComplete="off" />
        <ErrorBox error={matches.error} />
        {matches.data && options.length === 0 ? <p className="muted small">No employee matches “{find.trim()}”.</p> : null}
        <label htmlFor="x-employee">Employee</label>
        <select id="x-employee" required value={employeeId} onChange={(e) => setEmployeeId(e.target.value)} disabled={options.length === 0}>
          {options.length === 0 ? <option value="">Search above first</option> : null}
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.displayName ?? o.externalId} ({o.externalId}, {o.state})
            </option>
          ))}
        </select>
        <label htmlFor="x-kind">Kind</label>
        <select id="x-kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
          {REQUESTABLE.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
        <label htmlFor="x-system">System{needsSystem ? '' : ' (leave on “every system” to cover all)'}</label>
        <select id="x-system" value={system} onChange={(e) => setSystem(e.target.value)} required={needsSystem}>
          <option value="">{needsSystem ? 'Choose the system' : 'Every system'}</option>
          {(systems.data?.items ?? [])
            .filter((s) => s.enabled)
            .map((s) => (
              <option key={s.system} value={s.system}>
                {s.system}
              </option>
            ))}
        </select>
        <ErrorBox error={systems.error} />
        <label htmlFor="x-until">Until (your time zone)</label>
        <input id="x-until" type="datetime-local" required value={until} onChange={(e) => setUntil(e.target.value)} />
        <label htmlFor="x-reason">Reason (goes to the approvers and into the audit trail)</label>
        <textarea id="x-reason" required rows={2} minLength={10} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className="row">
          <button type="submit" className="primary" disabled={busy || !employeeId || !reason.trim() || (needsSystem && !system)}>
            Request exception
          </button>
        </div>
        <p className="muted small">Extra access beyond policy carries a grant: request it with <code>tenure exceptions request</code> or the API.</p>
      </form>
      <ErrorBox error={error} />
    </Section>
  )
}
