import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { workday } from './workday.ts'
import {
  WORKDAY_DEV_CLIENT_ID,
  WORKDAY_DEV_CLIENT_SECRET,
  WORKDAY_DEV_PASSWORD,
  WORKDAY_DEV_REFRESH_TOKEN,
  WORKDAY_DEV_USER,
  WorkdayEmulator,
} from '../emulators/workday.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrEmployeeRecord, HrSourceConfig } from '../types.ts'

const NOW = new Date('2026-02-02T06:00:00Z')

describe('workday intake (poll-first)', () => {
  test('when anything is pushed to the Workday source, then verify refuses it', () => {
    const v = workday.verify(delivery('workday', fixture('workday', 'report.json')), sourceConfig({}))
    assert.equal(v.ok, false)
    assert.equal(workday.pushes, false)
  })

  test('when a RaaS document is parsed by hand, then one notice per row; a row without Employee_ID is a 400 naming it', () => {
    const p = workday.parse(delivery('workday', fixture('workday', 'report.json')))
    assert.ok(p.ok)
    assert.deepEqual(
      p.notices.map((n) => n.employeeId),
      ['21001', '21072'],
    )
    const bad = workday.parse(delivery('workday', '{"Report_Entry":[{"First_Name":"X"}]}'))
    assert.ok(!bad.ok)
    assert.equal(bad.path, 'Report_Entry.0.Employee_ID')
  })

  test('when a report row shows a voluntary termination, then normalize gives employee.terminated with the date in the worker’s zone', async () => {
    const p = workday.parse(delivery('workday', fixture('workday', 'report.json')))
    assert.ok(p.ok)
    const [e] = await workday.normalize(p.notices[1]!, { receivedAt: NOW, foundBy: 'manual', config: sourceConfig({}) })
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'America/Chicago')
    assert.equal(e.voluntary, 'voluntary')
  })
})

describe('workday client against the RaaS emulator', () => {
  let emu: WorkdayEmulator
  let oauthConfig: HrSourceConfig
  let client: HrApiClient
  before(async () => {
    emu = new WorkdayEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    oauthConfig = sourceConfig({
      api: {
        credentials: {
          type: 'oauth_refresh_token',
          tokenUrl: emu.tokenUrl,
          clientId: WORKDAY_DEV_CLIENT_ID,
          clientSecret: WORKDAY_DEV_CLIENT_SECRET,
          refreshToken: WORKDAY_DEV_REFRESH_TOKEN,
        },
      },
      workday: { reportUrl: emu.reportUrl, employeeIdPrompt: 'Employee_ID', changedSincePrompt: 'Updated_From' },
    })
    client = workday.createClient(oauthConfig, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  test('when the report is read with an OAuth refresh token, then every worker arrives with status and dates', async () => {
    const records: HrEmployeeRecord[] = []
    for await (const r of client.listRoster()) records.push(r)
    assert.deepEqual(
      records.map((r) => [r.employeeId, r.employmentStatus, r.startDate]),
      [
        ['1001', 'active', '2023-03-01'],
        ['1002', 'active', '2022-09-12'],
        ['1003', 'pending', '2030-01-06'],
      ],
    )
  })

  test('when Basic auth with the integration system user is configured, then the same report reads', async () => {
    const basic = workday.createClient(
      sourceConfig({
        api: { credentials: { type: 'basic', username: `${WORKDAY_DEV_USER}@${emu.tenant}`, password: WORKDAY_DEV_PASSWORD } },
        workday: { reportUrl: emu.reportUrl },
      }),
    )!
    const r = await basic.getEmployee('1002')
    assert.equal(r?.profile.lastName, 'Hopper')
  })

  test('when one worker is read through the Employee_ID prompt, then only that row is fetched', async () => {
    emu.terminate('1002', '2026-01-30', { at: '2026-01-30T17:00:00-05:00', type: 'involuntary' })
    const r = await client.getEmployee('1002')
    assert.equal(r?.employmentStatus, 'terminated')
    assert.deepEqual(r?.termination, { date: '2026-01-30', at: '2026-01-30T22:00:00.000Z', voluntary: 'involuntary', reason: undefined })
  })

  test('when changes since a time are asked for, then the Updated_From prompt limits the rows', async () => {
    const changes = await client.listChangesSince!(new Date(NOW.getTime() - 1000))
    assert.ok(changes.some((c) => c.employeeId === '1002'))
  })

  test('when the refresh token is wrong, then AuthFailed', async () => {
    const bad = workday.createClient(
      sourceConfig({
        api: { credentials: { type: 'oauth_refresh_token', tokenUrl: emu.tokenUrl, clientId: WORKDAY_DEV_CLIENT_ID, clientSecret: WORKDAY_DEV_CLIENT_SECRET, refreshToken: 'revoked' } },
        workday: { reportUrl: emu.reportUrl },
      }),
    )!
    await assert.rejects(bad.getEmployee('1001'), { kind: 'AuthFailed' })
  })

  test('when the report times out, then Transient', async () => {
    const slow = workday.createClient({ ...oauthConfig, api: { ...oauthConfig.api!, timeoutMs: 500 } })!
    emu.injectFault({ hangMs: 1500, pathIncludes: 'customreport2' })
    await assert.rejects(slow.getEmployee('1001'), { kind: 'Transient' })
  })
})
