// HTTP/2 from clients end to end: node:http2 clients against portico's CLI (ALPN h2 over TLS,
// h2c prior knowledge), translated to HTTP/1.1 origins on loopback. Many concurrent streams on
// one connection with checksummed bodies both ways, chunked and sized bodies, error statuses,
// malformed requests (raw frames) refused per RFC 9113, GOAWAY on reload, a client reset
// releasing its server slot, and max_body.

import t from 'tap'
import http2 from 'node:http2'
import net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import type http from 'node:http'
import { freePort, rawExchange, request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin } from './harness.ts'
import { certDir, makeCert } from '../fixtures/tls/certs.ts'

const dir = certDir()
const cert = makeCert(dir, 'h2', 'h2.test')

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

function config(origins: Origin[], opts: { tls?: boolean; protocols?: string; upstream?: string; route?: string; timeouts?: string; workers?: number } = {}): string {
  const isTls = opts.tls ?? true
  return `
[global]
workers = ${opts.workers ?? 1}
[log]
access = "off"
${opts.timeouts !== undefined ? `[timeouts]\n${opts.timeouts}\n` : ''}
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
protocols = ${opts.protocols ?? (isTls ? '["h2", "http/1.1"]' : '["http/1.1", "h2c"]')}
${isTls ? `[listeners.tls]\ncert = "${cert.cert}"\nkey = "${cert.key}"\n` : ''}
[[routes]]
name = "all"
upstream = "app"
${opts.route ?? ''}
[[upstreams]]
name = "app"
${opts.upstream ?? ''}
${origins.map((o) => `[[upstreams.servers]]\nname = "${o.name}"\naddress = "127.0.0.1:${o.port}"\n`).join('\n')}
`
}

interface H2Reply { status: number; headers: http2.IncomingHttpHeaders; body: Buffer; error: string | null }

function h2request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer, timeoutMs = 15_000): Promise<H2Reply> {
  return new Promise((resolve) => {
    const req = client.request(headers, { endStream: body === undefined })
    const chunks: Buffer[] = []
    const out: H2Reply = { status: 0, headers: {}, body: Buffer.alloc(0), error: null }
    const timer = setTimeout(() => { out.error = 'client timeout'; req.close() }, timeoutMs)
    req.on('response', (h) => { out.headers = h; out.status = Number(h[':status']) })
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', (err: NodeJS.ErrnoException) => { out.error ??= `${err.code}: ${err.message}` })
    req.on('close', () => {
      clearTimeout(timer)
      out.body = Buffer.concat(chunks)
      if (out.error === null && req.rstCode !== undefined && req.rstCode !== 0) out.error = `rst ${req.rstCode}`
      resolve(out)
    })
    if (body !== undefined) req.end(body)
  })
}

function connect(port: number, isTls = true): http2.ClientHttp2Session {
  const client = isTls
    ? http2.connect(`https://127.0.0.1:${port}`, { servername: 'h2.test', rejectUnauthorized: false })
    : http2.connect(`http://127.0.0.1:${port}`)
  client.on('error', () => {})
  return client
}

/**
 * Echo origin: answers with the sha256 of the request body (x-req-sha), a body of `x-size` random
 * bytes and its sha256 (x-res-sha); odd sizes go chunked, even ones with content-length.
 */
function checksumHandler(req: http.IncomingMessage, res: http.ServerResponse, origin: Origin): void {
  const h = createHash('sha256')
  let n = 0
  req.on('data', (c: Buffer) => { h.update(c); n += c.length })
  req.on('end', () => {
    const size = Number(req.headers['x-size'] ?? 0)
    const body = randomBytes(size)
    res.setHeader('x-server', origin.name)
    res.setHeader('x-req-sha', h.digest('hex'))
    res.setHeader('x-req-bytes', String(n))
    res.setHeader('x-req-te', String(req.headers['transfer-encoding'] ?? ''))
    res.setHeader('x-res-sha', sha(body))
    if (size % 2 === 0) {
      res.setHeader('content-length', String(size))
      res.end(body)
    } else {
      // Several writes without a length: chunked on the wire.
      const third = Math.floor(size / 3)
      res.write(body.subarray(0, third))
      setTimeout(() => { res.write(body.subarray(third, 2 * third)); res.end(body.subarray(2 * third)) }, 5)
    }
  })
}

