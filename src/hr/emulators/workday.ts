/**
 * Workday Report-as-a-Service twin: `GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json`
 * answering `{"Report_Entry": [...]}` with the default column aliases of `workday.fields`;
 * prompts `Employee_ID` and `Updated_From` filter rows. Auth: Basic (`ISU@tenant`) or a bearer
 * token from `POST /ccx/oauth2/{tenant}/token` (refresh-token grant, client id/secret in Basic).
 */
import express, { type Request, type Response } from 'express'
import { HrEmulator, type EmulatedEmployee, type HrEmulatorOptions } from './hr-emulator.ts'

export const WORKDAY_DEV_TENANT = 'tenure_sandbox'
export const WORKDAY_DEV_USER = 'ISU_Tenure'
export const WORKDAY_DEV_PASSWORD = 'dev-workday-password'
export const WORKDAY_DEV_CLIENT_ID = 'dev-workday-client'
export const WORKDAY_DEV_CLIENT_SECRET = 'dev-workday-client-secret'
export const WORKDAY_DEV_REFRESH_TOKEN = 'dev-workday-refresh-token'
export const WORKDAY_REPORT_PATH = 'ISU_Tenure/Tenure_Workers'

export function renderWorkdayRow(e: EmulatedEmployee): Record<string, string> {
  const row: Record<string, string> = {
    Employee_ID: e.id,
    First_Name: e.firstName,
    Last_Name: e.lastName,
    Hire_Date: e.startDate,
    Active: e.status === 'terminated' || e.status === 'pending' ? '0' : '1',
    On_Leave: e.leave ? '1' : '0',
    Last_Updated: e.updatedAt,
  }
  const optional: Record<string, string | undefined> = {
    'Email_-_Work': e.workEmail,
    Supervisory_Organization: e.department,
    Business_Title: e.title,
    Manager_ID: e.managerId,
    Location: e.location,
    Country_ISO_Code: e.countryCode,
    Time_Zone: e.timeZone,
    Termination_Date: e.terminationDate,
    Termination_Moment: e.terminatedAt,
    Termination_Voluntary: e.terminationType === 'voluntary' ? 'Voluntary' : e.terminationType === 'involuntary' ? 'Involuntary' : undefined,
    Termination_Reason: e.terminationReason,
    Leave_Start_Date: e.leave?.startDate,
    Leave_Estimated_Last_Day: e.leave?.expectedReturnDate,
  }
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) row[k] = v
  return row
}

export class WorkdayEmulator extends HrEmulator {
  readonly tenant: string

  constructor(options: HrEmulatorOptions & { tenant?: string } = {}) {
    super(options, { api: { perMinute: 600, burst: 100 } })
    this.tenant = options.tenant ?? WORKDAY_DEV_TENANT
    const app = this.kit.app
    app.post('/ccx/oauth2/:tenant/token', express.urlencoded({ extended: false }), (req, res) => this.token(req, res))
    app.get('/ccx/service/customreport2/:tenant/:owner/:report', (req, res) => void this.report(req, res))
  }

  get reportUrl(): string {
    return `${this.url}/ccx/service/customreport2/${this.tenant}/${WORKDAY_REPORT_PATH}`
  }

  get tokenUrl(): string {
    return `${this.url}/ccx/oauth2/${this.tenant}/token`
  }

  protected authorized(req: Request): boolean {
    const auth = req.headers.authorization ?? ''
    const basic = /^Basic\s+(.+)$/i.exec(auth)
    if (basic) return Buffer.from(basic[1]!, 'base64').toString() === `${WORKDAY_DEV_USER}@${this.tenant}:${WORKDAY_DEV_PASSWORD}`
    return this.kit.checkToken(auth) === 'ok'
  }

  protected override renderError(res: Response, status: number, code: string, message: string): void {
    res.status(status).json({ error: code, errors: [{ error: message }] })
  }

  private token(req: Request, res: Response): void {
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')
    const client = basic ? Buffer.from(basic[1]!, 'base64').toString() : ''
    const body = (req.body ?? {}) as Record<string, string>
    if (
      req.params.tenant !== this.tenant ||
      client !== `${WORKDAY_DEV_CLIENT_ID}:${WORKDAY_DEV_CLIENT_SECRET}` ||
      body.grant_type !== 'refresh_token' ||
      body.refresh_token !== WORKDAY_DEV_REFRESH_TOKEN
    ) {
      res.status(400).json({ error: 'invalid_client' })
      return
    }
    const t = this.kit.issueToken()
    res.json({ access_token: t.accessToken, token_type: 'Bearer', expires_in: t.expiresIn })
  }

  private async report(req: Request, res: Response): Promise<void> {
    if (!(await this.guard(req, res, 'api'))) return
    if (req.params.tenant !== this.tenant || `${req.params.owner}/${req.params.report}` !== WORKDAY_REPORT_PATH)
      return this.renderError(res, 404, 'not_found', 'Report not found')
    if (req.query.format !== 'json') return this.renderError(res, 400, 'invalid_format', 'This twin only renders format=json')
    let people = this.store.list()
    if (typeof req.query.Employee_ID === 'string') people = people.filter((e) => e.id === req.query.Employee_ID)
    if (typeof req.query.Updated_From === 'string') {
      const since = Date.parse(req.query.Updated_From)
      people = people.filter((e) => Date.parse(e.updatedAt) >= since)
    }
    res.json({ Report_Entry: people.map(renderWorkdayRow) })
  }
}
