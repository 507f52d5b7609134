/**
 * Randomized whole-pipeline scenarios (fast-check model-based testing): HR changes for a handful of
 * people from two HR sources whose ids overlap, sent as signed webhooks in random orders, duplicated
 * and held back, with vendor clocks that run ahead or behind, faults in the targets and kill -9 of
 * Tenure; then, once the pipeline has settled, the access invariant (check.ts) from the targets'
 * side. The model is HR's current word about each person, nothing more: what Tenure should make of
 * it is the invariant's business.
 *
 * Replay: a failing run prints its scenario; `npm run check:invariants -- --runs 5 --scenario '<as printed>'`.
 */
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { DateTime } from 'luxon'
import { adapterFor } from '../../src/hr/index.ts'
import type { CanonicalEventType } from '../../state-machines/events.ts'
import { checkInvariant, type PersonView, type Violation } from './check.ts'
import type { Delivery, Pipeline } from './harness.ts'
import { DEPARTMENTS, FAULTABLE, type Department } from './targets.ts'

type Source = 'generic' | 'bamboohr'
type Status = 'none' | 'employed' | 'terminated' | 'cancelled'

interface Person {
  source: Source
  hrId: string
  firstName: string
  lastName: string
  status: Status
  /** Hired in this generation (a termination for someone never hired here adopts nothing to keep). */
  hired: boolean
  department: Department
  startFuture: boolean
  onLeave: boolean
  /** The HR effective moment of the current termination (ms). */
  terminationAt?: number
  history: string[]
}

export interface Model {
  people: Person[]
  /** Each HR source's clock, off by this many ms (constant within a scenario). */
  skew: Record<Source, number>
  lastStamp: Partial<Record<Source, number>>
  sent: Delivery[]
  held: Delivery[]
}

export interface Real {
  pipeline: Pipeline
  log: (line: string) => void
}

const DAY = 86_400_000
const isoDate = (ms: number, zone = 'UTC') => DateTime.fromMillis(ms, { zone }).toISODate()!
const email = (p: Person) => `${p.firstName}.${p.lastName}@example.com`.toLowerCase()

function profile(p: Person) {
  return { employeeId: p.hrId, firstName: p.firstName, lastName: p.lastName, workEmail: email(p), department: p.department }
}

/**
 * The source's (skewed) clock, strictly increasing: an HR system stamps two changes of one person
 * a millisecond apart at least. Two changes with one timestamp have no order Tenure could know.
 */
function stamp(model: Model, source: Source): number {
  const at = Math.max(Date.now() + model.skew[source], (model.lastStamp[source] ?? 0) + 1)
  model.lastStamp[source] = at
  return at
}

/** A generic (Tenure's signed format) delivery, stamped with the source's skewed clock. */
function generic(model: Model, type: CanonicalEventType, data: Record<string, unknown>): Delivery {
  const body = { type, timestamp: new Date(stamp(model, 'generic')).toISOString(), data }
  return { source: 'generic', hrId: String(data.employeeId), body: Buffer.from(JSON.stringify(body)), contentType: 'application/json', webhookId: `msg_${randomUUID().replaceAll('-', '')}` }
}

/** A BambooHR notice (a thin trigger: Tenure re-fetches the record from the HR emulator). */
function bamboo(model: Model, kind: CanonicalEventType, hrId: string): Delivery {
  const sample = adapterFor('bamboohr').buildSample(kind, hrId)
  const body = JSON.parse(sample.body.toString()) as { timestamp: string }
  body.timestamp = DateTime.fromMillis(stamp(model, 'bamboohr'), { zone: 'UTC' }).toFormat("yyyy-LL-dd'T'HH:mm:ssZZZ")
  return { source: 'bamboohr', hrId, body: Buffer.from(JSON.stringify(body)), contentType: sample.contentType, webhookId: randomUUID() }
}

/**
 * How far ahead a vendor clock may run before Tenure clamps its timestamps to the receipt time
 * (hr.<source>.futureTimestampToleranceSeconds, default 300).
 */
const FUTURE_TOLERANCE_MS = 300_000

