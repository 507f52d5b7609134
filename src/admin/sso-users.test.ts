import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startOidcIssuer, type OidcIssuer } from '../../test/helpers/oidc.ts'
import { realClock, startHarness, type Harness } from '../auth/test-support.ts'

const roleMapping = { admin: ['tenure-admins'], approver: ['it-approvers'], operator: ['it-ops'], auditor: ['compliance'] }

interface SsoUser {
  subject: string
  name: string | null
  email: string | null
  roles: string[]
  mappedBy: { role: string; claimValues: string[] }[]
  lastSeenAt: string
  lastSignInAt: string | null
}
interface Page {
  items: SsoUser[]
  nextCursor: string | null
  total: number
  mapping: { issuer: string; rolesClaim: string; roles: { role: string; claimValues: string[] }[] } | null
}

describe('administration: who holds which role through SSO', () => {
  let idp: OidcIssuer
  let h: Harness
  let admin: string
  const authTime = Math.floor(Date.parse('2026-12-06T08:00:00Z') / 1000)

  before(async () => {
    idp = await startOidcIssuer()
    h = await startHarness({
      clock: realClock(),
      config: { auth: { oidc: { issuer: idp.issuer, audience: idp.audience, roleMapping, jwksCooldownSeconds: 0 }, rateLimit: { enabled: false } } },
    })
    admin = await idp.sign({ sub: 'u-grace', name: 'Grace Hopper', email: 'grace@example.com', auth_time: authTime, roles: ['tenure-admins', 'compliance', 'unrelated'] })
    const ops = await idp.sign({ sub: 'u-alan', name: 'Alan Turing', email: 'alan@example.com', roles: ['it-ops'] })
    const nobody = await idp.sign({ sub: 'u-mallory', name: 'Mallory', roles: ['marketing'] })
    for (const jwt of [admin, ops, nobody]) await h.call('get', '/api/v1/whoami', { token: jwt })
  })
  after(async () => {
    await h.close()
    await idp.close()
  })

  const list = async (query = '', token = admin) => {
    const res = await h.call('get', `/api/v1/admin/sso-users${query}`, { token })
    assert.equal(res.status, 200, res.text)
    return res.json as Page
  }

  test('when people signed in with SSO, then the admin sees each with their roles, the claim values that mapped them, the last sign-in and the mapping', async () => {
    const page = await list()
    assert.equal(page.total, 3)
    const grace = page.items.find((u) => u.subject === 'u-grace')!
    assert.deepEqual(grace.roles, ['admin', 'auditor'])
    assert.deepEqual(grace.mappedBy, [
      { role: 'admin', claimValues: ['tenure-admins'] },
      { role: 'auditor', claimValues: ['compliance'] },
    ])
    assert.equal(grace.email, 'grace@example.com')
    assert.equal(grace.lastSignInAt, new Date(authTime * 1000).toISOString(), 'auth_time is when they signed in at the IdP')
    assert.ok(grace.lastSeenAt)
    // Signed in, but no mapped group: listed with no role (every endpoint refused them).
    assert.deepEqual(page.items.find((u) => u.subject === 'u-mallory')?.roles, [])
    assert.equal(page.mapping?.issuer, idp.issuer)
    assert.deepEqual(page.mapping?.roles.find((r) => r.role === 'operator')?.claimValues, ['it-ops'])
  })

  test('when the list is longer than a page, then the pages follow each other server-side without overlap, and filters apply', async () => {
    const first = await list('?limit=2')
    assert.equal(first.items.length, 2)
    assert.ok(first.nextCursor)
    const second = await list(`?limit=2&cursor=${first.nextCursor}`)
    assert.equal(second.items.length, 1)
    assert.equal(second.nextCursor, null)
    assert.deepEqual([...first.items, ...second.items].map((u) => u.subject).sort(), ['u-alan', 'u-grace', 'u-mallory'])
    assert.deepEqual((await list('?role=operator')).items.map((u) => u.subject), ['u-alan'])
    const byName = await list('?q=hopper')
    assert.deepEqual([byName.total, byName.items[0]?.subject], [1, 'u-grace'])
  })

  test("when a person's groups change at the IdP, then their next request updates the roles shown", async () => {
    const promoted = await idp.sign({ sub: 'u-alan', name: 'Alan Turing', email: 'alan@example.com', roles: ['it-ops', 'it-approvers'] })
    assert.equal((await h.call('get', '/api/v1/whoami', { token: promoted })).status, 200)
    const alan = (await list('?q=u-alan')).items[0]!
    assert.deepEqual(alan.roles, ['approver', 'operator'])
    assert.deepEqual(alan.mappedBy.find((m) => m.role === 'approver')?.claimValues, ['it-approvers'])
  })

  test('when someone who is not an admin asks, then it is refused', async () => {
    const ops = await idp.sign({ sub: 'u-alan', roles: ['it-ops'] })
    assert.equal((await h.call('get', '/api/v1/admin/sso-users', { token: ops })).status, 403)
    assert.equal((await h.call('get', '/api/v1/admin/sso-users')).status, 401)
  })
})
