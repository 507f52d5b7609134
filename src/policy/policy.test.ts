import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { EmployeeProfile } from '../domain/access.ts'
import { DEFAULT_SLA_MINUTES, PolicyError, diffAccess, evaluatePolicy, isEmptyChange, validatePolicy, type PolicyInput } from './index.ts'

const SYSTEMS = ['google', 'slack', 'jira', 'scim:github'] as const

const POLICY: PolicyInput = {
  rules: [
    { name: 'everyone', grant: { google: { groups: ['all@example.com'], licences: ['Google-Apps-For-Business'], orgUnit: '/Staff' }, slack: { channels: ['general'] } } },
    {
      name: 'engineering',
      match: { department: ['Engineering', 'Platform*'], not: { employmentType: 'Contractor' } },
      grant: { 'scim:github': { groups: ['engineers'] }, jira: { projects: ['ENG'], products: ['jira-software'] }, google: { groups: ['eng@example.com'], orgUnit: '/Staff/Engineering' } },
    },
    { name: 'berlin', match: { location: 'Berlin*' }, grant: { slack: { account: false, channels: ['berlin'] } } },
    { name: 'emea-extra', match: { location: '*', costCenter: 'CC-9*' }, grant: { jira: { account: false, projects: ['OPS'] } } },
  ],
  systems: { google: { slaMinutes: 60, leaver: { delete: false, transferData: true, leaversOrgUnit: '/Leavers' } } },
}

const ada: EmployeeProfile = { employeeId: 'E1', firstName: 'Ada', lastName: 'L', department: 'platform infra', location: 'Berlin HQ', employmentType: 'Employee', costCenter: 'CC-42' }

describe('evaluatePolicy', () => {
  const policy = validatePolicy(POLICY, SYSTEMS)

  test('when several rules match, then lists are unioned, the last orgUnit wins and the explanation names the rules', () => {
    const { plan, explain } = evaluatePolicy(ada, policy, SYSTEMS)
    assert.deepEqual(plan.google?.groups, ['all@example.com', 'eng@example.com'])
    assert.equal(plan.google?.orgUnit, '/Staff/Engineering')
    assert.deepEqual(plan.slack?.channels, ['berlin', 'general'])
    assert.deepEqual(plan.jira?.projects, ['ENG'])
    assert.deepEqual(explain.google, ['everyone', 'engineering'])
    assert.deepEqual(explain.slack, ['everyone', 'berlin'])
  })

  test('when a glob and case differ, then the rule still matches; when `not` matches, then the rule is skipped', () => {
    const contractor = { ...ada, employmentType: 'contractor' }
    const { plan } = evaluatePolicy(contractor, policy, SYSTEMS)
    assert.equal(plan['scim:github'], undefined)
    assert.equal(plan.jira, undefined)
    assert.deepEqual(plan.google?.groups, ['all@example.com'])
  })

  test('when a rule only adds lists (account: false) and nothing grants the account, then the system is not in the plan', () => {
    const sales: EmployeeProfile = { employeeId: 'E2', firstName: 'B', lastName: 'C', department: 'Sales', location: 'Paris', costCenter: 'CC-90' }
    const { plan, explain } = evaluatePolicy(sales, policy, SYSTEMS)
    assert.equal(plan.jira, undefined)
    assert.equal(explain.jira, undefined)
    assert.ok(plan.slack)
  })

  test('when an attribute is missing, then even `*` does not match it', () => {
    const noLocation: EmployeeProfile = { employeeId: 'E3', firstName: 'D', lastName: 'E', department: 'Engineering', costCenter: 'CC-91' }
    const { plan } = evaluatePolicy(noLocation, policy, SYSTEMS)
    assert.deepEqual(plan.jira?.projects, ['ENG'])
  })

  test('when per-system settings exist, then leaver options and SLA budgets come out for every configured system', () => {
    const { leaver, slaMinutes } = evaluatePolicy(ada, policy, SYSTEMS)
    assert.deepEqual(leaver.google, { delete: false, transferData: true, leaversOrgUnit: '/Leavers' })
    assert.deepEqual(leaver.slack, { delete: false, transferData: false })
    assert.equal(slaMinutes.google, 60)
    assert.equal(slaMinutes.slack, DEFAULT_SLA_MINUTES)
  })

  test('when a system is no longer configured, then it is left out of the plan', () => {
    const { plan } = evaluatePolicy(ada, policy, ['google'])
    assert.deepEqual(Object.keys(plan), ['google'])
  })
})

