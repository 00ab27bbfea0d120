// HTTP/2 wire behaviour towards clients, frame by frame (h2-wire.ts over h2c prior knowledge):
// the connection preface and PING, requests with and without bodies, every connection error
// (GOAWAY + close) and stream error (RST_STREAM, the connection goes on) that RFC 9113 requires
// for a client's mistakes, frames to ignore, client RST_STREAM and GOAWAY, flow control,
// SETTINGS_MAX_CONCURRENT_STREAMS, the header list limits (431) and the floods of §10.5
// (CONTINUATION, rapid reset). What the RFC mandates is asserted (error codes and whether the
// error is a connection or a stream one), never what one implementation happens to send
// (SETTINGS values, GOAWAY debug data, frame order the RFC leaves free); where the RFC leaves the
// answer to the server (431, the flood limits, FLOW_CONTROL_ERROR for an overflow), portico's
// documented choice is asserted and the case says so. One portico and one origin serve most
// subtests; a subtest that needs other limits starts its own. Each subtest opens its own connections.

import t from 'tap'
import type { Test } from 'tap'
import type http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin, Portico } from './harness.ts'
import {
  ErrorCode, Flag, FrameType, H2Wire, MAX_WINDOW_BYTES, Setting, errorName, frame, hpackEncode, hpackEncodeIndexing,
  hpackIndexed, requestFields, u32,
} from './h2-wire.ts'
import type { ConnectOptions } from './h2-wire.ts'

/** The longest an origin may be told to wait (x-delay), and the largest body it makes (x-size). */
const MAX_DELAY_MS = 3000
const MAX_SIZE_BYTES = 1_000_000
/** [global] max_header_bytes and max_headers when the config leaves them out (validate.ts). */
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024
const DEFAULT_MAX_HEADERS = 100
/** How long the hold origin keeps GET /hold: far longer than the subtest that uses it needs the slot held. */
const HOLD_MS = 3000

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

/** Holds GET /hold for HOLD_MS (it keeps its server slot meanwhile); answers anything else at once. */
function holdHandler(req: http.IncomingMessage, res: http.ServerResponse, _origin: Origin): void {
  req.resume()
  if (req.url !== '/hold') {
    req.on('end', () => res.end('ok'))
    return
  }
  const timer = setTimeout(() => res.end('held'), HOLD_MS)
  // portico drops the upstream connection when the client's goes: no timer outlives the test.
  res.on('close', () => clearTimeout(timer))
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

/**
 * A portico of its own for one subtest, for limits the shared one keeps at their defaults:
 * `global`, `timeouts` and `upstream` are TOML lines for those tables. Stopped when the subtest ends.
 */
async function startOwnPortico(t: Test, originPort: number, tables: { global?: string; timeouts?: string; upstream?: string }): Promise<Portico> {
  const own = await startPortico(`
[global]
workers = 1
${tables.global ?? ''}
[timeouts]
${tables.timeouts ?? ''}
[log]
access = "off"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
protocols = ["h2c"]

[[routes]]
name = "all"
upstream = "app"

[[upstreams]]
name = "app"
${tables.upstream ?? ''}
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${originPort}"
`)
  t.teardown(() => own.stop())
  return own
}

/** Polls `cond` every 10 ms until it holds (true) or `timeoutMs` passes (false). */
async function eventually(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!cond() && Date.now() < deadline) await sleep(10)
  return cond()
}

/** A new connection (to the shared portico unless `port` says otherwise) whose SETTINGS exchange is done. */
async function open(t: Test, opts: ConnectOptions = {}, port = p.port): Promise<H2Wire> {
  const c = await H2Wire.connect(port, opts)
  t.teardown(() => c.close())
  t.ok(await c.ready(5000), 'the server sends its SETTINGS')
  t.ok(await c.until(() => c.settingsAcks > 0, 5000), 'and ACKs ours')
  return c
}

