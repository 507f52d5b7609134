/**
 * The auditor's reports (on the Audit page): the access-revocation report for a period or for one
 * employee, in every format the CLI writes (CSV, JSON, NDJSON, HTML), checked in the browser
 * against its signed manifest, with the steps to verify it offline; and the report history, where
 * an earlier report's manifest is saved again and a saved copy of the file is verified against it.
 */
import { useEffect, useRef, useState, type ChangeEvent, type FormEvent } from 'react'
import canonicalize from 'canonicalize'
import { ApiError, getJson, qs, request } from '../api.ts'
import { useViewer } from '../App.tsx'
import type { ReportManifest } from '../types.ts'
import type { ReportHistoryItem } from '../../../src/reports/history.ts'
import { Badge, ErrorBox, Person, Section, TableWrap, Time, useData } from '../ui.tsx'
import { PagerBar, usePager } from './paging.tsx'

type Format = 'csv' | 'json' | 'ndjson' | 'html'
type Scope = 'period' | 'employee'

const FORMATS: Array<{ value: Format; label: string }> = [
  { value: 'csv', label: 'CSV (spreadsheet)' },
  { value: 'json', label: 'JSON (rows, HR population, totals)' },
  { value: 'ndjson', label: 'NDJSON (one row a line)' },
  { value: 'html', label: 'HTML summary (for people)' },
]

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

/** What the form asks for; the history's "Run again" fills it in. */
export interface ReportRequest {
  scope: Scope
  employee: string
  allTime: boolean
  from: string
  to: string
  format: Format
}

async function publishedKey(): Promise<SigningKey | null> {
  return getJson<SigningKey>('/api/v1/reports/signing-key').catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 404) return null
    throw err
  })
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

function Checks({ checks }: { checks: Check[] }) {
  return (
    <ul className="plain">
      {checks.map((c) => (
        <li key={c.name}>
          <Badge value={c.ok ? 'verified' : 'failed'} label={c.ok ? 'ok' : 'failed'} /> <strong>{c.name}</strong>: {c.message}
        </li>
      ))}
    </ul>
  )
}

/** A period as people read it: `2025-01-01 – 2025-03-31` (the end is exclusive, so the day before). */
function periodText(from: string | null, to: string | null): string {
  if (from === null || to === null) return 'all time'
  const last = new Date(Date.parse(to) - 1)
  const day = (iso: string) => iso.slice(0, 10)
  const exact = (iso: string) => iso.endsWith('T00:00:00.000Z')
  return exact(from) && exact(to) ? `${day(from)} – ${isoDate(last)}` : `${from} – ${to} (exclusive)`
}

function defaultRequest(): ReportRequest {
  const now = Date.now()
  return { scope: 'period', employee: '', allTime: true, from: isoDate(new Date(now - 30 * 86_400_000)), to: isoDate(new Date(now + 86_400_000)), format: 'csv' }
}

/** The report form and the history below it, sharing "a report was just made" and "run this again". */
export function Reports() {
  const [exported, setExported] = useState(0)
  const [preset, setPreset] = useState<{ request: ReportRequest; n: number } | null>(null)
  return (
    <>
      <ReportPanel onExported={() => setExported((n) => n + 1)} preset={preset} />
      <ReportHistory reloadKey={exported} onRunAgain={(request) => setPreset((p) => ({ request, n: (p?.n ?? 0) + 1 }))} />
    </>
  )
}

