/**
 * Emergency off-boarding in the console: "Cut off now" on the employee page (reason, explicit
 * confirmation), what HR said since, and the pending requests a second approver decides (on the
 * Approvals page). The server decides everything (roles, four-eyes, idempotency); this only asks.
 */
import { useState, type FormEvent } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { Link } from '../router.tsx'
import { Badge, ErrorBox, Person, Section, Time } from '../ui.tsx'
import { useData } from '../ui.tsx'
import type { Role } from '../types.ts'

export interface EmergencyTermination {
  id: string
  employeeId: string
  employeeName: string | null
  externalId: string
  status: 'pending' | 'applied' | 'rejected' | 'expired'
  reason: string
  requestedBy: string
  requestedByName: string | null
  requestedAt: string
  expiresAt: string | null
  decidedBy: string | null
  decidedByName: string | null
  decidedAt: string | null
  decisionReason: string | null
  appliedAt: string | null
  caseId: string | null
  hrStatus: 'unconfirmed' | 'confirmed' | 'discrepancy'
  hrStatusAt: string | null
  discrepancyTaskId: string | null
}

interface Settings {
  requireSecondApprover: boolean
  requestRoles: string[]
  approverRoles: string[]
  requestExpiryMinutes: number
}

interface EmergencyPage {
  items: EmergencyTermination[]
  total: number
  settings: Settings
}

interface TerminateAnswer {
  outcome: 'terminated' | 'pending_approval' | 'already_leaving' | 'already_requested' | 'rejected'
  state: string
  request: EmergencyTermination | null
  case: { id: string; status: string; deadlineAt: string | null } | null
}

const LEAVING = new Set(['deprovisioning', 'offboarded', 'cancelled'])
const MIN_REASON = 10

/** admin always; otherwise one of the configured roles (mirrors the server's rule). */
function allowed(roles: readonly Role[], configured: readonly string[]): boolean {
  return roles.includes('admin') || roles.some((r) => configured.includes(r))
}

const HR_TEXT: Record<EmergencyTermination['hrStatus'], string> = {
  unconfirmed: 'HR has not recorded the termination yet',
  confirmed: 'HR confirmed the termination',
  discrepancy: 'HR still shows this person employed: a task waits for a person; access stays cut',
}

const OUTCOME_TEXT: Record<TerminateAnswer['outcome'], string> = {
  terminated: 'Access is being cut now. The leaver case is open',
  pending_approval: 'Requested. Nothing is cut until a second person approves it on the Approvals page',
  already_leaving: 'Already leaving or gone: nothing new was done',
  already_requested: 'A request already waits for a second approver: nothing new was done',
  rejected: 'Rejected: nothing was cut',
}

function EmergencyRecord({ r }: { r: EmergencyTermination }) {
  return (
    <li data-testid={`emergency-${r.id}`}>
      <Badge value={r.status === 'applied' ? 'deprovisioning' : r.status} label={r.status === 'applied' ? 'cut off' : r.status} /> asked by{' '}
      <Person id={r.requestedBy} name={r.requestedByName} /> <Time iso={r.requestedAt} /> — <span className="reason">{r.reason}</span>
      {r.decidedBy ? (
        <span className="muted small">
          {' '}
          ; {r.status === 'rejected' ? 'rejected' : 'approved'} by <Person id={r.decidedBy} name={r.decidedByName} />
        </span>
      ) : null}
      {r.status === 'pending' && r.expiresAt ? (
        <span className="muted small">
          {' '}
          ; waits for a second approver until <Time iso={r.expiresAt} />
        </span>
      ) : null}
      {r.status === 'applied' ? (
        <p className={r.hrStatus === 'discrepancy' ? 'notice' : 'muted small'} data-testid="emergency-hr-status">
          {HR_TEXT[r.hrStatus]}
          {r.hrStatus === 'discrepancy' ? (
            <>
              {' '}
              (<Link to="/tasks">open the task</Link>)
            </>
          ) : null}
          .
        </p>
      ) : null}
    </li>
  )
}