async function deliver(model: Model, real: Real, d: Delivery, hold = false): Promise<void> {
  // Not generated: reordering the deliveries of a push-only source whose clock runs ahead by more
  // than the tolerance. Their timestamps are clamped to the receipt time, so they apply in arrival
  // order; only a source Tenure re-fetches from could do better (docs/testing.md).
  if (hold && d.source === 'generic' && model.skew.generic > FUTURE_TOLERANCE_MS) hold = false
  if (hold) {
    model.held.push(d)
    return
  }
  model.sent.push(d)
  const status = await real.pipeline.send(d)
  if (status !== 202 && status !== 200) throw new Error(`${d.source} delivery answered ${status}`)
}

function note(p: Person, what: string): void {
  p.history.push(what)
}

// ------------------------------------------------------------------------------------------------
// commands

abstract class PersonCommand implements fc.AsyncCommand<Model, Real> {
  readonly slot: number
  readonly hold: boolean
  constructor(slot: number, hold: boolean) {
    this.slot = slot
    this.hold = hold
  }
  abstract check(m: Readonly<Model>): boolean
  abstract run(m: Model, r: Real): Promise<void>
  abstract label(): string
  person(m: Readonly<Model>): Person {
    return m.people[this.slot % m.people.length]!
  }
  toString(): string {
    return `${this.label()}(#${this.slot}${this.hold ? ', held' : ''})`
  }
}

class Hire extends PersonCommand {
  readonly department: Department
  readonly future: boolean
  constructor(slot: number, hold: boolean, department: Department, future: boolean) {
    super(slot, hold)
    this.department = department
    this.future = future
  }
  label() {
    return `hire ${this.department}${this.future ? ' start+30d' : ''}`
  }
  check(m: Readonly<Model>) {
    const p = this.person(m)
    // A rehire is generated once the termination took effect (not during the notice period).
    const noticePeriod = p.status === 'terminated' && (p.terminationAt ?? 0) > Date.now()
    return p.status !== 'employed' && !noticePeriod && !(this.future && p.source === 'bamboohr')
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    const rehire = p.status === 'terminated' || p.status === 'cancelled'
    p.status = 'employed'
    p.hired = true
    p.department = this.department
    p.startFuture = this.future
    p.onLeave = false
    delete p.terminationAt
    const startDate = isoDate(Date.now() + (this.future ? 30 * DAY : 0))
    note(p, `${rehire ? 'rehired' : 'hired'} ${this.department}${this.future ? ' (start in 30 days)' : ''}`)
    if (p.source === 'generic') {
      const type = rehire ? 'employee.rehired' : 'employee.hired'
      await deliver(m, r, generic(m, type, { employeeId: p.hrId, profile: profile(p), startDate, ...(rehire ? {} : { preHire: this.future }) }), this.hold)
    } else {
      const bamboohr = r.pipeline.hr.bamboohr
      bamboohr.rescind(bamboohr.upsertEmployee({ ...profile(p), id: p.hrId, startDate, status: 'active' }).id)
      await deliver(m, r, bamboo(m, rehire ? 'employee.rehired' : 'employee.hired', p.hrId), this.hold)
    }
  }
}

class Move extends PersonCommand {
  readonly department: Department
  constructor(slot: number, hold: boolean, department: Department) {
    super(slot, hold)
    this.department = department
  }
  label() {
    return `move to ${this.department}`
  }
  check(m: Readonly<Model>) {
    const p = this.person(m)
    return p.status === 'employed' && p.department !== this.department
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    p.department = this.department
    note(p, `moved to ${this.department}`)
    if (p.source === 'generic') await deliver(m, r, generic(m, 'employee.updated', { employeeId: p.hrId, changes: { department: this.department } }), this.hold)
    else {
      r.pipeline.hr.bamboohr.upsertEmployee({ id: p.hrId, department: this.department })
      await deliver(m, r, bamboo(m, 'employee.updated', p.hrId), this.hold)
    }
  }
}

type TerminationMode = 'now' | 'immediate' | 'past' | 'future' | 'date_only'
const ZONES = ['UTC', 'Pacific/Kiritimati', 'America/Los_Angeles', 'Asia/Kolkata', 'Pacific/Pago_Pago']

