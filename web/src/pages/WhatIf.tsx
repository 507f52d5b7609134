/**
 * "What if…" on the employee page: a proposed move, termination or rehire, and what every system
 * would do (POST /api/v1/employees/:id/plan/what-if): grants and removals, the cut-off and clean-up
 * steps in the order each provisioner runs them, the exceptions that apply, the resulting deadline.
 * The server runs the lifecycle in memory: nothing is queued, no system is called.
 */
import { useState, type FormEvent } from 'react'
import type { z } from 'zod'
import type { whatIfPlanSchema } from '../../../src/api/what-if.ts'
import { postJson } from '../api.ts'
import { Badge, ErrorBox, Section, Time } from '../ui.tsx'

type Plan = z.output<typeof whatIfPlanSchema>
type PlanSystem = Plan['systems'][number]
type Change = 'move' | 'termination' | 'rehire'

/** The profile attributes a move or rehire may change here (the API takes every canonical one). */
const MOVE_FIELDS = [
  ['department', 'Department'],
  ['title', 'Title'],
  ['location', 'Location'],
  ['employmentType', 'Employment type'],
  ['managerEmail', 'Manager email'],
] as const

const ACCOUNT_TEXT: Record<PlanSystem['account'], string> = {
  create: 'account created',
  restore: 'account restored',
  keep: 'account kept',
  remove: 'account removed',
  none: 'no account',
}
const ACCOUNT_TONE: Record<PlanSystem['account'], string> = { create: 'active', restore: 'active', keep: 'done', remove: 'open', none: 'neutral' }

const STATE_TEXT = (s: string) => s.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
const stepText = (s: string) => s.replaceAll('_', ' ')

function lists(sign: '+' | '−' | '=', values: Record<string, string[]>) {
  return Object.entries(values)
    .filter(([, v]) => v.length > 0)
    .map(([list, items]) => (
      <li key={`${sign}${list}`} title={sign === '+' ? 'granted' : sign === '−' ? 'removed' : 'kept on the disabled account'}>
        {sign} {list}: {items.join(', ')}
        {sign === '=' ? <span className="muted small"> (kept on the disabled account)</span> : null}
      </li>
    ))
}

function optionText(key: string, value: unknown): string {
  if (key === 'transferTo' && typeof value === 'object' && value !== null) return `data to ${String((value as { email?: string }).email ?? '?')}`
  if (key === 'leaversOrgUnit') return `org unit ${String(value)}`
  if (value === true) return { legalHold: 'legal hold', retainAccount: 'account retained', keepMailbox: 'mailbox kept' }[key] ?? key
  return `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`
}

function Steps({ title, plan }: { title: string; plan: PlanSystem['cutoff'] }) {
  if (!plan) return null
  const options = Object.entries(plan.options)
  return (
    <div className="whatif-phase">
      <h4>
        {title} <span className="muted small">at <Time iso={plan.startAfter ?? plan.at} /></span>
        {plan.startAfter ? <span className="muted small"> (delayed by an exception)</span> : null}
      </h4>
      <ol aria-label={`${title} steps`}>
        {plan.steps.map((s) => (
          <li key={s.step} title={s.unsupported}>
            {stepText(s.step)}
            {s.unsupported ? <span className="muted small"> (not supported here)</span> : null}
          </li>
        ))}
      </ol>
      {options.length > 0 ? <p className="small">{options.map(([k, v]) => optionText(k, v)).join(' · ')}</p> : null}
    </div>
  )
}

function SystemCard({ s, exceptionKinds }: { s: PlanSystem; exceptionKinds: Map<string, string> }) {
  const adds = lists('+', s.add)
  const removes = [...lists('−', s.remove), ...lists('=', s.kept)]
  return (
    <li className="card" data-testid={`whatif-system-${s.system}`} aria-labelledby={`wi-${s.system}`}>
      <h3 id={`wi-${s.system}`}>
        {s.system} {s.kind && s.kind !== s.system ? <span className="chip">{s.kind}</span> : null} <Badge value={ACCOUNT_TONE[s.account]} label={ACCOUNT_TEXT[s.account]} />
      </h3>
      {adds.length + removes.length > 0 ? (
        <ul className="plain" aria-label={`${s.system} grants and removals`}>
          {adds}
          {removes}
        </ul>
      ) : (
        <p className="muted small">No change to what is granted.</p>
      )}
      {s.jobs.length > 0 ? (
        <p className="small">
          Jobs: {s.jobs.map((j) => `${j.action}${j.phase ? ` (${j.phase})` : ''}`).join(' → ')}
        </p>
      ) : null}
      <Steps title="Cut-off" plan={s.cutoff} />
      <Steps title="Clean-up" plan={s.cleanup} />
      {s.exceptions.length > 0 ? (
        <p className="small">
          Exceptions:{' '}
          {s.exceptions.map((id) => (
            <span key={id} className="chip" title={id}>
              {(exceptionKinds.get(id) ?? id).replaceAll('_', ' ')}
            </span>
          ))}
        </p>
      ) : null}
      {s.deadlineAt ? (
        <p className="small">
          Deadline: <Time iso={s.deadlineAt} />
        </p>
      ) : null}
      {s.rules.length > 0 ? <p className="muted small">Rules: {s.rules.join(', ')}</p> : null}
    </li>
  )
}