t.test('100 concurrent streams on one TLS connection, bodies checksummed both ways', async (t) => {
  const a = await startOrigin('s1', checksumHandler)
  const b = await startOrigin('s2', checksumHandler)
  const p = await startPortico(config([a, b]))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await a.close(); await b.close() })
  const streams = Array.from({ length: 100 }, (_, i) => {
    const reqSize = i % 10 === 0 ? 0 : 1 + Math.floor(Math.random() * 200_000)
    const resSize = i % 7 === 0 ? 0 : Math.floor(Math.random() * 300_000)
    const body = randomBytes(reqSize)
    const headers: http2.OutgoingHttpHeaders = { ':method': reqSize === 0 ? 'GET' : 'POST', ':path': `/s${i}`, 'x-size': String(resSize) }
    // Half the bodies carry content-length, half go to the upstream chunked.
    if (reqSize > 0 && i % 2 === 0) headers['content-length'] = String(reqSize)
    return { i, body, reqSize, resSize, hasLength: headers['content-length'] !== undefined, reply: h2request(client, headers, reqSize === 0 ? undefined : body) }
  })
  const replies = await Promise.all(streams.map((s) => s.reply))
  let ok = 0
  for (let k = 0; k < streams.length; k++) {
    const s = streams[k]
    const r = replies[k]
    const good = r.error === null && r.status === 200 && r.headers['x-req-sha'] === sha(s.body) &&
      Number(r.headers['x-req-bytes']) === s.reqSize && r.body.length === s.resSize && sha(r.body) === r.headers['x-res-sha'] &&
      r.headers['x-req-te'] === (s.reqSize > 0 && !s.hasLength ? 'chunked' : '')
    if (good) ok++
    else t.fail(`stream ${s.i}: ${JSON.stringify({ error: r.error, status: r.status, req: s.reqSize, res: s.resSize, got: r.body.length, te: r.headers['x-req-te'] })}`)
  }
  t.equal(ok, 100, 'every stream got its own response, intact')
  t.ok(a.maxInFlight + b.maxInFlight > 2, `streams really ran concurrently (peak ${a.maxInFlight}+${b.maxInFlight} at the origins)`)
  t.ok(a.requests.length > 0 && b.requests.length > 0, 'both servers were used')
  t.equal(a.requests[0].headers['x-forwarded-proto'], 'https')
  t.match(String(a.requests[0].headers.host), /^h2\.test:\d+$/, "Host comes from :authority")
})

t.test('h2c prior knowledge and HTTP/1.1 on the same cleartext listener', async (t) => {
  const o = await startOrigin('s1')
  const p = await startPortico(config([o], { tls: false }))
  const client = connect(p.port, false)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  const r = await h2request(client, { ':path': '/h2c?q=1', 'x-test': 'yes', cookie: 'a=1' })
  t.equal(r.status, 200)
  t.equal(r.body.toString(), 's1 GET /h2c?q=1')
  t.equal(r.headers['x-server'], 's1')
  const seen = o.requests[0]
  t.equal(seen.headers['x-test'], 'yes', 'fields forwarded')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  const h1 = await request(p.port, { path: '/h1' })
  t.equal(h1.status, 200, 'HTTP/1.1 still served on the same port')
  t.equal(h1.text, 's1 GET /h1')
  // A preface cut in two still counts as HTTP/2.
  const raw = await rawExchange(p.port, 'PRI * HTTP/2.0\r\n', { idleMs: 300 })
  t.notMatch(raw.text, /^HTTP\/1\.1/, 'a partial preface is not answered as HTTP/1.1')
})

t.test('an h2c-only listener closes HTTP/1.1 connections', async (t) => {
  const o = await startOrigin('s1')
  const p = await startPortico(config([o], { tls: false, protocols: '["h2c"]' }))
  const client = connect(p.port, false)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  const raw = await rawExchange(p.port, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n', { idleMs: 2000 })
  t.ok(raw.closed)
  t.equal(raw.text, '', 'nothing answered')
  t.equal((await h2request(client, { ':path': '/' })).status, 200, 'HTTP/2 is served')
})

t.test('errors: unreachable upstream 502, no route 404, slow upstream 504, body over max_body 413', async (t) => {
  const slow = await startOrigin('slow', (req, res) => { req.resume(); setTimeout(() => res.end('late'), 3000) })
  const gone = await freePort()
  const toml = `
[global]
workers = 1
[log]
access = "off"
[timeouts]
upstream_response = "300ms"
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
protocols = ["h2", "http/1.1"]
[listeners.tls]
cert = "${cert.cert}"
key = "${cert.key}"
[[routes]]
name = "gone"
path_prefix = "/gone"
upstream = "gone"
[[routes]]
name = "slow"
path_prefix = "/slow"
upstream = "slow"
max_body = "1KB"
[[upstreams]]
name = "gone"
retries = 0
[[upstreams.servers]]
name = "g1"
address = "127.0.0.1:${gone}"
[[upstreams]]
name = "slow"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${slow.port}"
`
  const p = await startPortico(toml)
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await slow.close() })
  const r502 = await h2request(client, { ':path': '/gone' })
  t.equal(r502.status, 502)
  t.equal(r502.body.toString(), 'upstream unreachable\n')
  const r404 = await h2request(client, { ':path': '/nothing' })
  t.equal(r404.status, 404)
  const r504 = await h2request(client, { ':path': '/slow' })
  t.equal(r504.status, 504)
  const big = await h2request(client, { ':method': 'POST', ':path': '/slow', 'content-length': '5000' }, randomBytes(5000))
  t.equal(big.status, 413, 'content-length over max_body')
  const bigChunked = await h2request(client, { ':method': 'POST', ':path': '/slow' }, randomBytes(5000))
  t.equal(bigChunked.status, 413, 'unsized body over max_body')
  const after = await h2request(client, { ':path': '/nothing' })
  t.equal(after.status, 404, 'the connection still serves after errors')
})