/** RFC 9113 §5.4.1: GOAWAY with `code`, then the server closes the connection. */
async function expectConnectionError(t: Test, c: H2Wire, code: number): Promise<void> {
  const g = await c.nextFrame(FrameType.Goaway, 3000)
  const got = g === null ? c.describe() : `GOAWAY ${errorName(g.payload.readUInt32BE(4))}`
  t.equal(got, `GOAWAY ${errorName(code)}`, 'a connection error')
  // Without a GOAWAY there is nothing to wait for: report the state now.
  t.ok(await c.closed(g === null ? 0 : 3000), 'then the connection closes')
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

/**
 * portico's answer to a header list over its limits (RFC 9113 §8.1 leaves it to the server; this
 * is RFC 6585's 431): HEADERS with :status 431 and END_STREAM on `streamId`, nothing else.
 */
async function expect431(t: Test, c: H2Wire, streamId: number): Promise<void> {
  const r = await c.response(streamId, 3000)
  const other = r.status === 431 ? '' : ` (seen: ${r.rstCode === null ? c.describe() : `RST_STREAM ${errorName(r.rstCode)}`})`
  t.equal(r.status, 431, `stream ${streamId}: :status 431${other}`)
  const head = c.frames.find((f) => f.streamId === streamId && f.type === FrameType.Headers)
  t.equal((head?.flags ?? 0) & Flag.EndStream, Flag.EndStream, 'in a HEADERS frame with END_STREAM')
  t.equal(r.body.length, 0, 'and no body')
}

/** Whether `o` got a request for exactly `url`. */
function hasSeen(o: Origin, url: string): boolean {
  return o.requests.some((r) => r.url === url)
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

t.test('frames that arrive a few bytes per read are put together: a POST sent in 3-byte writes', async (t) => {
  const c = await open(t)
  const body = randomBytes(3000)
  const bytes = Buffer.concat([
    frame(FrameType.Headers, Flag.EndHeaders, 1, hpackEncode([...requestFields('POST', '/dribble'), ['content-length', String(body.length)]])),
    frame(FrameType.Data, 0, 1, body.subarray(0, 1000)),
    frame(FrameType.Data, Flag.EndStream, 1, body.subarray(1000)),
  ])
  // Bounded: about 1,350 writes, each awaited a little now and then so they leave as separate segments.
  for (let at = 0; at < bytes.length; at += 3) {
    c.write(bytes.subarray(at, at + 3))
    if (at % 96 === 0) await sleep(1)
  }
  const r = await c.response(1, 10_000)
  t.equal(r.status, 200, 'answered')
  t.equal(sha(bodies.get('/dribble') ?? Buffer.alloc(0)), sha(body), 'the origin got the body intact')
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

  // RFC 9113 §6.9.1: a sender MUST NOT exceed the window; §6.9 leaves the receiver free to answer
  // FLOW_CONTROL_ERROR. portico does, and deterministically: it credits request body bytes only
  // once they are handed to the upstream (connection.ts consumed), so a stream waiting in the
  // upstream's queue is paused, holds its bytes and credits nothing, and the window the client
  // counted is the window the server counts. The only server slot is held by GET /hold.
  t.test('DATA beyond the connection window the server granted: FLOW_CONTROL_ERROR (§6.9.1)', async (t) => {
    const hold = await startOrigin('hold', holdHandler)
    t.teardown(() => hold.close())
    const own = await startOwnPortico(t, hold.port, { timeouts: 'queue = "10s"', upstream: 'max_connections_per_server = 1' })
    const c = await open(t, {}, own.port)
    c.get(1, '/hold')
    t.ok(await eventually(() => hasSeen(hold, '/hold'), 3000), 'GET /hold has the only server slot')

    // Exactly the connection window (65535 plus the server's WINDOW_UPDATEs on stream 0, which came
    // before its SETTINGS ACK) on POSTs that queue for the slot; no stream beyond its own window.
    const windowBytes = c.sendWindow(0)
    const maxFrame = c.maxFrameBytes()
    let left = windowBytes
    let lastId = 1
    // One write (corked), the worst case for the server: all of it is read before anything else runs.
    c.socket.cork()
    for (let id = 3; left > 0 && id < 200; id += 2) {
      c.headers(id, requestFields('POST', `/queued${id}`))
      let streamLeft = Math.min(left, c.sendWindow(id))
      left -= streamLeft
      // Bounded: each turn sends at least one byte of streamLeft.
      while (streamLeft > 0) {
        const n = Math.min(streamLeft, maxFrame)
        c.data(id, Buffer.alloc(n, 'y'))
        streamLeft -= n
      }
      lastId = id
    }
    // The PING's answer comes after every frame before it was read (frames are handled in order).
    c.ping(Buffer.from('in-order'))
    c.socket.uncork()
    t.equal(left, 0, `${windowBytes} bytes spread over streams 3..${lastId}`)
    const pong = await c.waitFor((f) => f.type === FrameType.Ping && (f.flags & Flag.Ack) !== 0, 3000)
    t.ok(pong !== null, 'the server read all of it')
    t.same(c.goaways, [], 'the whole window is allowed')
    t.equal(c.sendWindow(0), 0, 'and nothing was credited while the streams wait for the slot')
    t.ok(c.sendWindow(lastId) > 0, `stream ${lastId} still has window of its own`)

    c.data(lastId, Buffer.from('z'))
    await expectConnectionError(t, c, ErrorCode.FlowControlError)
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
    // Malformed requests are never forwarded (§8.1.1): their paths start with /never, which the
    // loop checks the origin did not see. CR LF in a value would split the HTTP/1.1 head.
    ['a field value with CR LF: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-crlf', [['x-a', '1\r\nx-b: 2']])],
    ['a field value with a bare LF: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-lf', [['x-a', '1\nx-b: 2']])],
    ['a field value with a bare CR: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-cr', [['x-a', '1\rx-b: 2']])],
    ['a field value with NUL: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-nul', [['x-a', '1\0x-b: 2']])],
    ['a field value with a leading space: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-leading-sp', [['x-a', ' 1']])],
    ['a field value with a trailing space: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-trailing-sp', [['x-a', '1 ']])],
    ['a field value with a leading tab: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-leading-tab', [['x-a', '\t1']])],
    ['a field value with a trailing tab: PROTOCOL_ERROR (§8.2.1)', ErrorCode.ProtocolError,
      (c) => c.get(1, '/never-trailing-tab', [['x-a', '1\t']])],
  ]
  for (const [what, code, send] of cases) {
    t.test(what, async (t) => {
      const c = await open(t)
      const seenBefore = origin.requests.length
      send(c)
      await expectStreamError(t, c, 1, code, 3)
      // Stream 1, had it been forwarded, went upstream before stream 3, which the origin answered.
      const forwarded = origin.requests.slice(seenBefore).filter((r) => r.url.startsWith('/never'))
      t.same(forwarded.map((r) => r.url), [], 'the origin never saw the malformed request')
    })
  }
})

