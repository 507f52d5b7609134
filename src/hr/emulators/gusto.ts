/**
 * Gusto API twin: `GET /v1/employees/{uuid}` and `GET /v1/companies/{company_uuid}/employees`
 * (`page`, `per` ≤ 100, `terminated`; X-Page / X-Per-Page / X-Total-Count / X-Total-Pages
 * headers), Bearer token.
 */
import type { Request, Response } from 'express'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const GUSTO_DEV_TOKEN = 'dev-gusto-api-token'
export const GUSTO_DEV_COMPANY = '5df911a0-e8e9-412d-8aaf-a46ad193dd96'

export function renderGustoEmployee(e: EmulatedEmployee, companyUuid: string): Record<string, unknown> {
  return {
    uuid: e.id,
    first_name: e.firstName,
    last_name: e.lastName,
    preferred_first_name: null,
    email: e.personalEmail ?? null,
    work_email: e.workEmail ?? null,
    company_uuid: companyUuid,
    manager_uuid: e.managerId ?? null,
    department: e.department ?? null,
    terminated: e.status === 'terminated',
    onboarded: e.status !== 'pending',
    jobs: [{ uuid: `job-${e.id}`, title: e.title ?? null, hire_date: e.startDate, primary: true }],
    terminations: e.terminationDate
      ? [{ uuid: `term-${e.id}`, employee_uuid: e.id, active: e.status === 'terminated', cancelable: e.status !== 'terminated', effective_date: e.terminationDate, run_termination_payroll: false }]
      : [],
  }
}

export class GustoEmulator extends HrEmulator {
  readonly token: string
  readonly companyUuid: string

  constructor(options: HrEmulatorOptions & { token?: string; companyUuid?: string } = {}) {
    super(options, { api: { perMinute: 200, burst: 200 } })
    this.token = options.token ?? GUSTO_DEV_TOKEN
    this.companyUuid = options.companyUuid ?? GUSTO_DEV_COMPANY
    this.kit.addStaticToken(this.token)
    this.kit.app.get('/v1/employees/:id', (req, res) => void this.getOne(req, res))
    this.kit.app.get('/v1/companies/:company/employees', (req, res) => void this.list(req, res))
  }

  get apiBaseUrl(): string {
    return this.url
  }

  protected authorized(req: Request): boolean {
    return this.kit.checkToken(req.headers.authorization) === 'ok'
  }

  protected override renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).json({ errors: [{ error_key: code, category: code, message }] })
  }

  private async getOne(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'not_found', 'Employee not found')
    res.json(renderGustoEmployee(e, this.companyUuid))
  }

  private async list(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    if (req.params.company !== this.companyUuid) return this.renderError(res, 404, 'not_found', 'Company not found')
    let people = this.store.list()
    if (req.query.terminated === 'false') people = people.filter((e) => e.status !== 'terminated')
    if (req.query.terminated === 'true') people = people.filter((e) => e.status === 'terminated')
    const per = clampInt(req.query.per, 25, 1, 100)
    const pageNo = clampInt(req.query.page, 1, 1, 1_000_000)
    const p = page(people, (pageNo - 1) * per, per)
    res.set({
      'x-page': String(pageNo),
      'x-per-page': String(per),
      'x-total-count': String(people.length),
      'x-total-pages': String(Math.max(1, Math.ceil(people.length / per))),
    })
    res.json(p.items.map((e) => renderGustoEmployee(e, this.companyUuid)))
  }
}
