/**
 * Deel API twin: `GET /rest/v2/contracts/{id}` (`{data: contract}`) and `GET /rest/v2/contracts`
 * (`limit` ≤ 100, `after_cursor`, `page.cursor`), Bearer token. Employee ids are contract ids.
 */
import type { Request, Response } from 'express'
import { decodePageToken, encodePageToken } from '../../sandbox/emulator-kit.ts'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const DEEL_DEV_TOKEN = 'dev-deel-api-token'

export function renderDeelContract(e: EmulatedEmployee): Record<string, unknown> {
  return {
    id: e.id,
    title: e.title ?? 'Employee',
    type: 'eor',
    status: e.status === 'terminated' ? 'terminated' : e.status === 'pending' ? 'waiting_for_employee_sign' : 'in_progress',
    job_title: e.title ?? null,
    start_date: e.startDate,
    termination_date: e.terminationDate ?? null,
    termination: e.terminationDate
      ? { type: e.terminationType === 'voluntary' ? 'resignation' : 'termination', reason: e.terminationReason ?? null, is_immediate: e.immediate === true }
      : null,
    worker: { id: `worker-${e.id}`, first_name: e.firstName, last_name: e.lastName, full_name: `${e.firstName} ${e.lastName}`, email: e.workEmail ?? null },
    team: e.department ? { name: e.department } : null,
    country: e.countryCode ?? null,
    timezone: e.timeZone ?? null,
    updated_at: e.updatedAt,
  }
}

export class DeelEmulator extends HrEmulator {
  readonly token: string

  constructor(options: HrEmulatorOptions & { token?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.token = options.token ?? DEEL_DEV_TOKEN
    this.kit.addStaticToken(this.token)
    this.kit.app.get('/rest/v2/contracts/:id', (req, res) => void this.getOne(req, res))
    this.kit.app.get('/rest/v2/contracts', (req, res) => void this.list(req, res))
  }

  get apiBaseUrl(): string {
    return `${this.url}/rest/v2`
  }

  protected authorized(req: Request): boolean {
    return this.kit.checkToken(req.headers.authorization) === 'ok'
  }

  protected override renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).json({ errors: [{ message, path: code }] })
  }

  private async getOne(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'contract_id', 'Contract not found')
    res.json({ data: renderDeelContract(e) })
  }

  private async list(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const p = page(this.store.list(), decodePageToken(req.query.after_cursor), clampInt(req.query.limit, 10, 1, 100))
    res.json({ data: p.items.map(renderDeelContract), page: { cursor: p.next === undefined ? null : encodePageToken(p.next), total_rows: this.store.list().length } })
  }
}
