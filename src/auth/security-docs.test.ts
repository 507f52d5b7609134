import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { renderRoleMatrix, SECURITY_DOCS, withCurrentMatrix } from '../../scripts/security-docs.ts'
import { API_ROUTES } from '../http/api-routes.ts'

test('when the route registry changes, then the role matrix in docs/security.md is regenerated (node scripts/security-docs.ts)', async () => {
  const onDisk = await readFile(SECURITY_DOCS, 'utf8')
  assert.equal(onDisk, withCurrentMatrix(onDisk), 'docs/security.md is out of date: run `node scripts/security-docs.ts`')
  for (const route of API_ROUTES) assert.ok(onDisk.includes(`\`${route.method.toUpperCase()} ${route.path}\``), `${route.path} is in the matrix`)
  assert.match(renderRoleMatrix(), /\| `POST \/api\/v1\/tokens` \| Issue an API token \| ✓ \| 403 \| 403 \| 403 \| 403 \| 401 \|/)
})
