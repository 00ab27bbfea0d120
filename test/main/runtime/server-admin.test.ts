// Server and frontend verbs: replies byte for byte against the 2.6 transcripts, their effect on the
// cells (what the workers read), on get weight / show stat / show servers state, and the
// permission errors on the read-only stats socket.

import t from 'tap'
import { Admin, Health, ListenerCell, ServerCell, ServerCounter } from '../../../src/shared/cells.ts'
import { parseMaxconn, parseWeight } from '../../../src/main/runtime/server-admin.ts'
import { HEALTH_STOPPING } from '../../../src/main/runtime/show-stat.ts'
import { Col } from '../../../src/main/runtime/fields.ts'
import { ask, asPortico, serverIndex, startSockets, transcript } from './fixture.ts'
import type { Sockets } from './fixture.ts'

const FULL = '' // no transcript used here contains the full command list

/** Sends a transcript's request on `path` and returns [got, want]. */
async function replay(path: string, name: string): Promise<[string, string]> {
  const { request, reply } = transcript(name)
  return [await ask(path, request), asPortico(reply, FULL)]
}

/** The `show stat` row of one server as fields. */
async function statRow(s: Sockets, be: string, sv: string): Promise<string[]> {
  const csv = await ask(s.admin, `show stat ${be} 4 -1`)
  const line = csv.split('\n').find((l) => l.startsWith(`${be},${sv},`))
  if (line === undefined) throw new Error(`no row for ${be}/${sv} in\n${csv}`)
  return line.split(',')
}

async function backendRow(s: Sockets, be: string): Promise<string[]> {
  const csv = await ask(s.admin, `show stat ${be} 2 -1`)
  return csv.split('\n')[1].split(',')
}

t.test('get weight and its errors match 2.6 byte for byte', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  for (const name of [
    'get-weight', 'get-weight-extra-arg', 'get-weight-tab-separated', 'err-get-weight-no-args',
    'err-get-weight-nosuch-backend', 'err-get-weight-nosuch-server', 'err-get-weight-bad-numeric-id',
  ]) {
    const [got, want] = await replay(s.admin, name)
    t.equal(got, want, name)
  }
  const [got, want] = await replay(s.stats, 'get-weight-user-level')
  t.equal(got, want, 'get weight works at user level')
  t.equal(await ask(s.admin, 'get weight /s1'), 'No such backend.\n\n', '2.6 get weight accepts an empty backend part')
})

t.test('set weight: replies match 2.6, the cell changes, get weight and show stat follow', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  const steps: Array<[string, string | null, number]> = [
    // [transcript of the set, transcript of the following get (or null), expected cell value]
    ['set-weight-50', 'get-weight-after-set-50', 50],
    ['set-weight-100pct', 'get-weight-after-100pct', 100],
    ['set-weight-50pct', 'get-weight-after-set-50pct', 50],
    ['set-weight-200pct', 'get-weight-after-set-200pct', 200],
    ['set-weight-256', null, 256],
    ['set-weight-257', null, 256],
    ['set-weight-300', null, 256],
    ['set-weight-negative', null, 256],
    ['set-weight-negative-pct', null, 256],
    ['set-weight-nonnumeric', null, 256],
    ['set-weight-trailing-junk', null, 256],
    ['set-weight-missing-value', null, 256],
    ['set-weight-missing-args', null, 256],
    ['set-weight-no-slash', null, 256],
    ['err-set-weight-nosuch-backend', null, 256],
    ['err-set-weight-nosuch-server', null, 256],
    ['set-weight-extra-arg', null, 100],
    ['set-weight-extra-spaces', null, 100],
    ['set-server-weight-80', 'get-weight-after-set-server-weight-80', 80],
    ['err-set-server-weight-bad', null, 80],
    ['err-set-server-weight-missing', null, 80],
    ['set-server-weight-100pct', 'get-weight-after-100pct', 100],
    ['set-weight-0', null, 0],
  ]
  for (const [set, get, cell] of steps) {
    const [got, want] = await replay(s.admin, set)
    t.equal(got, want, set)
    t.equal(s.ctx.cells.server(s1, ServerCell.Weight), cell, `${set}: weight cell`)
    if (get !== null) {
      const [g, w] = await replay(s.admin, get)
      t.equal(g, w, get)
    }
  }
  // Weight 0 keeps the status UP but takes the server out of the backend's weight and act.
  const row = await statRow(s, 'be_app', 's1')
  t.equal(row[Col.status], 'UP')
  t.equal(row[Col.weight], '0')
  t.equal(row[Col.uweight], '0')
  const be = await backendRow(s, 'be_app')
  t.equal(be[Col.weight], '3', 's2 + s3 + bk1 (s4 is down)')
  t.equal(be[Col.act], '3')
})

