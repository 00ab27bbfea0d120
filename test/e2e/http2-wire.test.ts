// HTTP/2 wire behaviour towards clients, frame by frame (h2-wire.ts over h2c prior knowledge):
// the connection preface and PING, requests with and without bodies, every connection error
// (GOAWAY + close) and stream error (RST_STREAM, the connection goes on) that RFC 9113 requires
// for a client's mistakes, frames to ignore, client RST_STREAM and GOAWAY, flow control and
// SETTINGS_MAX_CONCURRENT_STREAMS. Only what the RFC mandates is asserted (error codes and
// whether the error is a connection or a stream one), never what one implementation happens to
// send (SETTINGS values, GOAWAY debug data, frame order the RFC leaves free). One portico and one
// origin serve every subtest; each subtest opens its own connections.

import t from 'tap'
import type { Test } from 'tap'
import type http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin } from './harness.ts'
import {
  ErrorCode, Flag, FrameType, H2Wire, MAX_WINDOW_BYTES, Setting, errorName, frame, hpackEncode, requestFields,
} from './h2-wire.ts'
import type { ConnectOptions } from './h2-wire.ts'

/** The longest an origin may be told to wait (x-delay), and the largest body it makes (x-size). */
const MAX_DELAY_MS = 3000
const MAX_SIZE_BYTES = 1_000_000

/** Request bodies the origin read, by URL. */
const bodies = new Map<string, Buffer>()

/** 200 with `x-size` bytes of "x" (or "ok"), after `x-delay` ms; records the request body. */
function handler(req: http.IncomingMessage, res: http.ServerResponse, _origin: Origin): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    bodies.set(req.url ?? '', Buffer.concat(chunks))
    const delayMs = Math.min(Number(req.headers['x-delay'] ?? 0) || 0, MAX_DELAY_MS)
    const size = Math.min(Number(req.headers['x-size'] ?? -1), MAX_SIZE_BYTES)
    setTimeout(() => {
      if (res.destroyed) return
      res.end(size >= 0 ? Buffer.alloc(size, 'x') : 'ok')
    }, delayMs)
  })
}

const origin = await startOrigin('s1', handler)
const p = await startPortico(`
[global]
workers = 1
[log]
access = "off"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
protocols = ["http/1.1", "h2c"]

[[routes]]
name = "all"
upstream = "app"

[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${origin.port}"
`)
t.teardown(async () => {
  await p.stop()
  await origin.close()
})

/** A new connection whose SETTINGS exchange is done (the server's arrived, ours was ACKed). */
async function open(t: Test, opts: ConnectOptions = {}): Promise<H2Wire> {
  const c = await H2Wire.connect(p.port, opts)
  t.teardown(() => c.close())
  t.ok(await c.ready(5000), 'the server sends its SETTINGS')
  t.ok(await c.until(() => c.settingsAcks > 0, 5000), 'and ACKs ours')
  return c
}

/**
 * RFC 9113 §5.4.1: GOAWAY with `code`, then the server closes the connection. `todo`: why these
 * assertions may fail without failing the file (they still run and report).
 */
async function expectConnectionError(t: Test, c: H2Wire, code: number, todo?: string): Promise<void> {
  const extra = todo === undefined ? {} : { todo }
  const g = await c.nextFrame(FrameType.Goaway, 3000)
  const got = g === null ? c.describe() : `GOAWAY ${errorName(g.payload.readUInt32BE(4))}`
  t.equal(got, `GOAWAY ${errorName(code)}`, 'a connection error', extra)
  // Without a GOAWAY there is nothing to wait for: report the state now.
  t.ok(await c.closed(g === null ? 0 : 3000), 'then the connection closes', extra)
}

/**
 * RFC 9113 §5.4.2: RST_STREAM with `code` on `streamId`, and the connection goes on: a GET on
 * `nextId` is answered.
 */
