/**
 * The emulator answers like Jira Cloud and Atlassian's SCIM API where the provisioner depends on it:
 * status codes, error bodies, headers, paging. Raw HTTP, so the shapes are checked as sent.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { JiraEmulator, JIRA_SANDBOX_CREDENTIALS } from './emulator.ts'

const basic = (email: string, token: string) => `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`
const ADMIN = basic(JIRA_SANDBOX_CREDENTIALS.email, JIRA_SANDBOX_CREDENTIALS.apiToken)
const SCIM = `Bearer ${JIRA_SANDBOX_CREDENTIALS.scimToken}`

describe('jira emulator', () => {
  let emulator: JiraEmulator
  let url: string
  let scimUrl: string
  const jira = (path: string, init: RequestInit = {}) =>
    fetch(`${url}/rest/api/3${path}`, {
      ...init,
      headers: { Authorization: ADMIN, 'Content-Type': 'application/json', Accept: 'application/json', ...(init.headers as Record<string, string>) },
    })
  const scim = (path: string, init: RequestInit = {}) =>
    fetch(`${scimUrl}${path}`, {
      ...init,
      headers: { Authorization: SCIM, 'Content-Type': 'application/scim+json', ...(init.headers as Record<string, string>) },
    })

  before(async () => {
    emulator = new JiraEmulator()
    url = await emulator.start()
    scimUrl = `${url}/scim/directory/${JIRA_SANDBOX_CREDENTIALS.directoryId}`
  })
  after(async () => {
    await emulator.close()
  })

  test('when the API token is wrong, then 401 with Jira\'s plain-text body', async () => {
    const res = await fetch(`${url}/rest/api/3/users/search`, { headers: { Authorization: basic(JIRA_SANDBOX_CREDENTIALS.email, 'nope') } })
    assert.equal(res.status, 401)
    assert.equal(await res.text(), 'Client must be authenticated to access this resource.')
    assert.ok(res.headers.get('x-arequestid'))
  })

  test('when a user is created without an email or with an unknown product, then 400 ErrorCollections', async () => {
    const missing = await jira('/user', { method: 'POST', body: JSON.stringify({ products: [] }) })
    assert.equal(missing.status, 400)
    const body = (await missing.json()) as { errorMessages: string[]; errors: Record<string, string> }
    assert.deepEqual(body.errorMessages, [])
    assert.ok(body.errors.emailAddress)

    const unknown = await jira('/user', { method: 'POST', body: JSON.stringify({ emailAddress: 'x@acme.example', products: ['confluence'] }) })
    assert.equal(unknown.status, 400)
    assert.match(((await unknown.json()) as { errorMessages: string[] }).errorMessages[0] ?? '', /Invalid product key/)

    const malformed = await jira('/user', { method: 'POST', body: '{"emailAddress":' })
    assert.equal(malformed.status, 400)
    assert.ok(Array.isArray(((await malformed.json()) as { errorMessages: unknown }).errorMessages))
  })

  test('when an existing user with access is created again, then 201 with the same account; without access and products, 400', async () => {
    const create = (products: string[]) => jira('/user', { method: 'POST', body: JSON.stringify({ emailAddress: 'twice@acme.example', products }) })
    const first = (await (await create(['jira-software'])).json()) as { accountId: string }
    const second = await create([])
    assert.equal(second.status, 201)
    assert.equal(((await second.json()) as { accountId: string }).accountId, first.accountId)

    emulator.seedUser({ email: 'noaccess@acme.example' })
    const noAccess = await jira('/user', { method: 'POST', body: JSON.stringify({ emailAddress: 'noaccess@acme.example', products: [] }) })
    assert.equal(noAccess.status, 400)
  })

  test('when group membership is changed, then Jira\'s 201/400/403/404 answers come back', async () => {
    const accountId = emulator.seedUser({ email: 'member@acme.example' })
    emulator.seedGroup('devs')
    const add = () => jira('/group/user?groupname=devs', { method: 'POST', body: JSON.stringify({ accountId }) })
    assert.equal((await add()).status, 201)
    const again = await add()
    assert.equal(again.status, 400)
    assert.match(((await again.json()) as { errorMessages: string[] }).errorMessages[0] ?? '', /already a member of 'devs'/)
    assert.equal((await jira('/group/user?groupname=devs&groupId=x', { method: 'POST', body: JSON.stringify({ accountId }) })).status, 400)
    assert.equal((await jira('/group/user?groupname=nope', { method: 'POST', body: JSON.stringify({ accountId }) })).status, 404)
    assert.equal((await jira('/group/user?groupname=site-admins', { method: 'POST', body: JSON.stringify({ accountId }) })).status, 403)

    const groups = (await (await jira(`/user/groups?accountId=${accountId}`)).json()) as { name: string; groupId: string }[]
    const devs = groups.find((g) => g.name === 'devs')
    assert.ok(devs?.groupId)
    assert.equal((await jira(`/group/user?groupId=${devs.groupId}&accountId=${accountId}`, { method: 'DELETE' })).status, 200)
    assert.equal((await jira(`/group/user?groupId=${devs.groupId}&accountId=${accountId}`, { method: 'DELETE' })).status, 400)
  })

  test('when users are paged with startAt/maxResults, then each page continues where the last ended', async () => {
    for (let i = 0; i < 4; i += 1) emulator.seedUser({ email: `page${i}@acme.example` })
    const page = async (startAt: number) =>
      ((await (await jira(`/users/search?startAt=${startAt}&maxResults=2`)).json()) as { accountId: string }[]).map((u) => u.accountId)
    const a = await page(0)
    const b = await page(2)
    assert.equal(a.length, 2)
    assert.equal(b.length, 2)
    assert.equal(new Set([...a, ...b]).size, 4)
  })

  test('when a user is read with expand, then groups and applicationRoles are listed', async () => {
    const accountId = emulator.seedUser({ email: 'expand@acme.example', products: ['jira-software'] })
    const user = (await (await jira(`/user?accountId=${accountId}&expand=groups,applicationRoles`)).json()) as {
      groups: { items: { name: string }[] }
      applicationRoles: { items: { key: string }[] }
    }
    assert.deepEqual(user.groups.items.map((g) => g.name), ['jira-software-users'])
    assert.deepEqual(user.applicationRoles.items.map((r) => r.key), ['jira-software'])
    assert.equal((await jira('/user?accountId=000000000000000000000000')).status, 404)
  })

  test('when the write bucket is set low over the control API, then Jira answers 429 with Retry-After and RateLimit-Reason', async () => {
    const put = await fetch(`${url}/_emulator/rate-limits`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ write: { perMinute: 60, burst: 1 } }),
    })
    assert.equal(put.status, 204)
    const accountId = emulator.seedUser({ email: 'limited@acme.example' })
    emulator.seedGroup('limited-a')
    emulator.seedGroup('limited-b')
    await jira('/group/user?groupname=limited-a', { method: 'POST', body: JSON.stringify({ accountId }) })
    const limited = await jira('/group/user?groupname=limited-b', { method: 'POST', body: JSON.stringify({ accountId }) })
    assert.equal(limited.status, 429)
    assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    assert.equal(limited.headers.get('ratelimit-reason'), 'jira-burst-based')
    emulator.kit.configureLimits({})
  })

  test('when the SCIM API is called, then bearer auth, eq filters, 409 on duplicates and the Error schema hold', async () => {
    const unauthorized = await fetch(`${scimUrl}/Users`, { headers: { Authorization: 'Bearer wrong' } })
    assert.equal(unauthorized.status, 401)
    assert.deepEqual(((await unauthorized.json()) as { schemas: string[] }).schemas, ['urn:ietf:params:scim:api:messages:2.0:Error'])

    const body = JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'scim.user@acme.example',
      emails: [{ value: 'scim.user@acme.example', primary: true }],
      externalId: 'HR-42',
      active: true,
    })
    const created = await scim('/Users', { method: 'POST', body })
    assert.equal(created.status, 201)
    const user = (await created.json()) as { id: string; 'urn:scim:schemas:extension:atlassian-external:1.0': { atlassianAccountId: string } }
    assert.ok(user['urn:scim:schemas:extension:atlassian-external:1.0'].atlassianAccountId)
    const duplicate = await scim('/Users', { method: 'POST', body })
    assert.equal(duplicate.status, 409)
    assert.equal(((await duplicate.json()) as { scimType: string }).scimType, 'uniqueness')

    const byExternal = (await (await scim(`/Users?filter=${encodeURIComponent('externalId eq "HR-42"')}`)).json()) as { totalResults: number }
    assert.equal(byExternal.totalResults, 1)
    const byName = (await (await scim(`/Users?filter=${encodeURIComponent('userName eq "SCIM.USER@acme.example"')}`)).json()) as { totalResults: number }
    assert.equal(byName.totalResults, 1)
    const unsupported = await scim(`/Users?filter=${encodeURIComponent('displayName co "x"')}`)
    assert.equal(unsupported.status, 400)
    assert.equal(((await unsupported.json()) as { scimType: string }).scimType, 'invalidFilter')

    const patched = await scim(`/Users/${user.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }),
    })
    assert.equal(patched.status, 200)
    assert.equal(((await patched.json()) as { active: boolean }).active, false)
    assert.equal(emulator.getUser(user['urn:scim:schemas:extension:atlassian-external:1.0'].atlassianAccountId)?.active, false)
    assert.equal((await scim('/Users/does-not-exist')).status, 404)
  })
})
