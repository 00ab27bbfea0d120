// show info in 2.6's field order with what hatop and haproxy_exporter require; its typed, json,
// desc and float forms; and the other read verbs (show version, show backend, show servers state,
// show schema json), byte for byte against 2.6 where the facts are the same.

import t from 'tap'
import { Admin, ServerCell } from '../../../src/shared/cells.ts'
import { formatUptime } from '../../../src/main/runtime/show-info.ts'
import { ask, makeConfig, makeContext, serverIndex, startSockets, transcript } from './fixture.ts'

const s = await startSockets()
t.teardown(() => s.close())

function parseInfo(text: string): Array<[string, string]> {
  return text.split('\n').filter((l) => l !== '').map((l) => {
    const k = l.indexOf(': ')
    return [l.slice(0, k), l.slice(k + 2)]
  })
}

t.test('show info has 2.6\'s fields in 2.6\'s order, then the blank line', async (t) => {
  const text = await ask(s.stats, 'show info')
  t.ok(text.endsWith('Tainted: 0\n\n'))
  const ours = parseInfo(text).map(([k]) => k)
  const theirs = parseInfo(transcript('show-info').reply).map(([k]) => k)
  t.same(ours, theirs)
})

t.test('show info satisfies hatop and haproxy_exporter', async (t) => {
  const info = new Map(parseInfo(await ask(s.stats, 'show info')))
  for (const k of ['Name', 'Version', 'Release_date', 'node']) t.match(info.get(k), /^\S+$/, `${k} without spaces`)
  for (const k of ['Nbproc', 'Process_num', 'Pid', 'Maxconn', 'CurrConns', 'Maxpipes', 'PipesUsed', 'Tasks', 'Run_queue']) {
    t.match(info.get(k), /^\d+$/, `${k} is digits`)
  }
  t.match(info.get('Uptime'), /^\d+d \d+h\d\dm\d\ds$/)
  t.match(info.get('Release_date'), /^\d{4}\/\d\d\/\d\d$/)
  const idle = Number(info.get('Idle_pct'))
  t.ok(idle >= 0 && idle <= 100, `Idle_pct ${idle}`)
  t.equal(info.get('Nbproc'), '1')
  t.equal(info.get('Process_num'), '1')
  t.equal(info.get('Pid'), String(process.pid))
  t.equal(info.get('Nbthread'), '2')
  t.equal(info.get('Maxconn'), '200')
  t.equal(info.get('Version'), s.ctx.version)
  const up = Number(info.get('Uptime_sec'))
  t.ok(up >= 48 && up < 60, `Uptime_sec ${up} from startedAtMs`)
})

t.test('show info counts connections and requests from the listener cells', async (t) => {
  const ctx = makeContext()
  ctx.cells.setListener(0, 0, 4) // ListenerCell.Active
  ctx.cells.countListener(0, 0, 0, 10) // ListenerCounter.Connections
  ctx.cells.countListener(1, 0, 1, 25) // ListenerCounter.Requests
  const own = await startSockets(ctx)
  t.teardown(() => own.close())
  const info = new Map(parseInfo(await ask(own.stats, 'show info')))
  t.equal(info.get('CurrConns'), '4')
  t.equal(info.get('CumConns'), '10')
  t.equal(info.get('CumReq'), '25')
  t.equal(info.get('Listeners'), '1')
})

t.test('show info typed and desc use 2.6\'s positions, tags and descriptions', async (t) => {
  const strip = (l: string): string => l.replace(/^(\d+\.[^.]+\.1:\w+:\w+):.*$/, '$1')
  const ours = (await ask(s.stats, 'show info typed')).split('\n').filter((l) => l !== '').map(strip)
  const theirs = transcript('show-info-typed').reply.split('\n').filter((l) => l !== '').map(strip)
  t.same(ours, theirs)
  const descOf = (l: string): string => l.slice(l.lastIndexOf(':"'))
  const ourDesc = (await ask(s.stats, 'show info typed desc')).split('\n').filter((l) => l !== '').map(descOf)
  const theirDesc = transcript('show-info-typed-desc').reply.split('\n').filter((l) => l !== '').map(descOf)
  t.same(ourDesc, theirDesc)
  const plainDesc = await ask(s.stats, 'show info desc')
  t.match(plainDesc, /^Name: portico:"Product name"\n/)
})

