// Faults end to end, through the CLI, against a raw TCP origin that misbehaves on demand: it resets
// mid-body, truncates a Content-Length body, sends garbage for a status line, hangs after the head,
// closes idle pooled connections; and clients that abort mid-upload and mid-download. After each:
// portico still serves, no request stays counted in flight (/metrics), no upstream socket is
// leaked (counted at the origin), and the error log (pino JSON on stderr) says what happened.

import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { canConnect, freePort, metricTotal, request, sleep, startPortico, waitUntil } from './harness.ts'
import type { Portico } from './harness.ts'

const UPSTREAM_RESPONSE_MS = 1000
const WORKERS = 2
const KEEPALIVE = 4

// ── a raw origin with a behaviour per path ──────────────────────────────────────────────────────

interface OriginConn {
  id: number
  socket: net.Socket
  isClosed: boolean
  /** Request body bytes received for the request in progress. */
  bodyBytes: number
  /** Paths of the requests seen on this connection. */
  paths: string[]
}

class FaultOrigin {
  server: net.Server
  port = 0
  conns: OriginConn[] = []
  /** Request bodies received whole, by path. */
  completed: string[] = []
  /** Download responses: bytes written before the connection closed. */
  downloadWrittenBytes = 0
  downloadClosedMs = 0

  constructor() {
    this.server = net.createServer((socket) => this.accept(socket))
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as net.AddressInfo).port
  }

  close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  open(): OriginConn[] {
    return this.conns.filter((c) => !c.isClosed)
  }

  private accept(socket: net.Socket): void {
    const c: OriginConn = { id: this.conns.length, socket, isClosed: false, bodyBytes: 0, paths: [] }
    this.conns.push(c)
    socket.on('error', () => {})
    socket.on('close', () => { c.isClosed = true })
    let buf = Buffer.alloc(0)
    let need = -1
    let path = ''
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        if (need < 0) {
          const end = buf.indexOf('\r\n\r\n')
          if (end < 0) return
          const head = buf.latin1Slice(0, end)
          path = head.split(' ')[1]
          const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
          need = cl === null ? 0 : Number(cl[1])
          buf = buf.subarray(end + 4)
          c.paths.push(path)
          c.bodyBytes = 0
        }
        const take = Math.min(need, buf.length)
        c.bodyBytes += take
        need -= take
        buf = buf.subarray(take)
        if (need > 0) return
        need = -1
        this.completed.push(path)
        this.respond(c, path)
        if (buf.length === 0) return
      }
    })
  }

  private respond(c: OriginConn, path: string): void {
    const s = c.socket
    const head = (length: number) => `HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\n\r\n`
    switch (path) {
      case '/reset-mid-body':
        s.write(head(100_000) + 'r'.repeat(10_000), () => setTimeout(() => s.resetAndDestroy(), 50))
        break
      case '/truncate':
        s.write(head(100_000) + 't'.repeat(10_000), () => setTimeout(() => s.end(), 50))
        break
      case '/garbage':
        s.write('\x00\x01garbage, not HTTP at all\r\n\r\n')
        break
      case '/hang-after-head':
        s.write(head(1000) + 'partial')
        break
      case '/hang-before-head':
        break
      case '/idle-close':
        // Answer keep-alive, then close the now idle pooled connection.
        s.write(head(2) + 'ok', () => setTimeout(() => s.end(), 50))
        break
      case '/download': {
        const SIZE = 20 * 1024 * 1024
        const block = Buffer.alloc(64 * 1024, 0x64)
        s.write(head(SIZE))
        let written = 0
        const pump = () => {
          while (written < SIZE && !s.destroyed) {
            written += block.length
            this.downloadWrittenBytes = written
            if (!s.write(block)) { s.once('drain', pump); return }
          }
        }
        s.once('close', () => { this.downloadClosedMs = Date.now() })
        pump()
        break
      }
      default:
        s.write(head(2 + path.length) + 'ok' + path)
    }
  }
}

// ── helpers ─────────────────────────────────────────────────────────────────────────────────────



/** One raw request; resolves with everything received and whether the connection was closed. */
function exchange(port: number, raw: string, timeoutMs = 5000): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now()
    const s = net.connect(port, '127.0.0.1')
    let text = ''
    const finish = (closed: boolean) => {
      clearTimeout(hard)
      s.destroy()
      resolve({ text, closed, ms: Date.now() - started })
    }
    const hard = setTimeout(() => finish(false), timeoutMs)
    s.on('data', (d: Buffer) => { text += d.toString('latin1') })
    s.on('close', () => finish(true))
    s.on('error', () => {})
    s.on('connect', () => s.write(raw))
  })
}

