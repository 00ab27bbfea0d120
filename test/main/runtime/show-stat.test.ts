// show stat: the 2.6 column set and header, row shapes the consumers rely on (haproxy_exporter
// fixes the field count from the first row; hatop converts columns 0-50 positionally), status
// strings from the cells, backend aggregates, filters, user-level hiding, typed and json forms.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Admin, Health, ListenerCell, ListenerCounter, ServerCell, ServerCounter } from '../../../src/shared/cells.ts'
import { Col, STAT_FIELDS } from '../../../src/main/runtime/fields.ts'
import { CSV_HEADER, HEALTH_STOPPING } from '../../../src/main/runtime/show-stat.ts'
import { ask, serverIndex, startSockets, transcript, TRANSCRIPTS } from './fixture.ts'
import type { Sockets } from './fixture.ts'

const s = await startSockets()
t.teardown(() => s.close())
const cells = s.ctx.cells
const cfg = s.ctx.config

function rows(csv: string): string[][] {
  const lines = csv.split('\n')
  return lines.slice(1).filter((l) => l !== '').map((l) => l.split(','))
}

async function row(sock: Sockets, be: string, sv: string): Promise<string[]> {
  const r = rows(await ask(sock.admin, 'show stat')).find((f) => f[0] === be && f[1] === sv)
  if (r === undefined) throw new Error(`no row ${be}/${sv}`)
  return r
}

t.test('the header line is identical to 2.6\'s', async (t) => {
  const header = transcript('show-stat').reply.split('\n')[0] + '\n'
  t.equal(CSV_HEADER, header)
  const csv = await ask(s.stats, 'show stat')
  t.ok(csv.startsWith(header))
  t.ok(csv.endsWith(',\n\n'), 'last row then the blank line')
  t.equal(STAT_FIELDS.length, 128)
})

t.test('every row has exactly the header\'s fields plus the trailing empty one', async (t) => {
  const csv = await ask(s.admin, 'show stat')
  const lines = csv.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 14, 'header, 1 frontend, 4 backends, 8 servers')
  for (const l of lines) t.equal(l.split(',').length, 129, l.slice(0, 30))
  t.same(lines.slice(1).map((l) => l.split(',').slice(0, 2).join('/')), [
    'fe_main/FRONTEND', 'stats/BACKEND', 'be_app/s1', 'be_app/s2', 'be_app/s3', 'be_app/s4', 'be_app/bk1',
    'be_app/BACKEND', 'be_static/st1', 'be_static/st2', 'be_static/BACKEND', 'be_track/t1', 'be_track/BACKEND',
  ], 'frontends, then each backend\'s servers and BACKEND, in config order')
})

t.test('numeric columns hold integers or nothing (hatop aborts on garbage, the exporter skips rows)', async (t) => {
  const numeric = [...Array(51).keys()].filter((c) => ![Col.pxname, Col.svname, Col.status, Col.tracked, Col.check_status].includes(c as 0))
  for (const f of rows(await ask(s.admin, 'show stat'))) {
    for (const c of numeric) t.match(f[c], /^(-?\d+)?$/, `${f[0]}/${f[1]} ${STAT_FIELDS[c].name}`)
    t.equal(f[Col.marker], '-')
    t.ok(['0', '1', '2'].includes(f[Col.type]))
  }
})

t.test('server rows carry the same values as 2.6 where portico has the same facts', async (t) => {
  const want = transcript('show-stat').reply.split('\n').find((l) => l.startsWith('be_app,s1,'))!.split(',')
  const got = await row(s, 'be_app', 's1')
  for (const c of [Col.pxname, Col.svname, Col.qcur, Col.scur, Col.stot, Col.bin, Col.bout, Col.dresp, Col.econ,
    Col.eresp, Col.wretr, Col.wredis, Col.status, Col.weight, Col.act, Col.bck, Col.pid, Col.sid, Col.lbtot, Col.type,
    Col.hrsp_1xx, Col.hrsp_2xx, Col.hrsp_5xx, Col.req_tot, Col.check_rise, Col.check_fall, Col.check_health, Col.addr,
    Col.mode, Col.wrew, Col.connect, Col.reuse, Col.uweight, Col.marker]) {
    t.equal(got[c], want[c], STAT_FIELDS[c].name)
  }
  const s2 = await row(s, 'be_app', 's2')
  t.equal(s2[Col.slim], '50', 'maxconn')
  const s3 = await row(s, 'be_app', 's3')
  t.equal(s3[Col.status], 'no check')
  t.equal(s3[Col.check_rise], '')
  t.equal((await row(s, 'be_app', 's4'))[Col.status], 'DOWN')
})