t.test('show info json is one JSON array shaped like 2.6\'s', async (t) => {
  const text = await ask(s.stats, 'show info json')
  t.ok(text.endsWith('}]\n\n'))
  const doc = JSON.parse(text) as Array<{ field: { pos: number; name: string }; processNum: number; tags: object; value: { type: string; value: unknown } }>
  t.equal(doc.length, 69)
  t.same(doc[6].field, { pos: 6, name: 'Pid' })
  t.same(doc[6].value, { type: 'u32', value: process.pid })
  t.same(doc[0].tags, { origin: 'Product', nature: 'Output', scope: 'Service' })
  t.ok(transcript('show-info-json').reply.startsWith('[{"field":{"pos":0,"name":"Name"},"processNum":1,"tags":{"origin":"Product","nature":"Output","scope":"Service"},"value":{"type":"str","value":"HAProxy"}},'))
  t.ok(text.startsWith('[{"field":{"pos":0,"name":"Name"},"processNum":1,"tags":{"origin":"Product","nature":"Output","scope":"Service"},"value":{"type":"str","value":"portico"}},'))
})

t.test('show info float gives the two times with microseconds; unknown words are ignored', async (t) => {
  const info = new Map(parseInfo(await ask(s.stats, 'show info float')))
  t.match(info.get('Uptime_sec'), /^\d+\.\d{6}$/)
  t.match(info.get('Start_time_sec'), /^\d+\.\d{6}$/)
  t.same(parseInfo(await ask(s.stats, 'show info bogus')).map(([k]) => k), parseInfo(await ask(s.stats, 'show info')).map(([k]) => k))
})

t.test('formatUptime prints days, hours and zero-padded minutes and seconds', async (t) => {
  t.equal(formatUptime(48), '0d 0h00m48s')
  t.equal(formatUptime(398), '0d 0h06m38s')
  t.equal(formatUptime(90061), '1d 1h01m01s')
})

t.test('show version, show backend, show schema json and show servers state errors match 2.6', async (t) => {
  for (const name of ['show-version', 'show-backend', 'show-schema-json', 'show-servers-state-nosuch']) {
    const { request, reply } = transcript(name)
    t.equal(await ask(s.stats, request), reply, name)
  }
})

t.test('show servers state has 2.6\'s header and one line per server', async (t) => {
  const theirs = transcript('show-servers-state').reply.split('\n')
  const ours = (await ask(s.stats, 'show servers state')).split('\n')
  t.equal(ours[0], theirs[0])
  t.equal(ours[1], theirs[1])
  t.equal(ours.length, theirs.length, 'same number of servers (8) and the blank line')
  // The same server facts give the same line, except the seconds since the last change.
  const clean = (l: string): string => l.split(' ').map((f, k) => (k === 9 ? 'T' : f)).join(' ')
  const ourS1 = ours.find((l) => l.includes(' s1 '))!
  const theirS1 = theirs.find((l) => l.includes(' s1 '))!
  t.equal(clean(ourS1).replace(/^2 /, '4 '), clean(theirS1), 'be_app/s1 (iid 2 here, 4 in 2.6)')
  const ourS4 = ours.find((l) => l.includes(' s4 '))!
  t.match(ourS4, /^2 be_app 4 s4 127\.0\.0\.1 0 0 1 1 \d+ 0 2 0 6 0 0 0 - 23019 - 0 0 - - 0$/, 'down: op state 0, last check failed')
  const one = (await ask(s.stats, 'show servers state be_static')).split('\n')
  t.equal(one.length, 2 + 2 + 2)
  t.match(one[2], /^3 be_static 1 st1 /)
  t.equal(await ask(s.stats, 'show servers state #3'), await ask(s.stats, 'show servers state be_static'))
})

t.test('show servers state reflects maintenance and drain like 2.6', async (t) => {
  const ctx = makeContext(makeConfig())
  const own = await startSockets(ctx)
  t.teardown(() => own.close())
  const s1 = serverIndex(ctx.config, 'be_app/s1')
  ctx.cells.setServer(s1, ServerCell.Admin, Admin.Drain)
  const clean = (l: string): string => l.split(' ').map((f, k) => (k === 0 ? 'ID' : k === 9 ? 'T' : f)).join(' ')
  const drain = (await ask(own.stats, 'show servers state be_app')).split('\n')[2]
  t.equal(clean(drain), clean(transcript('show-servers-state-drain').reply.split('\n')[2]))
  ctx.cells.setServer(s1, ServerCell.Admin, Admin.Maint)
  const maint = (await ask(own.stats, 'show servers state be_app')).split('\n')[2]
  t.equal(clean(maint), clean(transcript('show-servers-state-maint').reply.split('\n')[2]))
})