t.test('HEAD, 204 and 304 carry no body; a 103 Early Hints is relayed before the response', async (t) => {
  const o = await startOrigin('s1', (req, res) => {
    req.resume()
    if (req.url === '/204') { res.statusCode = 204; res.end(); return }
    if (req.url === '/304') { res.statusCode = 304; res.setHeader('etag', '"x"'); res.end(); return }
    if (req.url === '/hints') { res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }); setTimeout(() => res.end('hinted'), 20); return }
    res.setHeader('content-length', '5')
    res.end(req.method === 'HEAD' ? undefined : 'hello')
  })
  const p = await startPortico(config([o]))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  const head = await h2request(client, { ':method': 'HEAD', ':path': '/x' })
  t.equal(head.status, 200)
  t.equal(head.headers['content-length'], '5', 'HEAD keeps content-length')
  t.equal(head.body.length, 0)
  const r204 = await h2request(client, { ':path': '/204' })
  t.equal(r204.status, 204)
  t.equal(r204.body.length, 0)
  const r304 = await h2request(client, { ':path': '/304' })
  t.equal(r304.status, 304)
  t.equal(r304.headers.etag, '"x"')
  const get = await h2request(client, { ':path': '/x' })
  t.equal(get.body.toString(), 'hello', 'the pooled upstream connection is still in step')
  const interim: http2.IncomingHttpHeaders[] = []
  const hinted = await new Promise<H2Reply>((resolve) => {
    const req = client.request({ ':path': '/hints' })
    const out: H2Reply = { status: 0, headers: {}, body: Buffer.alloc(0), error: null }
    const chunks: Buffer[] = []
    req.on('headers', (h) => interim.push(h))
    req.on('response', (h) => { out.status = Number(h[':status']) })
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('close', () => { out.body = Buffer.concat(chunks); resolve(out) })
  })
  t.equal(interim.length, 1, 'the 103 Early Hints was relayed')
  t.equal(interim[0]?.[':status'], 103)
  t.equal(interim[0]?.link, '</style.css>; rel=preload; as=style')
  t.equal(hinted.status, 200)
  t.equal(hinted.body.toString(), 'hinted')
})

// ── raw frames, for what node's client refuses to send ─────────────────────────────────────────

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream, 5)
  return Buffer.concat([h, payload])
}

/** HPACK literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
function hpack(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of fields) {
    if (name.length > 126 || value.length > 126) throw new Error('short fields only')
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1'))
  }
  return Buffer.concat(parts)
}

interface Frame { type: number; flags: number; stream: number; payload: Buffer }

/** Send the preface, SETTINGS and HEADERS frames on one connection; collect frames until all are answered. */
function rawH2(port: number, requests: Array<Array<[string, string]>>, ms = 5000): Promise<Frame[]> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const frames: Frame[] = []
    s.on('connect', () => {
      const out = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(4, 0, 0, Buffer.alloc(0))]
      requests.forEach((fields, i) => out.push(frame(1, 0x5, 1 + 2 * i, hpack(fields))))
      s.write(Buffer.concat(out))
    })
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3)
        if (buf.length < 9 + len) break
        frames.push({ type: buf[3], flags: buf[4], stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) })
        buf = buf.subarray(9 + len)
      }
    })
    s.on('error', () => {})
    // Done once every stream got an answer (HEADERS or RST_STREAM) or the connection a GOAWAY.
    const isAnswered = (id: number) => frames.some((f) => f.stream === id && (f.type === 1 || f.type === 3))
    const poll = setInterval(() => {
      if (frames.some((f) => f.type === 7) || requests.every((_, i) => isAnswered(1 + 2 * i))) finish()
    }, 20)
    // Worker threads may still be starting: wait for the answers, bounded.
    const timer = setTimeout(() => finish(), ms)
    const finish = () => { clearInterval(poll); clearTimeout(timer); s.destroy(); resolve(frames) }
  })
}