/** Error-log records (pino JSON on stderr) with this event name. */
function events(p: Portico, name: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  for (const line of p.stderr) {
    if (!line.startsWith('{')) continue
    try {
      const rec = JSON.parse(line) as Record<string, unknown>
      if (rec.event === name) out.push(rec)
    } catch { /* not JSON: ignore */ }
  }
  return out
}

// ── one portico for every fault ─────────────────────────────────────────────────────────────────

const origin = new FaultOrigin()
await origin.listen()
const metricsPort = await freePort()
const p = await startPortico(`
[global]
workers = ${WORKERS}
[log]
access = "off"
[runtime]
metrics = "127.0.0.1:${metricsPort}"
[timeouts]
upstream_response = "${UPSTREAM_RESPONSE_MS}ms"
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
[[routes]]
name = "all"
upstream = "faulty"
[[upstreams]]
name = "faulty"
keepalive = ${KEEPALIVE}
retries = 0
eject_after = 0
[[upstreams.servers]]
name = "f1"
address = "127.0.0.1:${origin.port}"
`)
t.teardown(async () => { await p.stop(); await origin.close() })
if (!(await waitUntil(() => canConnect(metricsPort), 5000))) throw new Error('metrics listener did not start')

/** After a fault: still serving, nothing in flight, no connection or upstream socket leaked. */
async function healthy(t: Test, what: string): Promise<void> {
  const r = await request(p.port, { path: '/ok' })
  t.equal(r.status, 200, `${what}: portico still serves`)
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_active_requests')) === 0, 3000), `${what}: no request left in flight`)
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_listener_connections_active')) === 0, 3000), `${what}: no client connection left open`)
  const open = origin.open().length
  t.ok(open <= WORKERS * KEEPALIVE, `${what}: ${open} upstream sockets open, within keepalive (${WORKERS} × ${KEEPALIVE})`)
  t.equal(p.proc.exitCode, null, `${what}: process alive`)
}

/** The origin connection that carried the last request for `path`. */
function connOf(path: string): OriginConn | undefined {
  for (let i = origin.conns.length - 1; i >= 0; i--) if (origin.conns[i].paths.includes(path)) return origin.conns[i]
  return undefined
}

t.test('upstream resets mid-body: the client sees the response cut, not completed', async (t) => {
  const r = await exchange(p.port, 'GET /reset-mid-body HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(r.text, /^HTTP\/1\.1 200 /, 'the head was relayed')
  t.ok(r.closed, 'connection cut')
  const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4)
  t.ok(body.length < 100_000, `body cut short (${body.length} of 100000 bytes)`)
  t.ok(await waitUntil(() => events(p, 'upstream_truncated').length >= 1, 2000), 'logged: upstream_truncated')
  await healthy(t, 'reset mid-body')
})

t.test('upstream truncates a Content-Length body (FIN early): the client sees the response cut', async (t) => {
  const before = events(p, 'upstream_truncated').length
  const r = await exchange(p.port, 'GET /truncate HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(r.text, /^HTTP\/1\.1 200 /, 'the head was relayed')
  t.ok(r.closed, 'connection cut')
  const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4)
  t.equal(body.length, 10_000, 'only the bytes the upstream sent')
  t.ok(await waitUntil(() => events(p, 'upstream_truncated').length > before, 2000), 'logged: upstream_truncated')
  await healthy(t, 'truncated body')
})

