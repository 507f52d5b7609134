/**
 * Merge HRIS twin: `GET /api/hris/v1/employees/{id}` and `GET /api/hris/v1/employees`
 * (`cursor`, `page_size` ≤ 100, `modified_after`, `include_deleted_data`), with
 * `Authorization: Bearer <API key>` and `X-Account-Token` selecting the linked account.
 */
import type { Request, Response } from 'express'
import { decodePageToken, encodePageToken } from '../../sandbox/emulator-kit.ts'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const MERGE_DEV_API_KEY = 'dev-merge-api-key'
export const MERGE_DEV_ACCOUNT_TOKEN = 'dev-merge-account-token'

export function renderMergeEmployee(e: EmulatedEmployee, deleted = false): Record<string, unknown> {
  return {
    id: e.id,
    remote_id: `remote-${e.id}`,
    employee_number: e.id,
    first_name: e.firstName,
    last_name: e.lastName,
    preferred_name: null,
    display_full_name: e.displayName ?? `${e.firstName} ${e.lastName}`,
    work_email: e.workEmail ?? null,
    personal_email: e.personalEmail ?? null,
    manager: e.managerId ?? null,
    team: e.department ?? null,
    work_location: e.location ?? null,
    employment_status: e.status === 'terminated' ? 'INACTIVE' : e.status === 'pending' ? 'PENDING' : 'ACTIVE',
    start_date: `${e.startDate}T00:00:00Z`,
    hire_date: `${e.startDate}T00:00:00Z`,
    termination_date: e.terminationDate ? `${e.terminationDate}T00:00:00Z` : null,
    remote_was_deleted: deleted,
    modified_at: e.updatedAt,
  }
}

export class MergeEmulator extends HrEmulator {
  readonly apiKey: string
  readonly accountToken: string

  constructor(options: HrEmulatorOptions & { apiKey?: string; accountToken?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.apiKey = options.apiKey ?? MERGE_DEV_API_KEY
    this.accountToken = options.accountToken ?? MERGE_DEV_ACCOUNT_TOKEN
    this.kit.addStaticToken(this.apiKey)
    this.kit.app.get('/api/hris/v1/employees/:id', (req, res) => void this.getOne(req, res))
    this.kit.app.get('/api/hris/v1/employees', (req, res) => void this.list(req, res))
  }

  get apiBaseUrl(): string {
    return `${this.url}/api/hris/v1`
  }

  protected authorized(req: Request): boolean {
    return this.kit.checkToken(req.headers.authorization) === 'ok' && req.headers['x-account-token'] === this.accountToken
  }

  protected override renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).json({ detail: message, code })
  }

  private async getOne(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'not_found', 'Not found.')
    res.json(renderMergeEmployee(e))
  }

  private async list(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const limit = clampInt(req.query.page_size, 100, 1, 100)
    let people = this.store.list().map((e) => renderMergeEmployee(e))
    if (typeof req.query.modified_after === 'string') {
      const since = Date.parse(req.query.modified_after)
      people = this.store.changedSince(since).map((c) => {
        const e = this.store.get(c.id)
        return e ? renderMergeEmployee(e) : { id: c.id, remote_was_deleted: true, modified_at: c.at }
      })
      if (req.query.include_deleted_data !== 'true') people = people.filter((p) => p.remote_was_deleted !== true)
    }
    const p = page(people, decodePageToken(req.query.cursor), limit)
    res.json({ next: p.next === undefined ? null : encodePageToken(p.next), previous: null, results: p.items })
  }
}