t.test('malformed requests are reset with PROTOCOL_ERROR and never forwarded (RFC 9113 §8.1.1, §8.2)', async (t) => {
  const o = await startOrigin('s1')
  const p = await startPortico(config([o], { tls: false }))
  t.teardown(async () => { await p.stop(); await o.close() })
  const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'x.test']]
  const bad: Array<[string, Array<[string, string]>]> = [
    ['connection header', [...base, ['connection', 'keep-alive']]],
    ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['upgrade', [...base, ['upgrade', 'websocket']]],
    ['te other than trailers', [...base, ['te', 'gzip']]],
    ['uppercase name', [...base, ['X-Upper', '1']]],
    ['space in :path', [[':method', 'GET'], [':scheme', 'http'], [':path', '/a b'], [':authority', 'x.test']]],
    ['no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'x.test']]],
    ['field before a pseudo-header', [['x-a', '1'], ...base]],
  ]
  for (const [what, fields] of bad) {
    // Stream 1 is the malformed one; stream 3 a good request on the same connection.
    const frames = await rawH2(p.port, [fields, base])
    const rst = frames.find((f) => f.type === 3 && f.stream === 1)
    const goaway = frames.find((f) => f.type === 7)
    const code = rst !== undefined ? rst.payload.readUInt32BE(0) : goaway !== undefined ? goaway.payload.readUInt32BE(4) : -1
    t.equal(code, 1, `${what}: PROTOCOL_ERROR (${rst !== undefined ? 'RST_STREAM' : goaway !== undefined ? 'GOAWAY' : 'nothing'})`)
    if (rst !== undefined) t.ok(frames.some((f) => f.type === 1 && f.stream === 3), `${what}: the next stream is still answered`)
  }
  t.ok(o.requests.every((r) => r.url === '/'), 'only the good requests reached the origin')
  t.ok(o.requests.every((r) => r.headers['x-upper'] === undefined && r.headers['transfer-encoding'] === undefined && r.headers.upgrade === undefined))
  // node:http2 drops a field whose value holds CR, LF or NUL (its invalid-header callback)
  // rather than failing the stream: the field must never reach the origin, in any form.
  const before = o.requests.length
  const frames = await rawH2(p.port, [[...base, ['x-a', 'b\r\nx-injected: 1'], ['x-nul', 'a\u0000b']]])
  const rst = frames.find((f) => f.type === 3 && f.stream === 1)
  if (rst !== undefined) {
    t.equal(rst.payload.readUInt32BE(0), 1, 'CR/LF/NUL in a value: PROTOCOL_ERROR')
  } else {
    t.equal(o.requests.length, before + 1, 'CR/LF/NUL in a value: the request went through without the field')
    const seen = o.requests[o.requests.length - 1].headers
    t.equal(seen['x-injected'], undefined, 'no header injected')
    t.equal(seen['x-a'], undefined, 'the bad field dropped')
    t.equal(seen['x-nul'], undefined)
  }
})

t.test('reload sends GOAWAY; the stream in flight completes', async (t) => {
  const o = await startOrigin('s1', (req, res) => { req.resume(); setTimeout(() => res.end('slow done'), 700) })
  const p = await startPortico(config([o]))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  let goawayCode = -1
  client.on('goaway', (code: number) => { goawayCode = code })
  await h2request(client, { ':path': '/warm' })
  const inFlight = h2request(client, { ':path': '/slow' })
  await sleep(200)
  p.proc.kill('SIGHUP')
  await p.waitFor(/configuration reloaded/)
  const r = await inFlight
  t.equal(r.status, 200)
  t.equal(r.body.toString(), 'slow done', 'the stream in flight finished')
  for (let i = 0; i < 40 && goawayCode < 0; i++) await sleep(50)
  t.equal(goawayCode, 0, 'GOAWAY with NO_ERROR')
  const next = connect(p.port)
  t.teardown(() => next.close())
  t.equal((await h2request(next, { ':path': '/new' })).body.toString(), 'slow done', 'a new connection is served by the new generation')
})

