// Upstream resilience end to end (issue 4's "Show" list), through the CLI, with real origin servers
// the test stops, restarts, slows and resets: a server killed under load from 20 clients costs no
// request (retries = 1) and is marked DOWN within interval × fall, then UP again and used within
// interval × rise; both servers down → 503 at once; a hanging server → 504 after
// upstream_response; max_connections_per_server = 2 holds at the origin, the rest queue and get
// 503 after timeouts.queue; a streamed POST is not retried after a reset (502), a buffered one is.

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { canConnect, defaultHandler, freePort, metricTotal, request, scrapeMetric, sleep, startOrigin, startPortico, waitUntil } from './harness.ts'
import type { Origin } from './harness.ts'


async function serverValue(port: number, family: string, server: string): Promise<number> {
  for (const [labels, v] of await scrapeMetric(port, family)) if (labels.includes(`server="${server}"`)) return v
  return Number.NaN
}



function config(servers: Array<{ name: string; port: number }>, metricsPort: number, extra: { upstream?: string; timeouts?: string; route?: string; workers?: number } = {}): string {
  return `
[global]
workers = ${extra.workers ?? 2}
[log]
access = "off"
[runtime]
metrics = "127.0.0.1:${metricsPort}"
${extra.timeouts ? `[timeouts]\n${extra.timeouts}\n` : ''}
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
[[routes]]
name = "all"
upstream = "app"
${extra.route ?? ''}
[[upstreams]]
name = "app"
${extra.upstream ?? ''}
${servers.map((s) => `[[upstreams.servers]]\nname = "${s.name}"\naddress = "127.0.0.1:${s.port}"\n`).join('\n')}
`
}

/** Requests an origin got that are not health checks. */
function traffic(o: Origin): number {
  return o.requests.filter((r) => r.url !== '/health').length
}

// The checks run on portico's main thread, which under this test's load (20 clients, 2 cores) can
// answer a probe late: a 100 ms timeout marks a healthy server DOWN. 250 ms leaves room.
const INTERVAL_MS = 300
const CHECK_TIMEOUT_MS = 250
const RISE = 2
const FALL = 2
const HEALTH = `[upstreams.health]\npath = "/health"\ninterval = "${INTERVAL_MS}ms"\ntimeout = "${CHECK_TIMEOUT_MS}ms"\nrise = ${RISE}\nfall = ${FALL}`

t.test('a server killed under load from 20 clients: no failed request, DOWN within interval × fall, back within interval × rise', async (t) => {
  const s1 = await startOrigin('s1')
  const s2 = await startOrigin('s2')
  let s1b: Origin | null = null
  t.teardown(async () => { await s1.close(); await s2.close(); await s1b?.close() })
  const metricsPort = await freePort()
  const p = await startPortico(config([s1, s2], metricsPort, { upstream: `retries = 1\n${HEALTH}` }))
  t.teardown(() => p.stop())
  t.ok(await waitUntil(() => canConnect(metricsPort), 5000), 'metrics up')

  // 20 clients, each a keep-alive connection sending GETs back to back, for at most 15 s.
  let isRunning = true
  const failures: string[] = []
  let done = 0
  const hardStopMs = Date.now() + 15_000
  const clients = Array.from({ length: 20 }, async (_, c) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; isRunning && Date.now() < hardStopMs && i < 100_000; i++) {
      try {
        const r = await request(p.port, { path: `/c${c}/${i}`, agent, timeoutMs: 5000 })
        if (r.status !== 200) failures.push(`client ${c} request ${i}: ${r.status} ${r.text.trim()}`)
        done++
      } catch (err) {
        failures.push(`client ${c} request ${i}: ${(err as Error).message}`)
      }
    }
    agent.destroy()
  })
  t.teardown(() => { isRunning = false })

  t.ok(await waitUntil(() => traffic(s1) > 20 && traffic(s2) > 20, 5000), 'both servers take traffic')
  const killedMs = Date.now()
  await s1.close()
  t.ok(await waitUntil(async () => (await serverValue(metricsPort, 'portico_server_up', 's1')) === 0, 5000, 10), 's1 marked DOWN')
  const downMs = Date.now() - killedMs
  // At most `fall` intervals of failing checks, plus one interval for the check cycle under way and the probe timeout.
  const downBoundMs = INTERVAL_MS * (FALL + 1) + CHECK_TIMEOUT_MS + 250
  t.ok(downMs <= downBoundMs, `DOWN ${downMs} ms after the kill (interval × fall = ${INTERVAL_MS * FALL} ms; bound ${downBoundMs} ms)`)
  await sleep(600)
  const s2Before = traffic(s2)
  await sleep(300)
  t.ok(traffic(s2) > s2Before, 's2 carries the load alone')

  // Restart s1 on the same port.
  const restartedMs = Date.now()
  s1b = await startOrigin('s1', defaultHandler, s1.port)
  t.ok(await waitUntil(async () => (await serverValue(metricsPort, 'portico_server_up', 's1')) === 1, 5000, 10), 's1 marked UP again')
  const upMs = Date.now() - restartedMs
  const upBoundMs = INTERVAL_MS * (RISE + 1) + CHECK_TIMEOUT_MS + 250
  t.ok(upMs <= upBoundMs, `UP ${upMs} ms after the restart (interval × rise = ${INTERVAL_MS * RISE} ms; bound ${upBoundMs} ms)`)
  const restarted = s1b
  t.ok(await waitUntil(() => traffic(restarted) > 0, 2000), 'the restarted s1 gets traffic again')
  const trafficMs = Date.now() - restartedMs
  t.ok(trafficMs <= upBoundMs + 500, `first request ${trafficMs} ms after the restart`)
  await sleep(300)

  isRunning = false
  await Promise.all(clients)
  t.ok(done > 200, `${done} requests completed`)
  t.same(failures.slice(0, 10), [], `no failed request (${failures.length} failures)`)
  if (failures.length > 0) t.comment(p.stderr.filter((l) => /DOWN|UP|ejected/.test(l)).join('\n'))
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_active_requests')) === 0, 3000), 'nothing left in flight')
  t.match(await p.waitFor(/server app\/s1 is DOWN/, 1000), /refused/, 'the DOWN transition is logged with its reason')
  t.match(await p.waitFor(/server app\/s1 is UP/, 1000), /status 200/, 'the UP transition is logged with its reason')
})