t.test('numeric ids #<iid>/#<sid> name servers (be_app is backend 2 in this config)', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.equal(await ask(s.admin, 'get weight #2/#1'), transcript('get-weight-numeric-ids').reply)
  t.equal(await ask(s.admin, 'set weight #2/#1 77'), transcript('set-weight-numeric-ids').reply)
  t.equal(await ask(s.admin, 'get weight #2/#1'), transcript('get-weight-numeric-ids-after').reply)
  t.equal(await ask(s.admin, 'get weight be_app/s1'), '77 (initial 100)\n\n')
  t.equal(await ask(s.admin, 'get weight #2/#9'), 'No such server.\n\n')
})

t.test('portico has no static balancer: any weight is accepted where 2.6 refused it for balance source', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.equal(await ask(s.admin, 'set weight be_static/st1 50'), '\n')
  t.equal(await ask(s.admin, 'get weight be_static/st1'), '50 (initial 10)\n\n')
  t.equal(await ask(s.admin, 'set weight be_static/st1 0'), transcript('set-weight-static-0').reply)
  t.equal(await ask(s.admin, 'get weight be_static/st1'), transcript('get-weight-static-after-0').reply)
})

t.test('set server errors match 2.6 byte for byte', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  for (const name of [
    'err-set-server-no-args', 'err-set-server-no-subcommand', 'err-set-server-bad-subcommand',
    'err-set-server-nosuch-backend', 'err-set-server-nosuch', 'err-set-server-state-bogus',
    'err-set-server-state-missing', 'err-set-server-health-bogus', 'err-set-server-agent-none',
    'err-disable-server-no-args', 'err-disable-server-nosuch', 'err-enable-server-nosuch-backend',
    'err-enable-health-nosuch', 'err-disable-frontend-nosuch', 'err-set-maxconn-server-bad',
  ]) {
    const [got, want] = await replay(s.admin, name)
    t.equal(got, want, name)
  }
  t.match(await ask(s.admin, 'set server be_app/s1 addr 10.0.0.1'), /^'set server <srv> addr' is not supported by portico/)
})

t.test('set server state drain|maint|ready: replies, cells, status strings and servers state', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const cells = s.ctx.cells
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  const before = cells.server(s1, ServerCell.LastChange)
  cells.setServer(s1, ServerCell.LastChange, before - 100) // so that a reset is visible

  let [got, want] = await replay(s.admin, 'set-server-state-drain')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Admin), Admin.Drain)
  t.notOk(cells.isEligible(s1, before), 'a draining server gets no new requests')
  let row = await statRow(s, 'be_app', 's1')
  t.equal(row[Col.status], 'DRAIN')
  t.equal(row[Col.weight], '100', 'the server keeps its weight')
  // lastchg counts whole seconds: a second boundary between the set and the show reads 1.
  t.match(row[Col.lastchg], /^[01]$/, 'the change resets lastchg (it was 100)')
  let be = await backendRow(s, 'be_app')
  t.equal(be[Col.weight], '3', 'the backend no longer counts it')
  t.match(await ask(s.admin, 'show servers state be_app'), /\n2 be_app 1 s1 127\.0\.0\.1 2 8 100 100 [01] 15 3 4 6 0 0 0 - 23011 - 0 0 - - 0\n/)

  ;[got, want] = await replay(s.admin, 'set-server-state-maint')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Admin), Admin.Maint)
  row = await statRow(s, 'be_app', 's1')
  t.equal(row[Col.status], 'MAINT')
  t.equal(row[Col.check_health], '', 'checks are paused in maintenance')
  t.equal(row[Col.chkdown], '1', 'entering maintenance counts as a DOWN transition')
  t.equal(cells.sumServer(s1, ServerCounter.HealthTransitionsDown), 1)
  t.match(await ask(s.admin, 'show servers state be_app'), /\n2 be_app 1 s1 127\.0\.0\.1 0 1 100 100 [01] 15 3 0 14 0 0 0 - 23011 - 0 0 - - 0\n/)

  ;[got, want] = await replay(s.admin, 'set-server-state-ready')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Admin), Admin.Ready)
  t.equal(cells.server(s1, ServerCell.Health), Health.Up)
  row = await statRow(s, 'be_app', 's1')
  t.equal(row[Col.status], 'UP 1/3', 'leaving maintenance with checks: up, one failure from down')
  t.equal(row[Col.check_health], '2')
  be = await backendRow(s, 'be_app')
  t.equal(be[Col.weight], '103')

  // Without checks, leaving maintenance is simply "no check".
  t.equal(await ask(s.admin, 'disable server be_app/s3'), transcript('disable-server-nocheck').reply)
  t.equal((await statRow(s, 'be_app', 's3'))[Col.status], 'MAINT')
  t.equal(await ask(s.admin, 'enable server be_app/s3'), transcript('enable-server-nocheck').reply)
  t.equal((await statRow(s, 'be_app', 's3'))[Col.status], 'no check')
})