async function expectStreamError(t: Test, c: H2Wire, streamId: number, code: number, nextId: number): Promise<void> {
  const r = await c.response(streamId, 3000)
  const got = r.rstCode !== null ? `RST_STREAM ${errorName(r.rstCode)}` : `${c.describe()}${r.status !== null ? `, status ${r.status}` : ''}`
  t.equal(got, `RST_STREAM ${errorName(code)}`, `stream ${streamId}: a stream error`)
  c.get(nextId, '/after')
  const next = await c.response(nextId, 5000)
  t.equal(next.status, 200, `stream ${nextId} is still answered`)
  t.ok(next.isEndStream, `stream ${nextId} ends`)
  t.same(c.goaways, [], 'no GOAWAY')
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

t.test('preface: the server sends SETTINGS first, ACKs ours, answers PING with the same 8 bytes', async (t) => {
  const c = await open(t)
  const first = c.frames[0]
  t.equal(first?.type, FrameType.Settings, 'the first frame is SETTINGS (RFC 9113 §3.4)')
  t.equal((first?.flags ?? 0) & Flag.Ack, 0, 'not an ACK')
  t.equal(first?.streamId, 0, 'on stream 0')
  t.equal((first?.payload.length ?? 1) % 6, 0, 'of whole settings')
  const ack = await c.waitFor((f) => f.type === FrameType.Settings && (f.flags & Flag.Ack) !== 0, 1000)
  t.equal(ack?.payload.length, 0, 'the SETTINGS ACK is empty (§6.5)')
  const opaque = randomBytes(8)
  c.ping(opaque)
  const pong = await c.waitFor((f) => f.type === FrameType.Ping, 3000)
  t.ok(pong !== null, 'PING answered')
  t.equal((pong?.flags ?? 0) & Flag.Ack, Flag.Ack, 'with the ACK flag (§6.7)')
  t.equal(pong?.streamId, 0, 'on stream 0')
  t.same(pong?.payload, opaque, 'and the same 8 bytes')
})

t.test('a GET gets HEADERS, DATA and END_STREAM; a POST body in several DATA frames reaches the origin intact', async (t) => {
  const c = await open(t)
  c.get(1, '/get')
  const r = await c.response(1)
  t.equal(r.status, 200, 'HEADERS with :status 200')
  t.equal(r.body.toString(), 'ok', 'DATA with the body')
  t.ok(r.isEndStream, 'END_STREAM')

  // Within both windows the server granted, whatever their size.
  const body = randomBytes(Math.min(50_000, c.sendWindow(0), c.sendWindow(3)))
  c.headers(3, [...requestFields('POST', '/post'), ['content-length', String(body.length)]])
  // Uneven DATA frames, the last one empty with END_STREAM.
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.min(1 + ((i * 7919) % 12_000), body.length - at)
    c.data(3, body.subarray(at, at + n))
    at += n
  }
  c.data(3, Buffer.alloc(0), true)
  const post = await c.response(3)
  t.equal(post.status, 200, 'the POST answered')
  t.ok(post.isEndStream, 'END_STREAM')
  t.equal(bodies.get('/post')?.length, body.length, 'the origin read every byte')
  t.equal(sha(bodies.get('/post') ?? Buffer.alloc(0)), sha(body), 'in order')
})

// ── connection errors: GOAWAY with the code, then close (RFC 9113 §5.4.1) ────────────────────