describe('validatePolicy', () => {
  const expectIssue = (input: unknown, pattern: RegExp, rule?: string): void => {
    assert.throws(
      () => validatePolicy(input, SYSTEMS),
      (err: unknown) => {
        assert.ok(err instanceof PolicyError)
        assert.match(err.message, pattern)
        if (rule !== undefined) assert.ok(err.issues.some((i) => i.rule === rule), `no issue names rule ${rule}: ${err.message}`)
        return true
      },
    )
  }

  test('when a rule grants an unknown system, then the error names the rule and the system', () => {
    expectIssue({ rules: [{ name: 'chat', grant: { slak: { channels: ['x'] } } }] }, /rule "chat" \(rules\[0\]\.grant\.slak\): unknown system "slak"/, 'chat')
  })

  test('when a match key is misspelled, then the error names the rule and the key', () => {
    expectIssue({ rules: [{ name: 'eng', match: { deparment: 'Engineering' }, grant: { google: {} } }] }, /rule "eng" \(rules\[0\]\.match\.deparment\): unknown key "deparment"/, 'eng')
  })

  test('when a grant key is misspelled, then the error names the rule and the key', () => {
    expectIssue({ rules: [{ name: 'eng', grant: { google: { group: ['x'] } } }] }, /rule "eng" \(rules\[0\]\.grant\.google\.group\): unknown key "group"/, 'eng')
  })

  test('when two rules share a name and a list repeats a value, then both are reported with the rule named', () => {
    assert.throws(
      () => validatePolicy({ rules: [{ name: 'a', grant: { google: { groups: ['x', 'X'] } } }, { name: 'a', grant: { slack: {} } }] }, SYSTEMS),
      (err: unknown) => {
        assert.ok(err instanceof PolicyError)
        assert.deepEqual(
          err.issues.map((i) => [i.rule, i.path]),
          [
            ['a', 'rules[0].grant.google.groups'],
            ['a', 'rules[1].name'],
          ],
        )
        assert.match(err.message, /duplicate "X"/)
        assert.match(err.message, /duplicate rule name \(also rules\[0\]\)/)
        return true
      },
    )
  })

  test('when a system SLA is raised above four hours, then it is refused', () => {
    expectIssue({ systems: { slack: { slaMinutes: 300 } } }, /systems\.slack\.slaMinutes: may only lower the 240-minute SLA/)
  })

  test('when per-system settings name an unknown system, then it is refused', () => {
    expectIssue({ systems: { dropbox: { slaMinutes: 30 } } }, /systems\.dropbox: unknown system "dropbox"/)
  })

  test('when a rule grants nothing or has a bad name, then it is refused', () => {
    expectIssue({ rules: [{ name: 'empty', grant: {} }] }, /rule "empty".*grants nothing/, 'empty')
    expectIssue({ rules: [{ name: 'has space', grant: { google: {} } }] }, /rules\[0\]\.name/)
  })

  test('when the policy is valid, then defaults are filled in', () => {
    const policy = validatePolicy({ rules: [{ name: 'all', grant: { google: {} } }] }, SYSTEMS)
    assert.deepEqual(policy.rules[0]?.match, {})
    assert.equal(policy.rules[0]?.grant.google?.account, true)
    assert.deepEqual(policy.systems, {})
  })
})

describe('diffAccess', () => {
  const base = { account: true, groups: ['a', 'b'], licences: ['L1'], channels: [], projects: [], roles: [] }

  test('when nothing is provisioned yet, then it creates and adds everything desired', () => {
    const diff = diffAccess(base, undefined)
    assert.equal(diff.create, true)
    assert.equal(diff.remove, false)
    assert.deepEqual(diff.change.add, { groups: ['a', 'b'], licences: ['L1'] })
  })

  test('when access is no longer desired, then it removes the account and everything on it', () => {
    const diff = diffAccess(undefined, base)
    assert.deepEqual([diff.create, diff.remove], [false, true])
    assert.deepEqual(diff.change.remove, { groups: ['a', 'b'], licences: ['L1'] })
  })

  test('when a mover changes groups and org unit, then only the delta is applied', () => {
    const diff = diffAccess({ ...base, groups: ['b', 'c'], orgUnit: '/New' }, { ...base, orgUnit: '/Old' })
    assert.deepEqual(diff.change, { add: { groups: ['c'] }, remove: { groups: ['a'] }, orgUnit: '/New' })
    assert.equal(isEmptyChange(diff.change), false)
  })

  test('when desired equals provisioned (order aside), then there is nothing to do', () => {
    const diff = diffAccess({ ...base, groups: ['b', 'a'] }, base)
    assert.equal(isEmptyChange(diff.change), true)
    assert.deepEqual([diff.create, diff.remove], [false, false])
  })

  test('when the desired grant says account: false, then it counts as no account', () => {
    assert.equal(diffAccess({ ...base, account: false }, base).remove, true)
  })
})
