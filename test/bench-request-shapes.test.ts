import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requestShapeDifference } from '../bench/scenarios.ts'

test('when the two sides of the single-leaver pairing make different calls, then the difference names the extra calls with their ids masked', () => {
  const tenure = [
    'PATCH /v1.0/users/0b6c1d2e-1111',
    'POST /v1.0/users/0b6c1d2e-1111/revokeSignInSessions',
    'GET /v1.0/users/0b6c1d2e-1111/memberOf?$top=999',
    'GET /v1.0/users/0b6c1d2e-1111/memberOf?$top=999',
  ]
  const oracle = ['PATCH /v1.0/users/9f00aa-2222', 'POST /v1.0/users/9f00aa-2222/revokeSignInSessions', 'GET /v1.0/users/9f00aa-2222/memberOf?$top=999', 'GET /v1.0/me']
  assert.deepEqual(requestShapeDifference(tenure, oracle), { tenureOnly: ['GET /:x/users/:x/memberOf?$top=:x'], oracleOnly: ['GET /:x/me'] })
  assert.deepEqual(requestShapeDifference(oracle.slice(0, 3), tenure.slice(0, 3)), { tenureOnly: [], oracleOnly: [] })
})
