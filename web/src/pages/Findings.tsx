import { useState } from 'react'
import { getJson, postJson, qs } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import { Link } from '../router.tsx'
import type { CountedPage, EmployeeSummary, Finding, Page } from '../types.ts'
import { PagerBar, usePager } from './paging.tsx'
import { Badge, ErrorBox, Json, Loading, Person, Section, Time, useData, useTitle } from '../ui.tsx'

/** Mirrors FINDING_REASON_MIN_LENGTH (src/reconciliation/routes.ts): the server refuses less. */
const REASON_MIN = 10
/** Mirrors LEAVER_STATES (src/reconciliation/access.ts): a cut-off is for leavers. */
const LEAVER_STATES = ['deprovisioning', 'offboarded', 'cancelled']

type Status = 'open' | 'acknowledged' | 'resolved' | 'all'
type Kind = '' | Finding['kind']

const FINDINGS_PER_PAGE = 50

export function Findings() {
  useTitle('Reconciliation findings')
  const { me } = useViewer()
  const [status, setStatus] = useState<Status>('open')
  const [kind, setKind] = useState<Kind>('')
  const pager = usePager()
  const findings = useData(
    () => getJson<CountedPage<Finding>>(`/api/v1/reconciliation/findings${qs({ status, kind, limit: FINDINGS_PER_PAGE, cursor: pager.cursor })}`),
    [status, kind, pager.cursor],
    10_000,
  )
  const mayAct = can.actOnFindings(me.roles)
  return (
    <>
      <h1>Reconciliation findings</h1>
      <p className="muted">
        What target reconciliation found: accounts active after revocation, accounts that match no employee, and access beyond policy. Acknowledged
        findings stay quiet until the account&apos;s access changes.
      </p>
      <Section
        title="Findings"
        id="findings"
        actions={
          <div className="row">
            <label htmlFor="finding-status">Show</label>
            <select id="finding-status" value={status} onChange={(e) => (setStatus(e.target.value as Status), pager.first())}>
              <option value="open">open</option>
              <option value="acknowledged">acknowledged</option>
              <option value="resolved">resolved</option>
              <option value="all">all</option>
            </select>
            <label htmlFor="finding-kind">Kind</label>
            <select id="finding-kind" value={kind} onChange={(e) => (setKind(e.target.value as Kind), pager.first())}>
              <option value="">any</option>
              <option value="active_after_revocation">active after revocation</option>
              <option value="orphan_account">orphan account</option>
              <option value="excess_access">excess access</option>
            </select>
          </div>
        }
      >
        {!mayAct && <p className="notice">Only operators acknowledge, link or cut off findings.</p>}
        <ErrorBox error={findings.error} />
        {findings.loading && !findings.data ? <Loading what="findings" /> : null}
        {findings.data && findings.data.items.length === 0 && pager.index === 0 ? <p className="muted">No {status === 'all' ? '' : status} finding.</p> : null}
        <ul className="cards">
          {findings.data?.items.map((f) => (
            <FindingCard key={f.id} f={f} mayAct={mayAct} onDone={findings.reload} />
          ))}
        </ul>
        {findings.data && (
          <PagerBar label="findings" pager={pager} limit={FINDINGS_PER_PAGE} shown={findings.data.items.length} total={findings.data.total} nextCursor={findings.data.nextCursor} />
        )}
      </Section>
    </>
  )
}

