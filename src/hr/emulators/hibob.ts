/**
 * HiBob API twin: `POST /v1/people/{id}` and `POST /v1/people/search` (`showInactive`, no
 * pagination), Basic auth with service user id + token. Renders the nested JSON shape Bob
 * returns for the requested fields (`work.*`, `internal.*`).
 */
import express, { type Request, type Response } from 'express'
import { HrEmulator, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const HIBOB_DEV_SERVICE_USER = 'SERVICE-TENURE'
export const HIBOB_DEV_TOKEN = 'dev-hibob-token'

export function renderBobEmployee(e: EmulatedEmployee): Record<string, unknown> {
  const lifecycle =
    e.status === 'terminated'
      ? e.gardenLeave
        ? 'garden leave'
        : 'terminated'
      : e.status === 'pending'
        ? 'hired'
        : e.leave
          ? 'leave'
          : 'employed'
  return {
    id: e.id,
    firstName: e.firstName,
    surname: e.lastName,
    displayName: e.displayName ?? `${e.firstName} ${e.lastName}`,
    email: e.workEmail ?? null,
    work: {
      title: e.title ?? null,
      department: e.department ?? null,
      site: e.location ?? null,
      startDate: e.startDate,
      reportsTo: e.managerId ? { id: e.managerId, email: null } : null,
    },
    internal: {
      status: e.status === 'active' && !e.leave ? 'Active' : 'Inactive',
      lifecycleStatus: lifecycle,
      terminationDate: e.terminationDate ?? null,
      terminationReason: e.terminationReason ?? null,
      terminationType: e.terminationType === 'voluntary' ? 'Voluntary' : e.terminationType === 'involuntary' ? 'Involuntary' : null,
    },
  }
}

export class HiBobEmulator extends HrEmulator {
  readonly serviceUser: string
  readonly token: string

  constructor(options: HrEmulatorOptions & { serviceUser?: string; token?: string } = {}) {
    super(options, { api: { perMinute: 6000, burst: 1000 } })
    this.serviceUser = options.serviceUser ?? HIBOB_DEV_SERVICE_USER
    this.token = options.token ?? HIBOB_DEV_TOKEN
    const app = this.kit.app
    app.post('/v1/people/search', express.json(), (req, res) => void this.search(req, res))
    app.post('/v1/people/:id', express.json(), (req, res) => void this.read(req, res))
  }

  get apiBaseUrl(): string {
    return this.url
  }

  protected authorized(req: Request): boolean {
    const m = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')
    return m !== null && Buffer.from(m[1]!, 'base64').toString() === `${this.serviceUser}:${this.token}`
  }

  private async read(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const e = this.store.get(String(req.params.id))
    if (!e) {
      res.status(404).json({ error: 'Employee not found' })
      return
    }
    res.json(renderBobEmployee(e))
  }

  private async search(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    const showInactive = (req.body as { showInactive?: unknown } | undefined)?.showInactive === true
    const people = this.store.list().filter((e) => showInactive || e.status === 'active')
    res.json({ employees: people.map(renderBobEmployee) })
  }
}
