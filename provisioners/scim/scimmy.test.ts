/**
 * The SCIM provisioner against a third-party SCIM server: SCIMMY (scimmy + scimmy-routers on
 * express), with an in-memory store written here. Our emulator is written from the RFCs; this
 * server was written by someone else from the same RFCs, so what passes here does not merely
 * agree with our own reading. Its Users carry no `groups` (the store does not compute them,
 * as many real apps don't) although its /Schemas list the attribute: the provisioner must still
 * find and remove every membership, including one granted by hand.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import express from 'express'
import SCIMMY from 'scimmy'
import SCIMMYRouters from 'scimmy-routers'
import { silentLogger } from '../../src/log.ts'
import type { AccessGrant, Ctx } from '../types.ts'
import { scimAppConfigSchema } from './config.ts'
import { createScimProvisioner } from './provisioner.ts'

const TOKEN = 'scimmy-test-token'
type Stored = Record<string, unknown> & { id: string }
const users = new Map<string, Stored>()
const groups = new Map<string, Stored>()

/** Plain JSON of what SCIMMY hands to ingress (a schema instance). */
const plain = (instance: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(instance)) as Record<string, unknown>

function declare(type: typeof SCIMMY.Resources.User | typeof SCIMMY.Resources.Group, store: Map<string, Stored>, unique: string): void {
  // One store implementation for both types; the cast only unifies their handler signatures for tsc.
  SCIMMY.Resources.declare(type as typeof SCIMMY.Resources.User)
    .ingress((resource, instance) => {
      const data = plain(instance)
      const key = String(data[unique] ?? '').toLowerCase()
      for (const other of store.values()) {
        if (other.id !== resource.id && String(other[unique] ?? '').toLowerCase() === key) {
          throw new SCIMMY.Types.Error(409, 'uniqueness', `${unique} ${key} is already in use`)
        }
      }
      if (resource.id !== undefined && !store.has(resource.id)) throw new SCIMMY.Types.Error(404, null!, `Resource ${resource.id} not found`)
      const stored: Stored = { ...data, id: resource.id ?? randomUUID() }
      delete stored.meta
      store.set(stored.id, stored)
      return structuredClone(stored) as never // SCIMMY's types want its schema class; the plain object is what it reads
    })
    .egress((resource) => {
      if (resource.id !== undefined) {
        const found = store.get(resource.id)
        if (!found) throw new SCIMMY.Types.Error(404, null!, `Resource ${resource.id} not found`)
        return structuredClone(found) as never
      }
      const all = [...store.values()].map((v) => structuredClone(v))
      return (resource.filter ? resource.filter.match(all) : all) as never
    })
    .degress((resource) => {
      if (!resource.id || !store.delete(resource.id)) throw new SCIMMY.Types.Error(404, null!, `Resource ${String(resource.id)} not found`)
    })
}

let server: Server
let baseUrl: string
/** What the server answered, as its own access log would show it. */
const seen: Array<{ method: string; url: string; status: number }> = []

before(async () => {
  SCIMMY.Config.set({ patch: true, filter: 100 })
  declare(SCIMMY.Resources.User, users, 'userName')
  declare(SCIMMY.Resources.Group, groups, 'displayName')
  const app = express()
  app.use((req, res, next) => {
    res.on('finish', () => seen.push({ method: req.method, url: req.originalUrl, status: res.statusCode }))
    next()
  })
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: 'bearer',
      handler: (request) => {
        if (request.header('authorization') !== `Bearer ${TOKEN}`) throw new Error('Authorization failed')
        return 'tenure'
      },
    }) as unknown as express.Router,
  )
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2`
  for (const displayName of ['Engineering', 'Finance']) {
    const id = randomUUID()
    groups.set(id, { id, schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName, members: [] })
  }
})

after(async () => {
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
})

const ctx = (): Ctx => ({
  idempotencyKey: 'scimmy',
  correlationId: 'scimmy',
  signal: new AbortController().signal,
  log: silentLogger,
  throttle: async () => {},
  recordCall: () => {},
})
const grant = (names: string[]): AccessGrant => ({ account: true, groups: names, licences: [], channels: [], projects: [], roles: [] })
const groupNamed = (name: string) => [...groups.values()].find((g) => g.displayName === name)!
const membersOf = (g: Stored) => ((g.members as Array<{ value: string }> | undefined) ?? []).map((m) => m.value)

test('when a leaver is provisioned, cut off and cleaned up on a SCIMMY server, then its own store shows the user inactive and in no group', async () => {
  const p = createScimProvisioner(
    scimAppConfigSchema.parse({ name: 'scimmy', baseUrl, auth: { type: 'bearer', token: TOKEN } }),
  )
  const employee = { employeeId: 'S1', firstName: 'Sam', lastName: 'Scimmy', workEmail: 'sam.scimmy@example.com' }
  const ref = await p.provision(ctx(), { employee, enabled: true, access: grant(['Engineering']) })
  assert.equal(users.get(ref.accountId)?.userName, 'sam.scimmy@example.com')
  assert.equal(users.get(ref.accountId)?.active, true)
  assert.deepEqual(membersOf(groupNamed('Engineering')), [ref.accountId])

  // Someone adds the user to a second group by hand at the app: Tenure never granted it.
  const finance = groupNamed('Finance')
  finance.members = [{ value: ref.accountId }]

  const before = await p.verify(ctx(), ref, { granted: grant(['Engineering']) })
  assert.deepEqual(before.groups.sort(), ['Engineering', 'Finance'])
  assert.equal(before.revoked, false)

  const cut = await p.deprovision(ctx(), ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
  assert.equal(cut.steps[0]?.status, 'done')
  assert.equal(users.get(ref.accountId)?.active, false)

  const clean = await p.deprovision(ctx(), ref, { phase: 'cleanup', steps: ['remove_groups'], options: { granted: grant(['Engineering']) } })
  assert.deepEqual(clean.steps.map((s) => [s.step, s.status]), [['remove_groups', 'done']], clean.steps[0]?.detail)
  assert.deepEqual(clean.residual, [])

  const state = await p.verify(ctx(), ref, { granted: grant(['Engineering']) })
  assert.equal(state.revoked, true)
  assert.deepEqual(state.groups, [])
  assert.equal(state.unknown, undefined)

  // SCIMMY's Users carry no groups here, and its members.value filter trips over a Group without
  // members (400): the provisioner listed Groups instead, and did not ask the filter again.
  const groupSearches = seen.filter(
    (r) => r.url.includes('/Groups?') && (new URL(r.url, 'http://x').searchParams.get('filter') ?? '').startsWith('members.value eq'),
  )
  assert.ok(groupSearches.some((r) => r.status === 400), JSON.stringify(groupSearches))
  assert.equal(groupSearches.filter((r) => r.status === 400).length, 1)
  assert.equal(groupSearches.at(-1)?.status, 400, 'not sent again after the refusal')

  // From the server's own store, not from what the provisioner says.
  assert.equal(users.get(ref.accountId)?.active, false)
  for (const g of groups.values()) assert.ok(!membersOf(g).includes(ref.accountId), `still in ${String(g.displayName)}`)
})
