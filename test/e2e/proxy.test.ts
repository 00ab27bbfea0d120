// The core proxy end to end: portico's CLI on a TOML file, real origin servers on loopback,
// real HTTP clients. Routing, balancing, keep-alive on both sides, header rewriting, pipelining,
// HEAD/204/304, error statuses and timeouts.

import t from 'tap'
import http from 'node:http'
import { basicConfig, rawExchange, request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin } from './harness.ts'

t.test('round robin alternates between two servers and preserves Host', async (t) => {
  const a = await startOrigin('s1')
  const b = await startOrigin('s2')
  const p = await startPortico(basicConfig([a, b]))
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  const seen: string[] = []
  for (let i = 0; i < 10; i++) {
    const r = await request(p.port, { path: `/x${i}`, headers: { host: 'example.test' } })
    t.equal(r.status, 200)
    seen.push(String(r.headers['x-server']))
  }
  t.equal(seen.filter((s) => s === 's1').length, 5, `s1 got half: ${seen}`)
  t.equal(seen.filter((s) => s === 's2').length, 5)
  t.equal(a.requests[0].headers.host, 'example.test', 'Host preserved')
})

t.test('routes by host, path prefix, exact path, regex, header and method; 404 otherwise', async (t) => {
  const names = ['api', 'exact', 'regex', 'canary', 'posts', 'wild', 'fallback']
  const origins: Record<string, Origin> = {}
  for (const n of names) origins[n] = await startOrigin(n)
  const toml = `
[global]
workers = 2
[log]
access = "off"
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
[[routes]]
name = "api"
host = "api.example.com"
path_prefix = "/api/"
upstream = "api"
[[routes]]
name = "exact"
path = "/exact"
upstream = "exact"
[[routes]]
name = "regex"
path_regex = "^/v[0-9]+/"
upstream = "regex"
[[routes]]
name = "canary"
headers = { "x-canary" = "1" }
upstream = "canary"
[[routes]]
name = "posts"
methods = ["POST"]
path_prefix = "/submit"
upstream = "posts"
[[routes]]
name = "wild"
host = "*.wild.test"
upstream = "wild"
[[routes]]
name = "fallback"
path_prefix = "/fallback"
upstream = "fallback"
${names.map((n) => `[[upstreams]]\nname = "${n}"\n[[upstreams.servers]]\nname = "${n}1"\naddress = "127.0.0.1:${origins[n].port}"\n`).join('\n')}
`
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); for (const n of names) await origins[n].close() })
  const cases: Array<[string, { path: string; method?: string; headers?: Record<string, string> }, string | number]> = [
    ['host + prefix', { path: '/api/users', headers: { host: 'api.example.com' } }, 'api'],
    ['host with port', { path: '/api/users', headers: { host: 'API.example.com:8080' } }, 'api'],
    ['prefix without host', { path: '/api/users', headers: { host: 'other.com' } }, 404],
    ['exact path', { path: '/exact?q=1' }, 'exact'],
    ['exact path only', { path: '/exact/more' }, 404],
    ['regex', { path: '/v2/things' }, 'regex'],
    ['header', { path: '/anything', headers: { 'x-canary': '1' } }, 'canary'],
    ['header value must match', { path: '/anything', headers: { 'x-canary': '2' } }, 404],
    ['method', { path: '/submit', method: 'POST' }, 'posts'],
    ['method mismatch', { path: '/submit', method: 'GET' }, 404],
    ['wildcard host', { path: '/', headers: { host: 'a.wild.test' } }, 'wild'],
    ['wildcard is not the bare domain', { path: '/', headers: { host: 'wild.test' } }, 404],
    ['fallback', { path: '/fallback/x' }, 'fallback'],
  ]
  for (const [name, req, want] of cases) {
    const r = await request(p.port, { path: req.path, method: req.method, headers: req.headers, body: req.method === 'POST' ? 'x' : undefined })
    if (typeof want === 'number') {
      t.equal(r.status, want, `${name}: status`)
      t.match(r.text, /no route/, `${name}: portico's own 404 body`)
    } else {
      t.equal(r.status, 200, `${name}: status`)
      t.equal(r.headers['x-server'], want, `${name}: upstream`)
    }
  }
})

t.test('keep-alive is reused on both sides', async (t) => {
  const a = await startOrigin('s1')
  const p = await startPortico(basicConfig([a], { global: '' }).replace('workers = 2', 'workers = 1'))
  t.teardown(async () => { await p.stop(); await a.close() })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let clientSockets = 0
  for (let i = 0; i < 50; i++) {
    const r = await request(p.port, { path: `/k${i}`, agent })
    t.equal(r.status, 200)
    if (r.headers.connection === 'close') clientSockets++
  }
  t.equal(clientSockets, 0, 'portico never asked the client to close')
  t.equal(a.requests.length, 50)
  t.equal(a.connections, 1, 'one upstream connection carried all 50 requests')
})