t.test('connection errors', async (t) => {
  const ping = (): Buffer => frame(FrameType.Ping, 0, 0, Buffer.alloc(8))

  t.test('a first frame other than SETTINGS: PROTOCOL_ERROR (§3.4)', async (t) => {
    const c = await H2Wire.connect(p.port, { settings: null, after: ping() })
    t.teardown(() => c.close())
    await expectConnectionError(t, c, ErrorCode.ProtocolError)
  })

  const cases: Array<[string, number, (c: H2Wire) => void]> = [
    ['SETTINGS with a length not a multiple of 6: FRAME_SIZE_ERROR (§6.5)', ErrorCode.FrameSizeError,
      (c) => c.send(FrameType.Settings, 0, 0, Buffer.alloc(7))],
    ['SETTINGS on stream 1: PROTOCOL_ERROR (§6.5)', ErrorCode.ProtocolError,
      (c) => c.settings([[Setting.MaxConcurrentStreams, 100]], 1)],
    ['SETTINGS_INITIAL_WINDOW_SIZE 2^31: FLOW_CONTROL_ERROR (§6.5.2)', ErrorCode.FlowControlError,
      (c) => c.settings([[Setting.InitialWindowSize, MAX_WINDOW_BYTES + 1]])],
    ['SETTINGS_MAX_FRAME_SIZE 16383: PROTOCOL_ERROR (§6.5.2)', ErrorCode.ProtocolError,
      (c) => c.settings([[Setting.MaxFrameSize, 16_383]])],
    ['SETTINGS_ENABLE_PUSH 2: PROTOCOL_ERROR (§6.5.2)', ErrorCode.ProtocolError,
      (c) => c.settings([[Setting.EnablePush, 2]])],
    ['PING of 7 bytes: FRAME_SIZE_ERROR (§6.7)', ErrorCode.FrameSizeError,
      (c) => c.send(FrameType.Ping, 0, 0, Buffer.alloc(7))],
    ['PING on stream 1: PROTOCOL_ERROR (§6.7)', ErrorCode.ProtocolError,
      (c) => c.send(FrameType.Ping, 0, 1, Buffer.alloc(8))],
    ['WINDOW_UPDATE of 0 on stream 0: PROTOCOL_ERROR (§6.9)', ErrorCode.ProtocolError,
      (c) => c.windowUpdate(0, 0)],
    ['connection WINDOW_UPDATE beyond 2^31-1: FLOW_CONTROL_ERROR (§6.9.1)', ErrorCode.FlowControlError,
      (c) => c.windowUpdate(0, MAX_WINDOW_BYTES)],
    ['HEADERS on an even stream id: PROTOCOL_ERROR (§5.1.1)', ErrorCode.ProtocolError,
      (c) => c.get(2)],
    ['HEADERS on a stream id lower than a previous one: PROTOCOL_ERROR (§5.1.1)', ErrorCode.ProtocolError,
      (c) => {
        c.get(5)
        c.get(3)
      }],
    ['HEADERS without END_HEADERS, then a PING: PROTOCOL_ERROR (§6.10)', ErrorCode.ProtocolError,
      (c) => {
        c.headers(1, requestFields('GET', '/'), { isEndStream: true, isEndHeaders: false })
        c.write(ping())
      }],
    ['CONTINUATION without HEADERS: PROTOCOL_ERROR (§6.10)', ErrorCode.ProtocolError,
      (c) => c.send(FrameType.Continuation, Flag.EndHeaders, 1, hpackEncode(requestFields('GET', '/')))],
    ['HEADERS larger than SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR (§4.2)', ErrorCode.FrameSizeError,
      (c) => {
        const block = hpackEncode([...requestFields('GET', '/'), ['x-pad', 'a'.repeat(c.maxFrameBytes())]])
        c.send(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, block)
      }],
    ['an HPACK block with indexed field 0: COMPRESSION_ERROR (§4.3, RFC 7541 §6.1)', ErrorCode.CompressionError,
      (c) => c.send(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, Buffer.from([0x80]))],
    ['PUSH_PROMISE from the client: PROTOCOL_ERROR (§8.4)', ErrorCode.ProtocolError,
      (c) => {
        c.get(1, '/slow', [['x-delay', '300']])
        const promised = Buffer.alloc(4)
        promised.writeUInt32BE(2)
        c.send(FrameType.PushPromise, Flag.EndHeaders, 1, Buffer.concat([promised, hpackEncode(requestFields('GET', '/pushed'))]))
      }],
    ['DATA on stream 0: PROTOCOL_ERROR (§6.1)', ErrorCode.ProtocolError,
      (c) => c.send(FrameType.Data, 0, 0, Buffer.from('abc'))],
  ]
  for (const [what, code, send] of cases) {
    t.test(what, async (t) => {
      const c = await open(t)
      send(c)
      await expectConnectionError(t, c, code)
    })
  }

  // RFC 9113 §6.9 only says a receiver MAY answer FLOW_CONTROL_ERROR when it cannot accept a
  // frame, and a receiver that grants window as it reads (node:http2 consumes the connection
  // window on receipt, nghttp2 then queues WINDOW_UPDATE at half the window) never sees the
  // excess. Hence todo: it reports the strict behaviour without requiring it.
  t.test('DATA beyond the connection window the server granted: FLOW_CONTROL_ERROR (§6.9.1)', async (t) => {
    const c = await open(t)
    // The connection window: 65535 plus the server's WINDOW_UPDATEs on stream 0 (all of them
    // arrived before its SETTINGS ACK). Spread over enough streams that no stream window is
    // exceeded, so that only the connection's is; one write, so that the server cannot have
    // granted more before the excess arrives.
    const windowBytes = c.sendWindow(0)
    const maxFrame = c.maxFrameBytes()
    const out: Buffer[] = []
    let left = windowBytes + 1
    for (let id = 1; left > 0 && id < 200; id += 2) {
      out.push(frame(FrameType.Headers, Flag.EndHeaders, id, hpackEncode(requestFields('POST', `/overflow${id}`))))
      let streamLeft = Math.min(left, c.sendWindow(id))
      left -= streamLeft
      // Bounded: each turn sends at least one byte of streamLeft.
      while (streamLeft > 0) {
        const n = Math.min(streamLeft, maxFrame)
        out.push(frame(FrameType.Data, 0, id, Buffer.alloc(n, 'y')))
        streamLeft -= n
      }
    }
    t.equal(left, 0, `${windowBytes + 1} bytes spread over streams`)
    c.write(Buffer.concat(out))
    await expectConnectionError(t, c, ErrorCode.FlowControlError, 'a MAY in RFC 9113 §6.9; node:http2 accepts the excess')
  })
})

