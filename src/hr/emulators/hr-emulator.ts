/**
 * Base for the HR vendor emulators: one in-memory set of people per emulator, mutated through
 * `upsertEmployee` / `terminate` / `rescind` / `startLeave` / `endLeave` / `removeEmployee`
 * (in-process, or over HTTP under `/_emulator/hr/…` for the sandbox), and rendered by each
 * vendor emulator in that vendor's JSON, paging and auth. Built on EmulatorKit so latency,
 * fault injection and rate limits work as for the provisioner emulators.
 */
import express, { type Request, type Response, type Router } from 'express'
import { EmulatorKit, type EmulatorOptions, type Fault } from '../../sandbox/emulator-kit.ts'

export interface EmulatedEmployee {
  id: string
  firstName: string
  lastName: string
  displayName?: string
  workEmail?: string
  personalEmail?: string
  department?: string
  title?: string
  managerId?: string
  location?: string
  countryCode?: string
  timeZone?: string
  /** First working day, YYYY-MM-DD. */
  startDate: string
  status: 'pending' | 'active' | 'inactive' | 'terminated'
  /** Last day, YYYY-MM-DD. */
  terminationDate?: string
  /** Exact moment, for vendors that record one. */
  terminatedAt?: string
  terminationType?: 'voluntary' | 'involuntary'
  terminationReason?: string
  /** HiBob: the termination is a garden leave. */
  gardenLeave?: boolean
  /** Walk-out / for cause: access must go now, whatever the date. */
  immediate?: boolean
  leave?: { startDate: string; expectedReturnDate?: string }
  createdAt: string
  updatedAt: string
}

export type EmployeeSeed = Partial<Omit<EmulatedEmployee, 'createdAt' | 'updatedAt'>> & Pick<EmulatedEmployee, 'id'>

export interface TerminateOptions {
  at?: string
  type?: 'voluntary' | 'involuntary'
  reason?: string
  gardenLeave?: boolean
  immediate?: boolean
  /** Keep the status active (a future-dated termination that HR recorded in advance). */
  scheduled?: boolean
}

export interface HrEmulatorOptions extends EmulatorOptions {
  employees?: EmployeeSeed[]
}

/** A small default roster for the sandbox: two active, one pre-hire. */
export const DEFAULT_EMPLOYEES: EmployeeSeed[] = [
  {
    id: '1001',
    firstName: 'Ada',
    lastName: 'Lovelace',
    workEmail: 'ada.lovelace@example.com',
    department: 'Engineering',
    title: 'Staff Engineer',
    location: 'London',
    countryCode: 'GB',
    timeZone: 'Europe/London',
    startDate: '2023-03-01',
  },
  {
    id: '1002',
    firstName: 'Grace',
    lastName: 'Hopper',
    workEmail: 'grace.hopper@example.com',
    department: 'Platform',
    title: 'Engineering Manager',
    location: 'New York',
    countryCode: 'US',
    timeZone: 'America/New_York',
    startDate: '2022-09-12',
  },
  {
    id: '1003',
    firstName: 'Alan',
    lastName: 'Turing',
    workEmail: 'alan.turing@example.com',
    department: 'Research',
    title: 'Research Scientist',
    location: 'Manchester',
    countryCode: 'GB',
    timeZone: 'Europe/London',
    startDate: '2030-01-06',
    status: 'pending',
  },
]

const TERMINATION_KEYS: Array<keyof EmulatedEmployee> = [
  'terminationDate',
  'terminatedAt',
  'terminationType',
  'terminationReason',
  'gardenLeave',
  'immediate',
  'leave',
]

export class EmployeeStore {
  private readonly people = new Map<string, EmulatedEmployee>()
  private readonly deleted = new Map<string, string>() // id → deletedAt
  private readonly now: () => number

  constructor(now: () => number) {
    this.now = now
  }

  private stamp(): string {
    return new Date(this.now()).toISOString()
  }