class Terminate extends PersonCommand {
  readonly mode: TerminationMode
  readonly zone: string
  constructor(slot: number, hold: boolean, mode: TerminationMode, zone: string) {
    super(slot, hold)
    this.mode = mode
    this.zone = zone
  }
  label() {
    return `terminate ${this.mode}${this.mode === 'date_only' ? ` ${this.zone}` : ''}`
  }
  check(m: Readonly<Model>) {
    const p = this.person(m)
    // Not generated: a termination sent while an older delivery of the same person is held back
    // (docs/testing.md: Tenure keeps the newest employment word, a late rehire behind it is dropped).
    if (m.held.some((d) => d.source === p.source && d.hrId === p.hrId)) return false
    if (p.source === 'bamboohr') return p.status === 'employed' && this.mode !== 'now' && this.mode !== 'date_only'
    return p.status === 'employed' || p.status === 'none'
  }
  /** A date-only termination whose end of day is at least an hour from now (either side). */
  private dateOnly(): { date: string; at: number } {
    for (const offset of [0, -1, -2]) {
      const day = DateTime.now().setZone(this.zone).plus({ days: offset })
      const end = day.endOf('day').plus({ milliseconds: 1 }).toMillis()
      if (Math.abs(end - Date.now()) > 3_600_000) return { date: day.toISODate()!, at: end }
    }
    throw new Error('unreachable')
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    const now = Date.now()
    const adopted = p.status === 'none'
    p.status = 'terminated'
    let data: Record<string, unknown>
    switch (this.mode) {
      case 'now':
        p.terminationAt = now
        data = { effectiveAt: new Date(now).toISOString() }
        break
      case 'immediate':
        p.terminationAt = now
        data = { effectiveDate: isoDate(now + 5 * DAY), immediate: true, voluntary: 'involuntary' }
        break
      case 'past':
        p.terminationAt = now - 2 * 3_600_000
        data = { effectiveAt: new Date(p.terminationAt).toISOString() }
        break
      case 'future':
        p.terminationAt = now + 5 * DAY
        data = { effectiveDate: isoDate(now + 5 * DAY) }
        break
      case 'date_only': {
        const { date, at } = this.dateOnly()
        p.terminationAt = at
        data = { effectiveDate: date, timeZone: this.zone }
        break
      }
    }
    note(p, `${adopted ? 'terminated (never hired here)' : 'terminated'} ${this.label().slice('terminate '.length)}${p.terminationAt > now + 60_000 ? ' (not yet effective)' : ''}`)
    if (p.source === 'generic') await deliver(m, r, generic(m, 'employee.terminated', { employeeId: p.hrId, ...data }), this.hold)
    else {
      // BambooHR records a termination date only (no moment, no "immediate"): access ends at the
      // end of that day in the employee's zone (none here, so Tenure's default, UTC).
      const bamboohr = r.pipeline.hr.bamboohr
      const date = this.mode === 'future' ? isoDate(now + 5 * DAY) : this.mode === 'immediate' ? isoDate(now) : isoDate(now - DAY)
      p.terminationAt = DateTime.fromISO(date, { zone: 'UTC' }).plus({ days: 1 }).toMillis()
      bamboohr.terminate(p.hrId, date, { scheduled: this.mode === 'future', type: 'involuntary' })
      await deliver(m, r, bamboo(m, 'employee.terminated', p.hrId), this.hold)
    }
  }
}

class Rescind extends PersonCommand {
  label() {
    return 'rescind termination'
  }
  check(m: Readonly<Model>) {
    return this.person(m).status === 'terminated' && this.person(m).history.some((h) => h.startsWith('hired') || h.startsWith('rehired'))
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    p.status = 'employed'
    delete p.terminationAt
    note(p, 'termination rescinded')
    if (p.source === 'generic') await deliver(m, r, generic(m, 'employee.termination_rescinded', { employeeId: p.hrId }), this.hold)
    else {
      r.pipeline.hr.bamboohr.rescind(p.hrId)
      await deliver(m, r, bamboo(m, 'employee.termination_rescinded', p.hrId), this.hold)
    }
  }
}