t.test('both servers down: 503 in milliseconds, not a hang', async (t) => {
  const s1 = await startOrigin('s1')
  const s2 = await startOrigin('s2')
  const metricsPort = await freePort()
  const p = await startPortico(config([s1, s2], metricsPort, { upstream: `retries = 1\n${HEALTH}` }))
  t.teardown(() => p.stop())
  t.ok(await waitUntil(() => canConnect(metricsPort), 5000), 'metrics up')
  t.equal((await request(p.port)).status, 200, 'served while up')
  await s1.close()
  await s2.close()
  // Before the checks notice: connect failures are refused at once too (502), never a hang.
  const early = Date.now()
  const r502 = await request(p.port)
  t.ok([502, 503].includes(r502.status), `right after the kill: ${r502.status}`)
  t.ok(Date.now() - early < 1000, `in ${Date.now() - early} ms`)
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_up')) === 0, 5000), 'both marked DOWN')
  for (let i = 0; i < 5; i++) {
    const started = Date.now()
    const r = await request(p.port, { path: `/down${i}` })
    const ms = Date.now() - started
    t.equal(r.status, 503, `request ${i}: 503`)
    t.match(r.text, /no server available/, 'says why')
    t.ok(ms < 200, `request ${i}: answered in ${ms} ms`)
  }
})

t.test('a hanging server: 504 after upstream_response', async (t) => {
  const hang = await startOrigin('hang', (req, res, o) => {
    // Answers only the warm-up request; /hang never gets an answer.
    if (req.url === '/warm') defaultHandler(req, res, o)
  })
  t.teardown(() => hang.close())
  const metricsPort = await freePort()
  const p = await startPortico(config([hang], metricsPort, { timeouts: 'upstream_response = "600ms"', upstream: 'retries = 1' }))
  t.teardown(() => p.stop())
  t.equal((await request(p.port, { path: '/warm' })).status, 200, 'serving')
  const started = Date.now()
  const r = await request(p.port, { path: '/hang' })
  const ms = Date.now() - started
  t.equal(r.status, 504)
  t.match(r.text, /upstream timed out/)
  t.ok(ms >= 550 && ms < 1500, `after ${ms} ms (upstream_response 600ms)`)
  t.equal(hang.requests.filter((q) => q.url === '/hang').length, 1, 'a timeout is not retried')
})

