/**
 * Administration (admins only): API tokens, who has which role (SSO users included), HR sources and target systems with
 * their health, and "Reconcile now". Everything here is the public API (src/admin/routes.ts,
 * src/auth/routes.ts); what Tenure does not record is shown as unknown, never as fine.
 */
import { useState, type FormEvent } from 'react'
import type { z } from 'zod'
import type { SourceHealth, SystemHealth, JobRun } from '../../../src/admin/health.ts'
import type { apiTokenSchema } from '../../../src/auth/routes.ts'
import { getJson, postJson, qs, request } from '../api.ts'
import type { Page, Role } from '../types.ts'
import { Badge, ErrorBox, Json, Loading, Person, Section, TableWrap, Time, useData, useTitle } from '../ui.tsx'

type ApiToken = z.output<typeof apiTokenSchema>

interface Access {
  roles: Array<{ role: Role; description: string; claimValues: string[] | null }>
  oidc: { issuer: string; rolesClaim: string } | null
  tokenHolders: Array<{ id: string; name: string; role: Role; prefix: string; expiresAt: string | null; lastUsedAt: string | null }>
  tokenHoldersTruncated: boolean
}

interface SsoUser {
  issuer: string
  subject: string
  name: string | null
  email: string | null
  roles: Role[]
  mappedBy: Array<{ role: Role; claimValues: string[] }>
  firstSeenAt: string
  lastSeenAt: string
  lastSignInAt: string | null
}

interface SsoUsers {
  items: SsoUser[]
  nextCursor: string | null
  total: number
  mapping: { issuer: string; rolesClaim: string } | null
}

interface RunNow {
  jobId: string
  status: 'queued' | 'already_queued'
  state: string
}

const ROLE_NAMES: Role[] = ['admin', 'approver', 'operator', 'auditor']
const LIFETIMES = [
  ['', 'never expires'],
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['1y', '1 year'],
] as const

export function Admin() {
  useTitle('Administration')
  const tokens = useData(() => getJson<Page<ApiToken>>('/api/v1/tokens?includeRevoked=true&limit=200'), [])
  const access = useData(() => getJson<Access>('/api/v1/admin/access'), [])
  const sources = useData(() => getJson<{ items: SourceHealth[] }>('/api/v1/admin/sources'), [], 10_000)
  const systems = useData(() => getJson<{ items: SystemHealth[] }>('/api/v1/admin/systems'), [], 10_000)
  const tokensChanged = () => {
    tokens.reload()
    access.reload()
  }
  return (
    <>
      <h1>Administration</h1>
      <Section title="API tokens" id="tokens">
        <CreateToken onCreated={tokensChanged} />
        <ErrorBox error={tokens.error} />
        {tokens.loading && !tokens.data ? <Loading what="API tokens" /> : null}
        {tokens.data && <TokenTable items={tokens.data.items} onRevoked={tokensChanged} />}
        {tokens.data?.nextCursor ? <p className="muted">More tokens exist than shown here: `tenure tokens list` lists all.</p> : null}
      </Section>
      <Section title="Who has which role" id="roles">
        <ErrorBox error={access.error} />
        {access.loading && !access.data ? <Loading what="roles" /> : null}
        {access.data && <RoleTable access={access.data} />}
        {access.data?.oidc && <SsoUserTable />}
      </Section>
      <Section title="HR sources" id="sources">
        <ErrorBox error={sources.error} />
        {sources.loading && !sources.data ? <Loading what="HR sources" /> : null}
        {sources.data && sources.data.items.length === 0 ? <p className="muted">No HR source is configured.</p> : null}
        {sources.data && sources.data.items.length > 0 && <SourceTable items={sources.data.items} onRun={sources.reload} />}
      </Section>
      <Section title="Target systems" id="systems">
        <ErrorBox error={systems.error} />
        {systems.loading && !systems.data ? <Loading what="target systems" /> : null}
        {systems.data && <SystemTable items={systems.data.items} onRun={systems.reload} />}
        <p className="muted small">
          Last call and last error come from the calls recorded for provisioning, revocation and verification jobs (last error: the last 7 days). Rate limit: the
          shared token bucket&apos;s balance now; a bucket never used is unknown.
        </p>
      </Section>
    </>
  )
}

