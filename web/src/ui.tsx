/** Building blocks shared by the screens: times, countdowns, data loading, badges, errors. */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react'
import { ApiError, getJson, isUnreachable, qs, serverStatus, subscribeServerStatus } from './api.ts'

// One clock for every countdown on the page, ticking once a second.
const tickers = new Set<() => void>()
let now = Date.now()
setInterval(() => {
  now = Date.now()
  for (const t of tickers) t()
}, 1000)

export function useNow(): number {
  return useSyncExternalStore(
    (l) => {
      tickers.add(l)
      return () => tickers.delete(l)
    },
    () => now,
  )
}

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
const localDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

export function utcText(iso: string): string {
  return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`
}

/** A moment in the viewer's time zone, with UTC on hover (and for screen readers, in the title). */
export function Time({ iso, dateOnly = false }: { iso: string | null | undefined; dateOnly?: boolean }) {
  if (!iso) return <span className="muted">—</span>
  if (dateOnly && /^\d{4}-\d{2}-\d{2}$/.test(iso)) {
    const [y, m, d] = iso.split('-').map(Number) as [number, number, number]
    return <time dateTime={iso}>{localDate.format(new Date(y, m - 1, d))}</time>
  }
  const d = new Date(iso)
  return (
    <time dateTime={iso} title={utcText(d.toISOString())}>
      {local.format(d)}
    </time>
  )
}

export function formatDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d > 0) return `${d}d ${h}h ${m}m`
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m ${String(sec).padStart(2, '0')}s`
  return `${m}m ${String(sec).padStart(2, '0')}s`
}

/** Live time left to a deadline; past it, how long ago it passed. */
export function Countdown({ deadline }: { deadline: string | null }) {
  const tick = useNow()
  // While the server cannot be reached the figures are stale: the countdown stops where it was.
  const server = useSyncExternalStore(subscribeServerStatus, serverStatus)
  const paused = server.down && server.since !== null
  const t = paused ? server.since! : tick
  if (!deadline) return <span className="muted">no deadline</span>
  const left = Date.parse(deadline) - t
  return (
    <span
      className={`${left < 0 ? 'countdown overdue' : 'countdown'}${paused ? ' paused' : ''}`}
      data-testid="countdown"
      title={`Deadline ${utcText(new Date(deadline).toISOString())}${paused ? '; paused: the server cannot be reached' : ''}`}
    >
      {left < 0 ? `${formatDuration(left)} overdue` : `${formatDuration(left)} left`}
      {paused ? ' (paused)' : ''}
    </span>
  )
}

export interface Loaded<T> {
  data: T | undefined
  error: Error | undefined
  loading: boolean
  reload: () => void
}

/** Load, and reload every `refreshMs` while the page is open (the dashboard's live view). */
export function useData<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<Error>()
  const [loading, setLoading] = useState(true)
  const [nonce, setNonce] = useState(0)
  const loadRef = useRef(load)
  loadRef.current = load
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = () => {
      loadRef.current().then(
        (d) => {
          if (!live) return
          setData(d)
          setError(undefined)
          setLoading(false)
          if (refreshMs) timer = setTimeout(run, refreshMs)
        },
        (e: unknown) => {
          if (!live) return
          setError(e instanceof Error ? e : new Error(String(e)))
          setLoading(false)
          if (refreshMs) timer = setTimeout(run, refreshMs * 2)
        },
      )
    }
    run()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [...deps, nonce, refreshMs])
  const reload = useCallback(() => setNonce((n) => n + 1), [])
  return { data, error, loading, reload }
}

export function ErrorBox({ error }: { error: unknown }) {
  // The server being unreachable is said once, by the banner (pages/ServerDown.tsx).
  if (!error || isUnreachable(error)) return null
  const e = error as Error
  const code = error instanceof ApiError ? ` (${error.status} ${error.code})` : ''
  return (
    <p role="alert" className="error">
      {e.message}
      {code}
    </p>
  )
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  )
}

const TONES: Record<string, string> = {
  breached: 'bad',
  at_risk: 'warn',
  on_track: 'ok',
  closed: 'done',
  cancelled: 'done',
  scheduled: 'info',
  verified: 'ok',
  revoked: 'ok',
  active: 'ok',
  failed: 'bad',
  dead_letter: 'bad',
  requested: 'warn',
  awaiting_second_approval: 'warn',
  approved: 'ok',
  rejected: 'bad',
  open: 'warn',
  completed: 'ok',
  done: 'done',
  absent: 'done',
  deprovisioning: 'warn',
  offboarded: 'done',
  verify_failed: 'bad',
  waiting_exception: 'warn',
}

export function Badge({ value, label }: { value: string; label?: string }) {
  return <span className={`badge ${TONES[value] ?? 'neutral'}`}>{label ?? value.replaceAll('_', ' ')}</span>
}

export function Section({ title, id, children, actions }: { title: string; id: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section aria-labelledby={id} className="card">
      <div className="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  )
}

/** Tables scroll sideways on a phone instead of squeezing every column. */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>{children}</table>
    </div>
  )
}

export function Json({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>
  return <code className="json">{JSON.stringify(value)}</code>
}

/** Each screen names itself in the browser tab and history (the part before " · Tenure"). */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Tenure`
  }, [title])
}

/** A person by name, with the id on hover; the id itself when no name is known. */
export function Person({ id, name, oneLine = false }: { id: string; name?: string | null; oneLine?: boolean }) {
  // On one line a long name is cut, so the hover says it whole before the id.
  return (
    <span className={oneLine ? 'person one-line' : 'person'} title={oneLine && name ? `${name}\n${id}` : id}>
      {name ?? id}
    </span>
  )
}

/**
 * An actor that arrives without a name (a signed report manifest's `generatedBy`, `type:id`):
 * looked up by GET /api/v1/audit/actors, shown as <Person>; the id until the name is known.
 */
export function ActorName({ label }: { label: string }) {
  const names = useData(() => getJson<{ names: Record<string, string | null> }>(`/api/v1/audit/actors${qs({ actor: label })}`), [label])
  return <Person id={label} name={names.data?.names[label]} />
}
