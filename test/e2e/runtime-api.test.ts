// The runtime API of a running portico, through a real Unix-socket client (node:net), as an
// operator would use it: `set weight` and `set server … state` change where the 4 worker threads
// send the very next request, drain lets an in-flight request and its keep-alive connection
// finish, `show stat` / `show servers state` look like HAProxy 2.6's, the stats socket refuses
// writes with HAProxy's words, the admin socket is the owner's alone, and `reload` picks up an
// edited file.

import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin, Portico } from './harness.ts'

const TRANSCRIPTS = '/work/shared/reference/haproxy-2.6-transcripts'
/** The 2.6 header line (`# pxname,svname,…`): the second line of the recorded `show stat`. */
const HAPROXY_SHOW_STAT_HEADER = (() => {
  try {
    return readFileSync(join(TRANSCRIPTS, 'show-stat.txt'), 'latin1').split('\n')[1]
  } catch {
    return null
  }
})()

/** One command on a runtime socket, HAProxy non-interactive style: write a line, read until close. */
export function cli(path: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`runtime socket ${path}: no close within ${timeoutMs}ms after "${command}"`)) }, timeoutMs)
    s.on('connect', () => s.write(command + '\n'))
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()) })
    s.on('error', (e) => { clearTimeout(timer); reject(e) })
  })
}

/** An origin answering `x-server: name`; `/slow` answers after `slowMs`. */
function origin(name: string, slowMs = 1500): Promise<Origin> {
  return startOrigin(name, (req, res) => {
    req.resume()
    const answer = (): void => { res.setHeader('x-server', name); res.end(`${name} ${req.url}`) }
    if (req.url === '/slow') setTimeout(answer, slowMs)
    else answer()
  })
}

function config(dir: string, servers: Origin[], extraRoutes = '', extraUpstreams = ''): string {
  return `
[global]
workers = 4
[log]
level = "info"
access = "off"
[runtime]
stats_socket = "${join(dir, 'stats.sock')}"
admin_socket = "${join(dir, 'admin.sock')}"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
${extraRoutes}
[[routes]]
name = "all"
upstream = "app"

[[upstreams]]
name = "app"
balance = "round_robin"
${servers.map((o) => `[[upstreams.servers]]\nname = "${o.name}"\naddress = "127.0.0.1:${o.port}"\nweight = 100\n`).join('\n')}
${extraUpstreams}
`
}

/** `n` requests, each on a new connection (so piscina spreads them over the threads); who answered. */
async function whoAnswers(port: number, n: number, path = '/'): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const r = await request(port, { path })
    out.push(r.status === 200 ? String(r.headers['x-server']) : `status ${r.status}`)
  }
  return out
}

function count(list: string[], name: string): number {
  return list.filter((x) => x === name).length
}

/** GET through a keep-alive agent; says whether the client connection was reused. */
function get(port: number, agent: http.Agent, path: string): Promise<{ status: number; server: string; isReused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, server: String(res.headers['x-server']), isReused: req.reusedSocket }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** The `show stat` row of app/<server>, as columns. */
async function statRow(sock: string, server: string): Promise<string[]> {
  const text = await cli(sock, 'show stat')
  const header = text.split('\n')[0].slice(2).split(',')
  const row = text.split('\n').find((l) => l.startsWith(`app,${server},`))
  if (row === undefined) throw new Error(`no show stat row for app/${server}:\n${text}`)
  const cols = row.split(',')
  return header.map((_, i) => cols[i])
}

async function serverStatus(sock: string, server: string): Promise<string> {
  const text = await cli(sock, 'show stat')
  const header = text.split('\n')[0].slice(2).split(',')
  const row = text.split('\n').find((l) => l.startsWith(`app,${server},`))
  return row === undefined ? '(no row)' : row.split(',')[header.indexOf('status')]
}

interface Setup { p: Portico; s1: Origin; s2: Origin; dir: string; admin: string; stats: string }

