import { useEffect, useState, type FormEvent } from 'react'
import canonicalize from 'canonicalize'
import { ApiError, getJson, qs, request } from '../api.ts'
import { useViewer } from '../App.tsx'
import { can } from '../roles.ts'
import type { ReportManifest, VerifyResult } from '../types.ts'
import type { AuditRow } from '../../../src/audit/record.ts'
import { Link } from '../router.tsx'
import { ActorName, Badge, ErrorBox, Json, Person, Section, TableWrap, Time, useTitle } from '../ui.tsx'
import { eventLabel, systemLabel } from '../event-labels.ts'

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10)
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s)
  const out = new Uint8Array(new ArrayBuffer(bin.length))
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

interface Check {
  name: string
  ok: boolean
  message: string
}

/** GET /api/v1/reports/signing-key */
interface SigningKey {
  algorithm: 'Ed25519'
  keyId: string
  fingerprint: string
  pem: string
  source: 'configured' | 'data_folder'
  warning: string | null
}

interface Downloaded {
  fileName: string
  fileUrl: string
  manifestUrl: string
  manifest: ReportManifest
  checks: Check[]
  /** The server's published key (null: an older server that serves none). */
  signingKey: SigningKey | null
  keyUrl: string | null
}

/** The same checks as `tenure reports verify`, in the browser: SHA-256 and size of the bytes, the Ed25519 signature, the signer. */
async function verifyInBrowser(bytes: ArrayBuffer, manifest: ReportManifest, published: { keyId: string } | null): Promise<Check[]> {
  const checks: Check[] = []
  const sha = hex(await crypto.subtle.digest('SHA-256', bytes))
  checks.push({ name: 'SHA-256', ok: sha === manifest.file.sha256, message: sha === manifest.file.sha256 ? `${sha} matches the manifest` : `the file hashes to ${sha}, the manifest says ${manifest.file.sha256}` })
  checks.push({ name: 'Size', ok: bytes.byteLength === manifest.file.bytes, message: `${bytes.byteLength} bytes (manifest: ${manifest.file.bytes})` })
  if (!manifest.signer || !manifest.signature) {
    checks.push({ name: 'Signature', ok: false, message: 'the manifest is unsigned: no audit.signingKey is configured on this server' })
    return checks
  }
  const { signature: _sig, ...payload } = manifest
  const text = canonicalize(payload)
  let valid: boolean
  try {
    const key = await crypto.subtle.importKey('raw', fromBase64(manifest.signer.publicKey), { name: 'Ed25519' }, false, ['verify'])
    valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, fromBase64(manifest.signature), new TextEncoder().encode(text ?? ''))
  } catch (err) {
    checks.push({ name: 'Signature', ok: false, message: `this browser cannot check Ed25519 signatures (${(err as Error).message}); use tenure reports verify` })
    return checks
  }
  checks.push({ name: 'Signature', ok: valid, message: valid ? `Ed25519 signature by key ${manifest.signer.keyId} is valid` : 'the signature does not match the manifest: it was changed' })
  if (published) {
    const same = published.keyId === manifest.signer.keyId
    checks.push({ name: 'Signer', ok: same, message: same ? `key ${published.keyId} is this organisation's published signing key` : `signed by ${manifest.signer.keyId}, but the published key is ${published.keyId}` })
  }
  return checks
}

export function Audit() {
  useTitle('Audit')
  const { me } = useViewer()
  return (
    <>
      <h1>Audit</h1>
      {can.audit(me.roles) && <ReportPanel />}
      {can.audit(me.roles) && <LogPanel />}
      {can.audit(me.roles) && <ChainPanel />}
    </>
  )
}

