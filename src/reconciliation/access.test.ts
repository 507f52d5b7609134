import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AccountState } from '../../provisioners/types.ts'
import type { AccessGrant } from '../domain/access.ts'
import { defaultListedAccess, excessOf, ownerIndex, ownerOf, type AccountRow } from './access.ts'

const grant = (g: Partial<AccessGrant>): AccessGrant => ({ account: true, groups: [], licences: [], channels: [], projects: [], roles: [], ...g })
const listed = (a: Partial<AccountState> & { accountId: string }): AccountState => ({
  exists: true,
  active: true,
  groups: [],
  licences: [],
  roles: [],
  checks: [],
  revoked: false,
  ...a,
})
const row = (r: Partial<AccountRow> & { employee_id: string }): AccountRow => ({ account_id: null, login: null, status: 'active', verified_at: null, desired: null, ...r })

describe('reconciliation access rules', () => {
  test('when a Jira listing shows products as licences and a Slack listing user groups as groups, then the policy lists that land there are compared with them', () => {
    const expected = defaultListedAccess(grant({ groups: ['staff'], userGroups: ['S0ENG1234'], products: ['jira-software'] }))
    assert.deepEqual(excessOf({ groups: ['staff', 'S0ENG1234'], licences: ['jira-software'], roles: [] }, expected), {})
    assert.deepEqual(excessOf({ groups: ['Staff', 'S0ADM1234'], licences: ['jira-software', 'confluence'], roles: ['org-admin'] }, expected), {
      groups: ['S0ADM1234'],
      licences: ['confluence'],
      roles: ['org-admin'],
    })
  })

  test('when an account is linked by a person, then the link wins over the account id; an identity key two employees share matches nobody', () => {
    const employees = [
      { id: 'e-a', key: 'A1', state: 'active' },
      { id: 'e-b', key: 'B1', state: 'offboarded' },
      { id: 'e-c', key: 'DUP', state: 'active' },
      { id: 'e-d', key: 'DUP', state: 'active' },
    ]
    const rows = [row({ employee_id: 'e-a', account_id: 'acc-1', login: 'a@example.com' })]
    const index = ownerIndex(rows, employees, [{ account_id: 'acc-1', employee_id: 'e-b' }])
    const linked = ownerOf(listed({ accountId: 'acc-1' }), index)
    assert.equal(linked?.employee.id, 'e-b')
    assert.equal(linked?.via, 'link')
    assert.equal(linked?.managed, false, "not the account Tenure manages for B (B has no row here)")
    assert.equal(ownerOf(listed({ accountId: 'acc-2', login: 'A@example.com' }), index)?.via, 'login')
    assert.equal(ownerOf(listed({ accountId: 'acc-3', employeeId: 'A1' }), index)?.managed, false, 'A already has acc-1 here: a second account')
    assert.equal(ownerOf(listed({ accountId: 'acc-4', employeeId: 'DUP' }), index), undefined)
  })
})