t.test('upstream sends garbage instead of a status line: 502, the connection dropped', async (t) => {
  const r = await exchange(p.port, 'GET /garbage HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(r.text, /^HTTP\/1\.1 502 /, '502')
  t.notMatch(r.text, /garbage/, 'nothing of the garbage reaches the client')
  t.ok(r.closed, 'client connection closed')
  const conn = connOf('/garbage')
  t.ok(conn !== undefined && await waitUntil(() => conn.isClosed, 2000), 'that upstream connection was closed')
  t.ok(await waitUntil(() => events(p, 'upstream_bad_response').length >= 1, 2000), 'logged: upstream_bad_response')
  await healthy(t, 'garbage')
})

t.test('upstream hangs before the head: 504 after upstream_response', async (t) => {
  const r = await exchange(p.port, 'GET /hang-before-head HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(r.text, /^HTTP\/1\.1 504 /, '504')
  t.ok(r.ms >= UPSTREAM_RESPONSE_MS - 100 && r.ms < UPSTREAM_RESPONSE_MS + 1500, `after ${r.ms} ms`)
  const conn = connOf('/hang-before-head')
  t.ok(conn !== undefined && await waitUntil(() => conn.isClosed, 2000), 'that upstream connection was closed')
  t.ok(await waitUntil(() => events(p, 'upstream_timeout').length >= 1, 2000), 'logged: upstream_timeout')
  await healthy(t, 'hang before head')
})

t.test('upstream hangs after the head: upstream_response applies between body chunks, the client is cut', async (t) => {
  const before = events(p, 'upstream_timeout').length
  const r = await exchange(p.port, 'GET /hang-after-head HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(r.text, /^HTTP\/1\.1 200 [\s\S]*partial$/, 'head and the first bytes relayed')
  t.ok(r.closed, 'then the connection is cut')
  t.ok(r.ms >= UPSTREAM_RESPONSE_MS - 100 && r.ms < UPSTREAM_RESPONSE_MS + 1500, `after ${r.ms} ms`)
  const conn = connOf('/hang-after-head')
  t.ok(conn !== undefined && await waitUntil(() => conn.isClosed, 2000), 'that upstream connection was closed')
  t.ok(await waitUntil(() => events(p, 'upstream_timeout').length > before, 2000), 'logged: upstream_timeout')
  await healthy(t, 'hang after head')
})

t.test('upstream closes idle pooled connections: the next requests succeed on fresh ones', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 6; i++) {
    const r = await request(p.port, { path: '/idle-close', agent })
    t.equal(r.status, 200, `request ${i}`)
    await sleep(150)
  }
  agent.destroy()
  await healthy(t, 'idle pooled connections closed')
})

t.test('client aborts mid-upload: the upstream connection is dropped, nothing leaks', async (t) => {
  const completedBefore = origin.completed.length
  const s = net.connect(p.port, '127.0.0.1')
  s.on('error', () => {})
  await new Promise<void>((resolve) => s.on('connect', resolve))
  s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n')
  s.write(Buffer.alloc(100_000, 0x75))
  t.ok(await waitUntil(() => (connOf('/upload')?.bodyBytes ?? 0) >= 100_000, 3000), 'the origin got the first 100 KB')
  s.destroy()
  const conn = connOf('/upload')
  t.ok(conn !== undefined && await waitUntil(() => conn.isClosed, 2000), 'the upstream connection with the half body was closed')
  t.equal(origin.completed.length, completedBefore, 'the origin never saw a complete request')
  await healthy(t, 'client aborted upload')
})

t.test('client aborts mid-download: the upstream connection is dropped, nothing leaks', async (t) => {
  const s = net.connect(p.port, '127.0.0.1')
  s.on('error', () => {})
  let received = 0
  s.on('data', (d: Buffer) => { received += d.length })
  await new Promise<void>((resolve) => s.on('connect', resolve))
  s.write('GET /download HTTP/1.1\r\nHost: a\r\n\r\n')
  t.ok(await waitUntil(() => received >= 1024 * 1024, 5000), 'the client got 1 MB')
  s.destroy()
  const destroyedMs = Date.now()
  t.ok(await waitUntil(() => origin.downloadClosedMs !== 0, 3000), 'the origin connection was closed')
  t.ok(origin.downloadClosedMs - destroyedMs < 1000, `within ${origin.downloadClosedMs - destroyedMs} ms`)
  t.ok(origin.downloadWrittenBytes < 20 * 1024 * 1024, `the origin stopped early (${Math.round(origin.downloadWrittenBytes / 1048576)} MB written)`)
  await healthy(t, 'client aborted download')
})

t.test('after every fault: no request errors inside portico, the process never crashed', async (t) => {
  t.equal(await metricTotal(metricsPort, 'portico_request_errors_total'), 0, 'no internal request errors')
  t.same(events(p, 'request_error'), [], 'no request_error in the log')
  t.same(events(p, 'worker_error').concat(events(p, 'worker_replaced')), [], 'no worker died')
  t.equal(p.proc.exitCode, null, 'still running')
})