class CancelHire extends PersonCommand {
  label() {
    return 'cancel hire'
  }
  check(m: Readonly<Model>) {
    return this.person(m).status === 'employed' && this.person(m).source === 'generic'
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    p.status = 'cancelled'
    p.hired = false
    note(p, 'hire cancelled')
    await deliver(m, r, generic(m, 'employee.hire_cancelled', { employeeId: p.hrId }), this.hold)
  }
}

class Leave extends PersonCommand {
  readonly start: boolean
  constructor(slot: number, hold: boolean, start: boolean) {
    super(slot, hold)
    this.start = start
  }
  label() {
    return this.start ? 'leave starts' : 'leave ends'
  }
  check(m: Readonly<Model>) {
    const p = this.person(m)
    return p.source === 'generic' && p.status === 'employed' && !p.startFuture && p.onLeave !== this.start
  }
  async run(m: Model, r: Real) {
    const p = this.person(m)
    p.onLeave = this.start
    note(p, this.label())
    const type = this.start ? 'employee.leave_started' : 'employee.leave_ended'
    await deliver(m, r, generic(m, type, { employeeId: p.hrId, effectiveDate: isoDate(Date.now()) }), this.hold)
  }
}

/** The same delivery again, byte for byte (an HR system retrying after a lost acknowledgement). */
class Duplicate implements fc.AsyncCommand<Model, Real> {
  readonly back: number
  constructor(back: number) {
    this.back = back
  }
  check(m: Readonly<Model>) {
    return m.sent.length > 0
  }
  async run(m: Model, r: Real) {
    const d = m.sent[Math.max(0, m.sent.length - 1 - (this.back % m.sent.length))]!
    await r.pipeline.send(d)
  }
  toString() {
    return `duplicate(-${this.back})`
  }
}

/** Held deliveries go out now, newest first: they arrive after what HR sent later. */
class Release implements fc.AsyncCommand<Model, Real> {
  check(m: Readonly<Model>) {
    return m.held.length > 0
  }
  async run(m: Model, r: Real) {
    const held = m.held.splice(0).reverse()
    for (const d of held) await deliver(m, r, d)
  }
  toString() {
    return 'release held (newest first)'
  }
}

type FaultKind = '429' | '429_no_retry_after' | '503' | '503_retry_after' | 'timeout' | 'lost_response'

class Fault implements fc.AsyncCommand<Model, Real> {
  readonly system: (typeof FAULTABLE)[number]
  readonly kind: FaultKind
  readonly times: number
  constructor(system: (typeof FAULTABLE)[number], kind: FaultKind, times: number) {
    this.system = system
    this.kind = kind
    this.times = times
  }
  check() {
    return true
  }
  async run(_m: Model, r: Real) {
    const fault =
      this.kind === '429'
        ? { status: 429, retryAfterSeconds: 1 }
        : this.kind === '429_no_retry_after'
          ? { status: 429 }
          : this.kind === '503'
            ? { status: 503 }
            : this.kind === '503_retry_after'
              ? { status: 503, retryAfterSeconds: 1 }
              : this.kind === 'timeout'
                ? { hangMs: 1500 }
                : { loseResponse: true, method: 'POST' }
    r.pipeline.targets.injectFault(this.system, { ...fault, times: this.times })
  }
  toString() {
    return `fault ${this.system} ${this.kind} x${this.times}`
  }
}

class Crash implements fc.AsyncCommand<Model, Real> {
  readonly afterMs: number
  constructor(afterMs: number) {
    this.afterMs = afterMs
  }
  check() {
    return true
  }
  async run(_m: Model, r: Real) {
    await new Promise((resolve) => setTimeout(resolve, this.afterMs))
    await r.pipeline.crash()
  }
  toString() {
    return `kill -9 after ${this.afterMs} ms`
  }
}

class Settle implements fc.AsyncCommand<Model, Real> {
  check() {
    return true
  }
  async run(_m: Model, r: Real) {
    await r.pipeline.settle(60_000).catch(() => undefined) // judged once, at the end of the scenario
  }
  toString() {
    return 'settle'
  }
}

export interface ScenarioOptions {
  /** Allow kill -9 of Tenure (each costs a restart and up to 30 s of job expiry). */
  crashes: boolean
  maxCommands: number
}