// ── header lists over portico's limits: 431, the connection goes on ─────────────────────────

t.test('header lists over the limits: 431 with END_STREAM, and the connection goes on', async (t) => {
  t.test('more fields than max_headers (10 here; the four pseudo-headers aside)', async (t) => {
    const own = await startOwnPortico(t, origin.port, { global: 'max_headers = 10' })
    const c = await open(t, {}, own.port)
    const fields = (n: number): Array<[string, string]> => Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v'])
    c.get(1, '/fields-10', fields(10))
    t.equal((await c.response(1)).status, 200, '10 fields are served')
    c.get(3, '/never-fields-11', fields(11))
    await expect431(t, c, 3)
    c.get(5, '/after-fields')
    t.equal((await c.response(5)).status, 200, 'a GET after it is answered')
    t.same(c.goaways, [], 'no GOAWAY')
    t.notOk(hasSeen(origin, '/never-fields-11'), 'the origin never saw the refused request')
  })

  t.test('a header list larger than max_header_bytes, in HEADERS + CONTINUATION: the HPACK table stays in step', async (t) => {
    const c = await open(t)
    // x-big alone passes max_header_bytes (default 16 KiB). With incremental indexing it is added
    // to the server's table, which an entry over the table's 4096 octets empties (RFC 7541 §4.4);
    // x-small, added after it and past the limit, is what the next request refers to: a decoder
    // that stopped at the limit would not have it, and index 62 would be a COMPRESSION_ERROR.
    const block = Buffer.concat([
      hpackEncode(requestFields('GET', '/never-big-head')),
      hpackEncodeIndexing([['x-big', 'b'.repeat(20 * 1024)], ['x-small', 'v']]),
    ])
    t.ok(block.length > c.maxFrameBytes(), `a ${block.length}-byte block, so CONTINUATION is needed`)
    c.headerBlock(1, block, { isEndStream: true })
    await expect431(t, c, 1)
    c.send(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 3,
      Buffer.concat([hpackEncode(requestFields('GET', '/after-big-head')), hpackIndexed(62)]))
    const r = await c.response(3)
    t.equal(r.status, 200, 'the next request is answered')
    t.equal(origin.requests.find((q) => q.url === '/after-big-head')?.headers['x-small'], 'v', 'with x-small from the dynamic table')
    t.same(c.goaways, [], 'no GOAWAY')
    t.notOk(hasSeen(origin, '/never-big-head'), 'the origin never saw the refused request')
  })
})