t.test('a client reset mid-response releases the server slot', async (t) => {
  const o = await startOrigin('s1', (req, res) => {
    req.resume()
    if (req.url === '/stream') {
      res.write(randomBytes(64 * 1024))
      const timer = setInterval(() => res.write(randomBytes(16 * 1024)), 20)
      res.on('close', () => clearInterval(timer))
      return
    }
    res.end('ok')
  })
  const p = await startPortico(config([o], { upstream: 'max_connections_per_server = 1', timeouts: 'queue = "1s"' }))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  for (let i = 0; i < 3; i++) {
    const req = client.request({ ':path': '/stream' })
    req.on('error', () => {})
    await new Promise<void>((resolve) => req.once('data', () => resolve()))
    req.close(http2.constants.NGHTTP2_CANCEL)
    await sleep(50)
    const r = await h2request(client, { ':path': '/after' }, undefined, 5000)
    t.equal(r.status, 200, `request after reset ${i} gets the single slot`)
  }
})

t.test('a large body each way on one stream, with a slow reader', async (t) => {
  const o = await startOrigin('s1', checksumHandler)
  const p = await startPortico(config([o], { tls: false }))
  const client = connect(p.port, false)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  const body = randomBytes(8 * 1024 * 1024)
  const size = 16 * 1024 * 1024 + 1 // odd: chunked from the origin
  const r = await new Promise<H2Reply>((resolve) => {
    const req = client.request({ ':method': 'POST', ':path': '/big', 'x-size': String(size) })
    const chunks: Buffer[] = []
    const out: H2Reply = { status: 0, headers: {}, body: Buffer.alloc(0), error: null }
    req.on('response', (h) => { out.headers = h; out.status = Number(h[':status']) })
    let paused = false
    req.on('data', (c: Buffer) => {
      chunks.push(c)
      // Stop reading for a while once: flow control must hold the rest back, not lose it.
      if (!paused) { paused = true; req.pause(); setTimeout(() => req.resume(), 300) }
    })
    req.on('error', (e: Error) => { out.error = e.message })
    req.on('close', () => { out.body = Buffer.concat(chunks); resolve(out) })
    req.end(body)
  })
  t.equal(r.error, null)
  t.equal(r.status, 200)
  t.equal(r.headers['x-req-sha'], sha(body), '8 MB request body intact')
  t.equal(r.body.length, size)
  t.equal(sha(r.body), r.headers['x-res-sha'], '16 MB chunked response intact')
})

t.test('SIGTERM: an idle HTTP/2 connection gets GOAWAY and does not hold the stop until drain_timeout', async (t) => {
  const o = await startOrigin('s1')
  const p = await startPortico(config([o]).replace('[log]', 'drain_timeout = "20s"\n[log]'))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  let isGoaway = false
  client.on('goaway', () => { isGoaway = true })
  t.equal((await h2request(client, { ':path': '/idle' })).status, 200)
  const startedMs = Date.now()
  p.proc.kill('SIGTERM')
  const code = await p.exited
  t.equal(code, 0, 'clean exit')
  t.ok(Date.now() - startedMs < 8000, `stopped in ${Date.now() - startedMs}ms, well before drain_timeout`)
  t.ok(isGoaway || client.closed || client.destroyed, 'the client was told (GOAWAY) or its connection closed')
})

t.test('client_send: a stream whose client stops reading is reset; the connection and the server slot go on', async (t) => {
  const big = randomBytes(8 * 1024 * 1024)
  const o = await startOrigin('s1', (req, res) => { req.resume(); res.end(req.url === '/big' ? big : 'small') })
  const p = await startPortico(config([o], { upstream: 'max_connections_per_server = 1', timeouts: 'client_send = "600ms"\nupstream_response = "10s"' }))
  const client = connect(p.port)
  t.teardown(async () => { client.close(); await p.stop(); await o.close() })
  const startedMs = Date.now()
  const rstCode = await new Promise<number>((resolve) => {
    const req = client.request({ ':path': '/big' })
    req.on('error', () => {})
    // Read one chunk, then nothing: flow control fills and portico waits on this client.
    req.once('data', () => req.pause())
    req.on('close', () => resolve(req.rstCode ?? -1))
    setTimeout(() => { req.close(); resolve(-2) }, 10_000)
  })
  t.equal(rstCode, http2.constants.NGHTTP2_CANCEL, `the stream was reset with CANCEL after ${Date.now() - startedMs}ms`)
  t.ok(Date.now() - startedMs < 5000, 'by client_send, not upstream_response')
  const next = await h2request(client, { ':path': '/next' }, undefined, 5000)
  t.equal(next.status, 200, 'the same connection serves the next stream, on the freed server slot')
  t.equal(next.body.toString(), 'small')
})
