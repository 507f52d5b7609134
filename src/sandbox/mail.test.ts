import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../../test/helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../lifecycle/engine.ts'
import { createApiToken } from '../auth/tokens.ts'
import { textPart } from './mail.ts'
import type { CaughtMail } from './mailbox.ts'

describe('the sandbox catches e-mail (npm start without notify.email)', () => {
  let t: TestTenure
  let operator: string
  let auditor: string
  before(async () => {
    t = await startTestTenure({ sandbox: { enabled: true }, policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] } })
    const token = async (role: 'operator' | 'auditor') =>
      (await createApiToken(t.running.pool, { name: `mail-${role}`, role, expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    operator = await token('operator')
    auditor = await token('auditor')
  })
  after(async () => {
    await t.stop()
  })

  const get = async (path: string, token: string) => {
    const res = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: (await res.json()) as { items: CaughtMail[]; nextCursor: string | null; port: number } }
  }

  test('when an exception is requested in the sandbox, then the approvers\' e-mail is listed at GET /api/v1/sandbox/mail', async () => {
    assert.ok(t.running.config.sandbox.enabled)
    assert.equal(t.running.config.notify.email, undefined, 'no e-mail configured: the sandbox brings its own sink')
    const profile = { employeeId: 'SM1', firstName: 'Mail', lastName: 'Sandbox' }
    const hired = await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'SM1', { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'hire-SM1' })
    await t.until('the joiner to be active', async () => (await t.employeeState('SM1')) === 'active')
    const res = await fetch(`${t.url}/api/v1/exceptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'delay_revocation', employeeId: hired.employeeId, system: 'sandbox', endsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(), reason: 'mailbox hand-over to the manager' }),
    })
    assert.equal(res.status, 201, await res.text())
    const caught = await t.until('the approvers\' e-mail in the sandbox mailbox', async () => {
      const page = await get('/api/v1/sandbox/mail', auditor)
      return page.body.items.find((m) => /Approval needed: .* for Mail Sandbox/.test(m.subject ?? ''))
    })
    assert.deepEqual(caught.to, ['approvers@example.com'])
    assert.match(caught.text, /mailbox hand-over to the manager/)
    assert.match(caught.text, /Requested by: mail-operator/)
    const filtered = await get('/api/v1/sandbox/mail?to=APPROVERS@example.com&limit=1', auditor)
    assert.equal(filtered.status, 200)
    assert.equal(filtered.body.items[0]?.seq, caught.seq)
    assert.ok(filtered.body.port > 0)
  })

  test('when a caller sends no credential, then the mailbox is refused', async () => {
    const res = await fetch(`${t.url}/api/v1/sandbox/mail`)
    assert.equal(res.status, 401)
  })
})

describe('textPart', () => {
  test('when a nodemailer message is quoted-printable, then the plain text comes back decoded', () => {
    const raw = [
      'Content-Type: multipart/alternative; boundary="--_b1"',
      '',
      '----_b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Caf=C3=A9 for Ad=',
      'a =3D ok',
      '----_b1',
      'Content-Type: text/html',
      '',
      '<p>x</p>',
      '----_b1--',
    ].join('\r\n')
    assert.equal(textPart(raw), 'Café for Ada = ok')
  })
})