// ── floods (RFC 9113 §10.5): bounded, then GOAWAY ENHANCE_YOUR_CALM ───────────────────────────

t.test('floods', async (t) => {
  // portico gathers a header block up to max_header_bytes + 32 per field of max_headers (the
  // header list size of §6.5.2) plus one frame for HPACK's own bytes; past that the connection ends.
  t.test('CONTINUATION flood (CVE-2024-27316): a header block past its bound is ENHANCE_YOUR_CALM', async (t) => {
    const c = await open(t)
    const limitBytes = DEFAULT_MAX_HEADER_BYTES + 32 * DEFAULT_MAX_HEADERS + c.maxFrameBytes()
    // No END_HEADERS: HEADERS then CONTINUATION frames, one byte more than the bound in all.
    c.headerBlock(1, Buffer.alloc(limitBytes + 1), { isEndStream: true, isEndHeaders: false })
    await expectConnectionError(t, c, ErrorCode.EnhanceYourCalm)
  })

  // Streams opened (a GET with END_STREAM) and cancelled at once, `count` of them from `firstId`, in one buffer.
  const openAndCancel = (firstId: number, count: number): Buffer => {
    const out: Buffer[] = []
    for (let i = 0; i < count; i++) {
      const id = firstId + 2 * i
      out.push(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, id, hpackEncode(requestFields('GET', `/reset${id}`))))
      out.push(frame(FrameType.RstStream, 0, id, u32(ErrorCode.Cancel)))
    }
    return Buffer.concat(out)
  }

  t.test('50 streams opened and cancelled: the connection goes on', async (t) => {
    const c = await open(t)
    c.write(openAndCancel(1, 50))
    c.get(101, '/after-resets')
    const r = await c.response(101)
    t.equal(r.status, 200, 'a GET after them is answered')
    t.same(c.goaways, [], 'no GOAWAY')
  })

  t.test('rapid reset (CVE-2023-44487): 300 streams opened and cancelled is ENHANCE_YOUR_CALM', async (t) => {
    const c = await open(t)
    c.write(openAndCancel(1, 300))
    await expectConnectionError(t, c, ErrorCode.EnhanceYourCalm)
  })
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