t.test('status strings follow the cells: UP n/f while failing, DOWN n/r while recovering', async (t) => {
  const i = serverIndex(cfg, 'be_app/s2')
  const status = async (): Promise<string> => (await row(s, 'be_app', 's2'))[Col.status]
  const health = async (): Promise<string> => (await row(s, 'be_app', 's2'))[Col.check_health]
  // rise 2, fall 3, as the transcripts' s2: UP → UP 2/3 → UP 1/3 → DOWN → DOWN 1/2 → UP
  const seq: Array<[number, number, string, string]> = [
    [Health.Up, 0, 'UP', '4'],
    [Health.Up, 1, 'UP 2/3', '3'],
    [Health.Up, 2, 'UP 1/3', '2'],
    [Health.Down, 0, 'DOWN', '0'],
    [Health.Down, 1, 'DOWN 1/2', '1'],
    [Health.Up, 0, 'UP', '4'],
  ]
  const expectTranscript: Record<string, string> = {
    'UP 2/3': 'show-stat-transition-s2-UP_2_3', 'UP 1/3': 'show-stat-transition-s2-UP_1_3',
    DOWN: 'show-stat-transition-s2-DOWN', 'DOWN 1/2': 'show-stat-transition-s2-DOWN_1_2',
  }
  for (const [h, count, want, checkHealth] of seq) {
    cells.setServer(i, ServerCell.Health, h)
    cells.setServer(i, ServerCell.CheckCount, count)
    t.equal(await status(), want)
    t.equal(await health(), checkHealth, `${want}: check_health`)
    const file = expectTranscript[want]
    if (file !== undefined) {
      const theirs = transcript(file).reply.split('\n')[1].split(',')
      t.equal(theirs[Col.status], want, `2.6 said ${want} too`)
      t.equal(theirs[Col.check_health], checkHealth, `2.6 check_health for ${want}`)
    }
  }
  cells.setServer(i, ServerCell.Admin, Admin.Drain)
  t.equal(await status(), 'DRAIN')
  cells.setServer(i, ServerCell.CheckCount, 1)
  t.equal(await status(), 'DRAIN 2/3')
  cells.setServer(i, ServerCell.CheckCount, 0)
  cells.setServer(i, ServerCell.Health, HEALTH_STOPPING)
  t.equal(await status(), 'NOLB')
  cells.setServer(i, ServerCell.Admin, Admin.Maint)
  t.equal(await status(), 'MAINT')
  cells.setServer(i, ServerCell.Admin, Admin.Ready)
  cells.setServer(i, ServerCell.Health, Health.Up)
  t.equal(await status(), 'UP')
})

t.test('backend rows sum their servers and are DOWN when no usable weight is left', async (t) => {
  const s1 = serverIndex(cfg, 'be_app/s1')
  const s2 = serverIndex(cfg, 'be_app/s2')
  cells.countServer(0, s1, ServerCounter.Requests, 40)
  cells.countServer(1, s2, ServerCounter.Requests, 5)
  cells.countServer(0, s1, ServerCounter.Resp2xx, 40)
  cells.countServer(1, s2, ServerCounter.Resp4xx, 5)
  cells.countServer(0, s1, ServerCounter.BytesIn, 3745)
  cells.countServer(0, s1, ServerCounter.BytesOut, 9900)
  cells.observeLatency(0, s1, 2)
  cells.observeLatency(0, s1, 4)
  cells.addServer(s1, ServerCell.Active, 2)
  const be = await row(s, 'be_app', 'BACKEND')
  t.equal(be[Col.stot], '45')
  t.equal(be[Col.hrsp_2xx], '40')
  t.equal(be[Col.hrsp_4xx], '5')
  t.equal(be[Col.bin], '3745')
  t.equal(be[Col.bout], '9900')
  t.equal(be[Col.scur], '2')
  t.equal(be[Col.rtime], '3', 'average response time in ms')
  t.equal(be[Col.weight], '103')
  t.equal(be[Col.act], '4')
  t.equal(be[Col.status], 'UP')
  const sv = await row(s, 'be_app', 's1')
  t.equal(sv[Col.stot], '40')
  t.equal(sv[Col.scur], '2')
  t.equal(sv[Col.rtime], '3')
  cells.addServer(s1, ServerCell.Active, -2)

  // be_track's only server in maintenance: the backend is DOWN (show-stat-backend-down).
  const t1 = serverIndex(cfg, 'be_track/t1')
  cells.setServer(t1, ServerCell.Admin, Admin.Maint)
  const down = (await ask(s.admin, 'show stat be_track -1 -1')).split('\n')[2].split(',')
  const theirs = transcript('show-stat-backend-down').reply.split('\n')[2].split(',')
  for (const c of [Col.svname, Col.status, Col.weight, Col.act, Col.bck, Col.type, Col.sid, Col.uweight]) {
    t.equal(down[c], theirs[c], STAT_FIELDS[c].name)
  }
  cells.setServer(t1, ServerCell.Admin, Admin.Ready)
  t.equal((await row(s, 'be_track', 'BACKEND'))[Col.status], 'UP')
  t.equal((await row(s, 'stats', 'BACKEND'))[Col.status], 'UP', 'a backend without servers is UP, as in 2.6')
})

