/**
 * Rippling platform API twin: `GET /platform/api/employees/{id}`, `GET /platform/api/employees`
 * (active only) and `GET /platform/api/employees/include_terminated` (`limit` ≤ 100, `offset`),
 * Bearer API token.
 */
import type { Request, Response } from 'express'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const RIPPLING_DEV_TOKEN = 'dev-rippling-api-token'

export function renderRipplingEmployee(e: EmulatedEmployee): Record<string, unknown> {
  return {
    id: e.id,
    name: e.displayName ?? `${e.firstName} ${e.lastName}`,
    firstName: e.firstName,
    lastName: e.lastName,
    workEmail: e.workEmail ?? null,
    personalEmail: e.personalEmail ?? null,
    roleState: e.status === 'terminated' ? 'TERMINATED' : e.status === 'pending' ? 'ACCEPTED' : 'ACTIVE',
    department: e.department ?? null,
    title: e.title ?? null,
    manager: e.managerId ?? null,
    startDate: e.startDate,
    endDate: e.terminationDate ?? null,
    employmentType: 'SALARIED_FT',
    workLocation: { name: e.location ?? null, country: e.countryCode ?? null, timezone: e.timeZone ?? null },
  }
}

export class RipplingEmulator extends HrEmulator {
  readonly token: string

  constructor(options: HrEmulatorOptions & { token?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.token = options.token ?? RIPPLING_DEV_TOKEN
    this.kit.addStaticToken(this.token)
    const app = this.kit.app
    app.get('/platform/api/employees/include_terminated', (req, res) => void this.list(req, res, true))
    app.get('/platform/api/employees/:id', (req, res) => void this.getOne(req, res))
    app.get('/platform/api/employees', (req, res) => void this.list(req, res, false))
  }

  get apiBaseUrl(): string {
    return `${this.url}/platform/api`
  }

  protected authorized(req: Request): boolean {
    return this.kit.checkToken(req.headers.authorization) === 'ok'
  }

  private async getOne(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'not_found', 'Employee not found')
    res.json(renderRipplingEmployee(e))
  }

  private async list(req: Request, res: Response, includeTerminated: boolean): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const people = this.store.list().filter((e) => includeTerminated || e.status !== 'terminated')
    const p = page(people, clampInt(req.query.offset, 0, 0, 1_000_000), clampInt(req.query.limit, 100, 1, 100))
    res.json(p.items.map(renderRipplingEmployee))
  }
}