/** One portico (4 threads) for every test below; each test leaves the servers as it found them. */
async function setup(t: Test): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-rt-'))
  const s1 = await origin('s1')
  const s2 = await origin('s2')
  const p = await startPortico(config(dir, [s1, s2]))
  // The listener accepts before the runtime sockets exist: wait for the end of start-up.
  await p.waitFor(/"event":"started"/)
  t.teardown(async () => {
    await p.stop()
    await s1.close()
    await s2.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { p, s1, s2, dir, admin: join(dir, 'admin.sock'), stats: join(dir, 'stats.sock') }
}

const env = await setup(t)

t.test('set weight 0 takes a server out of rotation on all 4 threads from the next request; weight back restores it', async (t) => {
  const { p, admin } = env
  const before = await whoAnswers(p.port, 20)
  t.ok(count(before, 's1') >= 5 && count(before, 's2') >= 5, `both servers answer at first: ${before.join(' ')}`)

  t.equal(await cli(admin, 'set weight app/s1 0'), '\n', 'set weight replies with an empty line, like HAProxy')
  t.equal(await cli(admin, 'get weight app/s1'), '0 (initial 100)\n\n')
  const after = await whoAnswers(p.port, 50)
  t.same(after, Array(50).fill('s2'), 'every one of 50 new-connection requests goes to s2, starting with the first')

  t.equal(await cli(admin, 'set weight app/s1 100'), '\n')
  const back = await whoAnswers(p.port, 20)
  t.ok(count(back, 's1') >= 5, `s1 answers again: ${back.join(' ')}`)
})

t.test('drain: an in-flight request and its keep-alive connection finish, no new request goes to the drained server; ready brings it back', async (t) => {
  const { p, admin, s1, stats } = env
  // Make s1 the only choice so the slow request surely lands there.
  t.equal(await cli(admin, 'set weight app/s2 0'), '\n')
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const warm = await get(p.port, agent, '/')
  t.same([warm.status, warm.server], [200, 's1'])

  const slow = get(p.port, agent, '/slow')
  const deadline = Date.now() + 5000
  while (s1.inFlight === 0 && Date.now() < deadline) await sleep(10)
  t.equal(s1.inFlight, 1, 'the slow request is at s1')

  t.equal(await cli(admin, 'set server app/s1 state drain'), '\n')
  t.equal(await cli(admin, 'set weight app/s2 100'), '\n')
  t.equal(await serverStatus(stats, 's1'), 'DRAIN', 'show stat says DRAIN')
  const s1Before = s1.requests.length
  const during = await whoAnswers(p.port, 50)
  t.same(during, Array(50).fill('s2'), 'while s1 drains, 50 new requests all go to s2')
  t.equal(s1.inFlight, 1, 'and the slow one is still running at s1')

  const done = await slow
  t.same([done.status, done.server], [200, 's1'], 'the in-flight request to the draining server completes')
  t.ok(done.isReused, 'on the keep-alive connection it was sent on')
  const next = await get(p.port, agent, '/')
  t.same([next.status, next.server, next.isReused], [200, 's2', true],
    'that client connection stays open; its next request goes to s2')
  t.equal(s1.requests.length, s1Before, 'no request reached s1 after drain')

  t.equal(await cli(admin, 'set server app/s1 state ready'), '\n')
  t.not(await serverStatus(stats, 's1'), 'DRAIN')
  const back = await whoAnswers(p.port, 20)
  t.ok(count(back, 's1') >= 5, `after ready, s1 answers again: ${back.join(' ')}`)
})

t.test('show stat: HAProxy 2.6 header line, the same column count on every row, backends and servers named from the config', async (t) => {
  const { p, stats, admin } = env
  for (const sock of [stats, admin]) {
    const text = await cli(sock, 'show stat')
    t.ok(text.endsWith('\n\n'), 'ends with the blank line')
    const lines = text.split('\n').slice(0, -2)
    if (HAPROXY_SHOW_STAT_HEADER !== null) t.equal(lines[0], HAPROXY_SHOW_STAT_HEADER, 'header byte for byte as HAProxy 2.6')
    else t.match(lines[0], /^# pxname,svname,qcur,/)
    const columns = lines[0].split(',').length
    t.equal(columns, 129, 'the 2.6 column set: 128 names and the trailing comma')
    for (const line of lines.slice(1)) t.equal(line.split(',').length, columns, `columns of "${line.slice(0, 24)}…"`)
    t.same(lines.slice(1).map((l) => l.split(',').slice(0, 2).join('/')), ['web/FRONTEND', 'app/s1', 'app/s2', 'app/BACKEND'])
  }
  const header = (await cli(stats, 'show stat')).split('\n')[0].slice(2).split(',')
  const col = (row: string[], name: string): string => row[header.indexOf(name)]
  const s1 = await statRow(stats, 's1')
  t.equal(col(s1, 'status'), 'no check', 'an unchecked server says "no check"')
  t.equal(col(s1, 'weight'), '100')
  const stot = async (): Promise<number> => Number(col(await statRow(stats, 's1'), 'stot')) + Number(col(await statRow(stats, 's2'), 'stot'))
  const before = await stot()
  await whoAnswers(p.port, 4)
  t.equal(await stot() - before, 4, 'stot counts the 4 requests just sent')
})

t.test('the stats socket refuses writes with HAProxy\'s exact permission error and changes nothing', async (t) => {
  const { stats, admin } = env
  t.equal(await cli(stats, 'set weight app/s1 50'), 'Permission denied\n\n')
  t.equal(await cli(stats, 'set server app/s1 state maint'), 'Permission denied\n\n')
  t.equal(await cli(stats, 'disable server app/s1'), 'Permission denied\n\n')
  t.equal(await cli(admin, 'get weight app/s1'), '100 (initial 100)\n\n', 'the weight did not change')
  t.not(await serverStatus(stats, 's1'), 'MAINT')
})

t.test('socket files: admin 0600, stats 0660, owned by the user portico runs as', async (t) => {
  const { stats, admin } = env
  const a = statSync(admin)
  t.ok(a.isSocket(), 'admin socket is a socket')
  t.equal((a.mode & 0o777).toString(8), '600')
  t.equal(a.uid, process.getuid?.())
  const s = statSync(stats)
  t.ok(s.isSocket())
  t.equal((s.mode & 0o777).toString(8), '660')
})

t.test('show servers state lists both servers; disable/enable server flip MAINT and traffic', async (t) => {
  const { p, stats, admin } = env
  const state = await cli(stats, 'show servers state')
  const lines = state.split('\n')
  t.equal(lines[0], '1', 'format version 1')
  t.match(lines[1], /^# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state /)
  const rows = lines.slice(2).filter((l) => l !== '').map((l) => l.split(' '))
  t.same(rows.map((r) => [r[1], r[3], r[4], r[6]]), [['app', 's1', '127.0.0.1', '0'], ['app', 's2', '127.0.0.1', '0']],
    'both servers, address, admin state 0')
  t.ok(rows.every((r) => r.length === rows[0].length && r.length === 25), 'every row has the 25 fields of version 1')

  t.equal(await cli(admin, 'disable server app/s1'), '\n')
  t.equal(await serverStatus(stats, 's1'), 'MAINT')
  const maintState = (await cli(stats, 'show servers state app')).split('\n').find((l) => / s1 /.test(l)) ?? ''
  t.equal(maintState.split(' ')[6], '1', 'srv_admin_state has the forced-maintenance bit')
  t.same(await whoAnswers(p.port, 20), Array(20).fill('s2'), 'no traffic to a server in MAINT')

  t.equal(await cli(admin, 'enable server app/s1'), '\n')
  t.equal(await serverStatus(stats, 's1'), 'no check')
  t.ok(count(await whoAnswers(p.port, 20), 's1') >= 5, 's1 takes traffic again')
})

t.test('reload on the admin socket serves an edited file: a new route and upstream answer', async (t) => {
  const { p, s1, s2, dir, admin } = env
  const s3 = await origin('s3')
  t.teardown(() => s3.close())
  t.equal((await request(p.port, { path: '/new/x' })).headers['x-server'] !== 's3', true, 'before: /new/ goes to app')

  const route = `[[routes]]\nname = "new"\npath_prefix = "/new/"\nupstream = "fresh"\n`
  const upstream = `[[upstreams]]\nname = "fresh"\n[[upstreams.servers]]\nname = "s3"\naddress = "127.0.0.1:${s3.port}"\n`
  writeFileSync(p.file, config(dir, [s1, s2], route, upstream).replaceAll('{{PORT}}', String(p.port)))

  const reply = await cli(admin, 'reload', 15_000)
  t.match(reply, /generation 2/, `reload reply: ${JSON.stringify(reply)}`)
  t.ok(reply.endsWith('\n\n'))
  const r = await request(p.port, { path: '/new/x' })
  t.same([r.status, r.headers['x-server']], [200, 's3'], 'the new route serves right after the reply')
  t.equal((await request(p.port, { path: '/other' })).status, 200, 'the old route still serves')
  t.match(await cli(admin, 'show servers state fresh'), /^\d+ fresh 1 s3 127\.0\.0\.1 /m, 'the new upstream is a backend')
})