t.test('frontend rows read the listener cells and counters', async (t) => {
  cells.setListener(0, ListenerCell.Active, 3)
  cells.countListener(0, 0, ListenerCounter.Connections, 45)
  cells.countListener(1, 0, ListenerCounter.Requests, 45)
  cells.countListener(0, 0, ListenerCounter.Resp2xx, 40)
  cells.countListener(0, 0, ListenerCounter.Resp4xx, 5)
  cells.maxListener(0, 0, ListenerCounter.MaxActive, 7)
  const fe = await row(s, 'fe_main', 'FRONTEND')
  const theirs = transcript('show-stat-after-traffic').reply.split('\n')[1].split(',')
  for (const c of [Col.pxname, Col.svname, Col.stot, Col.status, Col.pid, Col.sid, Col.type, Col.rate_lim, Col.hrsp_2xx,
    Col.hrsp_4xx, Col.req_tot, Col.comp_in, Col.mode, Col.conn_tot, Col.intercepted, Col.marker]) {
    t.equal(fe[c], theirs[c], STAT_FIELDS[c].name)
  }
  t.equal(fe[Col.scur], '3')
  t.equal(fe[Col.smax], '7')
  t.equal(fe[Col.slim], '200', 'global max_connections')
  t.equal(fe[Col.iid], '5', 'frontends are numbered after the backends')
  cells.setListener(0, ListenerCell.Active, 0)
})

t.test('the stats socket (user level) hides addr, cookie and algo; the admin socket shows them', async (t) => {
  const user = rows(await ask(s.stats, 'show stat'))
  const admin = rows(await ask(s.admin, 'show stat'))
  for (const f of user) {
    t.equal(f[Col.addr], '')
    t.equal(f[Col.algo], '')
  }
  t.equal(admin.find((f) => f[1] === 's1')![Col.addr], '127.0.0.1:23011')
  t.equal(admin.find((f) => f[0] === 'be_app' && f[1] === 'BACKEND')![Col.algo], 'roundrobin')
  t.equal(admin.find((f) => f[0] === 'be_static' && f[1] === 'BACKEND')![Col.algo], 'source', 'hash on client_ip')
  t.equal(rows(await ask(s.admin, 'user;show stat').then((r) => r.slice(1)))[1][Col.algo], 'roundrobin',
    '2.6 decides by the socket, not the session level')
})

t.test('filters: <px> <type> <sid>, up and no-maint, as in 2.6', async (t) => {
  const names = async (cmd: string): Promise<string[]> => rows(await ask(s.admin, cmd)).map((f) => `${f[0]}/${f[1]}`)
  t.same(await names('show stat be_app 4 -1'), ['be_app/s1', 'be_app/s2', 'be_app/s3', 'be_app/s4', 'be_app/bk1'])
  t.same(await names('show stat -1 2 -1'), ['stats/BACKEND', 'be_app/BACKEND', 'be_static/BACKEND', 'be_track/BACKEND'])
  t.same(await names('show stat 2 6 -1'), ['be_app/s1', 'be_app/s2', 'be_app/s3', 'be_app/s4', 'be_app/bk1', 'be_app/BACKEND'], 'by numeric id')
  t.same(await names('show stat be_app 4 2'), ['be_app/s2'])
  t.same(await names('show stat fe_main 1 -1'), ['fe_main/FRONTEND'])
  t.same(await names('show stat -1 4 -1').then((n) => n.length), 8, 'every server')
  t.equal(await ask(s.admin, 'show stat nosuch 4 -1'), transcript('err-show-stat-nosuch-proxy').reply)
  const all = await names('show stat')
  t.same(await names('show stat be_app'), all, 'an incomplete filter is ignored')
  t.same(await names('show stat bogus'), all, 'an unknown word is ignored')

  const s1 = serverIndex(cfg, 'be_app/s1')
  const s2 = serverIndex(cfg, 'be_app/s2')
  cells.setServer(s1, ServerCell.Admin, Admin.Maint)
  cells.setServer(s2, ServerCell.Health, Health.Down)
  cells.setServer(s2, ServerCell.CheckCount, 1) // DOWN 1/2: going up, still shown by "up"
  t.same(await names('show stat be_app 4 -1 no-maint'), ['be_app/s2', 'be_app/s3', 'be_app/s4', 'be_app/bk1'])
  t.same(await names('show stat be_app 4 -1 up'), ['be_app/s2', 'be_app/s3', 'be_app/bk1'], 'DOWN and MAINT dropped')
  const be = rows(await ask(s.admin, 'show stat be_app 2 -1 up'))[0]
  t.equal(be[Col.status], 'UP (2/5)', 'with a filter the backend status counts running servers (s3, bk1)')
  cells.setServer(s1, ServerCell.Admin, Admin.Ready)
  cells.setServer(s2, ServerCell.Health, Health.Up)
  cells.setServer(s2, ServerCell.CheckCount, 0)
})