  upsert(seed: EmployeeSeed): EmulatedEmployee {
    const existing = this.people.get(seed.id)
    const at = this.stamp()
    const base: EmulatedEmployee = existing ?? {
      id: seed.id,
      firstName: seed.firstName ?? 'Test',
      lastName: seed.lastName ?? `Person ${seed.id}`,
      startDate: seed.startDate ?? new Date(this.now()).toISOString().slice(0, 10),
      status: 'active',
      createdAt: at,
      updatedAt: at,
    }
    const next: EmulatedEmployee = { ...base, ...stripUndefined(seed), updatedAt: at }
    this.people.set(seed.id, next)
    this.deleted.delete(seed.id)
    return next
  }

  get(id: string): EmulatedEmployee | undefined {
    return this.people.get(id)
  }

  require(id: string): EmulatedEmployee {
    const e = this.people.get(id)
    if (!e) throw new Error(`emulator has no employee ${id}`)
    return e
  }

  list(): EmulatedEmployee[] {
    return [...this.people.values()].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
  }

  terminate(id: string, date: string, opts: TerminateOptions = {}): EmulatedEmployee {
    const e = this.require(id)
    this.clear(id, TERMINATION_KEYS)
    return this.upsert({
      id,
      status: opts.scheduled ? e.status : 'terminated',
      terminationDate: date,
      terminatedAt: opts.at,
      terminationType: opts.type,
      terminationReason: opts.reason,
      gardenLeave: opts.gardenLeave,
      immediate: opts.immediate,
    })
  }

  rescind(id: string): EmulatedEmployee {
    this.clear(id, TERMINATION_KEYS)
    return this.upsert({ id, status: 'active' })
  }

  startLeave(id: string, startDate: string, expectedReturnDate?: string): EmulatedEmployee {
    return this.upsert({ id, leave: { startDate, ...(expectedReturnDate ? { expectedReturnDate } : {}) } })
  }

  endLeave(id: string): EmulatedEmployee {
    this.clear(id, ['leave'])
    return this.upsert({ id })
  }

  remove(id: string): void {
    if (this.people.delete(id)) this.deleted.set(id, this.stamp())
  }

  /** People changed (or deleted) at or after `since`. */
  changedSince(since: number): Array<{ id: string; at: string; deleted: boolean }> {
    const out: Array<{ id: string; at: string; deleted: boolean }> = []
    for (const e of this.people.values()) if (Date.parse(e.updatedAt) >= since) out.push({ id: e.id, at: e.updatedAt, deleted: false })
    for (const [id, at] of this.deleted) if (Date.parse(at) >= since) out.push({ id, at, deleted: true })
    return out
  }