/** The employee page's "Cut off now": a reason, an explicit confirmation, then one POST. */
export function CutOffNow({ employee, onDone }: { employee: { id: string; displayName: string | null; externalId: string; state: string }; onDone: () => void }) {
  const { me } = useViewer()
  const list = useData(() => getJson<EmergencyPage>(`/api/v1/emergency-terminations${qs({ employeeId: employee.id, limit: 5 })}`), [employee.id], 10_000)
  const [open, setOpen] = useState(false)
  const [reason, setReason] = useState('')
  const [confirmed, setConfirmed] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [answer, setAnswer] = useState<TerminateAnswer | null>(null)
  const settings = list.data?.settings
  const name = employee.displayName ?? employee.externalId
  const mayCut = settings ? allowed(me.roles, settings.requestRoles) : false
  const leaving = LEAVING.has(employee.state)
  const records = list.data?.items ?? []
  if (!mayCut && records.length === 0) return null
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const a = await postJson<TerminateAnswer>(`/api/v1/employees/${employee.id}/terminate`, { reason: reason.trim(), effective: 'now' })
      setAnswer(a)
      setOpen(false)
      setReason('')
      setConfirmed(false)
      list.reload()
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Section
      title="Emergency off-boarding"
      id="emergency"
      actions={
        mayCut && !leaving && !open ? (
          <button type="button" className="danger" onClick={() => setOpen(true)} data-testid="cut-off-now">
            Cut off now
          </button>
        ) : null
      }
    >
      {answer ? (
        <p role="status" className="ok-text" data-testid="cut-off-result">
          {OUTCOME_TEXT[answer.outcome]}
          {answer.case?.deadlineAt ? (
            <>
              {' '}
              (every system revoked and verified by <Time iso={answer.case.deadlineAt} />)
            </>
          ) : null}
          .
        </p>
      ) : null}
      {open ? (
        <form className="stack" onSubmit={(e) => void submit(e)} aria-label={`Cut ${name} off now`} data-testid="cut-off-form">
          <p className="notice">
            Every account of <strong>{name}</strong> is revoked now, without waiting for HR: the same leaver case, four-hour SLA and evidence as an HR
            termination. {settings?.requireSecondApprover ? 'A second person must approve it before anything is cut. ' : ''}When HR's record arrives it
            either confirms this or leaves a discrepancy for a person; access is never given back silently.
          </p>
          <label htmlFor="cut-off-reason">Reason (at least {MIN_REASON} characters; goes into the audit trail)</label>
          <textarea id="cut-off-reason" required rows={2} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
          <label className="row">
            <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} data-testid="cut-off-confirm" />
            I understand that {name} loses access {settings?.requireSecondApprover ? 'once a second person approves' : 'now'}.
          </label>
          <ErrorBox error={error} />
          <div className="row">
            <button type="submit" className="danger" disabled={busy || reason.trim().length < MIN_REASON || !confirmed}>
              {settings?.requireSecondApprover ? 'Request the cut-off' : `Cut ${name} off now`}
            </button>
            <button type="button" onClick={() => setOpen(false)} disabled={busy}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
      <ErrorBox error={list.error} />
      {records.length > 0 ? (
        <ul className="plain decided">
          {records.map((r) => (
            <EmergencyRecord key={r.id} r={r} />
          ))}
        </ul>
      ) : (
        <p className="muted small">No emergency off-boarding for this person.</p>
      )}
    </Section>
  )
}

/** Pending emergency terminations, for the people who may decide them (the Approvals page). */
export function PendingEmergencies() {
  const { me } = useViewer()
  const list = useData(() => getJson<EmergencyPage>(`/api/v1/emergency-terminations${qs({ status: 'pending', limit: 50 })}`), [], 5000)
  // What this viewer decided stays said here: the decided request leaves the pending list (and its card) at the next load.
  const [decided, setDecided] = useState<Array<{ id: string; text: string }>>([])
  const items = list.data?.items ?? []
  const settings = list.data?.settings
  if (!settings || (items.length === 0 && decided.length === 0)) return <ErrorBox error={list.error} />
  const approver = allowed(me.roles, settings.approverRoles)
  return (
    <Section title="Emergency off-boarding waiting for a second approver" id="emergency-pending">
      {decided.map((d) => (
        <p key={d.id} role="status" className="ok-text" data-testid={`emergency-decided-${d.id}`}>
          {d.text}.
        </p>
      ))}
      <ul className="plain">
        {items.map((r) => (
          <PendingCard
            key={r.id}
            r={r}
            mine={r.requestedBy === me.id}
            approver={approver}
            onDone={(text) => {
              setDecided((all) => [...all.filter((d) => d.id !== r.id), { id: r.id, text: `${r.employeeName ?? r.externalId}: ${text}` }])
              list.reload()
            }}
          />
        ))}
      </ul>
    </Section>
  )
}

function PendingCard({ r, mine, approver, onDone }: { r: EmergencyTermination; mine: boolean; approver: boolean; onDone: (text: string) => void }) {
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)
  const decide = async (decision: 'approve' | 'reject') => {
    setBusy(true)
    setError(null)
    try {
      const body = reason.trim() ? { reason: reason.trim() } : {}
      const a = await postJson<TerminateAnswer>(`/api/v1/emergency-terminations/${r.id}/${decision}`, body)
      setDone(OUTCOME_TEXT[a.outcome])
      onDone(OUTCOME_TEXT[a.outcome])
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const name = r.employeeName ?? r.externalId
  return (
    <li className="card" data-testid={`emergency-pending-${r.id}`}>
      <h3>
        Cut off <Link to={`/employees/${r.employeeId}`}>{name}</Link> now <Badge value="pending" label="pending" />
      </h3>
      <dl className="facts">
        <dt>Who asked</dt>
        <dd>
          <Person id={r.requestedBy} name={r.requestedByName} /> <Time iso={r.requestedAt} />
        </dd>
        <dt>Why</dt>
        <dd>{r.reason}</dd>
        <dt>Expires</dt>
        <dd>
          <Time iso={r.expiresAt} /> (nothing is cut if nobody approves by then)
        </dd>
      </dl>
      {done ? (
        <p role="status" className="ok-text">
          {done}.
        </p>
      ) : mine ? (
        <p className="notice" data-testid="emergency-four-eyes">
          You asked for this: someone else must approve it.
        </p>
      ) : !approver ? (
        <p className="muted small">Your roles cannot decide emergency off-boarding.</p>
      ) : null}
      {!done && (approver || mine) ? (
        <div className="stack">
          <label htmlFor={`emergency-reason-${r.id}`}>{mine ? 'Reason to withdraw your request' : 'Reason (needed to reject, optional to approve)'}</label>
          <textarea id={`emergency-reason-${r.id}`} rows={2} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
          <ErrorBox error={error} />
          <div className="row">
            {!mine ? (
              <button type="button" className="danger" disabled={busy} onClick={() => void decide('approve')} data-testid="emergency-approve">
                Approve: cut off now
              </button>
            ) : null}
            <button type="button" disabled={busy || reason.trim().length < MIN_REASON} onClick={() => void decide('reject')}>
              {mine ? 'Withdraw' : 'Reject'}
            </button>
          </div>
        </div>
      ) : null}
    </li>
  )
}