// ── stream errors: RST_STREAM, the connection goes on (RFC 9113 §5.4.2) ───────────────────────

t.test('stream errors', async (t) => {
  const cases: Array<[string, number, (c: H2Wire) => void]> = [
    ['an uppercase field name: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/', [['X-Upper', '1']])],
    ['connection: keep-alive: PROTOCOL_ERROR (§8.2.2)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/', [['connection', 'keep-alive']])],
    ['no :path: PROTOCOL_ERROR (§8.3.1)', ErrorCode.ProtocolError,
      (c) => c.headers(1, requestFields('GET', '/').filter(([n]) => n !== ':path'), { isEndStream: true })],
    ['content-length 10 and a 5-byte body: PROTOCOL_ERROR (§8.1.1)', ErrorCode.ProtocolError,
      (c) => {
        c.headers(1, [...requestFields('POST', '/short'), ['content-length', '10']])
        c.data(1, Buffer.from('12345'), true)
      }],
    ['WINDOW_UPDATE of 0 on an open stream: PROTOCOL_ERROR (§6.9)', ErrorCode.ProtocolError,
      (c) => {
        c.headers(1, requestFields('POST', '/open'))
        c.windowUpdate(1, 0)
      }],
    ['stream WINDOW_UPDATE beyond 2^31-1: FLOW_CONTROL_ERROR (§6.9.1)', ErrorCode.FlowControlError,
      (c) => {
        c.headers(1, requestFields('POST', '/open'))
        c.windowUpdate(1, MAX_WINDOW_BYTES)
      }],
  ]
  for (const [what, code, send] of cases) {
    t.test(what, async (t) => {
      const c = await open(t)
      send(c)
      await expectStreamError(t, c, 1, code, 3)
    })
  }
})

t.test('PRIORITY and unknown frame types are ignored (§5.5, §6.3)', async (t) => {
  const c = await open(t)
  c.get(1, '/first')
  t.equal((await c.response(1)).status, 200, 'a first GET')
  const priority = Buffer.from([0, 0, 0, 0, 15]) // depends on stream 0, weight 16
  c.send(FrameType.Priority, 0, 1, priority) // a closed stream
  c.send(FrameType.Priority, 0, 3, priority) // an idle stream
  c.send(0x20, 0, 0, Buffer.from('unknown on the connection'))
  c.send(0x20, 0xff, 3, Buffer.from('unknown on an idle stream'))
  c.get(3, '/second')
  const r = await c.response(3)
  t.equal(r.status, 200, 'the GET after them answered')
  t.ok(r.isEndStream, 'END_STREAM')
  t.same(c.goaways, [], 'no GOAWAY')
  t.notOk(c.isClosed, 'the connection is open')
})

