// The access log of a running portico with 4 worker threads: each request becomes one JSON line,
// written by the main thread from the workers' rings to `[log] access`, with who asked, what,
// where it went and how long each part took; 1,000 requests make 1,000 lines, none lost or doubled.

import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Portico } from './harness.ts'

const SLOW_MS = 300

interface Line {
  time: string; client: string; listener: string; method: string; path: string; route: string; upstream: string; server: string
  status: number; bytes_in: number; bytes_out: number; queue_ms: number; connect_ms: number; head_ms: number; total_ms: number
}

async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

/** The access log's lines, parsed; bad JSON fails the test through JSON.parse. */
function readLog(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line)
}

/** Wait until the log holds `n` lines (the main thread writes asynchronously), bounded. */
async function waitForLines(file: string, n: number, timeoutMs = 10_000): Promise<Line[]> {
  const deadline = Date.now() + timeoutMs
  let lines = readLog(file)
  while (lines.length < n && Date.now() < deadline) {
    await sleep(100)
    lines = readLog(file)
  }
  await sleep(300) // and nothing more arrives after that
  return readLog(file)
}

/** `n` GETs of `/n/<i>` from `concurrency` keep-alive clients; resolves with the statuses. */
async function load(port: number, n: number, concurrency: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses: number[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      statuses.push((await request(port, { agent, path: `/n/${i}` })).status)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  agent.destroy()
  return statuses
}

async function start(t: Test): Promise<{ p: Portico; file: string }> {
  const s1 = await startOrigin('s1', (req, res) => {
    req.resume()
    const answer = (): void => { res.setHeader('x-server', 's1'); res.end('hello from s1') }
    if (req.url === '/slow') setTimeout(answer, SLOW_MS)
    else answer()
  })
  t.teardown(() => s1.close())
  const dead = await closedPort()
  const p = await startPortico(`
[global]
workers = 4
[log]
level = "info"
access = "access.log"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"

[[routes]]
name = "to-dead"
path_prefix = "/dead/"
upstream = "gone"

[[routes]]
name = "main"
path_prefix = "/"
methods = ["GET", "POST"]
upstream = "app"

[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${s1.port}"

[[upstreams]]
name = "gone"
retries = 0
[[upstreams.servers]]
name = "d1"
address = "127.0.0.1:${dead}"
`)
  t.teardown(() => p.stop())
  await p.waitFor(/"event":"started"/)
  // A relative path is relative to the config file.
  return { p, file: join(p.dir, 'access.log') }
}

t.test('one JSON line per request with client, request, route, upstream/server, status, bytes and timings', async (t) => {
  const { p, file } = await start(t)
  const ok = await request(p.port, { method: 'POST', path: '/a/b?x=1', body: 'ping', headers: { 'content-type': 'text/plain' } })
  t.equal(ok.status, 200)
  t.equal((await request(p.port, { method: 'DELETE', path: '/no-route' })).status, 404)
  t.equal((await request(p.port, { path: '/dead/x' })).status, 502)
  t.equal((await request(p.port, { path: '/slow' })).status, 200)

  const lines = await waitForLines(file, 4)
  t.equal(lines.length, 4, 'four requests, four lines')
  const byPath = new Map(lines.map((l) => [l.path, l]))

  const a = byPath.get('/a/b?x=1') as Line
  t.match(a, {
    client: '127.0.0.1', listener: 'web', method: 'POST', path: '/a/b?x=1', route: 'main', upstream: 'app', server: 's1', status: 200,
  }, 'a proxied request names its route, upstream and server')
  t.ok(Number.isFinite(Date.parse(a.time)) && Math.abs(Date.parse(a.time) - Date.now()) < 60_000, `an ISO time: ${a.time}`)
  t.ok(a.bytes_in >= 4, `bytes_in counts at least the request body: ${a.bytes_in}`)
  t.ok(a.bytes_in > 40, `bytes_in counts the request head too, as bytes_out counts the response head: ${a.bytes_in}`)
  t.ok(a.bytes_out >= ok.body.length + 20, `bytes_out counts head and body sent to the client: ${a.bytes_out}`)
  for (const k of ['queue_ms', 'connect_ms', 'head_ms', 'total_ms'] as const) {
    t.ok(Number.isInteger(a[k]) && a[k] >= 0, `${k} is a whole number of ms: ${a[k]}`)
  }
  t.equal(a.queue_ms, 0, 'not queued')
  t.ok(a.head_ms <= a.total_ms, 'the response head came before the end')

  t.match(byPath.get('/no-route'), { method: 'DELETE', route: '-', upstream: '-', server: '-', status: 404, head_ms: -1 },
    'no route: dashes, and no upstream head time')
  t.match(byPath.get('/dead/x'), { route: 'to-dead', upstream: 'gone', server: 'd1', status: 502, head_ms: -1 },
    'a dead server: named, 502, no response head')

  const slow = byPath.get('/slow') as Line
  t.ok(slow.head_ms >= SLOW_MS - 5 && slow.total_ms >= slow.head_ms, `a slow server shows in head_ms (${slow.head_ms}) and total_ms (${slow.total_ms})`)
  t.ok(slow.connect_ms < SLOW_MS / 2, `connect_ms is the TCP connect only, not the wait for the answer: ${slow.connect_ms}`)
})

t.test('1,000 requests with 4 worker threads: 1,000 lines, each path exactly once', async (t) => {
  const { p, file } = await start(t)
  const statuses = await load(p.port, 1000, 16)
  t.equal(statuses.filter((s) => s === 200).length, 1000, 'all 1,000 answered 200')
  const lines = await waitForLines(file, 1000)
  t.equal(lines.length, 1000, '1,000 lines')
  const paths = new Set(lines.map((l) => l.path))
  t.equal(paths.size, 1000, 'every request once: none lost, none doubled')
  for (let i = 0; i < 1000; i++) {
    if (!paths.has(`/n/${i}`)) { t.fail(`no line for /n/${i}`); break }
  }
  t.ok(lines.every((l) => l.status === 200 && l.server === 's1' && l.route === 'main'), 'every line complete')
  t.ok(new Set(lines.map((l) => l.client)).size === 1, 'one client address')
})