export function scenarioArbitrary(options: ScenarioOptions) {
  const slot = fc.nat({ max: 3 })
  const held = fc.constantFrom(false, false, false, true)
  const dept = fc.constantFrom(...DEPARTMENTS)
  const hire = fc.tuple(slot, held, dept, fc.constantFrom(false, false, false, true)).map(([s, h, d, f]) => new Hire(s, h, d, f))
  // Hires are listed three times: most commands need someone employed to apply to.
  const commands: Array<fc.Arbitrary<fc.AsyncCommand<Model, Real>>> = [
    hire,
    hire,
    hire,
    fc.tuple(slot, held, dept).map(([s, h, d]) => new Move(s, h, d)),
    fc.tuple(slot, held, fc.constantFrom<TerminationMode>('now', 'immediate', 'past', 'future', 'date_only'), fc.constantFrom(...ZONES)).map(([s, h, mode, z]) => new Terminate(s, h, mode, z)),
    fc.tuple(slot, held).map(([s, h]) => new Rescind(s, h)),
    fc.tuple(slot, held).map(([s, h]) => new CancelHire(s, h)),
    fc.tuple(slot, held, fc.boolean()).map(([s, h, start]) => new Leave(s, h, start)),
    fc.nat({ max: 5 }).map((b) => new Duplicate(b)),
    fc.constant(new Release()),
    fc
      .tuple(fc.constantFrom(...FAULTABLE), fc.constantFrom<FaultKind>('429', '429_no_retry_after', '503', '503_retry_after', 'timeout', 'lost_response'), fc.integer({ min: 1, max: 3 }))
      .map(([s, k, n]) => new Fault(s, k, n)),
    fc.constant(new Settle()),
    ...(options.crashes ? [fc.integer({ min: 0, max: 400 }).map((ms) => new Crash(ms))] : []),
  ]
  const skew = fc.constantFrom(0, 0, -5 * 60_000, -2 * 3_600_000, 21 * 60_000, 3 * 3_600_000)
  return fc.record({ skewGeneric: skew, skewBamboo: skew, cmds: fc.commands(commands, { maxCommands: options.maxCommands, size: 'max' }) })
}

let scenarioCounter = 0

/** Fresh people for one scenario: ids overlap across the two sources (numeric, like 1002). */
export function newModel(skew: Record<Source, number>): Model {
  scenarioCounter += 1
  const base = 5000 + scenarioCounter * 10
  const people: Person[] = [
    { slot: 0, source: 'generic' as Source, id: base + 1 },
    { slot: 1, source: 'bamboohr' as Source, id: base + 1 },
    { slot: 2, source: 'generic' as Source, id: base + 2 },
    { slot: 3, source: 'bamboohr' as Source, id: base + 2 },
  ].map((x) => ({
    source: x.source,
    hrId: String(x.id),
    firstName: `${x.source === 'generic' ? 'Gen' : 'Bam'}${x.id}`,
    lastName: `Person${x.slot}`,
    status: 'none' as Status,
    hired: false,
    department: 'Support' as Department,
    startFuture: false,
    onLeave: false,
    history: [],
  }))
  return { people, skew, lastStamp: {}, sent: [], held: [] }
}

/** What HR's current word means for each person who has a history, for the checker. */
export function peopleViews(model: Model, now = Date.now()): PersonView[] {
  return model.people
    .filter((p) => p.history.length > 0)
    .map((p) => {
      let expectation: PersonView['expectation']
      const terminated = p.status === 'terminated' && (p.terminationAt ?? 0) <= now
      if (p.status === 'employed' || (p.status === 'terminated' && !terminated)) {
        if (!p.hired) expectation = { kind: 'gone' }
        else if (p.startFuture) expectation = { kind: 'not_started' }
        else if (p.onLeave) expectation = { kind: 'on_leave', department: p.department }
        else expectation = { kind: 'employed', department: p.department }
      } else expectation = { kind: 'gone' }
      return { source: p.source, hrId: p.hrId, firstName: p.firstName, lastName: p.lastName, expectation, story: p.history.join(' → ') }
    })
}