t.test('hop-by-hop headers removed, X-Forwarded-* added', async (t) => {
  const a = await startOrigin('s1', (req, res) => {
    res.setHeader('x-server', 's1')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('x-secret-hop', 'drop me')
    res.setHeader('connection', 'x-secret-hop')
    res.end('ok')
  })
  const p = await startPortico(basicConfig([a]))
  t.teardown(async () => { await p.stop(); await a.close() })
  const r = await request(p.port, {
    headers: {
      host: 'site.test', connection: 'keep-alive, x-drop-me', 'x-drop-me': 'secret', 'keep-alive': 'timeout=1',
      te: 'trailers', 'proxy-authorization': 'Basic abc', 'x-forwarded-for': '203.0.113.9', 'x-end-to-end': 'stays',
    },
  })
  t.equal(r.status, 200)
  const h = a.requests[0].headers
  t.equal(h['x-drop-me'], undefined, 'field named in Connection removed')
  t.equal(h['keep-alive'], undefined)
  t.equal(h.te, undefined)
  t.equal(h['proxy-authorization'], undefined)
  t.equal(h['x-end-to-end'], 'stays')
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'X-Forwarded-For appended')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h['x-forwarded-host'], 'site.test')
  t.equal(h.host, 'site.test')
  t.equal(r.headers['x-secret-hop'], undefined, 'response field named in Connection removed')
  t.equal(r.headers['keep-alive'], undefined, 'response keep-alive removed')
})

t.test('pipelined requests are answered in order', async (t) => {
  const a = await startOrigin('s1', (req, res) => {
    // Answer the first request last, to prove portico keeps the order anyway.
    const delay = req.url === '/1' ? 150 : 0
    setTimeout(() => res.end(`body${req.url}`), delay)
  })
  const p = await startPortico(basicConfig([a]))
  t.teardown(async () => { await p.stop(); await a.close() })
  const raw = ['/1', '/2', '/3'].map((u) => `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`).join('')
  const { text } = await rawExchange(p.port, raw, { idleMs: 5000, until: (x) => x.includes('body/3') })
  const bodies = [...text.matchAll(/body\/(\d)/g)].map((m) => m[1])
  t.same(bodies, ['1', '2', '3'])
  t.equal((text.match(/HTTP\/1\.1 200/g) ?? []).length, 3)
})

t.test('HEAD, 204 and 304 carry no body; keep-alive continues', async (t) => {
  const a = await startOrigin('s1', (req, res) => {
    if (req.url === '/204') { res.statusCode = 204; res.end(); return }
    if (req.url === '/304') { res.statusCode = 304; res.end(); return }
    res.setHeader('content-length', '5')
    res.end(req.method === 'HEAD' ? undefined : 'hello')
  })
  const p = await startPortico(basicConfig([a]))
  t.teardown(async () => { await p.stop(); await a.close() })
  const raw = 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n'
  const { text } = await rawExchange(p.port, raw, { idleMs: 5000, until: (x) => x.endsWith('hello') })
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1])
  t.same(statuses, ['200', '204', '304', '200'])
  const first = text.slice(0, text.indexOf('HTTP/1.1 204'))
  t.match(first, /content-length: 5\r\n/i, 'HEAD response keeps its content-length')
  t.ok(first.endsWith('\r\n\r\n'), 'HEAD response has no body')
  t.ok(text.endsWith('hello'), 'the GET after them has its body')
})

t.test('chunked bodies both ways', async (t) => {
  const a = await startOrigin('s1', (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.setHeader('x-te', String(req.headers['transfer-encoding']))
      res.write('echo:')
      setTimeout(() => res.end(Buffer.concat(chunks)), 20)
    })
  })
  const p = await startPortico(basicConfig([a]))
  t.teardown(async () => { await p.stop(); await a.close() })
  const raw = 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'
  const { text } = await rawExchange(p.port, raw, { idleMs: 5000, until: (x) => x.endsWith('0\r\n\r\n') })
  t.match(text, /^HTTP\/1\.1 200/)
  t.match(text, /transfer-encoding: chunked/i)
  t.match(text, /x-te: chunked/i, 'upstream received a chunked request')
  t.match(text, /5\r\necho:\r\n/, 'chunks relayed')
  t.match(text, /hello world/)
  t.match(text, /0\r\n\r\n$/, 'terminating chunk relayed')
})