function ReportPanel({ onExported, preset }: { onExported: () => void; preset: { request: ReportRequest; n: number } | null }) {
  const { me } = useViewer()
  const [form, setForm] = useState<ReportRequest>(defaultRequest)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [result, setResult] = useState<Downloaded | null>(null)
  const formRef = useRef<HTMLFormElement>(null)
  useEffect(() => {
    if (!preset) return
    setForm(preset.request)
    formRef.current?.scrollIntoView({ block: 'start' })
    formRef.current?.querySelector<HTMLElement>('select, input')?.focus()
  }, [preset])
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
  const set = <K extends keyof ReportRequest>(key: K, value: ReportRequest[K]) => setForm((f) => ({ ...f, [key]: value }))
  const withPeriod = form.scope === 'period' || !form.allTime

  const run = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setResult(null)
    try {
      const query = {
        employee: form.scope === 'employee' ? form.employee.trim() : undefined,
        from: withPeriod ? form.from : undefined,
        to: withPeriod ? form.to : undefined,
        format: form.format,
      }
      const res = await request(`/api/v1/reports/access-revocations${qs(query)}`, { headers: { Accept: '*/*' } })
      const bytes = await res.arrayBuffer()
      const id = res.headers.get('X-Report-Id')
      if (!id) throw new Error('the server sent no report id (X-Report-Id)')
      const fileName = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? `access-revocations.${form.format}`
      const manifestRes = await request(`/api/v1/reports/exports/${id}/manifest`)
      const manifestText = await manifestRes.text()
      const manifest = JSON.parse(manifestText) as ReportManifest
      const published = await publishedKey()
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
      onExported()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const ok = result?.checks.every((c) => c.ok)
  const t = result?.manifest.totals
  const q = result?.manifest.query
  return (
    <Section title="Access-revocation report" id="report">
      <p className="muted">
        Every leaver and every system, with evidence: for terminations effective in a period, or for one employee. The signed manifest proves the file was not changed.
      </p>
      <form className="row wrap" onSubmit={run} ref={formRef}>
        <div className="field">
          <label htmlFor="report-scope">Report for</label>
          <select id="report-scope" value={form.scope} onChange={(e) => set('scope', e.target.value as Scope)}>
            <option value="period">A period (every leaver)</option>
            <option value="employee">One employee</option>
          </select>
        </div>
        {form.scope === 'employee' && (
          <>
            <div className="field">
              <label htmlFor="report-employee">Leaver (HR id, e-mail or Tenure id)</label>
              <input id="report-employee" required value={form.employee} placeholder="E-1042 or ada@example.com" onChange={(e) => set('employee', e.target.value)} />
            </div>
            <div className="field">
              <label>
                <input type="checkbox" checked={form.allTime} onChange={(e) => set('allTime', e.target.checked)} /> All time
              </label>
            </div>
          </>
        )}
        {withPeriod && (
          <>
            <div className="field">
              <label htmlFor="from">From (inclusive, UTC date)</label>
              <input id="from" type="date" required value={form.from} onChange={(e) => set('from', e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="to">To (exclusive, UTC date)</label>
              <input id="to" type="date" required value={form.to} onChange={(e) => set('to', e.target.value)} />
            </div>
          </>
        )}
        <div className="field">
          <label htmlFor="format">Format</label>
          <select id="format" value={form.format} onChange={(e) => set('format', e.target.value as Format)}>
            {FORMATS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Exporting…' : 'Export and verify'}
        </button>
      </form>
      <ErrorBox error={error} />
      {result && q && (
        <div className="result" aria-live="polite">
          <p className={ok ? 'ok-text' : 'error'} data-testid="report-verdict">
            {ok ? 'Manifest verified: the file is the one the server signed.' : 'Verification failed: see the checks below.'}
          </p>
          <Checks checks={result.checks} />
          <p className="row wrap">
            <a className="button" href={result.fileUrl} download={result.fileName}>
              Save report ({result.fileName})
            </a>
            <a className="button" href={result.manifestUrl} download={`${result.fileName}.manifest.json`}>
              Save manifest
            </a>
            {q.format === 'html' && (
              <a className="button" href={result.fileUrl} target="_blank" rel="noopener">
                Open the summary
              </a>
            )}
          </p>
          {t && (
            <dl className="facts totals" data-testid="report-totals">
              <dt>Scope</dt>
              <dd data-testid="report-scope-text">
                {q.employee ? (
                  <>
                    Employee <Person id={q.employee.employeeIds.join(', ') || q.employee.named} name={q.employee.named} />, {periodText(q.from, q.to)}
                  </>
                ) : (
                  periodText(q.from, q.to)
                )}
              </dd>
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
                {/* Made just now by whoever is signed in: their name, the manifest's actor id on hover. */}
                <Time iso={result.manifest.generatedAt} /> by <Person id={result.manifest.generatedBy} name={me.name} />
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

interface HistoryPage {
  items: ReportHistoryItem[]
  nextCursor: string | null
  total: number
}

const HISTORY_PAGE = 10

const SIGNATURE_LABEL: Record<ReportHistoryItem['signature']['status'], string> = { valid: 'signed', invalid: 'signature broken', unsigned: 'unsigned' }

function saveText(text: string, fileName: string): void {
  saveBlob(new Blob([text], { type: 'application/json' }), fileName)
}

function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = fileName
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** The file name the export was served under (also the manifest's file.name). */
function fileNameOf(item: ReportHistoryItem, manifest: ReportManifest | null): string {
  return manifest?.file.name ?? `access-revocations.${item.format}`
}

/**
 * Every report generated (console, API, command line), newest first, paged on the server. While
 * the server keeps its file (reports.keepDays) a past report is downloaded again, the same bytes
 * (the server checks them against the signed manifest first); its manifest always is, and a copy
 * saved back then is checked against it here, in the browser.
 */
function ReportHistory({ reloadKey, onRunAgain }: { reloadKey: number; onRunAgain: (r: ReportRequest) => void }) {
  const pager = usePager()
  // A report just made is at the top of the first page: go there (once per new report).
  // (React's "adjust state when a prop changes" pattern: set during render, no effect.)
  const [seenReload, setSeenReload] = useState(reloadKey)
  if (seenReload !== reloadKey) {
    setSeenReload(reloadKey)
    if (pager.index > 0) pager.first()
  }
  const history = useData(() => getJson<HistoryPage>(`/api/v1/reports${qs({ limit: HISTORY_PAGE, cursor: pager.cursor })}`), [pager.cursor, reloadKey])
  const [error, setError] = useState<unknown>(null)
  const [verified, setVerified] = useState<{ id: string; fileName: string; checks: Check[] } | null>(null)

  const manifestOf = async (item: ReportHistoryItem): Promise<{ text: string; manifest: ReportManifest }> => {
    const text = await (await request(item.manifestUrl)).text()
    return { text, manifest: JSON.parse(text) as ReportManifest }
  }
  const saveManifest = async (item: ReportHistoryItem) => {
    setError(null)
    try {
      const { text, manifest } = await manifestOf(item)
      saveText(text, `${fileNameOf(item, manifest)}.manifest.json`)
    } catch (err) {
      setError(err)
    }
  }
  const downloadAgain = async (item: ReportHistoryItem) => {
    if (!item.file.url) return
    setError(null)
    try {
      const res = await request(item.file.url, { headers: { Accept: '*/*' } })
      const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? fileNameOf(item, null)
      saveBlob(await res.blob(), name)
    } catch (err) {
      setError(err)
    }
  }
  const verifyCopy = async (item: ReportHistoryItem, e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0]
    e.target.value = ''
    if (!file) return
    setError(null)
    setVerified(null)
    try {
      const { manifest } = await manifestOf(item)
      const checks = await verifyInBrowser(await file.arrayBuffer(), manifest, await publishedKey())
      setVerified({ id: item.id, fileName: file.name, checks })
    } catch (err) {
      setError(err)
    }
  }
  const runAgain = (item: ReportHistoryItem) =>
    onRunAgain({
      scope: item.scope,
      employee: item.employee?.named ?? '',
      allTime: item.from === null,
      from: item.from?.slice(0, 10) ?? defaultRequest().from,
      to: item.to?.slice(0, 10) ?? defaultRequest().to,
      format: item.format,
    })

  const page = history.data
  return (
    <Section title="Report history" id="report-history">
      <p className="muted">
        Every report generated here, through the API or with <code>tenure reports</code>, newest first. Download a report again (the same bytes, while the server keeps
        it), save its signed manifest, or check a copy you saved back then against it.
      </p>
      <ErrorBox error={history.error ?? error} />
      {page && page.items.length === 0 && pager.index === 0 && <p className="muted">No report has been generated yet.</p>}
      {page && page.items.length > 0 && (
        <TableWrap label="Report history">
          <thead>
            <tr>
              <th>Generated</th>
              <th>By</th>
              <th>Scope</th>
              <th>Format</th>
              <th className="n">Rows</th>
              <th>Manifest</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((r) => (
              <tr key={r.id} data-report-id={r.id}>
                <td>
                  <Time iso={r.generatedAt} />
                </td>
                <td>
                  <Person id={r.generatedBy.id} name={r.generatedBy.name} oneLine />
                </td>
                <td>
                  {r.employee ? (
                    <>
                      <Person id={r.employee.employeeIds.join(', ') || r.employee.named} name={r.employee.name ? `${r.employee.name}` : r.employee.named} />
                      <span className="muted small"> · {periodText(r.from, r.to)}</span>
                    </>
                  ) : (
                    periodText(r.from, r.to)
                  )}
                </td>
                <td>{r.format.toUpperCase()}</td>
                <td className="n">{r.rowCount}</td>
                <td>
                  <Badge value={r.signature.status === 'valid' ? 'verified' : 'failed'} label={SIGNATURE_LABEL[r.signature.status]} />{' '}
                  <code title={`SHA-256 of the file: ${r.sha256}${r.signature.keyId ? `\nSigned by ${r.signature.keyId}` : ''}`}>{r.sha256.slice(0, 12)}…</code>
                  {r.signature.status === 'valid' && !r.signature.currentKey && <span className="muted small"> (an earlier key)</span>}
                </td>
                <td>
                  <div className="row wrap">
                    {r.file.url ? (
                      <button type="button" onClick={() => void downloadAgain(r)} title={`The same file, byte for byte; kept until ${r.file.keptUntil ?? '?'}`}>
                        Download again
                      </button>
                    ) : (
                      <span className="muted small" title={r.file.status === 'pruned' ? `Kept until ${r.file.keptUntil ?? '?'} (reports.keepDays)` : 'Made before report files were kept'}>
                        {r.file.status === 'pruned' ? 'File removed (retention)' : 'File not kept'}
                      </span>
                    )}
                    <button type="button" onClick={() => void saveManifest(r)}>
                      Save manifest
                    </button>
                    <label className="button">
                      Verify a saved copy
                      <input
                        type="file"
                        className="visually-hidden"
                        aria-label={`Verify a saved copy of the report generated ${r.generatedAt}`}
                        onChange={(e) => void verifyCopy(r, e)}
                      />
                    </label>
                    <button type="button" onClick={() => runAgain(r)}>
                      Run again
                    </button>
                  </div>
                  {verified?.id === r.id && (
                    <div aria-live="polite" data-testid="history-verdict">
                      <p className={verified.checks.every((c) => c.ok) ? 'ok-text' : 'error'}>
                        {verified.checks.every((c) => c.ok) ? `${verified.fileName} is this report, unchanged.` : `${verified.fileName} is not this report as signed.`}
                      </p>
                      <Checks checks={verified.checks} />
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
      {page && <PagerBar label="reports" pager={pager} limit={HISTORY_PAGE} shown={page.items.length} total={page.total} nextCursor={page.nextCursor} />}
    </Section>
  )
}