t.test('RST_STREAM from the client on a request in flight: the connection stays usable', async (t) => {
  const c = await open(t)
  c.get(1, '/slow', [['x-delay', '500']])
  await sleep(100)
  c.rstStream(1, ErrorCode.Cancel)
  c.get(3, '/during')
  const during = await c.response(3)
  t.equal(during.status, 200, 'a request while the origin still holds the reset one')
  // Past the origin's answer to the reset stream: it must not disturb the connection.
  await sleep(600)
  for (const id of [5, 7]) {
    c.get(id, `/later${id}`)
    const r = await c.response(id)
    t.equal(r.status, 200, `stream ${id} answered`)
    t.ok(r.isEndStream, `stream ${id} ends`)
  }
  t.same(c.goaways, [], 'no GOAWAY')
  t.notOk(c.isClosed, 'the connection is open')
})

t.test('the server respects the window the client advertised (§6.9)', async (t) => {
  const windowBytes = 1000
  const sizeBytes = 10_000
  const c = await open(t, { settings: [[Setting.HeaderTableSize, 0], [Setting.InitialWindowSize, windowBytes]] })
  c.get(1, '/sized', [['x-size', String(sizeBytes)]])
  let received = 0
  let isEnded = false
  // Take frames until the window is used up, then 300 ms more: nothing beyond it may come.
  // Bounded by the deadline and by a frame count.
  const collect = async (untilMs: number): Promise<void> => {
    for (let i = 0; i < 10_000; i++) {
      const f = await c.waitFor((x) => x.streamId === 1, untilMs - Date.now())
      if (f === null) return
      if (f.type === FrameType.Data) received += f.payload.length
      if ((f.flags & Flag.EndStream) !== 0 && (f.type === FrameType.Data || f.type === FrameType.Headers)) isEnded = true
      if (f.type === FrameType.RstStream) { t.fail(`RST_STREAM ${errorName(f.payload.readUInt32BE(0))}`); return }
      if (isEnded || received >= windowBytes) return
    }
  }
  await collect(Date.now() + 5000)
  await collect(Date.now() + 300)
  t.equal(received, windowBytes, `${windowBytes} bytes of DATA, no more, before a WINDOW_UPDATE`)
  t.notOk(isEnded, 'the stream is not ended yet')
  c.windowUpdate(1, sizeBytes - windowBytes)
  c.windowUpdate(0, sizeBytes - windowBytes)
  const rest = await c.response(1, 5000)
  t.equal(received + rest.body.length, sizeBytes, 'then the rest arrives')
  t.ok(rest.isEndStream, 'with END_STREAM')
})

t.test('SETTINGS_MAX_CONCURRENT_STREAMS: the stream beyond it is refused, the others complete (§5.1.2)', async (t) => {
  const c = await open(t)
  const n = c.serverSettings?.get(Setting.MaxConcurrentStreams)
  if (n === undefined || n > 1000) {
    t.comment(`SETTINGS_MAX_CONCURRENT_STREAMS = ${n ?? 'unlimited'}: too many to open here`)
    return
  }
  // N + 1 requests held 800 ms at the origin, all sent before any can finish.
  const ids = Array.from({ length: n + 1 }, (_, i) => 1 + 2 * i)
  for (const id of ids) c.get(id, `/held${id}`, [['x-delay', '800']])
  const replies = await Promise.all(ids.map((id) => c.response(id, 8000)))
  const ok = replies.slice(0, n).filter((r) => r.status === 200 && r.isEndStream).length
  t.equal(ok, n, `the first ${n} streams complete`)
  const last = replies[n]
  const code = last.rstCode
  t.ok(code === ErrorCode.RefusedStream || code === ErrorCode.ProtocolError,
    `stream ${ids[n]}: RST_STREAM REFUSED_STREAM or PROTOCOL_ERROR (got ${code === null ? `${c.describe()}, status ${last.status}` : errorName(code)})`)
  t.same(c.goaways, [], 'a stream error, not a connection error')
  c.get(ids[n] + 2, '/after')
  t.equal((await c.response(ids[n] + 2)).status, 200, 'the connection goes on')
})

t.test('GOAWAY from the client: the stream in flight still completes (§6.8)', async (t) => {
  const c = await open(t)
  c.get(1, '/slow', [['x-delay', '500']])
  await sleep(100)
  c.goaway(0, ErrorCode.NoError)
  const r = await c.response(1, 5000)
  t.equal(r.status, 200, 'the stream in flight answered')
  t.equal(r.body.toString(), 'ok', 'its whole body')
  t.ok(r.isEndStream, 'END_STREAM')
})