t.test('disable/enable server are maint/ready and silent when repeated', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const s2 = serverIndex(s.ctx.config, 'be_app/s2')
  for (const name of ['disable-server-already-disabled-1', 'disable-server-already-disabled-2']) {
    const [got, want] = await replay(s.admin, name)
    t.equal(got, want, name)
    t.equal(s.ctx.cells.server(s2, ServerCell.Admin), Admin.Maint)
  }
  t.equal(s.ctx.cells.sumServer(s2, ServerCounter.HealthTransitionsDown), 1, 'repeating does not count again')
  for (const name of ['enable-server-s2', 'enable-server-already-enabled']) {
    const [got, want] = await replay(s.admin, name)
    t.equal(got, want, name)
    t.equal(s.ctx.cells.server(s2, ServerCell.Admin), Admin.Ready)
  }
})

t.test('set server health up|stopping|down: replies, cells, NOLB and DOWN', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const cells = s.ctx.cells
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  const s3 = serverIndex(s.ctx.config, 'be_app/s3')
  const now = cells.server(s1, ServerCell.LastChange)

  let [got, want] = await replay(s.admin, 'set-server-health-stopping-checked')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Health), HEALTH_STOPPING)
  t.notOk(cells.isEligible(s1, now), 'a stopping server gets no new requests')
  t.equal((await statRow(s, 'be_app', 's1'))[Col.status], 'NOLB')
  t.match(await ask(s.admin, 'show servers state be_app'), /\n2 be_app 1 s1 127\.0\.0\.1 3 0 /, 'op state 3 = stopping')

  ;[got, want] = await replay(s.admin, 'set-server-health-down-checked')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Health), Health.Down)
  t.equal((await statRow(s, 'be_app', 's1'))[Col.status], 'DOWN')
  t.equal(cells.sumServer(s1, ServerCounter.HealthTransitionsDown), 1)

  ;[got, want] = await replay(s.admin, 'set-server-health-up-checked')
  t.equal(got, want)
  t.equal(cells.server(s1, ServerCell.Health), Health.Up)
  t.equal((await statRow(s, 'be_app', 's1'))[Col.status], 'UP')
  t.ok(cells.isEligible(s1, now))

  ;[got, want] = await replay(s.admin, 'set-server-health-down-nocheck')
  t.equal(got, want)
  const row = await statRow(s, 'be_app', 's3')
  t.equal(row[Col.status], 'DOWN', 'an unchecked server forced down says DOWN')
  t.equal(row[Col.check_health], '')
  ;[got, want] = await replay(s.admin, 'set-server-health-stopping-nocheck')
  t.equal(got, want)
  t.equal((await statRow(s, 'be_app', 's3'))[Col.status], 'NOLB')
  ;[got, want] = await replay(s.admin, 'set-server-health-up-nocheck')
  t.equal(got, want)
  t.equal(cells.server(s3, ServerCell.Health), Health.Up)
  t.equal((await statRow(s, 'be_app', 's3'))[Col.status], 'no check')

  // The transcript's one-line form: the set, then show stat in the same request.
  const multi = await ask(s.admin, 'set server be_app/s1 health stopping;show stat be_app 4 1')
  t.match(multi, /^\n# pxname,svname,/)
  t.match(multi, /\nbe_app,s1,(?:[^,]*,){15}NOLB,100,1,0,/)
})

t.test('disable/enable health: no check status; enable needs a [health] section', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  t.equal(...(await replay(s.admin, 'disable-health')))
  t.equal(s.ctx.cells.server(s1, ServerCell.CheckEnabled), 0)
  const row = await statRow(s, 'be_app', 's1')
  t.equal(row[Col.status], 'no check')
  t.equal(row[Col.check_rise], '', 'check columns empty')
  t.equal(...(await replay(s.admin, 'disable-health-on-unchecked-server')))
  t.equal(...(await replay(s.admin, 'enable-health')))
  t.equal(s.ctx.cells.server(s1, ServerCell.CheckEnabled), 1)
  t.equal((await statRow(s, 'be_app', 's1'))[Col.status], 'UP')
  t.equal(await ask(s.admin, 'enable health be_track/t1'), 'Health checks are not configured on this server, cannot enable.\n\n')
})