function ReportPanel() {
  const now = new Date()
  const [from, setFrom] = useState(isoDate(new Date(now.getTime() - 30 * 86_400_000)))
  const [to, setTo] = useState(isoDate(new Date(now.getTime() + 86_400_000)))
  const [format, setFormat] = useState<'csv' | 'json'>('csv')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [result, setResult] = useState<Downloaded | null>(null)
  useEffect(
    () => () => {
      if (result) {
        URL.revokeObjectURL(result.fileUrl)
        URL.revokeObjectURL(result.manifestUrl)
        if (result.keyUrl) URL.revokeObjectURL(result.keyUrl)
      }
    },
    [result],
  )

  const run = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setResult(null)
    try {
      const res = await request(`/api/v1/reports/access-revocations${qs({ from, to, format })}`, { headers: { Accept: '*/*' } })
      const bytes = await res.arrayBuffer()
      const id = res.headers.get('X-Report-Id')
      if (!id) throw new Error('the server sent no report id (X-Report-Id)')
      const fileName = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? `access-revocations.${format}`
      const manifestRes = await request(`/api/v1/reports/exports/${id}/manifest`)
      const manifestText = await manifestRes.text()
      const manifest = JSON.parse(manifestText) as ReportManifest
      const published = await getJson<SigningKey>('/api/v1/reports/signing-key').catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null
        throw err
      })
      const checks = await verifyInBrowser(bytes, manifest, published)
      setResult({
        fileName,
        fileUrl: URL.createObjectURL(new Blob([bytes], { type: res.headers.get('Content-Type') ?? 'application/octet-stream' })),
        manifestUrl: URL.createObjectURL(new Blob([manifestText], { type: 'application/json' })),
        manifest,
        checks,
        signingKey: published,
        keyUrl: published ? URL.createObjectURL(new Blob([published.pem], { type: 'application/x-pem-file' })) : null,
      })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const ok = result?.checks.every((c) => c.ok)
  const t = result?.manifest.totals
  return (
    <Section title="Access-revocation report" id="report">
      <p className="muted">Every leaver and every system for terminations effective in the period, with evidence. The signed manifest proves the file was not changed.</p>
      <form className="row wrap" onSubmit={run}>
        <div className="field">
          <label htmlFor="from">From (inclusive, UTC date)</label>
          <input id="from" type="date" required value={from} onChange={(e) => setFrom(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="to">To (exclusive, UTC date)</label>
          <input id="to" type="date" required value={to} onChange={(e) => setTo(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="format">Format</label>
          <select id="format" value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'json')}>
            <option value="csv">CSV</option>
            <option value="json">JSON</option>
          </select>
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Exporting…' : 'Export and verify'}
        </button>
      </form>
      <ErrorBox error={error} />
      {result && (
        <div className="result" aria-live="polite">
          <p className={ok ? 'ok-text' : 'error'} data-testid="report-verdict">
            {ok ? 'Manifest verified: the file is the one the server signed.' : 'Verification failed: see the checks below.'}
          </p>
          <ul className="plain">
            {result.checks.map((c) => (
              <li key={c.name}>
                <Badge value={c.ok ? 'verified' : 'failed'} label={c.ok ? 'ok' : 'failed'} /> <strong>{c.name}</strong>: {c.message}
              </li>
            ))}
          </ul>
          <p className="row wrap">
            <a className="button" href={result.fileUrl} download={result.fileName}>
              Save report ({result.fileName})
            </a>
            <a className="button" href={result.manifestUrl} download={`${result.fileName}.manifest.json`}>
              Save manifest
            </a>
          </p>
          {t && (
            <dl className="facts totals" data-testid="report-totals">
              <dt>Leavers</dt>
              <dd>{t.leavers}</dd>
              <dt>Rows (leaver × system)</dt>
              <dd>{t.rows}</dd>
              <dt>Systems</dt>
              <dd>{t.systems}</dd>
              <dt>Outcomes</dt>
              <dd>
                {Object.entries(t.outcomes)
                  .map(([k, v]) => `${k.replaceAll('_', ' ')}: ${v}`)
                  .join(', ') || '—'}
              </dd>
              <dt>Minutes to revoke</dt>
              <dd>
                median {t.minutesToRevoke.median ?? '—'}, p95 {t.minutesToRevoke.p95 ?? '—'}, max {t.minutesToRevoke.max ?? '—'} ({t.minutesToRevoke.count} revocations)
              </dd>
              <dt>Terminations HR reported</dt>
              <dd>
                {result.manifest.population.terminations} ({result.manifest.population.gap} without a case)
              </dd>
              <dt>Audit chain head</dt>
              <dd>
                #{result.manifest.auditChainHead.seq} <code>{result.manifest.auditChainHead.hash.slice(0, 16)}…</code>
              </dd>
              <dt>Generated</dt>
              <dd>
                <Time iso={result.manifest.generatedAt} /> by <ActorName label={result.manifest.generatedBy} />
              </dd>
            </dl>
          )}
          <OfflineSteps result={result} />
        </div>
      )}
    </Section>
  )
}

/**
 * How an auditor checks the report without this server: the exact commands, with the file names
 * just saved. The openssl route needs no Tenure at all: the signature is Ed25519 over the RFC 8785
 * canonical JSON of the manifest without `signature` (src/reports/manifest.ts), which for these
 * manifests (ASCII keys, plain numbers) is what `jq -cjS` prints.
 */
function OfflineSteps({ result }: { result: Downloaded }) {
  const file = result.fileName
  const manifest = `${file}.manifest.json`
  const key = result.signingKey
  return (
    <div data-testid="offline-steps">
      <h3>Verify it yourself, offline</h3>
      <ol>
        <li>
          Save the report and its manifest (the buttons above) into one folder{key ? ', and the public key that signed it:' : '.'}
          {key && result.keyUrl && (
            <>
              {' '}
              <a className="button" href={result.keyUrl} download="KEY.pem">
                Save public key (KEY.pem)
              </a>
            </>
          )}
        </li>
        {key && (
          <li>
            Check that it is your organisation&apos;s key: key id <code>{key.keyId}</code>, SHA-256 fingerprint{' '}
            <code data-testid="key-fingerprint">{key.fingerprint}</code>. Compare the fingerprint with the one published to you through a channel you trust
            (not with this page alone).
            {key.warning && (
              <p className="notice" data-testid="key-warning">
                {key.warning}
              </p>
            )}
          </li>
        )}
        <li>
          With Tenure&apos;s command line (no database, no configuration, no network):
          <div className="table-wrap" role="region" aria-label="tenure reports verify command" tabIndex={0}>
            <pre>
              <code data-testid="verify-command">{`tenure reports verify ${file} ${manifest} --public-key KEY.pem`}</code>
            </pre>
          </div>
          It prints <code>VERIFIED</code> when the file is byte for byte the one described and the manifest was signed with KEY.pem.
        </li>
        <li>
          Or without Tenure, with openssl 3 and jq:
          <div className="table-wrap" role="region" aria-label="openssl commands" tabIndex={0}>
            <pre>
              <code data-testid="openssl-commands">
                {[
                  `openssl pkey -pubin -in KEY.pem -outform DER | openssl dgst -sha256   # the fingerprint above`,
                  `openssl dgst -sha256 ${file}   # equals:`,
                  `jq -r .file.sha256 ${manifest}`,
                  `jq -cjS 'del(.signature)' ${manifest} > manifest.signed`,
                  `jq -r .signature ${manifest} | openssl base64 -d -A > manifest.sig`,
                  `openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in manifest.signed -sigfile manifest.sig`,
                ].join('\n')}
              </code>
            </pre>
          </div>
          The last command prints <code>Signature Verified Successfully</code>. docs/reports.md explains each field of the manifest.
        </li>
      </ol>
    </div>
  )
}

function ChainPanel() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [result, setResult] = useState<VerifyResult | null>(null)
  const [at, setAt] = useState<string | null>(null)
  const verify = async () => {
    setBusy(true)
    setError(null)
    try {
      setResult(await getJson<VerifyResult>('/api/v1/audit/verify'))
      setAt(new Date().toISOString())
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Section title="Audit-trail verification" id="chain">
      <p className="muted">Recomputes every hash of the tamper-evident chain and checks the signed checkpoints.</p>
      <button type="button" onClick={verify} disabled={busy}>
        {busy ? 'Verifying…' : 'Verify the audit trail'}
      </button>
      <ErrorBox error={error} />
      {result && (
        <div aria-live="polite" data-testid="chain-verdict">
          {result.ok ? (
            <p className={result.coverage === 'none' ? 'notice' : 'ok-text'} data-coverage={result.coverage}>
              {result.summary.charAt(0).toUpperCase() + result.summary.slice(1)}. Verified up to #{result.head.seq}
              {result.newestCheckpoint && (
                <>
                  ; newest checkpoint #{result.newestCheckpoint.id} signed <Time iso={result.newestCheckpoint.createdAt} />
                </>
              )}
              . Checked <Time iso={at} />.
            </p>
          ) : (
            <p className="error">
              Failed at #{result.firstBadSeq}: {result.reason.replaceAll('_', ' ')}. {result.message}
            </p>
          )}
        </div>
      )}
    </Section>
  )
}

interface LogFilters {
  employee: string
  actor: string
  action: string
  system: string
  from: string
  to: string
}

interface LogPage {
  events: AuditRow[]
  nextCursor: string | null
  /** With an employee filter: the Tenure ids it matched (empty: no such employee). */
  employees: string[] | null
  /** This page's actors by name, keyed `type:id`; null: only the id is known. */
  actorNames: Record<string, string | null>
  /** This page's employees by display name, keyed by Tenure id. */
  employeeNames: Record<string, string | null>
}

const NO_FILTERS: LogFilters = { employee: '', actor: '', action: '', system: '', from: '', to: '' }
const LOG_PAGE_SIZE = 50

/** The filters as the API's query: dates are whole UTC days (`to` exclusive, like the report). */
function logQuery(f: LogFilters): Record<string, string> {
  const q: Record<string, string> = {}
  if (f.employee.trim()) q.employee = f.employee.trim()
  if (f.actor.trim()) q.actor = f.actor.trim()
  if (f.action.trim()) q.action = f.action.trim()
  if (f.system.trim()) q.system = f.system.trim()
  if (f.from) q.from = `${f.from}T00:00:00Z`
  if (f.to) q.to = `${f.to}T00:00:00Z`
  return q
}

/**
 * The audit log, searchable like Okta's System Log: by employee (HR id, e-mail or Tenure id),
 * actor, action (or a prefix such as `exception.*`), system and period, newest first, paged on the
 * server; every match exported as CSV or NDJSON.
 */
function LogPanel() {
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS)
  const [applied, setApplied] = useState<LogFilters | null>(null)
  const [rows, setRows] = useState<AuditRow[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [matched, setMatched] = useState<string[] | null>(null)
  const [names, setNames] = useState<{ actors: Record<string, string | null>; employees: Record<string, string | null> }>({ actors: {}, employees: {} })
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  const load = async (f: LogFilters, cursor: string | null) => {
    setBusy(true)
    setError(null)
    try {
      const page = await getJson<LogPage>(`/api/v1/audit/events${qs({ ...logQuery(f), order: 'desc', limit: LOG_PAGE_SIZE, cursor })}`)
      setRows((before) => (cursor ? [...before, ...page.events] : page.events))
      setNext(page.nextCursor)
      setNames((before) => ({ actors: { ...before.actors, ...page.actorNames }, employees: { ...before.employees, ...page.employeeNames } }))
      setMatched(page.employees)
      setApplied(f)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const exportAs = async (format: 'csv' | 'ndjson') => {
    if (!applied) return
    setError(null)
    try {
      const res = await request(`/api/v1/audit/events${qs({ ...logQuery(applied), format })}`, { headers: { Accept: '*/*' } })
      const url = URL.createObjectURL(await res.blob())
      const a = document.createElement('a')
      a.href = url
      a.download = `audit-events.${format}`
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 10_000)
    } catch (err) {
      setError(err)
    }
  }

  const field = (name: keyof LogFilters, label: string, placeholder: string, type = 'text') => (
    <div className="field">
      <label htmlFor={`log-${name}`}>{label}</label>
      <input id={`log-${name}`} type={type} placeholder={placeholder} value={filters[name]} onChange={(e) => setFilters({ ...filters, [name]: e.target.value })} />
    </div>
  )

  return (
    <Section title="Audit log" id="log">
      <p className="muted">Every recorded fact, newest first. Leave a filter empty to match everything.</p>
      <form
        className="row wrap"
        onSubmit={(e: FormEvent) => {
          e.preventDefault()
          void load(filters, null)
        }}
      >
        {field('employee', 'Employee', 'HR id, e-mail or Tenure id')}
        {field('actor', 'Actor', 'token id, SSO subject, tenure')}
        {field('action', 'Action', 'exception.* or job.enqueued')}
        {field('system', 'System', 'google, manual:badge')}
        {field('from', 'From (UTC date)', '', 'date')}
        {field('to', 'To (exclusive, UTC date)', '', 'date')}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Searching…' : 'Search the log'}
        </button>
      </form>
      <ErrorBox error={error} />
      {applied && (
        <div aria-live="polite" data-testid="log-results">
          {matched !== null && matched.length === 0 ? (
            <p className="notice" data-testid="log-unknown-employee">
              No employee matches “{applied.employee.trim()}” (by HR id, e-mail or Tenure id): nothing to show, which is not the same as no events.
            </p>
          ) : (
            <>
              <p className="row wrap">
                <span data-testid="log-count">
                  {rows.length} entr{rows.length === 1 ? 'y' : 'ies'} shown{next ? ', more match' : ', all that match'}
                </span>
                <button type="button" onClick={() => void exportAs('csv')}>
                  Export CSV
                </button>
                <button type="button" onClick={() => void exportAs('ndjson')}>
                  Export NDJSON
                </button>
              </p>
              {rows.length > 0 && (
                <TableWrap label="Audit log entries">
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>When</th>
                      <th>Actor</th>
                      <th>Action</th>
                      <th>Employee</th>
                      <th>System</th>
                      <th>Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={r.seq}>
                        <td>{r.seq}</td>
                        <td>
                          <Time iso={r.occurred_at} />
                        </td>
                        <td>
                          <Person id={`${r.actor.type}:${r.actor.id}`} name={names.actors[`${r.actor.type}:${r.actor.id}`]} />{' '}
                          <span className="muted small">{r.actor.type.replaceAll('_', ' ')}</span>
                        </td>
                        <td>
                          {eventLabel(r.action, r.subject.system, r.details)}
                          {/* The recorded name too: it is what the Action filter and the exports use. */}
                          <div>
                            <code className="muted small">{r.action}</code>
                          </div>
                        </td>
                        <td>
                          {r.subject.employee_id ? (
                            <Link to={`/employees/${r.subject.employee_id}`} title={r.subject.employee_id}>
                              {names.employees[r.subject.employee_id] ?? `${r.subject.employee_id.slice(0, 8)}…`}
                            </Link>
                          ) : (
                            <span className="muted">—</span>
                          )}
                        </td>
                        <td title={r.subject.system ?? undefined}>{r.subject.system ? systemLabel(r.subject.system) : <span className="muted">—</span>}</td>
                        <td>
                          <Json value={r.details} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </TableWrap>
              )}
              {next && (
                <button type="button" onClick={() => void load(applied, next)} disabled={busy}>
                  {busy ? 'Loading…' : `Next ${LOG_PAGE_SIZE}`}
                </button>
              )}
            </>
          )}
        </div>
      )}
    </Section>
  )
}
