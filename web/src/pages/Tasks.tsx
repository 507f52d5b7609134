import { useState, type FormEvent } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import { Link } from '../router.tsx'
import type { Page, Task } from '../types.ts'
import { Badge, Countdown, ErrorBox, Loading, Section, Time, useData } from '../ui.tsx'

export function Tasks() {
  const { me } = useViewer()
  const [status, setStatus] = useState<'open' | 'completed' | ''>('open')
  const tasks = useData(() => getJson<Page<Task>>(`/api/v1/tasks${qs({ status, limit: 100 })}`), [status], 4000)
  const mayComplete = can.completeTasks(me.roles)
  return (
    <>
      <h1>Manual tasks</h1>
      <p className="muted">Work for systems without an API. A completed revocation task counts as that system's verified revocation in the leaver case.</p>
      <div className="row">
        <label htmlFor="task-status">Show</label>
        <select id="task-status" value={status} onChange={(e) => setStatus(e.target.value as typeof status)}>
          <option value="open">open tasks</option>
          <option value="completed">completed tasks</option>
          <option value="">all tasks</option>
        </select>
      </div>
      {!mayComplete && <p className="notice">Only approvers complete tasks; you can follow them here.</p>}
      <ErrorBox error={tasks.error} />
      {tasks.loading && !tasks.data ? <Loading what="tasks" /> : null}
      {tasks.data && tasks.data.items.length === 0 ? <p className="muted">No task.</p> : null}
      <ul className="cards">
        {tasks.data?.items.map((t) => (
          <TaskCard key={t.id} t={t} mayComplete={mayComplete} onDone={tasks.reload} />
        ))}
      </ul>
    </>
  )
}

function TaskCard({ t, mayComplete, onDone }: { t: Task; mayComplete: boolean; onDone: () => void }) {
  const [note, setNote] = useState('')
  const [evidence, setEvidence] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await postJson<Task>(`/api/v1/tasks/${t.id}/complete`, { note: note.trim(), ...(evidence.trim() ? { evidenceRef: evidence.trim() } : {}) })
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const attestation = t.attestation as { note?: string; evidenceRef?: string | null } | null
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
                <Time iso={t.completedAt} /> by {t.completedBy}: {attestation?.note}
                {attestation?.evidenceRef ? ` (evidence: ${attestation.evidenceRef})` : ''}
              </dd>
            </>
          )}
        </dl>
        {t.status === 'open' && mayComplete && (
          <form className="stack" onSubmit={submit}>
            <label htmlFor={`note-${t.id}`}>Attestation: what was done</label>
            <textarea id={`note-${t.id}`} required rows={2} maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />
            <label htmlFor={`evidence-${t.id}`}>Evidence reference (optional: ticket, door-system log id)</label>
            <input id={`evidence-${t.id}`} maxLength={500} value={evidence} onChange={(e) => setEvidence(e.target.value)} />
            <div className="row">
              <button type="submit" className="primary" disabled={busy || !note.trim()}>
                Complete task
              </button>
            </div>
            <p className="muted small">You attest that this was done; your name, the time and the note go into the audit trail.</p>
          </form>
        )}
        <ErrorBox error={error} />
      </Section>
    </li>
  )
}
