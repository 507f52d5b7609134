import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lockEmployeeByIdText } from './employees.ts'

test('when the lock by id is sent as text with its BEGIN, then only a UUID is ever put into it', () => {
  const id = '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60'
  assert.match(lockEmployeeByIdText(id) ?? '', new RegExp(`WHERE id = '${id}' FOR UPDATE$`))
  for (const bad of ["x' OR '1'='1", `${id}'; DROP TABLE employees; --`, '', 'EN-1', `${id} `]) {
    assert.equal(lockEmployeeByIdText(bad), undefined, bad)
  }
})
