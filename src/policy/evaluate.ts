/**
 * Policy evaluation (profile → plan) and validation (config → Policy or an error naming the rule
 * and key). Pure.
 */
import type { AccessGrant, AccessList, EmployeeProfile, SystemId } from '../domain/access.ts'
import { ACCESS_LISTS, emptyGrant, mergeGrants, normaliseGrant } from '../../state-machines/access.ts'
import type { LeaverOptions, LeaverPlan, Plan } from '../../state-machines/lifecycle-types.ts'
import {
  DEFAULT_SLA_MINUTES,
  MATCH_KEYS,
  policySchema,
  type Policy,
  type PolicyGrant,
  type PolicyMatch,
} from './schema.ts'

export interface PolicyIssue {
  /** The rule's name, when the problem is inside a rule. */
  rule?: string
  /** Dotted path inside the policy, e.g. `rules[2].grant.slak` or `systems.google.slaMinutes`. */
  path: string
  message: string
}

export class PolicyError extends Error {
  readonly issues: PolicyIssue[]

  constructor(issues: PolicyIssue[]) {
    super(`invalid policy: ${issues.map(formatIssue).join('; ')}`)
    this.name = 'PolicyError'
    this.issues = issues
  }
}

function formatIssue(issue: PolicyIssue): string {
  return issue.rule !== undefined ? `rule "${issue.rule}" (${issue.path}): ${issue.message}` : `${issue.path}: ${issue.message}`
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`
  return out === '' ? '(policy)' : out
}

function ruleNameAt(input: unknown, index: unknown): string | undefined {
  if (typeof index !== 'number' || typeof input !== 'object' || input === null) return undefined
  const rules = (input as { rules?: unknown }).rules
  if (!Array.isArray(rules)) return undefined
  const rule: unknown = rules[index]
  if (typeof rule !== 'object' || rule === null) return undefined
  const name = (rule as { name?: unknown }).name
  return typeof name === 'string' ? name : undefined
}

/**
 * Parse and check a policy against the systems configured. Throws PolicyError naming the rule and
 * key for schema errors, unknown systems, unknown keys and duplicates; the app refuses to start.
 */
export function validatePolicy(input: unknown, knownSystems: readonly SystemId[]): Policy {
  const parsed = policySchema.safeParse(input)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i): PolicyIssue => {
      const keys = i.code === 'unrecognized_keys' ? i.keys : []
      const path = formatPath(keys.length === 1 ? [...i.path, keys[0] as string] : i.path)
      const message = i.code === 'unrecognized_keys' ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}` : i.message
      const rule = i.path[0] === 'rules' ? ruleNameAt(input, i.path[1]) : undefined
      return rule === undefined ? { path, message } : { rule, path, message }
    })
    throw new PolicyError(issues)
  }
  const policy = parsed.data
  const known = new Set(knownSystems)
  const issues: PolicyIssue[] = []
  const seen = new Map<string, number>()
  policy.rules.forEach((rule, index) => {
    const at = `rules[${index}]`
    const first = seen.get(rule.name)
    if (first !== undefined) issues.push({ rule: rule.name, path: `${at}.name`, message: `duplicate rule name (also rules[${first}])` })
    else seen.set(rule.name, index)
    const systems = Object.keys(rule.grant)
    if (systems.length === 0) issues.push({ rule: rule.name, path: `${at}.grant`, message: 'grants nothing' })
    for (const system of systems) {
      if (!known.has(system))
        issues.push({ rule: rule.name, path: `${at}.grant.${system}`, message: `unknown system "${system}" (configured: ${[...known].join(', ') || 'none'})` })
      const grant = rule.grant[system] as PolicyGrant
      for (const list of ACCESS_LISTS) {
        const values = grant[list] ?? []
        const dupes = values.filter((v, i) => values.findIndex((w) => w.toLowerCase() === v.toLowerCase()) !== i)
        if (dupes.length > 0) issues.push({ rule: rule.name, path: `${at}.grant.${system}.${list}`, message: `duplicate ${dupes.map((d) => `"${d}"`).join(', ')}` })
      }
    }
    for (const key of MATCH_KEYS) {
      const values = asList(rule.match[key])
      const dupes = values.filter((v, i) => values.findIndex((w) => w.toLowerCase() === v.toLowerCase()) !== i)
      if (dupes.length > 0) issues.push({ rule: rule.name, path: `${at}.match.${key}`, message: `duplicate ${dupes.map((d) => `"${d}"`).join(', ')}` })
    }
  })
  for (const system of Object.keys(policy.systems))
    if (!known.has(system)) issues.push({ path: `systems.${system}`, message: `unknown system "${system}" (configured: ${[...known].join(', ') || 'none'})` })
  if (issues.length > 0) throw new PolicyError(issues)
  return policy
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return typeof value === 'string' ? [value] : value
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`, 'i')
}

/** One value: case-insensitive, `*` a wildcard. A missing attribute matches nothing, not even `*`. */
export function matchesValue(actual: string | undefined, pattern: string | string[]): boolean {
  if (actual === undefined) return false
  const value = actual.trim()
  return asList(pattern).some((p) => (p.includes('*') ? globToRegExp(p.trim()).test(value) : p.trim().toLowerCase() === value.toLowerCase()))
}

function matchesBlock(profile: EmployeeProfile, block: Omit<PolicyMatch, 'not'>): boolean {
  return MATCH_KEYS.every((key) => {
    const pattern = block[key]
    return pattern === undefined || matchesValue(profile[key], pattern)
  })
}

export function ruleMatches(profile: EmployeeProfile, match: PolicyMatch): boolean {
  if (!matchesBlock(profile, match)) return false
  if (match.not !== undefined && Object.keys(match.not).length > 0 && matchesBlock(profile, match.not)) return false
  return true
}

function toGrant(g: PolicyGrant): AccessGrant {
  const out = emptyGrant(g.account)
  for (const list of ACCESS_LISTS) {
    const values = g[list]
    if (values !== undefined) out[list as AccessList] = values
  }
  if (g.orgUnit !== undefined) out.orgUnit = g.orgUnit
  return normaliseGrant(out)
}

export interface PolicyEvaluation {
  /** Systems where the person gets an account, with what (account is always true here). */
  plan: Plan
  /** Per system, the rules that contributed, in order. */
  explain: Record<SystemId, string[]>
  /** Per known system, how a leaver is handled. */
  leaver: LeaverPlan
  /** Per known system, the revocation budget in minutes. */
  slaMinutes: Record<SystemId, number>
}

const DEFAULT_LEAVER: LeaverOptions = { delete: false, transferData: false }

/**
 * Every matching rule contributes: lists are unioned, the account exists when any matching rule
 * grants it, the last matching rule's orgUnit wins. Systems not configured are skipped.
 */
export function evaluatePolicy(profile: EmployeeProfile, policy: Policy, knownSystems: readonly SystemId[]): PolicyEvaluation {
  const known = new Set(knownSystems)
  const merged: Record<SystemId, AccessGrant> = {}
  const explain: Record<SystemId, string[]> = {}
  for (const rule of policy.rules) {
    if (!ruleMatches(profile, rule.match)) continue
    for (const [system, g] of Object.entries(rule.grant)) {
      if (!known.has(system)) continue
      merged[system] = mergeGrants(merged[system], toGrant(g)) as AccessGrant
      ;(explain[system] ??= []).push(rule.name)
    }
  }
  const plan: Plan = {}
  for (const [system, grant] of Object.entries(merged)) if (grant.account) plan[system] = grant
  for (const system of Object.keys(explain)) if (plan[system] === undefined) delete explain[system]
  const leaver: LeaverPlan = {}
  const slaMinutes: Record<SystemId, number> = {}
  for (const system of knownSystems) {
    const settings = policy.systems[system]
    leaver[system] = { ...DEFAULT_LEAVER, ...settings?.leaver }
    slaMinutes[system] = settings?.slaMinutes ?? DEFAULT_SLA_MINUTES
  }
  return { plan, explain, leaver, slaMinutes }
}
