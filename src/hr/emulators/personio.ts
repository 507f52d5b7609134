/**
 * Personio API v2 twin: `POST /v2/auth/token` (client credentials, form-encoded),
 * `GET /v2/persons` (cursor paging through `_meta.links.next.href`, limit ≤ 50),
 * `GET /v2/persons/{id}`, `GET /v2/persons/{id}/employments` (newest first).
 */
import express, { type Request, type Response } from 'express'
import { decodePageToken, encodePageToken } from '../../sandbox/emulator-kit.ts'
import { clampInt, HrEmulator, page, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const PERSONIO_DEV_CLIENT_ID = 'tenure-sandbox'
export const PERSONIO_DEV_CLIENT_SECRET = 'dev-personio-client-secret'

export function renderPersonioPerson(e: EmulatedEmployee): Record<string, unknown> {
  return {
    id: e.id,
    first_name: e.firstName,
    last_name: e.lastName,
    preferred_name: null,
    email: e.workEmail ?? null,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
    employments: [{ id: employmentId(e) }],
  }
}

function employmentId(e: EmulatedEmployee): string {
  return `emp-${e.id}`
}

export function renderPersonioEmployment(e: EmulatedEmployee): Record<string, unknown> {
  const status = e.status === 'terminated' ? 'INACTIVE' : e.status === 'pending' ? 'ONBOARDING' : e.leave ? 'LEAVE' : e.status === 'inactive' ? 'INACTIVE' : 'ACTIVE'
  return {
    id: employmentId(e),
    status,
    start_date: e.startDate,
    updated_at: e.updatedAt,
    termination: e.terminationDate
      ? {
          termination_date: e.terminationDate,
          terminated_at: e.terminatedAt ?? null,
          type: e.terminationType === 'voluntary' ? 'employee' : e.terminationType === 'involuntary' ? 'employer' : null,
          reason: e.terminationReason ?? null,
        }
      : null,
    position: { title: e.title ?? null },
    org_units: e.department ? [{ type: 'department', id: `dep-${e.department}`, name: e.department }] : [],
    supervisor: e.managerId ? { id: e.managerId } : null,
    office: e.location ? { id: `off-${e.location}`, name: e.location } : null,
  }
}

export class PersonioEmulator extends HrEmulator {
  readonly clientId: string
  readonly clientSecret: string

  constructor(options: HrEmulatorOptions & { clientId?: string; clientSecret?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.clientId = options.clientId ?? PERSONIO_DEV_CLIENT_ID
    this.clientSecret = options.clientSecret ?? PERSONIO_DEV_CLIENT_SECRET
    const app = this.kit.app
    app.post('/v2/auth/token', express.urlencoded({ extended: false }), (req, res) => this.token(req, res))
    app.get('/v2/persons/:id/employments', (req, res) => void this.employments(req, res))
    app.get('/v2/persons/:id', (req, res) => void this.person(req, res))
    app.get('/v2/persons', (req, res) => void this.persons(req, res))
  }

  get apiBaseUrl(): string {
    return this.url
  }

  protected authorized(req: Request): boolean {
    return this.kit.checkToken(req.headers.authorization) === 'ok'
  }

  protected override renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).type('application/problem+json').send(JSON.stringify({ type: code, title: message, status }))
  }

  private token(req: Request, res: Response): void {
    const body = (req.body ?? {}) as Record<string, string>
    if (body.grant_type !== 'client_credentials' || body.client_id !== this.clientId || body.client_secret !== this.clientSecret) {
      res.status(401).json({ error: 'invalid_client' })
      return
    }
    const t = this.kit.issueToken()
    res.json({ access_token: t.accessToken, token_type: 'Bearer', expires_in: t.expiresIn, scope: 'personio:persons:read' })
  }

  private async persons(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const limit = clampInt(req.query.limit, 10, 1, 50)
    const p = page(this.store.list(), decodePageToken(req.query.cursor), limit)
    const next = p.next === undefined ? null : { href: `${this.url}/v2/persons?cursor=${encodePageToken(p.next)}&limit=${limit}` }
    res.json({ _data: p.items.map(renderPersonioPerson), _meta: { links: { self: { href: `${this.url}${req.originalUrl}` }, next } } })
  }

  private async person(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'resource_not_found', 'Person not found')
    res.json(renderPersonioPerson(e))
  }

  private async employments(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) return this.renderError(res, 404, 'resource_not_found', 'Person not found')
    res.json({ _data: [renderPersonioEmployment(e)], _meta: { links: { next: null } } })
  }
}