t.test('max_connections_per_server = 2, 10 concurrent slow requests: never more than 2 at the server, the rest queued, 503 after timeouts.queue', async (t) => {
  const SLOW_MS = 400
  const QUEUE_MS = 1000
  const slow = await startOrigin('s1', (req, res, o) => { setTimeout(() => defaultHandler(req, res, o), SLOW_MS) })
  t.teardown(() => slow.close())
  const metricsPort = await freePort()
  const p = await startPortico(config([slow], metricsPort, { upstream: 'max_connections_per_server = 2', timeouts: `queue = "${QUEUE_MS}ms"` }))
  t.teardown(() => p.stop())
  t.ok(await waitUntil(() => canConnect(metricsPort), 5000), 'metrics up')
  // Start the worker threads with one request first: the 10 below then race only for slots.
  t.equal((await request(p.port, { path: '/warm' })).status, 200)
  await sleep(SLOW_MS)
  slow.maxInFlight = 0

  let maxQueued = 0
  let isSampling = true
  const sampler = (async () => {
    for (let i = 0; isSampling && i < 200; i++) {
      maxQueued = Math.max(maxQueued, await metricTotal(metricsPort, 'portico_upstream_queue_length'))
      await sleep(50)
    }
  })()
  const started = Date.now()
  const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const r = await request(p.port, { path: `/q${i}`, timeoutMs: 10_000 })
    return { status: r.status, ms: Date.now() - started, text: r.text }
  }))
  isSampling = false
  await sampler
  const ok = results.filter((r) => r.status === 200)
  const busy = results.filter((r) => r.status === 503)
  t.comment(results.map((r) => `${r.status}@${r.ms}ms`).join(' '))
  t.ok(slow.maxInFlight <= 2, `at most 2 at the server at once (saw ${slow.maxInFlight})`)
  t.equal(slow.maxInFlight, 2, 'and the limit was used')
  t.ok(maxQueued >= 1, `requests waited in the queue (up to ${maxQueued})`)
  t.equal(ok.length + busy.length, 10, 'every request got 200 or 503')
  t.ok(ok.length >= 4, `${ok.length} served, some of them after queueing`)
  t.ok(ok.some((r) => r.ms >= SLOW_MS * 2 - 50), 'a queued request was served after two rounds')
  t.ok(busy.length >= 2, `${busy.length} got 503`)
  t.ok(busy.every((r) => r.ms >= QUEUE_MS - 100 && r.ms < QUEUE_MS + 1000), `503 after the queue timeout (${busy.map((r) => r.ms).join(', ')} ms)`)
  t.ok(busy.every((r) => /all servers busy/.test(r.text)), '503 says all servers busy')
  t.equal(slow.requests.length - 1, ok.length, 'a request that got 503 never reached the server')
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_upstream_queue_length')) === 0, 2000), 'the queue is empty again')
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_active_requests')) === 0, 2000), 'no slot left taken')
})

/** An origin that reads a request (head and Content-Length body) and resets the connection instead of answering. */
async function resetOrigin(): Promise<{ port: number; requests: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const state = { port: 0, requests: 0, close: async () => {} }
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    let buf = ''
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const cl = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))
      if (buf.length < end + 4 + (cl === null ? 0 : Number(cl[1]))) return
      state.requests++
      s.resetAndDestroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as net.AddressInfo).port
  state.close = () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) })
  return state
}

t.test('a streamed POST is not retried after a reset and gets 502; a GET is retried', async (t) => {
  const bad = await resetOrigin()
  const good = await startOrigin('good')
  t.teardown(async () => { await bad.close(); await good.close() })
  const metricsPort = await freePort()
  const p = await startPortico(config([{ name: 'bad', port: bad.port }, { name: 'good', port: good.port }], metricsPort,
    { upstream: 'retries = 1\nbalance = "round_robin"', workers: 1 }))
  t.teardown(() => p.stop())
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const r = await request(p.port, { method: 'POST', path: `/post${i}`, body: `body ${i}`, headers: { 'content-type': 'text/plain' } })
    statuses.push(r.status)
  }
  const posts = good.requests.filter((r) => r.method === 'POST').length
  t.ok(bad.requests >= 1, `the resetting server got ${bad.requests} POSTs`)
  t.equal(statuses.filter((s) => s === 502).length, bad.requests, 'each POST that hit the reset got 502')
  t.equal(statuses.filter((s) => s === 200).length, posts, 'the good server got only the POSTs sent to it first: none was retried')
  const badBefore = bad.requests
  for (let i = 0; i < 4; i++) t.equal((await request(p.port, { path: `/get${i}` })).status, 200, `GET ${i} succeeds`)
  t.ok(bad.requests > badBefore, 'some GETs hit the resetting server first and were retried')
})

t.test('a buffered POST (request_buffering = true) is retried on the other server after a reset', async (t) => {
  const bad = await resetOrigin()
  const bodies: string[] = []
  const good = await startOrigin('good', (req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => { bodies.push(body); res.end('stored') })
  })
  t.teardown(async () => { await bad.close(); await good.close() })
  const metricsPort = await freePort()
  const p = await startPortico(config([{ name: 'bad', port: bad.port }, { name: 'good', port: good.port }], metricsPort,
    { upstream: 'retries = 1\nbalance = "round_robin"', route: 'request_buffering = true', workers: 1 }))
  t.teardown(() => p.stop())
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const r = await request(p.port, { method: 'POST', path: `/post${i}`, body: `body ${i}`, headers: { 'content-type': 'text/plain' } })
    statuses.push(r.status)
  }
  t.ok(bad.requests >= 1, `the resetting server got ${bad.requests} POSTs`)
  t.same(statuses, [200, 200, 200, 200, 200, 200], 'every POST succeeded')
  t.same(bodies.sort(), Array.from({ length: 6 }, (_, i) => `body ${i}`).sort(), 'each body arrived whole at the good server, once')
})
