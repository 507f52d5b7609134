import { useState, type FormEvent } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import { Link } from '../router.tsx'
import type { CountedPage, Exception, Page, Task } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { Badge, Countdown, ErrorBox, Loading, Person, Section, Time, useData, utcText, useTitle } from '../ui.tsx'

const TASKS_PER_PAGE = 50

export function Tasks() {
  useTitle('Manual tasks')
  const { me } = useViewer()
  const [status, setStatus] = useState<'open' | 'completed' | 'cancelled' | ''>('open')
  const [kind, setKind] = useState('')
  const pager = usePager()
  const tasks = useData(
    () => getJson<CountedPage<Task>>(`/api/v1/tasks${qs({ status, kind, limit: TASKS_PER_PAGE, cursor: pager.cursor, sort: status === 'completed' ? '-created' : 'deadline' })}`),
    [status, kind, pager.cursor],
    4000,
  )
  const mayComplete = can.completeTasks(me.roles)
  return (
    <>
      <h1>Manual tasks</h1>
      <p className="muted">Work for systems without an API. A completed revocation task counts as that system's verified revocation in the leaver case.</p>
      <div className="row wrap">
        <label htmlFor="task-status">Show</label>
        <select
          id="task-status"
          value={status}
          onChange={(e) => {
            setStatus(e.target.value as typeof status)
            pager.first()
          }}
        >
          <option value="open">open tasks</option>
          <option value="completed">completed tasks</option>
          <option value="cancelled">cancelled tasks</option>
          <option value="">all tasks</option>
        </select>
        <label htmlFor="task-kind">Kind</label>
        <select
          id="task-kind"
          value={kind}
          onChange={(e) => {
            setKind(e.target.value)
            pager.first()
          }}
        >
          <option value="">every kind</option>
          <option value="residual">residual access</option>
          <option value="revoke">revoke</option>
          <option value="provision">provision</option>
          <option value="suspend">suspend</option>
          <option value="enable">enable</option>
          <option value="change">change</option>
        </select>
      </div>
      {!mayComplete && <p className="notice">Only approvers complete tasks; you can follow them here.</p>}
      <ErrorBox error={tasks.error} />
      {tasks.loading && !tasks.data ? <Loading what="tasks" /> : null}
      {tasks.data && tasks.data.items.length === 0 && pager.index === 0 ? <p className="muted">No task.</p> : null}
      <ul className="cards">
        {tasks.data?.items.map((t) => (
          <TaskCard key={t.id} t={t} mayComplete={mayComplete} onDone={tasks.reload} />
        ))}
      </ul>
      {tasks.data && <PagerBar label="tasks" pager={pager} limit={TASKS_PER_PAGE} shown={tasks.data.items.length} total={tasks.data.total} nextCursor={tasks.data.nextCursor} />}
    </>
  )
}

function TaskCard({ t, mayComplete, onDone }: { t: Task; mayComplete: boolean; onDone: () => void }) {
  const [note, setNote] = useState('')
  const [evidence, setEvidence] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const residual = t.kind === 'residual'
  const [resolution, setResolution] = useState<'removed' | 'accepted' | ''>('')
  const [exceptionId, setExceptionId] = useState('')
  const missing = residual && (!resolution || (resolution === 'accepted' && !exceptionId))
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await postJson<Task>(`/api/v1/tasks/${t.id}/complete`, {
        note: note.trim(),
        ...(evidence.trim() ? { evidenceRef: evidence.trim() } : {}),
        ...(residual && resolution ? { resolution } : {}),
        ...(residual && resolution === 'accepted' && exceptionId ? { exceptionId } : {}),
      })
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const attestation = t.attestation as { note?: string; evidenceRef?: string | null; cancelled?: string } | null
  return (
    <li className="card" data-testid={`task-${t.employeeExternalId}-${t.kind}`}>
      <Section title={t.title} id={`task-${t.id}`} actions={<Badge value={t.status} />}>
        <dl className="facts">
          <dt>System</dt>
          <dd>{t.system}</dd>
          <dt>Employee</dt>
          <dd>{t.employeeId ? <Link to={`/employees/${t.employeeId}`}>{t.employeeName ?? t.employeeExternalId}</Link> : t.employeeExternalId}</dd>
          <dt>Owner group</dt>
          <dd>{t.ownerGroup}</dd>
          {t.instructions && (
            <>
              <dt>Instructions</dt>
              <dd>{t.instructions}</dd>
            </>
          )}
          <dt>Deadline</dt>
          <dd>
            {t.deadlineAt ? (
              <>
                <Time iso={t.deadlineAt} /> {t.status === 'open' && <Countdown deadline={t.deadlineAt} />}
              </>
            ) : (
              '—'
            )}
          </dd>
          {t.completedAt && (
            <>
              <dt>Completed</dt>
              <dd>
                <Time iso={t.completedAt} /> by {t.completedBy ? <Person id={t.completedBy} name={t.completedByName} /> : 'someone unknown'}: {attestation?.note}
                {attestation?.evidenceRef ? ` (evidence: ${attestation.evidenceRef})` : ''}
              </dd>
            </>
          )}
          {t.status === 'cancelled' && (
            <>
              <dt>Cancelled</dt>
              <dd>{attestation?.cancelled ?? 'no longer needed'}</dd>
            </>
          )}
          {t.resolution && (
            <>
              <dt>Decision</dt>
              <dd data-testid={`task-decision-${t.id}`}>
                {t.resolution === 'removed' ? 'removed by hand' : <span title={t.exceptionId ? `exception ${t.exceptionId}` : undefined}>kept under an approved exception</span>}
              </dd>
            </>
          )}
        </dl>
        {t.status === 'open' && mayComplete && (
          <form className="stack" onSubmit={submit}>
            {residual && (
              <fieldset className="stack">
                <legend>Decision on this residual access</legend>
                <label>
                  <input type="radio" name={`resolution-${t.id}`} value="removed" checked={resolution === 'removed'} onChange={() => setResolution('removed')} /> Removed
                  by hand
                </label>
                <label>
                  <input type="radio" name={`resolution-${t.id}`} value="accepted" checked={resolution === 'accepted'} onChange={() => setResolution('accepted')} />{' '}
                  Accepted: kept under an approved exception
                </label>
                {resolution === 'accepted' && t.employeeId && <ExceptionPicker t={t} value={exceptionId} onChange={setExceptionId} />}
                {resolution === 'accepted' && !t.employeeId && (
                  <p className="error" role="alert">
                    The person is not known to Tenure, so no exception can cover this access: remove it by hand.
                  </p>
                )}
              </fieldset>
            )}
            <label htmlFor={`note-${t.id}`}>Attestation: what was done</label>
            <textarea id={`note-${t.id}`} required rows={2} maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />
            <label htmlFor={`evidence-${t.id}`}>Evidence reference (optional: ticket, door-system log id)</label>
            <input id={`evidence-${t.id}`} maxLength={500} value={evidence} onChange={(e) => setEvidence(e.target.value)} />
            <div className="row">
              <button type="submit" className="primary" disabled={busy || !note.trim() || missing}>
                Complete task
              </button>
            </div>
            {missing && (
              <p className="muted small" data-testid={`task-missing-${t.id}`}>
                {!resolution ? 'Choose a decision: removed by hand, or kept under an exception.' : 'Choose the exception under which the access is kept.'}
              </p>
            )}
            <p className="muted small">You attest that this was done; your name, the time and the note go into the audit trail.</p>
          </form>
        )}
        <ErrorBox error={error} />
      </Section>
    </li>
  )
}