function FindingCard({ f, mayAct, onDone }: { f: Finding; mayAct: boolean; onDone: () => void }) {
  const [reason, setReason] = useState('')
  const [employee, setEmployee] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const act = async (action: 'acknowledge' | 'link' | 'cutoff') => {
    setBusy(true)
    setError(null)
    try {
      const body: Record<string, string> = { reason: reason.trim() }
      if (action === 'link') body.employeeId = await employeeIdFor(employee.trim())
      await postJson(`/api/v1/reconciliation/findings/${f.id}/${action}`, body)
      setReason('')
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const reasonOk = reason.trim().length >= REASON_MIN
  const open = f.status !== 'resolved'
  const mayLink = open && f.kind === 'orphan_account' && !f.link
  const mayCut = open && !f.cutoff && f.employeeId !== null && LEAVER_STATES.includes(f.employeeState ?? '')
  const mayAck = open && f.status === 'open'
  return (
    <li className="card" data-testid={`finding-${f.id}`}>
      <h3>
        {f.system}: {f.kind.replaceAll('_', ' ')} <Badge value={f.status} />
      </h3>
      <dl className="facts">
        <dt>Account</dt>
        <dd>{f.login ?? f.accountId}</dd>
        <dt>Employee</dt>
        <dd>
          {f.employeeId ? (
            <Link to={`/employees/${f.employeeId}`}>
              {f.employeeName ?? f.employeeExternalId} ({f.employeeState})
            </Link>
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        <dt>Seen</dt>
        <dd>
          <Time iso={f.firstSeenAt} /> to <Time iso={f.lastSeenAt} />
          {f.resolvedAt && (
            <>
              , resolved <Time iso={f.resolvedAt} />
            </>
          )}
        </dd>
        <dt>Details</dt>
        <dd>
          <Json value={f.details} />
        </dd>
        {f.acknowledgement && (
          <>
            <dt>Acknowledged</dt>
            <dd data-testid="acknowledgement">
              by <Person id={f.acknowledgement.by} name={f.acknowledgement.byName} /> <Time iso={f.acknowledgement.at} />: {f.acknowledgement.reason}
              {f.raisedAgainAt && (
                <>
                  {' '}
                  (raised again <Time iso={f.raisedAgainAt} />: the access changed)
                </>
              )}
            </dd>
          </>
        )}
        {f.link && (
          <>
            <dt>Linked</dt>
            <dd>
              by <Person id={f.link.by} name={f.link.byName} /> <Time iso={f.link.at} />: {f.link.reason}
            </dd>
          </>
        )}
        {f.cutoff && (
          <>
            <dt>Cut-off</dt>
            <dd>
              requested by <Person id={f.cutoff.by} name={f.cutoff.byName} /> <Time iso={f.cutoff.at} />: {f.cutoff.reason}
            </dd>
          </>
        )}
      </dl>
      {mayAct && (mayAck || mayLink || mayCut) && (
        <form className="stack" onSubmit={(e) => e.preventDefault()}>
          <label htmlFor={`finding-reason-${f.id}`}>Reason (at least {REASON_MIN} characters); recorded in the audit trail</label>
          <input id={`finding-reason-${f.id}`} required minLength={REASON_MIN} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
          {mayLink && (
            <>
              <label htmlFor={`finding-employee-${f.id}`}>Employee the account belongs to (HR id)</label>
              <input id={`finding-employee-${f.id}`} value={employee} onChange={(e) => setEmployee(e.target.value)} />
            </>
          )}
          <div className="row">
            {mayAck && (
              <button type="button" className="primary" disabled={busy || !reasonOk} onClick={() => act('acknowledge')}>
                Acknowledge
              </button>
            )}
            {mayLink && (
              <button type="button" disabled={busy || !reasonOk || !employee.trim()} onClick={() => act('link')}>
                Link to employee
              </button>
            )}
            {mayCut && (
              <button type="button" disabled={busy || !reasonOk} onClick={() => act('cutoff')}>
                Cut off
              </button>
            )}
          </div>
        </form>
      )}
      <ErrorBox error={error} />
    </li>
  )
}

/** The employee with exactly this HR id: an operator knows people by it, the API takes Tenure's id. */
async function employeeIdFor(externalId: string): Promise<string> {
  const page = await getJson<Page<EmployeeSummary>>(`/api/v1/employees${qs({ q: externalId, limit: 50 })}`)
  const exact = page.items.filter((e) => e.externalId === externalId)
  if (exact.length !== 1) {
    throw new Error(exact.length === 0 ? `No employee has the HR id ${externalId}.` : `${exact.length} employees have the HR id ${externalId} (several HR sources); link through the API with Tenure's employee id.`)
  }
  return exact[0]!.id
}