t.test('show stat typed prints non-empty fields with 2.6 tags, desc adds descriptions', async (t) => {
  const typed = await ask(s.admin, 'show stat be_app 4 1 typed')
  const lines = typed.split('\n').filter((l) => l !== '')
  for (const l of lines) t.match(l, /^S\.2\.1\.\d+\.[a-z0-9_]+\.1:[A-Za-z]{3}:(str|u32|u64|s32):/)
  t.ok(lines.includes('S.2.1.0.pxname.1:KNS:str:be_app'))
  t.ok(lines.includes('S.2.1.17.status.1:SGP:str:UP'))
  t.ok(lines.includes('S.2.1.18.weight.1:MaP:u32:100'))
  t.notOk(lines.some((l) => l.includes('.-.')), 'no line for the marker')
  // Tags and types agree with the 2.6 recording for every field both print.
  const theirs = new Map<string, string>()
  for (const l of readFileSync(join(TRANSCRIPTS, 'show-stat-typed.txt'), 'latin1').split('\n')) {
    const m = /^([FBS])\.\d+\.\d+\.(\d+)\.[^:]+:(\w+:\w+):/.exec(l)
    if (m !== null) theirs.set(`${m[1]}.${m[2]}`, m[3])
  }
  const all = (await ask(s.admin, 'show stat typed')).split('\n').filter((l) => l !== '')
  let compared = 0
  for (const l of all) {
    const m = /^([FBS])\.\d+\.\d+\.(\d+)\.[^:]+:(\w+:\w+):/.exec(l)!
    const want = theirs.get(`${m[1]}.${m[2]}`)
    if (want !== undefined) {
      compared++
      if (want !== m[3]) t.fail(`${l} has tags ${m[3]}, 2.6 ${want}`)
    }
  }
  t.ok(compared > 300, `${compared} typed fields compared with 2.6`)
  const desc = await ask(s.admin, 'show stat be_app 4 1 typed desc')
  t.match(desc, /^S\.2\.1\.0\.pxname\.1:KNS:str:be_app:"Proxy name"\n/)
  const theirsDesc = transcript('show-stat-typed-desc').reply.split('\n').find((l) => l.startsWith('S.4.1.17.'))!
  t.ok(desc.includes(theirsDesc.replace('S.4.1.', 'S.2.1.')), 'status line identical to 2.6 apart from the id')
})

t.test('show stat json is one JSON document shaped like 2.6\'s', async (t) => {
  const text = await ask(s.admin, 'show stat json')
  t.ok(text.endsWith(']]\n\n'))
  const doc = JSON.parse(text) as Array<Array<{ objType: string; proxyId: number; id: number; field: { pos: number; name: string }; processNum: number; tags: object; value: { type: string; value: unknown } }>>
  t.equal(doc.length, 13)
  const status = doc.flat().find((o) => o.objType === 'Server' && o.proxyId === 2 && o.id === 1 && o.field.name === 'status')!
  t.same(status, { objType: 'Server', proxyId: 2, id: 1, field: { pos: 17, name: 'status' }, processNum: 1,
    tags: { origin: 'Status', nature: 'Gauge', scope: 'Process' }, value: { type: 'str', value: 'UP' } })
  const theirs = readFileSync(join(TRANSCRIPTS, 'show-stat-json.txt'), 'latin1')
  t.ok(theirs.includes('{"objType":"Server","proxyId":4,"id":1,"field":{"pos":17,"name":"status"},"processNum":1,"tags":{"origin":"Status","nature":"Gauge","scope":"Process"},"value":{"type":"str","value":"UP"}}'),
    'the same object text appears in 2.6 output')
  t.ok(text.includes('{"objType":"Server","proxyId":2,"id":1,"field":{"pos":17,"name":"status"},"processNum":1,"tags":{"origin":"Status","nature":"Gauge","scope":"Process"},"value":{"type":"str","value":"UP"}}'))
})