function CreateToken({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>('operator')
  const [expiresIn, setExpiresIn] = useState('90d')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [created, setCreated] = useState<{ token: string; apiToken: ApiToken } | null>(null)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const out = await postJson<{ token: string; apiToken: ApiToken }>('/api/v1/tokens', { name: name.trim(), role, ...(expiresIn ? { expiresIn } : {}) })
      setCreated(out)
      setName('')
      onCreated()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <form className="row wrap" onSubmit={(e) => void submit(e)} aria-label="Create an API token">
        <label htmlFor="token-name">Name</label>
        <input id="token-name" required maxLength={200} value={name} placeholder="e.g. terraform" onChange={(e) => setName(e.target.value)} />
        <label htmlFor="token-role">Role</label>
        <select id="token-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLE_NAMES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <label htmlFor="token-expiry">Expires</label>
        <select id="token-expiry" value={expiresIn} onChange={(e) => setExpiresIn(e.target.value)}>
          {LIFETIMES.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          Create token
        </button>
      </form>
      <ErrorBox error={error} />
      {created && (
        <div className="notice" role="status" data-testid="new-token">
          <p>
            Token <strong>{created.apiToken.name}</strong> ({created.apiToken.role}) created. Copy it now: it is shown this once, Tenure keeps only its hash.
          </p>
          <p>
            <code data-testid="new-token-secret">{created.token}</code>{' '}
            <button type="button" className="link" onClick={() => void navigator.clipboard?.writeText(created.token)}>
              Copy
            </button>{' '}
            <button type="button" className="link" onClick={() => setCreated(null)}>
              Done, hide it
            </button>
          </p>
        </div>
      )}
    </>
  )
}

function TokenTable({ items, onRevoked }: { items: ApiToken[]; onRevoked: () => void }) {
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState<string | null>(null)
  const revoke = async (t: ApiToken) => {
    if (!window.confirm(`Revoke the token "${t.name}"? Anything using it stops working at once.`)) return
    setBusy(t.id)
    setError(null)
    try {
      await request(`/api/v1/tokens/${t.id}`, { method: 'DELETE' })
      onRevoked()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(null)
    }
  }
  if (items.length === 0) return <p className="muted">No API token yet.</p>
  return (
    <>
      <ErrorBox error={error} />
      <TableWrap label="API tokens">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Prefix</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {items.map((t) => (
            <tr key={t.id} data-testid={`token-${t.name}`}>
              <th scope="row" title={t.id}>
                {t.name}
              </th>
              <td>{t.role}</td>
              <td>
                <code>{t.prefix}…</code>
              </td>
              <td>
                <Badge value={t.status === 'active' ? 'active' : t.status === 'revoked' ? 'done' : 'at_risk'} label={t.status} />
              </td>
              <td>
                <Time iso={t.createdAt} /> <span className="muted small">
                  by <Person id={t.createdBy} name={t.createdByName} />
                </span>
              </td>
              <td>{t.expiresAt ? <Time iso={t.expiresAt} /> : <span className="muted">never</span>}</td>
              <td>{t.lastUsedAt ? <Time iso={t.lastUsedAt} /> : <span className="muted">not used</span>}</td>
              <td>
                {t.status !== 'revoked' && (
                  <button type="button" disabled={busy === t.id} onClick={() => void revoke(t)} aria-label={`Revoke ${t.name}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </TableWrap>
    </>
  )
}

function RoleTable({ access }: { access: Access }) {
  return (
    <>
      <p>
        {access.oidc ? (
          <>
            Single sign-on: <code>{access.oidc.issuer}</code>. A person&apos;s roles come from the <code>{access.oidc.rolesClaim}</code> claim on every request; below, the people
            who signed in and the claim values that mapped them. Someone who never signed in is not listed: ask the identity provider who is in each group.
          </>
        ) : (
          <>Single sign-on is not configured: only API tokens sign in.</>
        )}
      </p>
      <TableWrap label="Roles">
        <thead>
          <tr>
            <th scope="col">Role</th>
            <th scope="col">May</th>
            <th scope="col">SSO claim values</th>
            <th scope="col">API tokens (active)</th>
          </tr>
        </thead>
        <tbody>
          {access.roles.map((r) => {
            const holders = access.tokenHolders.filter((h) => h.role === r.role)
            return (
              <tr key={r.role} data-testid={`role-${r.role}`}>
                <th scope="row">{r.role}</th>
                <td>{r.description}</td>
                <td>{r.claimValues === null ? <span className="muted">no SSO</span> : r.claimValues.length ? r.claimValues.join(', ') : <span className="muted">none mapped</span>}</td>
                <td>{holders.length ? holders.map((h) => h.name).join(', ') : <span className="muted">none</span>}</td>
              </tr>
            )
          })}
        </tbody>
      </TableWrap>
      {access.tokenHoldersTruncated && <p className="muted">Only the first token holders are listed.</p>}
    </>
  )
}

/** People who signed in with SSO, paged on the server (GET /api/v1/admin/sso-users). */
function SsoUserTable() {
  const [role, setRole] = useState<Role | ''>('')
  const [q, setQ] = useState('')
  // The cursors of the pages before this one: Previous pops, Next pushes.
  const [cursors, setCursors] = useState<string[]>([])
  const cursor = cursors.at(-1)
  const users = useData(() => getJson<SsoUsers>(`/api/v1/admin/sso-users${qs({ limit: 25, role: role || undefined, q: q.trim() || undefined, cursor })}`), [role, q, cursor])
  const page = cursors.length
  return (
    <section aria-labelledby="sso-users-title">
      <h3 id="sso-users-title">Signed in with SSO</h3>
      <div className="row wrap">
        <div className="field">
          <label htmlFor="sso-role">Holding role</label>
          <select id="sso-role" value={role} onChange={(e) => (setRole(e.target.value as Role | ''), setCursors([]))}>
            <option value="">any</option>
            {ROLE_NAMES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="sso-q">Name, e-mail or subject</label>
          <input id="sso-q" type="search" value={q} onChange={(e) => (setQ(e.target.value), setCursors([]))} />
        </div>
      </div>
      <ErrorBox error={users.error} />
      {users.loading && !users.data ? <Loading what="SSO users" /> : null}
      {users.data && users.data.items.length === 0 ? <p className="muted">Nobody has signed in with SSO{role || q ? ' matching these filters' : ' yet'}.</p> : null}
      {users.data && users.data.items.length > 0 && (
        <>
          <TableWrap label="SSO users">
            <thead>
              <tr>
                <th scope="col">Person</th>
                <th scope="col">Roles (claim value that mapped each)</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {users.data.items.map((u) => (
                <tr key={`${u.issuer} ${u.subject}`} data-testid={`sso-user-${u.subject}`}>
                  <th scope="row">
                    <span title={`subject ${u.subject}`}>{u.name ?? u.subject}</span>
                    {u.email && <div className="muted small">{u.email}</div>}
                  </th>
                  <td>
                    {u.mappedBy.length === 0 ? (
                      <span className="muted">no role: no mapped claim value, every request refused</span>
                    ) : (
                      u.mappedBy.map((m) => (
                        <div key={m.role}>
                          <Badge value="active" label={m.role} /> <span className="muted small">via {m.claimValues.join(', ') || 'unknown'}</span>
                        </div>
                      ))
                    )}
                  </td>
                  <td>
                    <Time iso={u.lastSignInAt} />
                  </td>
                  <td>
                    <Time iso={u.lastSeenAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
          <div className="row">
            <span className="muted small" aria-live="polite">
              Page {page + 1}, {users.data.total} {users.data.total === 1 ? 'person' : 'people'} in all
            </span>
            <button type="button" disabled={page === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Previous
            </button>
            <button type="button" disabled={!users.data.nextCursor} onClick={() => users.data?.nextCursor && setCursors((c) => [...c, users.data!.nextCursor!])}>
              Next
            </button>
          </div>
        </>
      )}
      <p className="muted small">Roles as the person&apos;s newest token said; the identity provider decides on every request, so a change there applies at once.</p>
    </section>
  )
}

/** A reconciliation run in a few words: running, queued, or how the last one ended. */
function RunText({ queued, lastRun }: { queued: JobRun | null; lastRun: JobRun | null }) {
  if (queued) return <Badge value="requested" label={queued.state === 'active' ? 'running' : 'queued'} />
  if (!lastRun) return <span className="muted">unknown (no run on record)</span>
  return (
    <>
      <Badge value={lastRun.state === 'completed' ? 'completed' : lastRun.state === 'failed' ? 'failed' : 'neutral'} label={lastRun.state} />{' '}
      <Time iso={lastRun.completedAt ?? lastRun.createdAt} />
      {lastRun.state === 'failed' && <span className="small"> {runError(lastRun.output)}</span>}
    </>
  )
}

/** What a failed run's job recorded (pg-boss keeps the error's message). */
function runError(output: unknown): string {
  const message = (output as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message.slice(0, 200) : 'no error recorded'
}

function ReconcileButton({ path, label, onDone }: { path: string; label: string; onDone: () => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [result, setResult] = useState<RunNow | null>(null)
  const click = async () => {
    setBusy(true)
    setError(null)
    try {
      setResult((await (await request(path, { method: 'POST' })).json()) as RunNow)
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button type="button" disabled={busy} onClick={() => void click()} aria-label={label}>
        Reconcile now
      </button>
      {result && (
        <p role="status" className="small" title={result.jobId}>
          {result.status === 'queued' ? 'Queued' : `Already ${result.state === 'active' ? 'running' : 'queued'}`} (job {result.jobId.slice(0, 8)})
        </p>
      )}
      <ErrorBox error={error} />
    </>
  )
}

function SourceTable({ items, onRun }: { items: SourceHealth[]; onRun: () => void }) {
  return (
    <TableWrap label="HR sources">
      <thead>
        <tr>
          <th scope="col">Source</th>
          <th scope="col">Status</th>
          <th scope="col">Last notice</th>
          <th scope="col">Last failed notice</th>
          <th scope="col">Last API call</th>
          <th scope="col">Rate limit</th>
          <th scope="col">Reconciliation</th>
          <th scope="col">Action</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.source} data-testid={`source-${s.source}`}>
            <th scope="row">{s.source}</th>
            <td>
              {s.enabled ? <Badge value="active" label="enabled" /> : <Badge value="failed" label="disabled" />} {s.api ? '' : <span className="muted small">no API access</span>}
            </td>
            <td>{s.lastDelivery ? <Time iso={s.lastDelivery.at} /> : <span className="muted">none received</span>}</td>
            <td>{s.lastFailure ? <><Time iso={s.lastFailure.at} /> <Json value={s.lastFailure.error} /></> : <span className="muted">none</span>}</td>
            <td>
              <span className="muted" title="Tenure does not record its calls to HR vendor APIs">
                unknown
              </span>
            </td>
            <td>
              <span className="muted" title="Tenure keeps no limiter for HR vendor APIs">
                unknown
              </span>
            </td>
            <td>
              {s.reconcile.enabled ? (
                <>
                  every {s.reconcile.intervalMinutes} min · <RunText queued={s.reconcile.queued} lastRun={s.reconcile.lastRun} />
                </>
              ) : (
                <span className="muted">off</span>
              )}
            </td>
            <td>{s.reconcile.enabled && <ReconcileButton path={`/api/v1/admin/sources/${s.source}/reconcile`} label={`Reconcile ${s.source} now`} onDone={onRun} />}</td>
          </tr>
        ))}
      </tbody>
    </TableWrap>
  )
}

function callText(c: NonNullable<SystemHealth['lastCall']>): string {
  return `${c.operation ?? c.method ?? 'call'}: ${c.status ?? 'no answer'}${c.errorKind ? ` (${c.errorKind})` : ''}`
}

function SystemTable({ items, onRun }: { items: SystemHealth[]; onRun: () => void }) {
  return (
    <TableWrap label="Target systems">
      <thead>
        <tr>
          <th scope="col">System</th>
          <th scope="col">Status</th>
          <th scope="col">Last call</th>
          <th scope="col">Last error (7 days)</th>
          <th scope="col">Rate limit</th>
          <th scope="col">Reconciliation</th>
          <th scope="col">Action</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.system} data-testid={`system-${s.system}`}>
            <th scope="row">{s.system}</th>
            <td>{s.enabled ? <Badge value="active" label="enabled" /> : <Badge value="neutral" label={`disabled${s.reason ? `: ${s.reason}` : ''}`} />}</td>
            <td>
              {s.lastCall ? (
                <>
                  <Time iso={s.lastCall.at} /> <span className="small">{callText(s.lastCall)}</span>
                </>
              ) : (
                <span className="muted" title={s.lastCallUnknown ?? undefined}>
                  unknown
                </span>
              )}
            </td>
            <td>
              {s.lastError ? (
                <>
                  <Time iso={s.lastError.at} /> <span className="small">{callText(s.lastError)}</span>
                </>
              ) : (
                <span className="muted">{s.lastCall ? 'none recorded' : 'unknown'}</span>
              )}
            </td>
            <td>
              {s.rateLimit.buckets.length === 0 ? <span className="muted">{s.enabled ? 'no limiter bucket' : 'not configured'}</span> : null}
              {s.rateLimit.buckets.map((b) => (
                <div key={b.bucket} className="small">
                  {b.bucket}: {b.perMinute}/min,{' '}
                  {b.state === 'unknown' ? (
                    <span className="muted">unknown (not used yet)</span>
                  ) : b.state === 'booked_ahead' ? (
                    <Badge value="at_risk" label={`booked ahead (${b.tokens})`} />
                  ) : (
                    `${b.tokens} of ${b.burst} available`
                  )}
                </div>
              ))}
              {s.rateLimit.rateLimitedLastHour > 0 && <Badge value="at_risk" label={`${s.rateLimit.rateLimitedLastHour} × 429 in the last hour`} />}
            </td>
            <td>{s.reconcile.supported ? <RunText queued={s.reconcile.queued} lastRun={s.reconcile.lastRun} /> : <span className="muted">not applicable</span>}</td>
            <td>{s.reconcile.supported && <ReconcileButton path={`/api/v1/admin/systems/${encodeURIComponent(s.system)}/reconcile`} label={`Reconcile ${s.system} now`} onDone={onRun} />}</td>
          </tr>
        ))}
      </tbody>
    </TableWrap>
  )
}