export function WhatIf({ employeeId, profile }: { employeeId: string; profile: Record<string, unknown> }) {
  const [open, setOpen] = useState(false)
  const [change, setChange] = useState<Change>('move')
  const [fields, setFields] = useState<Record<string, string>>({})
  const [effective, setEffective] = useState('')
  const [immediate, setImmediate] = useState(false)
  const [startDate, setStartDate] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [plan, setPlan] = useState<Plan | null>(null)

  const body = (): Record<string, unknown> => {
    const changed = Object.fromEntries(Object.entries(fields).filter(([, v]) => v.trim() !== '').map(([k, v]) => [k, v.trim()]))
    if (change === 'move') return { change, profile: changed }
    if (change === 'termination') return { change, ...(immediate ? { immediate: true } : {}), ...(effective ? { effectiveAt: new Date(effective).toISOString() } : {}) }
    return { change, ...(startDate ? { startDate } : {}), ...(Object.keys(changed).length > 0 ? { profile: changed } : {}) }
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      setPlan(await postJson<Plan>(`/api/v1/employees/${employeeId}/plan/what-if`, body()))
    } catch (err) {
      setPlan(null)
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const exceptionKinds = new Map(plan?.exceptions.map((x) => [x.id, x.kind]) ?? [])

  return (
    <Section
      title="What if…"
      id="what-if"
      actions={
        <button type="button" aria-expanded={open} aria-controls="what-if-body" onClick={() => setOpen(!open)}>
          {open ? 'Close' : 'Plan a change…'}
        </button>
      }
    >
      <p className="muted small">A proposed move, termination or rehire, and what every system would do. Nothing is changed and no system is called.</p>
      {open && (
        <div id="what-if-body">
          <form className="stack" onSubmit={(e) => void submit(e)} aria-label="Proposed change">
            <fieldset className="row wrap">
              <legend>Change</legend>
              {(['move', 'termination', 'rehire'] as const).map((c) => (
                <label key={c} className="row">
                  <input type="radio" name="what-if-change" value={c} checked={change === c} onChange={() => { setChange(c); setPlan(null) }} />
                  {c === 'move' ? 'Move' : c === 'termination' ? 'Termination' : 'Rehire'}
                </label>
              ))}
            </fieldset>
            {change === 'termination' ? (
              <div className="row wrap">
                <div className="field">
                  <label htmlFor="wi-effective">Effective (your time; empty: now)</label>
                  <input id="wi-effective" type="datetime-local" value={effective} onChange={(e) => setEffective(e.target.value)} disabled={immediate} />
                </div>
                <label className="row">
                  <input type="checkbox" checked={immediate} onChange={(e) => setImmediate(e.target.checked)} /> Immediately, for cause
                </label>
              </div>
            ) : (
              <div className="row wrap">
                {change === 'rehire' ? (
                  <div className="field">
                    <label htmlFor="wi-start">Start date (empty: today)</label>
                    <input id="wi-start" type="date" value={startDate} onChange={(e) => setStartDate(e.target.value)} />
                  </div>
                ) : null}
                {MOVE_FIELDS.map(([key, label]) => (
                  <div className="field" key={key}>
                    <label htmlFor={`wi-${key}`}>{label}</label>
                    <input
                      id={`wi-${key}`}
                      value={fields[key] ?? ''}
                      placeholder={typeof profile[key] === 'string' ? (profile[key] as string) : ''}
                      onChange={(e) => setFields({ ...fields, [key]: e.target.value })}
                    />
                  </div>
                ))}
              </div>
            )}
            <div>
              <button type="submit" className="primary" disabled={busy}>
                {busy ? 'Working it out…' : 'Show what would happen'}
              </button>
            </div>
          </form>
          <ErrorBox error={error} />
          {plan && (
            <div aria-live="polite" data-testid="what-if-result">
              <p className="ok-text">Nothing was changed: no job was queued and no system was called.</p>
              <dl className="facts">
                <dt>Lifecycle</dt>
                <dd>
                  {STATE_TEXT(plan.state.now)} → {STATE_TEXT(plan.state.after)}
                  {plan.state.settled !== plan.state.after ? ` → ${STATE_TEXT(plan.state.settled)}` : ''}
                </dd>
                {plan.effectiveAt ? (
                  <>
                    <dt>{plan.change === 'rehire' ? 'Day one' : 'Effective'}</dt>
                    <dd>
                      <Time iso={plan.effectiveAt} />
                    </dd>
                  </>
                ) : null}
                <dt>Deadline</dt>
                <dd data-testid="what-if-deadline">
                  {plan.deadline ? (
                    <>
                      <Time iso={plan.deadline.at} /> <span className="muted small">({plan.deadline.kind === 'leaver_sla' ? 'revocation SLA, earliest system' : 'access ready on day one'})</span>
                    </>
                  ) : (
                    'none (a move has no deadline)'
                  )}
                </dd>
              </dl>
              <ul className="cards" aria-label="What each system would do" style={{ gridTemplateColumns: 'repeat(auto-fill, minmax(min(24rem, 100%), 1fr))' }}>
                {plan.systems.map((s) => (
                  <SystemCard key={s.system} s={s} exceptionKinds={exceptionKinds} />
                ))}
              </ul>
              {plan.exceptions.length > 0 ? (
                <>
                  <h3>Exceptions</h3>
                  <ul className="plain" aria-label="Exceptions">
                    {plan.exceptions.map((x) => (
                      <li key={x.id} data-testid={`what-if-exception-${x.id}`}>
                        <Badge value={x.applies ? 'active' : 'neutral'} label={x.applies ? 'applies' : 'does not apply'} /> {x.kind.replaceAll('_', ' ')} on {x.system ?? 'every system'}: {x.effect}
                      </li>
                    ))}
                  </ul>
                </>
              ) : null}
              {plan.notes.map((n) => (
                <p key={n} className="muted small">
                  {n}
                </p>
              ))}
            </div>
          )}
        </div>
      )}
    </Section>
  )
}