  private clear(id: string, keys: Array<keyof EmulatedEmployee>): EmulatedEmployee {
    const e = this.require(id)
    const copy: Record<string, unknown> = { ...e }
    for (const k of keys) delete copy[k]
    const next = copy as unknown as EmulatedEmployee
    this.people.set(id, next)
    return next
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Split a list into pages; returns the slice and the next offset (undefined at the end). */
export function page<T>(items: T[], offset: number, limit: number): { items: T[]; next: number | undefined } {
  const slice = items.slice(offset, offset + limit)
  return { items: slice, next: offset + limit < items.length ? offset + limit : undefined }
}

export function clampInt(value: unknown, fallback: number, min: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : fallback
  return Math.min(max, Math.max(min, n))
}

export abstract class HrEmulator {
  readonly kit: EmulatorKit
  readonly store: EmployeeStore
  private baseUrl: string | undefined

  constructor(options: HrEmulatorOptions = {}, rateLimits: Record<string, { perMinute: number; burst: number }> = {}) {
    this.kit = new EmulatorKit(rateLimits, options)
    this.store = new EmployeeStore(this.kit.now)
    for (const seed of options.employees ?? DEFAULT_EMPLOYEES) this.store.upsert(seed)
    this.kit.app.use('/_emulator/hr', this.controlRouter())
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('emulator is not listening')
    return this.baseUrl
  }

  async listen(port = 0): Promise<string> {
    this.baseUrl = await this.kit.listen(port)
    return this.baseUrl
  }

  async close(): Promise<void> {
    await this.kit.close()
  }

  upsertEmployee(seed: EmployeeSeed): EmulatedEmployee {
    return this.store.upsert(seed)
  }

  terminate(id: string, date: string, opts?: TerminateOptions): EmulatedEmployee {
    return this.store.terminate(id, date, opts)
  }

  rescind(id: string): EmulatedEmployee {
    return this.store.rescind(id)
  }

  startLeave(id: string, startDate: string, expectedReturnDate?: string): EmulatedEmployee {
    return this.store.startLeave(id, startDate, expectedReturnDate)
  }

  endLeave(id: string): EmulatedEmployee {
    return this.store.endLeave(id)
  }

  removeEmployee(id: string): void {
    this.store.remove(id)
  }

  injectFault(fault: Fault): void {
    this.kit.injectFault(fault)
  }

  /**
   * Admit a request: latency, injected faults, rate limit, then `authorized(req)`. Renders the
   * refusal itself and returns false, or returns true when the handler may proceed.
   */
  protected async guard(req: Request, res: Response, bucket: string): Promise<boolean> {
    const admission = await this.kit.admit(req, bucket)
    if (admission.kind === 'dropped') return false
    if (admission.kind === 'rate_limited') {
      res.set('retry-after', String(admission.retryAfterSeconds))
      this.renderError(res, 429, 'rate_limited', 'Too many requests')
      return false
    }
    if (admission.kind === 'fault') {
      const f = admission.fault
      if (f.expireToken) {
        this.renderError(res, 401, 'token_expired', 'The access token expired')
        return false
      }
      if (f.retryAfterSeconds !== undefined) res.set('retry-after', String(f.retryAfterSeconds))
      this.renderError(res, f.status ?? 500, f.code ?? 'injected_fault', 'Injected fault')
      return false
    }
    if (!this.authorized(req)) {
      this.renderError(res, 401, 'unauthorized', 'Missing or invalid credentials')
      return false
    }
    return true
  }

  /** Credential check in the vendor's scheme. */
  protected abstract authorized(req: Request): boolean

  /** Error body in the vendor's format. */
  protected renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).json({ error: { code, message } })
  }

  private controlRouter(): Router {
    const r = express.Router()
    r.use(express.json())
    r.get('/employees', (_req, res) => {
      res.json(this.store.list())
    })
    r.post('/employees', (req, res) => {
      const body = req.body as EmployeeSeed
      if (typeof body?.id !== 'string') {
        res.status(400).json({ error: 'id is required' })
        return
      }
      res.json(this.store.upsert(body))
    })
    r.post('/employees/:id/terminate', (req, res) => {
      const { date, ...opts } = (req.body ?? {}) as { date?: string } & TerminateOptions
      if (!this.store.get(req.params.id) || typeof date !== 'string') {
        res.status(400).json({ error: 'unknown employee or missing date' })
        return
      }
      res.json(this.store.terminate(req.params.id, date, opts))
    })
    r.post('/employees/:id/rescind', (req, res) => {
      if (!this.store.get(req.params.id)) {
        res.status(404).end()
        return
      }
      res.json(this.store.rescind(req.params.id))
    })
    // Emulator control only (no vendor counterpart): start and end a leave of absence.
    r.post('/employees/:id/leave', (req, res) => {
      const { startDate, expectedReturnDate } = (req.body ?? {}) as { startDate?: string; expectedReturnDate?: string }
      if (!this.store.get(req.params.id) || typeof startDate !== 'string') {
        res.status(400).json({ error: 'unknown employee or missing startDate' })
        return
      }
      res.json(this.store.startLeave(req.params.id, startDate, expectedReturnDate))
    })
    r.post('/employees/:id/return', (req, res) => {
      if (!this.store.get(req.params.id)) {
        res.status(404).end()
        return
      }
      res.json(this.store.endLeave(req.params.id))
    })
    r.delete('/employees/:id', (req, res) => {
      this.store.remove(req.params.id)
      res.status(204).end()
    })
    return r
  }
}
