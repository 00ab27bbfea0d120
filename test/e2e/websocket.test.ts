// WebSocket through portico end to end (HTTP/1.1 Upgrade, RFC 6455): a `ws` echo origin, `ws`
// clients against portico's CLI. After the 101 both directions are a tunnel: 1,000 messages echo
// in order, a 10 MB message intact, wss over a TLS listener, the server slot held while the
// tunnel is open, idle tunnels closed after timeouts.tunnel_idle, and a tunnel kept across a
// reload until drain_timeout.

import t from 'tap'
import http from 'node:http'
import { createRequire } from 'node:module'
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { freePort, request, sleep, startPortico } from './harness.ts'
import { certDir, makeCert } from '../fixtures/tls/certs.ts'

// `ws` ships no types and @types/ws is not installed: the little used here, typed by hand.
interface WsClient {
  readyState: number
  on(event: 'open' | 'close', fn: () => void): void
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void
  on(event: 'error', fn: (err: Error) => void): void
  on(event: 'unexpected-response', fn: (req: unknown, res: http.IncomingMessage) => void): void
  send(data: Buffer | string): void
  close(): void
  terminate(): void
}
interface WsServer {
  on(event: 'connection', fn: (ws: WsClient, req: http.IncomingMessage) => void): void
  close(): void
}
const ws = createRequire(import.meta.url)('ws') as {
  WebSocket: new (url: string, opts?: { rejectUnauthorized?: boolean; maxPayload?: number }) => WsClient
  WebSocketServer: new (opts: { server: http.Server; maxPayload?: number }) => WsServer
}

const MAX_PAYLOAD = 64 * 1024 * 1024

interface EchoOrigin {
  port: number
  /** Forwarded-proto of each upgrade request seen. */
  protos: string[]
  close(): Promise<void>
}

/** A WebSocket origin echoing every message back as it came (text or binary). */
async function startEchoOrigin(): Promise<EchoOrigin> {
  const server = http.createServer((_req, res) => { res.end('not a websocket') })
  const wss = new ws.WebSocketServer({ server, maxPayload: MAX_PAYLOAD })
  const out: EchoOrigin = { port: 0, protos: [], close: async () => {} }
  const sockets = new Set<WsClient>()
  wss.on('connection', (sock, req) => {
    out.protos.push(String(req.headers['x-forwarded-proto']))
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    sock.on('message', (data, isBinary) => sock.send(isBinary ? data : data.toString()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  out.port = (server.address() as AddressInfo).port
  out.close = () => new Promise((resolve) => {
    for (const s of sockets) s.terminate()
    wss.close()
    server.closeAllConnections()
    server.close(() => resolve())
  })
  return out
}

function wsConfig(origin: EchoOrigin, opts: { timeouts?: string; global?: string; tls?: { cert: string; key: string }; metricsPort?: number } = {}): string {
  return `
[global]
workers = 1
${opts.global ?? ''}
[log]
access = "off"
${opts.timeouts !== undefined ? `[timeouts]\n${opts.timeouts}\n` : ''}
${opts.metricsPort !== undefined ? `[runtime]\nmetrics = "127.0.0.1:${opts.metricsPort}"\n` : ''}
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
${opts.tls !== undefined ? `[listeners.tls]\ncert = "${opts.tls.cert}"\nkey = "${opts.tls.key}"\n` : ''}
[[routes]]
name = "all"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${origin.port}"
`
}

function open(url: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const c = new ws.WebSocket(url, { rejectUnauthorized: false, maxPayload: MAX_PAYLOAD })
    const timer = setTimeout(() => { c.terminate(); reject(new Error('websocket open timed out')) }, 10_000)
    c.on('open', () => { clearTimeout(timer); resolve(c) })
    c.on('error', (err) => { clearTimeout(timer); reject(err) })
    c.on('unexpected-response', (_req, res) => { clearTimeout(timer); reject(new Error(`upgrade refused: ${res.statusCode}`)) })
  })
}

/** The next `n` messages on `c`, bounded in time. */
function messages(c: WsClient, n: number, timeoutMs = 20_000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = []
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} messages in time`)), timeoutMs)
    c.on('message', (data) => {
      got.push(data)
      if (got.length === n) { clearTimeout(timer); resolve(got) }
    })
  })
}

/** Resolves with how long after the call `c` closed, or -1 if it is still open after `timeoutMs`. */
function closedWithin(c: WsClient, timeoutMs: number): Promise<number> {
  const startMs = Date.now()
  return new Promise((resolve) => {
    if (c.readyState === 3) { resolve(0); return }
    const timer = setTimeout(() => resolve(-1), timeoutMs)
    c.on('close', () => { clearTimeout(timer); resolve(Date.now() - startMs) })
  })
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

t.test('1,000 messages echo in order through the tunnel, and one of 10 MB intact', async (t) => {
  const origin = await startEchoOrigin()
  const p = await startPortico(wsConfig(origin))
  const c = await open(`ws://127.0.0.1:${p.port}/chat`)
  c.on('error', () => {})
  t.teardown(async () => { c.terminate(); await p.stop(); await origin.close() })
  const replies = messages(c, 1000)
  for (let i = 0; i < 1000; i++) c.send(`message ${i}`)
  const got = await replies
  t.same(got.map((b) => b.toString()), Array.from({ length: 1000 }, (_, i) => `message ${i}`), 'all 1,000 back, in order')
  t.equal(origin.protos[0], 'http', 'the upgrade request carried x-forwarded-proto')

  const big = randomBytes(10 * 1024 * 1024)
  const bigReply = messages(c, 1, 30_000)
  c.send(big)
  const [back] = await bigReply
  t.equal(back.length, big.length, '10 MB message came back whole')
  t.equal(sha(back), sha(big), 'byte for byte')
})