export async function runScenario(pipeline: Pipeline, skew: Record<Source, number>, cmds: Iterable<fc.AsyncCommand<Model, Real>>, log: (line: string) => void): Promise<Violation[]> {
  const model = newModel(skew)
  const real: Real = { pipeline, log }
  await fc.asyncModelRun(() => ({ model, real }), cmds)
  for (const d of model.held.splice(0)) await deliver(model, real, d)
  pipeline.targets.clearFaults()
  try {
    await pipeline.settle()
  } catch (err) {
    return [{ person: '-', system: '-', rule: 'pipeline_settles', detail: (err as Error).message }]
  }
  const inventory = await pipeline.targets.inventory(pipeline.pool)
  return checkInvariant(pipeline.pool, peopleViews(model), inventory)
}

/** One scenario as printed (`skew generic G min, bamboohr B min; cmd, cmd, …`), parsed back. */
export interface ParsedScenario {
  skew: Record<Source, number>
  cmds: Array<fc.AsyncCommand<Model, Real>>
}

/** The printed form of a scenario: what a failure reports and `--scenario` reads back. */
export function describeScenario(skew: Record<Source, number>, cmds: Iterable<unknown>): string {
  return `skew generic ${skew.generic / 60_000} min, bamboohr ${skew.bamboohr / 60_000} min; ${[...cmds].map(String).join(', ')}`
}

/**
 * Read a printed scenario back into commands, to replay a shrunk failure exactly (fast-check's
 * path replays the unshrunk run only). Throws naming the command it cannot read.
 */
export function parseScenario(text: string): ParsedScenario {
  const head = /^\s*skew generic (-?[\d.]+) min, bamboohr (-?[\d.]+) min;\s*(.*)$/s.exec(text)
  if (!head) throw new Error('a scenario starts "skew generic G min, bamboohr B min; " followed by its commands')
  const skew = { generic: Number(head[1]) * 60_000, bamboohr: Number(head[2]) * 60_000 }
  // Split on ", " outside parentheses: "hire Sales(#3, held)" is one command.
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const ch of head[3]!) {
    if (ch === '(') depth += 1
    if (ch === ')') depth -= 1
    if (ch === ',' && depth === 0) {
      parts.push(current.trim())
      current = ''
    } else current += ch
  }
  if (current.trim()) parts.push(current.trim())
  const isDept = (d: string): d is Department => (DEPARTMENTS as string[]).includes(d)
  const cmds = parts.map((part): fc.AsyncCommand<Model, Real> => {
    let m: RegExpExecArray | null
    if (part === 'settle') return new Settle()
    if (part === 'release held (newest first)') return new Release()
    if ((m = /^duplicate\(-(\d+)\)$/.exec(part))) return new Duplicate(Number(m[1]))
    if ((m = /^kill -9 after (\d+) ms$/.exec(part))) return new Crash(Number(m[1]))
    if ((m = /^fault (\S+) (\S+) x(\d+)$/.exec(part)) && (FAULTABLE as readonly string[]).includes(m[1]!))
      return new Fault(m[1] as (typeof FAULTABLE)[number], m[2] as FaultKind, Number(m[3]))
    const person = /^(.*)\(#(\d+)(, held)?\)$/.exec(part)
    if (person) {
      const [, label, slotText, heldText] = person
      const slot = Number(slotText)
      const hold = heldText !== undefined
      if ((m = /^hire (\S+)( start\+30d)?$/.exec(label!)) && isDept(m[1]!)) return new Hire(slot, hold, m[1], m[2] !== undefined)
      if ((m = /^move to (\S+)$/.exec(label!)) && isDept(m[1]!)) return new Move(slot, hold, m[1])
      if ((m = /^terminate (now|immediate|past|future|date_only)(?: (\S+))?$/.exec(label!)))
        return new Terminate(slot, hold, m[1] as TerminationMode, m[2] ?? 'UTC')
      if (label === 'rescind termination') return new Rescind(slot, hold)
      if (label === 'cancel hire') return new CancelHire(slot, hold)
      if (label === 'leave starts' || label === 'leave ends') return new Leave(slot, hold, label === 'leave starts')
    }
    throw new Error(`cannot read the scenario command "${part}"`)
  })
  return { skew, cmds }
}
