import { useState } from 'react'
import { ApiError, getJson, postJson, qs } from '../api.ts'
import { Link } from '../router.tsx'
import type { EmployeeSummary, Page, SampleEvent } from '../types.ts'
import { Badge, ErrorBox, Time, useData, useTitle } from '../ui.tsx'

const STEPS: Array<{ event: SampleEvent; label: string; help: string }> = [
  { event: 'joiner', label: 'Send joiner', help: 'Hired, starting today: accounts are created in every system the policy grants.' },
  { event: 'mover', label: 'Send mover', help: 'Moves to the chosen department: access is recomputed, added and removed.' },
  { event: 'leaver', label: 'Send leaver', help: 'Leaves now: a leaver case opens with its revocation deadline; watch it on the dashboard.' },
  { event: 'rescind', label: 'Send rescind', help: 'HR withdraws the termination: access is restored, the case is cancelled.' },
]

const DEPARTMENTS = ['Engineering', 'Sales', 'Facilities', 'Marketing']

interface Sent {
  at: string
  event: SampleEvent
  employeeId: string
  status: number
}

function newId(): string {
  return `E${String(Math.floor(Math.random() * 90_000) + 10_000)}`
}

// Target systems derive logins from names (grace.hopper@…): each new sample employee gets another
// of 256 names, so two joiners rarely claim the same login (the panel says to change it if they do).
const FIRST = ['Grace', 'Ada', 'Alan', 'Katherine', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Dennis', 'Radia', 'Ken', 'Frances', 'John', 'Hedy', 'Tim', 'Annie']
const LAST = ['Hopper', 'Lovelace', 'Turing', 'Johnson', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Ritchie', 'Perlman', 'Thompson', 'Allen', 'Backus', 'Lamarr', 'Berners-Lee', 'Easley']

function newName(id: string): [string, string] {
  const n = Number(id.replace(/\D/g, '')) || Math.floor(Math.random() * 1e6)
  return [FIRST[n % FIRST.length]!, LAST[Math.floor(n / FIRST.length) % LAST.length]!]
}

/** One e-mail the sandbox's SMTP sink caught (GET /api/v1/sandbox/mail). */
interface CaughtMail {
  seq: number
  receivedAt: string
  from: string
  to: string[]
  subject: string | null
  messageId: string | null
  text: string
}

/** The e-mails Tenure sent, caught by the sandbox's local SMTP sink; refreshed every few seconds. */
function CaughtMailCard() {
  const mail = useData(() => getJson<{ items: CaughtMail[]; nextCursor: string | null; port: number }>(`/api/v1/sandbox/mail${qs({ limit: 20 })}`), [], 3000)
  const [open, setOpen] = useState<number | null>(null)
  const off = mail.error instanceof ApiError && mail.error.status === 404
  return (
    <section className="card" aria-labelledby="sb-mail">
      <h2 id="sb-mail">E-mail sent</h2>
      {off ? (
        <p className="muted">
          No SMTP sink runs: this Tenure sends e-mail to the server in <code>notify.email</code>. The sandbox catches e-mail only when none is configured.
        </p>
      ) : (
        <>
          <p className="muted small">
            Escalations, exception requests and decisions, holds and alerts, as Tenure would e-mail them, caught by a local SMTP server{mail.data ? ` (127.0.0.1:${mail.data.port})` : ''}: nothing
            leaves this machine. Newest first.
          </p>
          <ErrorBox error={mail.error} />
          {mail.data && mail.data.items.length === 0 && <p className="muted">None yet. Send a leaver and request an exception for them to see one.</p>}
          <ul className="plain" aria-live="polite">
            {mail.data?.items.map((m) => (
              <li key={m.seq} data-testid={`mail-${m.seq}`}>
                <button type="button" className="link" aria-expanded={open === m.seq} onClick={() => setOpen(open === m.seq ? null : m.seq)}>
                  {m.subject ?? '(no subject)'}
                </button>{' '}
                <span className="muted small">
                  to {m.to.join(', ')}, <Time iso={m.receivedAt} />
                </span>
                {open === m.seq && <pre className="small" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>{m.text}</pre>}
              </li>
            ))}
          </ul>
          {mail.data?.nextCursor && <p className="muted small">Older messages: GET /api/v1/sandbox/mail?cursor=…</p>}
        </>
      )}
    </section>
  )
}

export function Sandbox() {
  useTitle('Sandbox')
  const [employeeId, setEmployeeId] = useState(newId)
  const [firstName, setFirstName] = useState(() => newName(employeeId)[0])
  const [lastName, setLastName] = useState(() => newName(employeeId)[1])
  const [department, setDepartment] = useState('Engineering')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [sent, setSent] = useState<Sent[]>([])
  const ids = [...new Set(sent.map((s) => s.employeeId))]
  const people = useData(
    async () => {
      const found = await Promise.all(ids.map((id) => getJson<Page<EmployeeSummary>>(`/api/v1/employees${qs({ q: id, source: 'generic', limit: 5 })}`)))
      return found.flatMap((p, i) => p.items.filter((e) => e.externalId === ids[i]))
    },
    [ids.join()],
    1500,
  )

  const send = async (event: SampleEvent) => {
    setBusy(true)
    setError(null)
    try {
      const res = await postJson<{ webhookStatus: number }>('/api/v1/sandbox/hr-events', {
        event,
        employeeId,
        ...(event === 'joiner' ? { firstName, lastName, department } : {}),
        ...(event === 'mover' ? { department } : {}),
      })
      setSent((s) => [{ at: new Date().toISOString(), event, employeeId, status: res.webhookStatus }, ...s])
      people.reload()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <h1>Sandbox: send sample HR events</h1>
      <p>
        Each button sends a signed HR delivery to this server's own webhook (<code>/webhooks/hr/generic</code>), exactly as an HR system would. Follow one employee: joiner, then
        mover, then leaver, and watch the case on the <Link to="/">dashboard</Link>. In the sandbox the leaver also gets an office-badge task: complete it under{' '}
        <Link to="/tasks">Manual tasks</Link> to close the case.
      </p>
      <form className="card stack" onSubmit={(e) => e.preventDefault()} aria-labelledby="sample-title">
        <h2 id="sample-title">Employee</h2>
        <div className="row wrap">
          <div className="field">
            <label htmlFor="sb-id">HR employee id</label>
            <input id="sb-id" required pattern="[A-Za-z0-9_\-]{1,40}" value={employeeId} onChange={(e) => setEmployeeId(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="sb-first">First name</label>
            <input id="sb-first" value={firstName} onChange={(e) => setFirstName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="sb-last">Last name</label>
            <input id="sb-last" value={lastName} onChange={(e) => setLastName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="sb-dept">Department (joiner, mover)</label>
            <select id="sb-dept" value={department} onChange={(e) => setDepartment(e.target.value)}>
              {DEPARTMENTS.map((d) => (
                <option key={d}>{d}</option>
              ))}
            </select>
          </div>
          <button
            type="button"
            onClick={() => {
              const id = newId()
              const [first, last] = newName(id)
              setEmployeeId(id)
              setFirstName(first)
              setLastName(last)
            }}
          >
            New employee
          </button>
        </div>
        <p className="muted small">Give each employee a name of their own: the emulated systems derive logins from names, as the real ones do.</p>
        <ol className="steps">
          {STEPS.map((s) => (
            <li key={s.event}>
              <button type="button" className="primary" disabled={busy || !employeeId} onClick={() => void send(s.event)} aria-describedby={`help-${s.event}`}>
                {s.label}
              </button>
              <span id={`help-${s.event}`} className="muted small">
                {s.help}
              </span>
            </li>
          ))}
        </ol>
        <ErrorBox error={error} />
      </form>
      {ids.length > 0 && (
        <section className="card" aria-labelledby="sb-people">
          <h2 id="sb-people">Employees you sent events for</h2>
          <ul className="plain" aria-live="polite">
            {ids.map((id) => {
              const e = people.data?.find((p) => p.externalId === id)
              return (
                <li key={id} data-testid={`sandbox-${id}`}>
                  <strong>{id}</strong>{' '}
                  {e ? (
                    <>
                      <Link to={`/employees/${e.id}`}>{e.displayName ?? id}</Link> is <Badge value={e.state} label={e.state} />
                    </>
                  ) : (
                    <span className="muted">waiting for the HR worker…</span>
                  )}
                </li>
              )
            })}
          </ul>
          <h3>Sent</h3>
          <ul className="plain small">
            {sent.map((s, i) => (
              <li key={i}>
                <Time iso={s.at} />: {s.event} for {s.employeeId}, webhook answered {s.status}
              </li>
            ))}
          </ul>
        </section>
      )}
      <CaughtMailCard />
    </>
  )
}
