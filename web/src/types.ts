/**
 * The API's shapes, typed from the server's own zod schemas with type-only imports: the console
 * cannot drift from what the API sends, and no server code reaches the bundle (these imports are
 * erased at build time).
 */
import type { z } from 'zod'
import type { caseSchema, caseCountsSchema } from '../../src/api/cases.ts'
import type { employeeSummarySchema, employeeDetailSchema, planSystem, timelineItem, timelinePageSchema } from '../../src/api/employees.ts'
import type { taskSchema, systemSchema, deadLetterSchema } from '../../src/api/operations.ts'
import type { findingSchema } from '../../src/reconciliation/routes.ts'
import type { exceptionSchema } from '../../src/exceptions/routes.ts'
import type { ReportManifest } from '../../src/reports/manifest.ts'
import type { Role } from '../../src/auth/roles.ts'
import type { VerifyResult } from '../../src/audit/chain.ts'
import type { SampleEvent } from '../../src/console/sample-events.ts'

export type { Role, ReportManifest, VerifyResult, SampleEvent }
export type Case = z.output<typeof caseSchema>
export type CaseCounts = z.output<typeof caseCountsSchema>
export type CaseSystem = Case['systems'][number]
export type EmployeeSummary = z.output<typeof employeeSummarySchema>
export type EmployeeDetail = z.output<typeof employeeDetailSchema>
export type TimelineItem = z.output<typeof timelineItem>
export type TimelinePage = z.output<typeof timelinePageSchema>
export type PlanSystem = z.output<typeof planSystem>
export type Task = z.output<typeof taskSchema>
export type Finding = z.output<typeof findingSchema>
export type SystemStatus = z.output<typeof systemSchema>
export type DeadLetter = z.output<typeof deadLetterSchema>
export type Exception = z.output<typeof exceptionSchema>

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

/** A page of a list whose API counts every match (cases, tasks, dead letters). */
export interface CountedPage<T> extends Page<T> {
  total: number
}

export interface Whoami {
  kind: 'api_token' | 'oidc'
  id: string
  name: string | null
  email: string | null
  roles: Role[]
}

export interface ConsoleConfig {
  oidc: { issuer: string; clientId: string; scopes: string[] } | null
  sandbox: boolean
  version: string
}

export interface ApiErrorBody {
  error: { code: string; message: string; details: unknown; requestId?: string }
}
