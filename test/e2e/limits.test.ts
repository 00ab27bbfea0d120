// Limits end to end, through the CLI: global.max_connections (excess connections closed at once and
// counted), request head size, field count and request line (431/414, defaults and configured), and
// max_body per route (413 for Content-Length and chunked bodies, streamed or buffered). Nothing over
// a limit reaches the origin, and every connection and request count returns to zero.

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { basicConfig, canConnect, freePort, metricTotal, rawExchange, request, sleep, startOrigin, startPortico, waitUntil } from './harness.ts'




/** A client connection that records what it receives and when it was closed. */
interface Conn {
  socket: net.Socket
  text: string
  closedAtMs: number
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve) => {
    const c: Conn = { socket: net.connect(port, '127.0.0.1'), text: '', closedAtMs: 0 }
    c.socket.on('data', (d: Buffer) => { c.text += d.toString('latin1') })
    c.socket.on('close', () => { c.closedAtMs = Date.now() })
    c.socket.on('error', () => {})
    c.socket.on('connect', () => resolve(c))
  })
}

function withMetrics(toml: string, metricsPort: number): string {
  return toml.replace('[log]', `[runtime]\nmetrics = "127.0.0.1:${metricsPort}"\n[log]`)
}

t.test('global.max_connections = 5: of 10 clients, 5 are served and 5 closed at once, counted', async (t) => {
  const a = await startOrigin('s1')
  t.teardown(() => a.close())
  const metricsPort = await freePort()
  const p = await startPortico(withMetrics(basicConfig([a], { global: 'max_connections = 5' }), metricsPort))
  t.teardown(() => p.stop())
  t.ok(await waitUntil(() => canConnect(metricsPort), 5000), 'metrics listener up')
  // Connections accepted during start-up (startPortico's probe) are held, then dispatched and
  // counted until their session ends: be served once, then let those settle.
  t.equal((await request(p.port, { path: '/warm' })).status, 200, 'serving')
  await sleep(500)
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_listener_connections_active')) === 0, 2000), 'no connection open')
  const refusedAtStart = await metricTotal(metricsPort, 'portico_listener_refused_connections_total')
  t.comment(`refused before the test: ${refusedAtStart}`)

  const startedMs = Date.now()
  const conns: Conn[] = []
  for (let i = 0; i < 10; i++) conns.push(await connect(p.port))
  await waitUntil(() => conns.filter((c) => c.closedAtMs !== 0).length >= 5, 2000)
  await sleep(200)
  const closed = conns.filter((c) => c.closedAtMs !== 0)
  const open = conns.filter((c) => c.closedAtMs === 0)
  t.equal(closed.length, 5, '5 connections closed')
  t.equal(open.length, 5, '5 connections kept')
  t.ok(closed.every((c) => c.closedAtMs - startedMs < 1500), 'closed at once, not after a timeout')
  t.ok(closed.every((c) => c.text === ''), 'closed without a response')
  // The kept ones are served.
  for (const c of open) c.socket.write('GET /kept HTTP/1.1\r\nHost: a\r\n\r\n')
  t.ok(await waitUntil(() => open.every((c) => c.text.includes('s1 GET /kept')), 3000), 'each kept connection is served')
  const refusedBefore = await metricTotal(metricsPort, 'portico_listener_refused_connections_total')
  t.equal(refusedBefore - refusedAtStart, 5, 'refusals counted')
  t.equal(await metricTotal(metricsPort, 'portico_listener_connections_active'), 5, '5 active')

  // Once they close, new clients get in again: nothing leaked from the refused or the served ones.
  for (const c of open) c.socket.destroy()
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_listener_connections_active')) === 0, 3000), 'back to 0 active')
  for (let round = 0; round < 3; round++) {
    const batch: Conn[] = []
    for (let i = 0; i < 5; i++) batch.push(await connect(p.port))
    for (const c of batch) c.socket.write('GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    t.ok(await waitUntil(() => batch.every((c) => c.closedAtMs !== 0), 3000), `round ${round}: all closed by portico after the response`)
    t.ok(batch.every((c) => c.text.includes('s1 GET /again')), `round ${round}: all 5 served`)
  }
  t.equal(await metricTotal(metricsPort, 'portico_listener_refused_connections_total'), refusedBefore, 'no new refusals: connections portico closed were released')
})

t.test('default head limits: 431 over 16 KiB or 100 fields, 414 over an 8 KiB request line; nothing forwarded', async (t) => {
  const a = await startOrigin('s1')
  // Node's own limit is 16 KiB too, and portico adds X-Forwarded-*: let the origin take more.
  const originServer = a.server as http.Server & { maxHeaderSize: number }
  originServer.maxHeaderSize = 65536
  t.teardown(() => a.close())
  const p = await startPortico(basicConfig([a]))
  t.teardown(() => p.stop())
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('')
  /** A request whose whole head is exactly `bytes` long. */
  const headOf = (bytes: number) => {
    const base = 'GET / HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n'
    return base.replace('X-Pad: ', 'X-Pad: ' + 'p'.repeat(bytes - base.length))
  }
  const cases: Array<[string, string, number]> = [
    ['head of exactly 16384 bytes', headOf(16384), 200],
    ['head of 16385 bytes', headOf(16385), 431],
    ['head of 64 KiB', headOf(65536), 431],
    ['100 fields', `GET / HTTP/1.1\r\nHost: a\r\n${fields(99)}\r\n`, 200],
    ['101 fields', `GET / HTTP/1.1\r\nHost: a\r\n${fields(100)}\r\n`, 431],
    ['request line of exactly 8192 bytes', `GET /${'u'.repeat(8192 - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`, 200],
    ['request line of 8193 bytes', `GET /${'u'.repeat(8193 - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
  ]
  for (const [name, raw, status] of cases) {
    const before = a.requests.length
    const r = await rawExchange(p.port, raw, { idleMs: 3000, until: (x) => /\r\n\r\n/.test(x) && (status !== 200 || x.includes('s1 GET')) })
    t.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    t.equal(a.requests.length - before, status === 200 ? 1 : 0, `${name}: ${status === 200 ? 'forwarded' : 'nothing forwarded'}`)
  }
  // A too-large head as the second request of a keep-alive connection gets its status too.
  const r = await rawExchange(p.port, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\n' + headOf(20000), { idleMs: 3000 })
  t.same([...r.text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]), ['200', '431'], 'second request on the connection: 431')
  t.ok(r.closed, 'then closed')
})

t.test('configured head limits: max_header_bytes, max_headers, max_request_line', async (t) => {
  const a = await startOrigin('s1')
  t.teardown(() => a.close())
  const p = await startPortico(basicConfig([a], { global: 'max_header_bytes = "2KB"\nmax_headers = 10\nmax_request_line = "512B"' }))
  t.teardown(() => p.stop())
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('')
  const cases: Array<[string, string, number]> = [
    ['10 fields', `GET / HTTP/1.1\r\nHost: a\r\n${fields(9)}\r\n`, 200],
    ['11 fields', `GET / HTTP/1.1\r\nHost: a\r\n${fields(10)}\r\n`, 431],
    ['head of 2048 bytes', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'p'.repeat(2048 - 32)}\r\n\r\n`, 200],
    ['head of 2049 bytes', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'p'.repeat(2049 - 32)}\r\n\r\n`, 431],
    ['request line of 512 bytes', `GET /${'u'.repeat(512 - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`, 200],
    ['request line of 513 bytes', `GET /${'u'.repeat(513 - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
  ]
  for (const [name, raw, status] of cases) {
    const before = a.requests.length
    const r = await rawExchange(p.port, raw, { idleMs: 3000, until: (x) => /\r\n\r\n/.test(x) && (status !== 200 || x.includes('s1 GET')) })
    t.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    t.equal(a.requests.length - before, status === 200 ? 1 : 0, `${name}: ${status === 200 ? 'forwarded' : 'nothing forwarded'}`)
  }
})

t.test('max_body per route: 413 for Content-Length and chunked bodies, streamed or buffered', async (t) => {
  const received: number[] = []
  const a = await startOrigin('s1', (req, res) => {
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length })
    req.on('end', () => { received.push(n); res.end(`got ${n}`) })
  })
  t.teardown(() => a.close())
  const metricsPort = await freePort()
  const toml = withMetrics(`
[global]
workers = 2
[log]
access = "off"
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
[[routes]]
name = "small"
path_prefix = "/small"
upstream = "app"
max_body = "1KB"
[[routes]]
name = "buffered"
path_prefix = "/buffered"
upstream = "app"
max_body = "1KB"
request_buffering = true
[[routes]]
name = "big"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${a.port}"
`, metricsPort)
  const p = await startPortico(toml)
  t.teardown(() => p.stop())
  const chunked = (n: number, size = 256) => {
    let s = ''
    for (let left = n; left > 0; left -= size) { const k = Math.min(size, left); s += `${k.toString(16)}\r\n${'c'.repeat(k)}\r\n` }
    return s + '0\r\n\r\n'
  }
  for (const route of ['/small', '/buffered']) {
    const cases: Array<[string, string, number]> = [
      ['Content-Length 1024', `POST ${route} HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n${'b'.repeat(1024)}`, 200],
      ['Content-Length 1025', `POST ${route} HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n${'b'.repeat(1025)}`, 413],
      ['Content-Length 10 MB announced, no body sent', `POST ${route} HTTP/1.1\r\nHost: a\r\nContent-Length: 10485760\r\n\r\n`, 413],
      ['chunked 1024', `POST ${route} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(1024)}`, 200],
      ['chunked 1025', `POST ${route} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(1025)}`, 413],
      ['chunked 1025 in one chunk', `POST ${route} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(1025, 4096)}`, 413],
    ]
    for (const [name, raw, status] of cases) {
      const before = a.requests.length
      // A refusal is read to the close; a success until its body.
      const r = await rawExchange(p.port, raw, { idleMs: 3000, until: status === 200 ? (x) => /got \d+$/.test(x) : undefined })
      t.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), `${route} ${name}: ${status}`)
      if (status === 200) t.match(r.text, /got 1024$/, `${route} ${name}: the whole body arrived`)
      else t.equal(a.requests.length, before, `${route} ${name}: nothing reached the origin`)
      if (status === 413) t.ok(r.closed, `${route} ${name}: connection closed`)
    }
  }

  // A chunked body that crosses the limit while it streams: the head (and the first chunks) are
  // upstream already; the client still gets 413, the origin never sees a complete request.
  const before = received.length
  const c = await connect(p.port)
  c.socket.write('POST /small/stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')
  for (let i = 0; i < 10 && c.closedAtMs === 0; i++) {
    c.socket.write(`100\r\n${'s'.repeat(256)}\r\n`)
    await sleep(30)
  }
  await waitUntil(() => c.closedAtMs !== 0, 3000)
  t.match(c.text, /^HTTP\/1\.1 413 /, 'streamed chunked body over max_body: 413')
  t.ok(c.closedAtMs !== 0, 'connection closed')
  await sleep(100)
  t.equal(received.length, before, 'the origin never got a complete request')
  c.socket.destroy()

  // The route without a limit takes a 2 MB chunked body.
  const big = await rawExchange(p.port, `POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(2 * 1024 * 1024, 65536)}`,
    { idleMs: 5000, until: (x) => /got \d+$/.test(x) })
  t.match(big.text, /got 2097152$/, 'no max_body: 2 MB chunked body forwarded')

  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_active_requests')) === 0, 2000), 'no request left in flight')
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_listener_connections_active')) === 0, 2000), 'no connection left open')
  t.ok(await metricTotal(metricsPort, 'portico_listener_denied_requests_total') >= 9, 'refusals counted as denied')
})
