/**
 * BambooHR API twin: `GET /api/v1/employees/{id}?fields=…`, `GET /api/v1/employees` (cursor
 * paging via `page[limit]` / `page[after]`, `meta.page.nextCursor`), `GET /api/v1/employees/changed?since=`.
 * Auth: HTTP Basic with the API key as user name and any password
 * (https://documentation.bamboohr.com/docs/getting-started). Empty dates render as
 * "0000-00-00", as BambooHR does.
 */
import type { Request, Response } from 'express'
import { encodePageToken, decodePageToken } from '../../sandbox/emulator-kit.ts'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const BAMBOOHR_DEV_API_KEY = 'dev-bamboohr-api-key'
export const BAMBOOHR_DEV_COMPANY = 'tenure-sandbox'

export function renderBambooEmployee(e: EmulatedEmployee, fields: string[] | undefined): Record<string, unknown> {
  const history =
    e.status === 'terminated' ? 'Terminated' : e.leave ? 'Leave of Absence' : e.status === 'inactive' ? 'Suspended' : 'Full-Time'
  const all: Record<string, unknown> = {
    id: e.id,
    firstName: e.firstName,
    lastName: e.lastName,
    preferredName: null,
    displayName: e.displayName ?? `${e.firstName} ${e.lastName}`,
    workEmail: e.workEmail ?? null,
    homeEmail: e.personalEmail ?? null,
    department: e.department ?? null,
    jobTitle: e.title ?? null,
    location: e.location ?? null,
    supervisorEId: e.managerId ?? null,
    supervisorEmail: null,
    // Future hires and leavers are Inactive; people on leave keep an Active login.
    status: e.status === 'active' ? 'Active' : 'Inactive',
    employmentHistoryStatus: history,
    hireDate: e.startDate,
    terminationDate: e.terminationDate ?? '0000-00-00',
    lastChanged: e.updatedAt.replace(/\.\d{3}Z$/, '+00:00'),
  }
  if (!fields) return all
  const out: Record<string, unknown> = { id: e.id }
  for (const f of fields) if (f in all) out[f] = all[f]
  return out
}

export class BambooHrEmulator extends HrEmulator {
  readonly apiKey: string
  readonly companyDomain: string

  constructor(options: HrEmulatorOptions & { apiKey?: string; companyDomain?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.apiKey = options.apiKey ?? BAMBOOHR_DEV_API_KEY
    this.companyDomain = options.companyDomain ?? BAMBOOHR_DEV_COMPANY
    const app = this.kit.app
    app.get('/api/v1/employees/changed', (req, res) => void this.changed(req, res))
    app.get('/api/v1/employees/:id', (req, res) => void this.getOne(req, res))
    app.get('/api/v1/employees', (req, res) => void this.list(req, res))
  }

  /** The `api.baseUrl` Tenure's BambooHR client should use. */
  get apiBaseUrl(): string {
    return `${this.url}/api`
  }

  protected authorized(req: Request): boolean {
    const m = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')
    if (!m) return false
    const [user] = Buffer.from(m[1]!, 'base64').toString().split(':')
    return user === this.apiKey
  }

  private fields(req: Request): string[] | undefined {
    return typeof req.query.fields === 'string' ? req.query.fields.split(',').map((f) => f.trim()) : undefined
  }

  private async getOne(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) {
      res.status(404).json({ error: { code: 'not_found', message: 'Employee not found' } })
      return
    }
    res.json(renderBambooEmployee(e, this.fields(req)))
  }

  private async list(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const limit = clampInt(req.query['page[limit]'], 250, 1, 2500)
    const offset = decodePageToken(req.query['page[after]'])
    const status = req.query['filter[status]']
    let people = this.store.list()
    if (status === 'Active') people = people.filter((e) => e.status === 'active')
    const p = page(people, offset, limit)
    const fields = this.fields(req)
    res.json({
      data: p.items.map((e) => {
        const { id, ...rest } = renderBambooEmployee(e, fields)
        return { employeeId: id, ...rest }
      }),
      meta: { page: { nextCursor: p.next === undefined ? null : encodePageToken(p.next) } },
    })
  }

  private async changed(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const since = Date.parse(String(req.query.since ?? ''))
    if (Number.isNaN(since)) {
      res.status(400).json({ error: { code: 'bad_request', message: 'since must be an ISO 8601 date-time' } })
      return
    }
    const employees: Record<string, unknown> = {}
    for (const c of this.store.changedSince(since)) {
      const e = this.store.get(c.id)
      employees[c.id] = {
        id: c.id,
        action: c.deleted ? 'Deleted' : e && e.createdAt === e.updatedAt ? 'Inserted' : 'Updated',
        lastChanged: c.at.replace(/\.\d{3}Z$/, '+00:00'),
      }
    }
    res.json({ latest: new Date(this.kit.now()).toISOString().replace(/\.\d{3}Z$/, '+00:00'), employees })
  }
}