t.test('error statuses: 502 unreachable, 503 none available, 504 slow, 400 malformed, 431, 413', async (t) => {
  const slow = await startOrigin('slow', (req, res) => { setTimeout(() => res.end('late'), 3000) })
  const dead = await startOrigin('dead')
  const deadPort = dead.port
  await dead.close()
  const toml = `
[global]
workers = 1
[log]
access = "off"
[timeouts]
upstream_response = "300ms"
upstream_connect = "500ms"
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
[[routes]]
name = "dead"
path_prefix = "/dead"
upstream = "dead"
[[routes]]
name = "slow"
path_prefix = "/slow"
upstream = "slow"
[[routes]]
name = "small"
path_prefix = "/small"
upstream = "slow"
max_body = "10B"
[[upstreams]]
name = "dead"
retries = 0
[[upstreams.servers]]
name = "d1"
address = "127.0.0.1:${deadPort}"
[[upstreams]]
name = "slow"
[[upstreams.servers]]
name = "w1"
address = "127.0.0.1:${slow.port}"
`
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await slow.close() })
  const r502 = await request(p.port, { path: '/dead' })
  t.equal(r502.status, 502)
  t.match(r502.text, /upstream unreachable/)
  const started = Date.now()
  const r504 = await request(p.port, { path: '/slow' })
  t.equal(r504.status, 504)
  t.ok(Date.now() - started < 2500, 'answered after upstream_response, not after the upstream')
  const r400 = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n')
  t.match(r400.text, /^HTTP\/1\.1 400/)
  t.ok(r400.closed, '400 closes the connection')
  const big = 'x'.repeat(20000)
  const r431 = await rawExchange(p.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`)
  t.match(r431.text, /^HTTP\/1\.1 431/)
  const r413 = await request(p.port, { path: '/small', method: 'POST', body: 'x'.repeat(100) })
  t.equal(r413.status, 413)
})

t.test('503 when every server is down or in maintenance (weight 0)', async (t) => {
  const a = await startOrigin('s1')
  const toml = basicConfig([a]).replace(`address = "127.0.0.1:${a.port}"`, `address = "127.0.0.1:${a.port}"\nweight = 0`)
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await a.close() })
  t.equal((await request(p.port)).status, 503, 'first request (worker threads warming up)')
  const started = Date.now()
  const r = await request(p.port)
  t.equal(r.status, 503)
  t.ok(Date.now() - started < 1000, 'at once, not after a timeout')
  t.equal(a.requests.length, 0)
})

t.test('client_header timeout cuts a slow request head; client_idle closes idle keep-alive', async (t) => {
  const a = await startOrigin('s1')
  const p = await startPortico(basicConfig([a], { timeouts: 'client_header = "300ms"\nclient_idle = "400ms"' }))
  t.teardown(async () => { await p.stop(); await a.close() })
  const slow = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n', { idleMs: 5000, timeoutMs: 6000 })
  t.match(slow.text, /^HTTP\/1\.1 408/, 'incomplete head answered 408')
  t.ok(slow.closed)
  const started = Date.now()
  const idle = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 5000, timeoutMs: 6000 })
  t.match(idle.text, /^HTTP\/1\.1 200/)
  t.ok(idle.closed, 'idle keep-alive connection closed by portico')
  t.ok(Date.now() - started < 4000, 'closed after client_idle, well before the client gave up')
})

t.test('an idle pooled connection closed by the upstream is retried transparently', async (t) => {
  const a = await startOrigin('s1')
  // The origin drops idle keep-alive connections after 100 ms.
  a.server.keepAliveTimeout = 100
  const p = await startPortico(basicConfig([a]).replace('workers = 2', 'workers = 1'))
  t.teardown(async () => { await p.stop(); await a.close() })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 5; i++) {
    const r = await request(p.port, { agent })
    t.equal(r.status, 200, `request ${i} succeeds after the upstream closed the idle connection`)
    await sleep(250)
  }
})

t.test('a client that asks to close gets the whole response, then the connection ends without waiting for its FIN', async (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024, 'b')
  const a = await startOrigin('s1', (req, res) => {
    req.resume()
    req.on('end', () => res.end(req.url === '/big' ? big : 'small body'))
  })
  const p = await startPortico(basicConfig([a]))
  t.teardown(async () => { await p.stop(); await a.close() })
  // The client never half-closes: the connection ends because portico closes it (rawExchange
  // resolves with closed = true only on 'close', and gives up after 5 s of silence).
  const cases: Array<[string, string, number]> = [
    ['HTTP/1.1 with Connection: close', 'GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10],
    ['HTTP/1.0 without keep-alive', 'GET /small HTTP/1.0\r\nHost: x\r\n\r\n', 10],
    // 4 MiB do not fit the socket buffer at once: the close waits for the rest to be written.
    ['a body larger than the socket buffer', 'GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', big.length],
  ]
  for (const [what, request, bodyBytes] of cases) {
    const r = await rawExchange(p.port, request, { idleMs: 5000, timeoutMs: 10_000 })
    const split = r.text.indexOf('\r\n\r\n')
    t.match(r.text.slice(0, split), /^HTTP\/1\.[01] 200 /, `${what}: 200`)
    t.match(r.text.slice(0, split), /\r\nconnection: close/i, `${what}: the response says close`)
    t.equal(r.text.length - split - 4, bodyBytes, `${what}: every body byte arrived`)
    t.ok(r.closed, `${what}: portico closed the connection`)
  }
})