/** Exceptions allowed to keep access (completeTask's rule): retain_account, legal_hold or extra_access, approved or active, for this person and this system or every system. */
const KEEPING_KINDS = new Set(['retain_account', 'legal_hold', 'extra_access'])

function ExceptionPicker({ t, value, onChange }: { t: Task; value: string; onChange: (id: string) => void }) {
  const list = useData(() => getJson<Page<Exception>>(`/api/v1/exceptions${qs({ employeeId: t.employeeId, limit: 100 })}`), [t.employeeId])
  const covers = (x: Exception) => KEEPING_KINDS.has(x.kind) && (x.system === null || x.system === t.system)
  const usable = (list.data?.items ?? []).filter((x) => covers(x) && (x.status === 'approved' || x.status === 'active'))
  const waiting = (list.data?.items ?? []).filter((x) => covers(x) && (x.status === 'requested' || x.status === 'awaiting_second_approval'))
  if (list.error) return <ErrorBox error={list.error} />
  if (!list.data) return <Loading what="exceptions" />
  if (usable.length === 0) {
    return (
      <>
        <p className="error" role="alert" data-testid={`task-no-exception-${t.id}`}>
          {t.employeeName ?? t.employeeExternalId} has no approved or active retain-account, legal-hold or extra-access exception for {t.system}. Request
          one below (another approver decides), or remove the access by hand.
        </p>
        {waiting.map((x) => (
          <p key={x.id} className="notice" data-testid={`task-waiting-exception-${t.id}`}>
            A {x.kind.replaceAll('_', ' ')} request for {x.system ?? 'every system'} is waiting for approval: {x.reason}
          </p>
        ))}
        {waiting.length === 0 && <RequestException t={t} onDone={list.reload} />}
      </>
    )
  }
  return (
    <>
      <label htmlFor={`exception-${t.id}`}>Exception that allows keeping it</label>
      <select id={`exception-${t.id}`} required value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">choose…</option>
        {usable.map((x) => (
          <option key={x.id} value={x.id}>
            {x.kind.replaceAll('_', ' ')} ({x.system ?? 'every system'}, {x.status}, until {x.endsAt ? utcText(x.endsAt) : 'no end'}): {x.reason}
          </option>
        ))}
      </select>
    </>
  )
}

/** Ask for the exception that would allow keeping the access (POST /api/v1/exceptions); four-eyes: someone else approves it. */
function RequestException({ t, onDone }: { t: Task; onDone: () => void }) {
  const [kind, setKind] = useState<'retain_account' | 'legal_hold'>('retain_account')
  const [until, setUntil] = useState('')
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const send = async () => {
    setBusy(true)
    setError(null)
    try {
      await postJson<Exception>('/api/v1/exceptions', { kind, employeeId: t.employeeId, system: t.system, endsAt: new Date(`${until}T23:59:59`).toISOString(), reason: reason.trim() })
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <div className="stack" data-testid={`task-request-exception-${t.id}`}>
      <label htmlFor={`rx-kind-${t.id}`}>Exception to request</label>
      <select id={`rx-kind-${t.id}`} value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
        <option value="retain_account">retain account</option>
        <option value="legal_hold">legal hold</option>
      </select>
      <label htmlFor={`rx-until-${t.id}`}>Until (date)</label>
      <input id={`rx-until-${t.id}`} type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
      <label htmlFor={`rx-reason-${t.id}`}>Why keep it (at least 10 characters)</label>
      <input id={`rx-reason-${t.id}`} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} />
      <div className="row">
        <button type="button" disabled={busy || !until || reason.trim().length < 10} onClick={() => void send()}>
          Request exception
        </button>
      </div>
      <ErrorBox error={error} />
    </div>
  )
}