t.test('wss over a TLS listener', async (t) => {
  const cert = makeCert(certDir(), 'ws', 'ws.test')
  const origin = await startEchoOrigin()
  const p = await startPortico(wsConfig(origin, { tls: cert }))
  const c = await open(`wss://127.0.0.1:${p.port}/secure`)
  c.on('error', () => {})
  t.teardown(async () => { c.terminate(); await p.stop(); await origin.close() })
  const replies = messages(c, 100)
  for (let i = 0; i < 100; i++) c.send(Buffer.from(`secure ${i}`))
  t.same((await replies).map((b) => b.toString()), Array.from({ length: 100 }, (_, i) => `secure ${i}`))
  t.equal(origin.protos[0], 'https', 'x-forwarded-proto https')
})

t.test('an open tunnel holds its server slot; closing it gives the slot back', async (t) => {
  const origin = await startEchoOrigin()
  const metricsPort = await freePort()
  const p = await startPortico(wsConfig(origin, { metricsPort }))
  t.teardown(async () => { await p.stop(); await origin.close() })
  const active = async (): Promise<number> => {
    const r = await request(metricsPort, { path: '/metrics' })
    const line = r.text.split('\n').find((l) => l.startsWith('portico_server_active_requests{') && l.includes('server="s1"'))
    return line === undefined ? -1 : Number(line.split(' ').pop())
  }
  const c = await open(`ws://127.0.0.1:${p.port}/`)
  c.on('error', () => {})
  const reply = messages(c, 1)
  c.send('x')
  await reply
  t.equal(await active(), 1, 'one active request on s1 while the tunnel is open')
  c.close()
  await closedWithin(c, 5000)
  let after = -1
  for (let i = 0; i < 40; i++) {
    after = await active()
    if (after === 0) break
    await sleep(50)
  }
  t.equal(after, 0, 'released when the tunnel closed')
})

t.test('timeouts.tunnel_idle closes an idle tunnel, not a busy one', async (t) => {
  const origin = await startEchoOrigin()
  const p = await startPortico(wsConfig(origin, { timeouts: 'tunnel_idle = "600ms"' }))
  t.teardown(async () => { await p.stop(); await origin.close() })
  const idle = await open(`ws://127.0.0.1:${p.port}/idle`)
  const busy = await open(`ws://127.0.0.1:${p.port}/busy`)
  idle.on('error', () => {})
  busy.on('error', () => {})
  t.teardown(() => { idle.terminate(); busy.terminate() })
  let echoes = 0
  busy.on('message', () => { echoes++ })
  const ticker = setInterval(() => busy.send('tick'), 150)
  const idleClosedMs = await closedWithin(idle, 5000)
  t.ok(idleClosedMs >= 0, `the idle tunnel was closed (after ${idleClosedMs}ms)`)
  await sleep(800)
  clearInterval(ticker)
  t.equal(busy.readyState, 1, 'the busy tunnel is still open past tunnel_idle')
  t.ok(echoes >= 5, `and still echoing (${echoes} echoes)`)
  const busyClosedMs = await closedWithin(busy, 5000)
  t.ok(busyClosedMs >= 0, 'once quiet, it is closed too')
})

t.test('a tunnel stays open across a reload until drain_timeout', async (t) => {
  const origin = await startEchoOrigin()
  const p = await startPortico(wsConfig(origin, { global: 'drain_timeout = "1500ms"' }))
  t.teardown(async () => { await p.stop(); await origin.close() })
  const c = await open(`ws://127.0.0.1:${p.port}/long`)
  c.on('error', () => {})
  t.teardown(() => c.terminate())
  p.proc.kill('SIGHUP')
  await p.waitFor(/configuration reloaded/)
  const reply = messages(c, 1)
  c.send('after reload')
  t.equal((await reply)[0].toString(), 'after reload', 'the tunnel still works after the reload')
  const closedMs = await closedWithin(c, 6000)
  t.ok(closedMs >= 0, `closed when the old generation's drain_timeout ran out (${closedMs}ms after the echo)`)
  const fresh = await open(`ws://127.0.0.1:${p.port}/new`)
  fresh.on('error', () => {})
  t.teardown(() => fresh.terminate())
  const r = messages(fresh, 1)
  fresh.send('new generation')
  t.equal((await r)[0].toString(), 'new generation', 'a new tunnel opens on the new generation')
})