t.test('set maxconn server writes MaxConn and shows in slim', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const s2 = serverIndex(s.ctx.config, 'be_app/s2')
  t.equal(...(await replay(s.admin, 'set-maxconn-server')))
  t.equal(s.ctx.cells.server(s2, ServerCell.MaxConn), 20)
  t.equal((await statRow(s, 'be_app', 's2'))[Col.slim], '20')
  t.equal(await ask(s.admin, 'set maxconn server be_app/s2 0'), '\n')
  t.equal((await statRow(s, 'be_app', 's2'))[Col.slim], '', '0 = unlimited, shown empty')
  t.equal(await ask(s.admin, 'set maxconn server be_app/s2 12x'), 'Trailing garbage in maxconn string\n\n')
  t.equal(await ask(s.admin, 'set maxconn server be_app/s2'), 'Require <maxconn>.\n\n')
})

t.test('disable/enable frontend toggles the listener cell; status PAUSED then OPEN', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.equal(...(await replay(s.admin, 'disable-frontend')))
  t.equal(s.ctx.cells.listener(0, ListenerCell.Enabled), 0)
  const fe = (await ask(s.admin, 'show stat fe_main 1 -1')).split('\n')[1].split(',')
  t.equal(fe[Col.status], 'PAUSED')
  t.equal(await ask(s.admin, 'disable frontend fe_main'), 'All sockets are already disabled.\n\n')
  t.equal(...(await replay(s.admin, 'enable-frontend')))
  t.equal(s.ctx.cells.listener(0, ListenerCell.Enabled), 1)
  t.equal(await ask(s.admin, 'enable frontend fe_main'), 'All sockets are already enabled.\n\n')
  t.equal(await ask(s.admin, 'enable frontend'), 'A frontend name is expected.\n\n')
})

t.test('the stats socket refuses every write with 2.6\'s exact permission error', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  for (const name of [
    'err-user-set-weight-permission-denied', 'err-user-set-server-state-permission-denied',
    'err-user-disable-server-permission-denied', 'err-user-clear-counters-permission-denied',
  ]) {
    const [got, want] = await replay(s.stats, name)
    t.equal(got, want, name)
  }
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  for (const cmd of ['set weight be_app/s1 1', 'set server be_app/s1 state maint', 'set server be_app/s1 health down',
    'disable server be_app/s1', 'enable server be_app/s1', 'disable health be_app/s1', 'set maxconn server be_app/s1 1',
    'disable frontend fe_main', 'set weight', 'clear counters all']) {
    t.equal(await ask(s.stats, cmd), 'Permission denied\n\n', cmd)
  }
  t.equal(s.ctx.cells.server(s1, ServerCell.Weight), 100)
  t.equal(s.ctx.cells.server(s1, ServerCell.Admin), Admin.Ready)
  t.equal(s.ctx.cells.server(s1, ServerCell.Health), Health.Up)
  t.equal(s.ctx.cells.server(s1, ServerCell.CheckEnabled), 1)
  t.equal(s.ctx.cells.listener(0, ListenerCell.Enabled), 1)
  // An admin session lowered to operator cannot change weights either.
  const { request, reply } = transcript('err-operator-set-weight-permission-denied')
  t.equal(await ask(s.admin, `operator;${request}`), `\n${reply}`)
  t.equal(s.ctx.cells.server(s1, ServerCell.Weight), 100)
})

t.test('clear counters: operator may clear maxima, only admin may clear all', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const s1 = serverIndex(s.ctx.config, 'be_app/s1')
  s.ctx.cells.countServer(0, s1, ServerCounter.Requests, 45)
  t.equal(await ask(s.admin, 'operator;clear counters'), '\n' + transcript('clear-counters-operator').reply)
  t.equal(await ask(s.admin, 'operator;clear counters all'), '\nPermission denied\n\n')
  t.equal(s.ctx.cells.sumServer(s1, ServerCounter.Requests), 45)
  t.equal(await ask(s.admin, 'clear counters all'), '\n')
  t.equal(s.ctx.cells.sumServer(s1, ServerCounter.Requests), 0)
})

t.test('parseWeight follows HAProxy server_parse_weight_change_request', async (t) => {
  t.equal(parseWeight('0', 100), 0)
  t.equal(parseWeight('256', 100), 256)
  t.equal(parseWeight('+5', 100), 5)
  t.equal(parseWeight('50%', 10), 5)
  t.equal(parseWeight('0%', 10), 0)
  t.equal(parseWeight('999999%', 100), 256, 'relative weights are capped at 256')
  t.equal(parseWeight('300x', 100), 'Absolute weight can only be between 0 and 256 inclusive.', 'range is checked before garbage')
  t.equal(parseWeight('5%x', 100), 'Trailing garbage in weight string')
  t.equal(parseWeight('%', 100), 'Empty weight string empty or preceded by garbage')
  t.equal(parseMaxconn('-1'), 'Value out of range.')
  t.equal(parseMaxconn('100'), 100)
})
