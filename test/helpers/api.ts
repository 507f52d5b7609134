/**
 * Calling a test Tenure's API as a role: one API token per role, created directly in the database
 * (the token API itself is tested in src/auth).
 */
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import type { TestTenure } from './tenure.ts'

export interface ApiAnswer<T> {
  status: number
  body: T
}

export type ApiCall = <T = Record<string, unknown>>(role: Role, path: string, init?: RequestInit) => Promise<ApiAnswer<T>>

export async function apiAs(t: TestTenure, roles: readonly Role[]): Promise<ApiCall> {
  const tokens: Partial<Record<Role, string>> = {}
  for (const role of roles) {
    tokens[role] = (await createApiToken(t.running.pool, { name: `test-${role}`, role, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
  }
  return async <T>(role: Role, path: string, init: RequestInit = {}) => {
    const token = tokens[role]
    if (!token) throw new Error(`no token for role ${role}: pass it to apiAs()`)
    const res = await fetch(`${t.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    })
    return { status: res.status, body: (await res.json()) as T }
  }
}
