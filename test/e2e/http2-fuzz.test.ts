// A bounded, seeded fuzz of portico's HTTP/2 frame layer (src/worker/http2/) through a real
// portico over h2c: 40 raw connections (h2-wire.ts) each send the preface, a SETTINGS and 20-80
// generated frames (valid requests, body DATA, control frames with wrong sizes, ids or values,
// garbage HPACK, lying frame lengths, floods around the misbehaviour budget, a truncated tail) in
// writes of random sizes. What is asserted is what no input may break: nothing throws inside
// portico or kills its worker thread (no internal error counted in /metrics, no worker_replaced,
// uncaught, h2_connection_error or error-level line in its output), a connection the server ends
// gets a GOAWAY first, one it keeps still answers a PING, the server answers only on streams the
// client opened, a normal node:http2 client is served every 10 connections and at the end, and
// once every connection is closed none is left counted, nor any request in flight. Which RFC 9113
// code each input earns is http2-wire.test.ts's business, not this file's.
//
// Deterministic: the frames of connection i come from the seed and i alone (the server's answers
// never steer the generator). The seed is printed; PORTICO_FUZZ_SEED=<n> replays a run, and
// PORTICO_FUZZ_CONN=<i> with it replays one connection. A failure prints the seed, the
// connection and every frame sent on it; for an internal error, also the fewest of those frames
// that still cause it, found by replaying subsets (shrink).

import t from 'tap'
import http2 from 'node:http2'
import type http from 'node:http'
import { freePort, metricTotal, sleep, startOrigin, startPortico, waitUntil } from './harness.ts'
import type { Origin } from './harness.ts'
import {
  Flag, FrameType, H2Wire, PREFACE, Setting, errorName, hpackEncode, hpackEncodeIndexing, hpackIndexed, hpackInt,
  requestFields, settingsPayload, u32,
} from './h2-wire.ts'
import type { Frame } from './h2-wire.ts'

const CONNECTIONS = 40
/** A normal client must be served after every this many fuzzed connections. */
const CHECK_EVERY = 10
const MIN_FRAMES = 20
const MAX_FRAMES = 80
/** After the input, how long a connection may take to be closed or go quiet. */
const SETTLE_MS = 2000
/** No frame from the server for this long: the connection is idle (the origin answers in < 100 ms). */
const IDLE_MS = 250
/** How long a PING on a connection the server kept may wait for its ACK (or a GOAWAY, or the close). */
const PROBE_MS = 2000
/** The origin's answers: `ok`, or for /big more than one stream window, so responses wait on flow control. */
const BIG_BODY_BYTES = 70_000
/** /slow is answered after this, so later frames meet the stream still open at the server. */
const SLOW_MS = 80
/** The server's frame size limit (SETTINGS_MAX_FRAME_SIZE, which portico never raises). */
const MAX_FRAME_BYTES = 16_384
/** On a failure: how many replays, and how long, shrinking its frames may take. */
const MAX_SHRINK_TRIES = 150
const SHRINK_MS = 30_000
/**
 * Lines in portico's output that mean a thread died or portico threw: the frame layer
 * (h2_connection_error), an exchange (request_error), or anything else logged at pino's error
 * or fatal level. No client input may cause one.
 */
const BAD_LOG = /worker_replaced|uncaught|h2_connection_error|request_error|"level":(50|60)\b/i

const DEFAULT_SEED = 20_240_601
const seed = parseSeed(process.env.PORTICO_FUZZ_SEED) ?? DEFAULT_SEED
const onlyConn = parseSeed(process.env.PORTICO_FUZZ_CONN)

function parseSeed(s: string | undefined): number | null {
  if (s === undefined || s === '') return null
  const n = Number(s)
  if (!Number.isInteger(n)) throw new Error(`PORTICO_FUZZ_SEED/PORTICO_FUZZ_CONN = ${s}: an integer was expected`)
  return n >>> 0
}

// ── a seeded PRNG (mulberry32: small, fast, good enough to pick frames) ──────────────────────

class Rand {
  private a: number
  constructor(seed: number) {
    this.a = seed >>> 0
  }

  next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0
    let x = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  u32(): number {
    return this.int(0, 0xffff) * 0x10000 + this.int(0, 0xffff)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255)
    return b
  }
}

/** Connection i's generator seed: independent of the other connections, so one can be replayed alone. */
function connSeed(i: number): number {
  return (seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0
}

// ── frames ──────────────────────────────────────────────────────────────────────────────────

/** One generated frame: its bytes on the wire and a line for the report. */
interface Fuzzed {
  what: string
  bytes: Buffer
}

const TYPE_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION']

/**
 * A frame as sent, unlike h2-wire.ts frame(): the stream id keeps its R bit, and the length field
 * may claim more (or fewer) bytes than the payload that follows.
 */
function rawFrame(type: number, flags: number, streamId: number, payload: Buffer, declaredBytes = payload.length): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(declaredBytes, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(streamId >>> 0, 5)
  return Buffer.concat([h, payload])
}

function describe(type: number, flags: number, streamId: number, payload: Buffer, declaredBytes: number, note: string): string {
  const name = TYPE_NAMES[type] ?? `type 0x${type.toString(16)}`
  const len = declaredBytes === payload.length ? `len=${payload.length}` : `len field=${declaredBytes} sent=${payload.length}`
  const hex = payload.length <= 48 ? payload.toString('hex') : `${payload.subarray(0, 48).toString('hex')}…`
  return `${name} flags=0x${flags.toString(16)} id=${streamId >>> 0} ${len}${note === '' ? '' : ` (${note})`} [${hex}]`
}

function literal(s: string): Buffer {
  const b = Buffer.from(s, 'latin1')
  return Buffer.concat([hpackInt(b.length, 7), b])
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'get', 'BREW']
const PATHS = ['/', '/a', '/slow', '/big', '/index.html', '/q?x=1&y=2', '*', 'http://wire.test/abs', '', '/a b', '/%00', '/\u00ff', '//double', '/../up']
/** Request fields any request may carry. */
const ORDINARY_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['accept', '*/*'], ['user-agent', 'fuzz'], ['cookie', 'a=1'], ['cookie', 'b=2'], ['x-fuzz', 'v'], ['x-empty', ''],
  ['te', 'trailers'], ['host', 'wire.test'], ['x-hi', '\u00ff'], ['expect', '100-continue'], ['content-length', '0'],
]
/** Request fields that make a request malformed (§8.2) or disagree with its body. */
const BAD_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['te', 'gzip'], ['connection', 'close'], ['keep-alive', '1'], ['upgrade', 'websocket'], ['transfer-encoding', 'chunked'],
  ['proxy-connection', 'x'], ['host', 'other.test'], ['X-Upper', '1'], ['x-crlf', 'a\r\nb: c'], ['x-nul', 'a\0b'],
  ['x-space', ' a'], ['bad name', 'v'], ['', 'v'], ['content-length', '5'], ['content-length', 'abc'], ['content-length', '-1'],
  ['content-length', '99999999999999999999'], [':authority', 'late.test'], [':fuzz', 'x'],
]

/** The generator of one connection's frames; it tracks the streams it opened, never the server's answers. */
class Gen {
  readonly r: Rand
  readonly out: Fuzzed[] = []
  /** The next odd stream id to open. */
  nextId = 1
  /** Streams opened and not yet ended by us (no END_STREAM, no RST_STREAM). */
  readonly open: number[] = []
  /** Streams opened, then ended or reset by us. */
  readonly done: number[] = []
  /** Every stream id a HEADERS was sent on: the only ones the server may answer on. */
  readonly headerIds = new Set<number>()
  /** False once a frame's length field lies or the tail is cut: the server no longer reads frames where we wrote them. */
  isAligned = true
  /** A header block was left without END_HEADERS (its stream), or 0. */
  openBlock = 0
  hasLied = false

  constructor(r: Rand) {
    this.r = r
  }

  push(type: number, flags: number, streamId: number, payload: Buffer, note = '', declaredBytes = payload.length): void {
    this.out.push({ what: describe(type, flags, streamId, payload, declaredBytes, note), bytes: rawFrame(type, flags, streamId, payload, declaredBytes) })
    if (type === FrameType.Headers) this.headerIds.add(streamId & 0x7fff_ffff)
  }

  /**
   * A stream to send on: open, closed, idle, even or 0, as `weights` (in that order) say; when the
   * open or closed streams picked are none yet, `fallback`.
   */
  streamId(weights: readonly [number, number, number, number, number], fallback = this.nextId): number {
    const r = this.r
    let x = r.next() * weights.reduce((a, b) => a + b, 0)
    let k = 0
    while (k < weights.length - 1 && x >= weights[k]) x -= weights[k++]
    if (k === 0) return this.open.length > 0 ? r.pick(this.open) : fallback
    if (k === 1) return this.done.length > 0 ? r.pick(this.done) : fallback
    if (k === 2) return this.nextId + 2 * r.int(0, 3)
    if (k === 3) return 2 * r.int(1, 50)
    return 0
  }

  ended(id: number): void {
    const i = this.open.indexOf(id)
    if (i >= 0) {
      this.open.splice(i, 1)
      this.done.push(id)
    }
  }

  settings(isBad: boolean, isFirst: boolean): void {
    const r = this.r
    if (!isBad) {
      const pairs: Array<[number, number]> = [[Setting.HeaderTableSize, r.pick([0, 0, 4096, 100])]]
      if (r.chance(0.4)) pairs.push([Setting.InitialWindowSize, r.pick([0, 1, 100, 65_535, 1 << 20, 0x7fff_ffff])])
      if (r.chance(0.3)) pairs.push([Setting.MaxFrameSize, r.pick([16_384, 16_385, 1 << 20, 16_777_215])])
      if (r.chance(0.3)) pairs.push([Setting.EnablePush, r.int(0, 1)])
      if (r.chance(0.2)) pairs.push([Setting.MaxConcurrentStreams, r.pick([0, 1, 100, 0xffff_ffff])])
      if (r.chance(0.2)) pairs.push([Setting.MaxHeaderListSize, r.pick([0, 100, 0xffff_ffff])])
      if (r.chance(0.2)) pairs.push([r.int(7, 0xffff), r.u32()])
      this.push(FrameType.Settings, 0, 0, settingsPayload(pairs), 'settings')
      return
    }
    const pairs: Array<[number, number]> = []
    for (let n = r.int(0, 4); n > 0; n--) {
      pairs.push([r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffff]),
        r.pick([0, 1, 2, 16_383, 16_384, 16_777_215, 16_777_216, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, r.u32()])])
    }
    const payload = settingsPayload(pairs)
    // The first SETTINGS stays a SETTINGS on stream 0: other first frames are http2-wire.test.ts's.
    const mode = isFirst ? 0 : r.int(0, 4)
    if (mode === 0) this.push(FrameType.Settings, 0, 0, payload, 'random values')
    else if (mode === 1) this.push(FrameType.Settings, Flag.Ack, 0, r.bytes(r.int(1, 12)), 'ACK with a payload')
    else if (mode === 2) this.push(FrameType.Settings, 0, 0, Buffer.concat([payload, r.bytes(r.int(1, 5))]), 'length not a multiple of 6')
    else if (mode === 3) this.push(FrameType.Settings, r.int(0, 255), this.streamId([1, 1, 1, 1, 0]), payload, 'on a stream')
    else this.push(FrameType.Settings, Flag.Ack, 0, Buffer.alloc(0), 'an unsolicited ACK')
  }

  /** A request field block: the pseudo-headers (sometimes wrong), some fields, in a mix of HPACK representations. */
  requestBlock(isBad: boolean, method: string): Buffer {
    const r = this.r
    const path = isBad || r.chance(0.2) ? r.pick(PATHS) : r.pick(['/', '/a', '/slow', '/big'])
    let fields: Array<readonly [string, string]> = requestFields(method, path)
    if (isBad) {
      const k = r.int(0, 3)
      if (k === 0) fields.splice(r.int(0, fields.length - 1), 1)
      else if (k === 1) fields.push(r.pick(fields))
      else if (k === 2) fields = [['x-first', '1'], ...fields]
      else fields.push(r.pick(BAD_FIELDS))
    }
    for (let n = r.int(0, 4); n > 0; n--) fields.push(r.pick(isBad && r.chance(0.5) ? BAD_FIELDS : ORDINARY_FIELDS))
    if (r.chance(0.05)) fields.push(['x-long', 'v'.repeat(r.int(1000, 20_000))])
    const parts: Buffer[] = []
    if (r.chance(0.1)) parts.push(hpackInt(r.pick([0, 100, 4096]), 5, 0x20)) // a table size update, first as §4.2 wants
    for (const [name, value] of fields) {
      const k = r.int(0, 9)
      if (k < 6) parts.push(hpackEncode([[name, value]]))
      else if (k < 8) parts.push(hpackEncodeIndexing([[name, value]]))
      else if (name === ':method' && value === 'GET') parts.push(hpackIndexed(2))
      else if (name === ':scheme' && value === 'http') parts.push(hpackIndexed(6))
      else parts.push(Buffer.from([0x10]), literal(name), literal(value)) // never indexed (§6.2.3)
    }
    return Buffer.concat(parts)
  }

  /** HEADERS (+ CONTINUATION) for a block on `id`, with padding and priority now and then. */
  headerFrames(id: number, block: Buffer, isEndStream: boolean, isBad: boolean, note: string): void {
    const r = this.r
    let flags = isEndStream ? Flag.EndStream : 0
    const isSplit = block.length > 1 && r.chance(0.2)
    const cuts: number[] = []
    if (isSplit) for (let n = r.int(1, 3); n > 0; n--) cuts.push(r.int(1, block.length - 1))
    // A block over the frame size goes in pieces (room left for padding and priority), unless
    // the frame is meant to be bad: then one oversized HEADERS is a FRAME_SIZE_ERROR to try.
    if (!isBad || r.chance(0.5)) for (let at = MAX_FRAME_BYTES - 300; at < block.length; at += MAX_FRAME_BYTES - 300) cuts.push(at)
    cuts.sort((a, b) => a - b)
    cuts.push(block.length)
    const first = block.subarray(0, cuts[0])
    const before: Buffer[] = []
    const after: Buffer[] = []
    if (r.chance(0.15)) {
      flags |= Flag.Padded
      const padBytes = r.int(0, 40)
      // A pad length larger than what follows is a PROTOCOL_ERROR (§6.2); only in bad frames.
      before.push(Buffer.from([isBad && r.chance(0.5) ? r.int(padBytes + 1, 255) : padBytes]))
      after.push(Buffer.alloc(padBytes))
    }
    if (r.chance(0.15)) {
      flags |= Flag.Priority
      const dependsOn = r.chance(0.2) ? id : r.int(0, 20)
      const dep = Buffer.alloc(5)
      dep.writeUInt32BE(((r.chance(0.3) ? 0x8000_0000 : 0) | dependsOn) >>> 0)
      dep[4] = r.int(0, 255)
      before.push(isBad && r.chance(0.3) ? dep.subarray(0, r.int(0, 4)) : dep)
    }
    const isLastMissing = isBad && r.chance(0.1)
    const hasMore = cuts.length > 1
    if (!hasMore && !isLastMissing) flags |= Flag.EndHeaders
    this.push(FrameType.Headers, flags, id, Buffer.concat([...before, first, ...after]), note)
    for (let k = 1; k < cuts.length; k++) {
      const piece = block.subarray(cuts[k - 1], cuts[k])
      const isLast = k === cuts.length - 1
      this.push(FrameType.Continuation, isLast && !isLastMissing ? Flag.EndHeaders : 0, id, piece, `piece ${k + 1} of ${cuts.length}`)
    }
    this.openBlock = isLastMissing ? id : 0
  }

  request(isBad: boolean): void {
    const r = this.r
    let id = this.nextId
    if (isBad) {
      const k = r.int(0, 3)
      if (k === 0) id = 2 * r.int(1, 20) // even: the server's
      else if (k === 1 && this.done.length + this.open.length > 0) id = r.pick([...this.done, ...this.open]) // reused
      else if (k === 2) id = this.nextId + 2 * r.int(1, 50) // a jump: legal, it skips ids
      else if (k === 3) id = (this.nextId | 0x8000_0000) >>> 0 // R bit set
    }
    const method = r.pick(METHODS)
    const isEndStream = method === 'GET' || method === 'HEAD' ? r.chance(0.85) : r.chance(0.3)
    this.headerFrames(id, this.requestBlock(isBad, method), isEndStream, isBad, `request ${method}`)
    const real = id & 0x7fff_ffff
    if ((real & 1) === 1 && real >= this.nextId) {
      this.nextId = real + 2
      if (isEndStream) this.done.push(real)
      else this.open.push(real)
    }
  }

  trailers(isBad: boolean): void {
    const r = this.r
    if (!isBad && this.open.length === 0) { this.request(false); return }
    const id = isBad ? this.streamId([3, 2, 1, 0, 0]) : r.pick(this.open)
    const fields: Array<[string, string]> = isBad ? [[':path', '/t'], ['x-trailer', 'v']] : [['x-trailer', 'v']]
    this.headerFrames(id, hpackEncode(fields), isBad ? r.chance(0.5) : true, isBad, 'trailers')
    if (!isBad) this.ended(id)
  }

  data(isBad: boolean): void {
    const r = this.r
    const id = isBad ? this.streamId([2, 3, 2, 1, 1]) : this.streamId([1, 0, 0, 0, 0], -1)
    if (id < 0) { this.request(false); return }
    const x = r.next()
    let n = x < 0.7 ? r.int(0, 64) : x < 0.9 ? r.int(65, 4096) : r.int(4097, 12_000)
    if (isBad && r.chance(0.1)) n = r.int(MAX_FRAME_BYTES - 10, MAX_FRAME_BYTES + 10)
    let flags = r.chance(0.3) ? Flag.EndStream : 0
    if (isBad && r.chance(0.3)) flags |= r.int(0, 255) & ~Flag.Padded
    let payload = Buffer.alloc(n, 0x64)
    if (r.chance(0.15)) {
      flags |= Flag.Padded
      const padBytes = r.int(0, 30)
      const padLength = isBad && r.chance(0.4) ? r.int(padBytes, 255) : padBytes
      payload = Buffer.concat([Buffer.from([padLength]), payload, Buffer.alloc(padBytes)])
    }
    this.push(FrameType.Data, flags, id, payload)
    if ((flags & Flag.EndStream) !== 0) this.ended(id)
  }

  windowUpdate(isBad: boolean): void {
    const r = this.r
    const id = isBad ? this.streamId([2, 2, 1, 1, 2]) : r.chance(0.5) ? 0 : this.streamId([3, 1, 0, 0, 1], 0)
    const inc = isBad
      ? r.pick([0, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x8000_0000 | r.int(0, 100), r.u32()])
      : r.pick([1, r.int(1, 65_535), r.int(1, 1 << 20)])
    let payload = u32(inc)
    if (isBad && r.chance(0.3)) payload = r.bytes(r.pick([0, 3, 5, 8]))
    this.push(FrameType.WindowUpdate, 0, id, payload)
  }

  rstStream(isBad: boolean): void {
    const r = this.r
    const id = isBad ? this.streamId([1, 2, 2, 1, 1]) : this.streamId([3, 1, 0, 0, 0], -1)
    if (id < 0) { this.request(false); return }
    const code = r.chance(0.8) ? r.int(0, 0xd) : r.u32()
    const payload = isBad && r.chance(0.4) ? r.bytes(r.pick([0, 3, 5, 8])) : u32(code)
    this.push(FrameType.RstStream, 0, id, payload, errorName(code))
    if (!isBad) this.ended(id)
  }

  ping(isBad: boolean): void {
    const r = this.r
    const n = isBad ? r.pick([0, 1, 7, 9, 16, 64]) : 8
    const flags = r.chance(0.2) ? Flag.Ack : 0
    const id = isBad && r.chance(0.4) ? this.streamId([1, 1, 1, 1, 0]) : 0
    this.push(FrameType.Ping, flags, id, r.bytes(n))
  }

  priority(isBad: boolean): void {
    const r = this.r
    const id = this.streamId(isBad ? [1, 1, 1, 1, 1] : [2, 2, 2, 0, 0])
    const n = isBad ? r.pick([0, 4, 6, 10]) : 5
    this.push(FrameType.Priority, 0, id, r.bytes(n))
  }

  pushPromise(): void {
    const r = this.r
    const id = this.streamId([2, 1, 1, 1, 1])
    const payload = Buffer.concat([u32(r.chance(0.5) ? 2 * r.int(1, 20) : r.u32()), hpackEncode(requestFields('GET', '/pushed'))])
    this.push(FrameType.PushPromise, r.chance(0.7) ? Flag.EndHeaders : 0, id, payload)
  }

  goaway(isBad: boolean): void {
    const r = this.r
    const payload = Buffer.concat([u32(r.chance(0.5) ? 0 : r.u32()), u32(r.int(0, 0xd)), r.bytes(r.int(0, 20))])
    const id = isBad && r.chance(0.3) ? this.streamId([1, 1, 1, 0, 0]) : 0
    this.push(FrameType.Goaway, 0, id, isBad && r.chance(0.5) ? payload.subarray(0, r.int(0, 7)) : payload)
  }

  unknown(): void {
    const r = this.r
    this.push(r.int(0x0a, 0xff), r.int(0, 255), this.streamId([1, 1, 1, 1, 2]), r.bytes(r.int(0, 100)))
  }

  /** A HEADERS whose field block is random bytes, or a valid start with garbage after it. */
  garbageHpack(): void {
    const r = this.r
    const parts: Buffer[] = []
    if (r.chance(0.5)) parts.push(hpackEncode(requestFields('GET', '/g')))
    for (let n = r.int(1, 5); n > 0; n--) {
      const k = r.int(0, 8)
      if (k === 0) parts.push(r.bytes(r.int(1, 40)))
      else if (k === 1) parts.push(hpackIndexed(r.int(0, 120))) // 0 is invalid; past the table too
      else if (k === 2) parts.push(hpackInt(r.pick([0, 4096, 4097, 1 << 20, 0x7fff_ffff]), 5, 0x20)) // size update, maybe too large or late
      else if (k === 3) parts.push(Buffer.from([0x00]), literal('x-h'), hpackInt(r.int(1, 20), 7, 0x80), r.bytes(r.int(1, 20))) // Huffman value of random bytes
      else if (k === 4) parts.push(Buffer.from([0x00]), hpackInt(r.int(5, 200), 7), r.bytes(r.int(0, 4))) // a string longer than the block
      else if (k === 5) parts.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])) // an integer past 2^31
      else if (k === 6) parts.push(hpackInt(r.int(1, 100), 4), literal('v')) // literal with an indexed name, maybe past the table
      else if (k === 7) parts.push(hpackInt(r.int(1, 100), 6, 0x40), literal('v')) // the same, with indexing
      else parts.push(Buffer.from([0x10]), literal(''), literal('v')) // never-indexed, empty name
    }
    this.headerFrames(this.openNew(true), Buffer.concat(parts), true, false, 'garbage HPACK')
  }

  /** A CONTINUATION: the one that ends a block left open, or (bad) one that belongs to nothing. */
  continuation(isBad: boolean): void {
    const r = this.r
    if (!isBad && this.openBlock === 0) { this.request(false); return }
    const id = this.openBlock !== 0 && (!isBad || r.chance(0.5)) ? this.openBlock : this.streamId([1, 1, 1, 1, 1])
    const flags = !isBad || r.chance(0.6) ? Flag.EndHeaders : 0
    this.push(FrameType.Continuation, flags, id, r.chance(0.5) ? hpackEncode([['x-c', 'v']]) : r.bytes(r.int(0, 30)), id === this.openBlock ? 'ends the block' : 'stray')
    if ((flags & Flag.EndHeaders) !== 0 && id === this.openBlock) this.openBlock = 0
  }

  /** A frame whose length field claims more than is sent: the frames after it are read as its payload. */
  lie(): void {
    const r = this.r
    const payload = r.bytes(r.int(0, 40))
    const declared = Math.min(MAX_FRAME_BYTES, payload.length + r.int(1, 400))
    const type = r.pick([FrameType.Data, FrameType.Headers, FrameType.Ping, FrameType.Settings, FrameType.WindowUpdate, 0x42])
    const id = type === FrameType.Ping || type === FrameType.Settings ? 0 : this.streamId([2, 1, 0, 0, 0])
    this.push(type, 0, id, payload, 'a lying length', declared)
    this.isAligned = false
    this.hasLied = true
  }

  /**
   * Many small frames at once, around portico's limits: the misbehaviour budget (GLITCH_BURST in
   * connection.ts: empty DATA, reset streams, short CONTINUATION, PRIORITY of a wrong size) and
   * MAX_CONCURRENT_STREAMS. Sometimes under them, sometimes past.
   */
  flood(): void {
    const r = this.r
    const n = r.int(20, 260)
    const k = r.int(0, 4)
    if (k === 0) {
      if (this.open.length === 0) this.headerFrames(this.openNew(false), this.requestBlock(false, 'POST'), false, false, 'request POST')
      const id = r.pick(this.open)
      for (let i = 0; i < n; i++) this.push(FrameType.Data, 0, id, Buffer.alloc(0), `flood ${i + 1} of ${n}`)
    } else if (k === 1) {
      for (let i = 0; i < n; i++) {
        const id = this.openNew(true)
        this.push(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, id, hpackEncode(requestFields('GET', '/a')), `flood ${i + 1} of ${n}`)
        this.push(FrameType.RstStream, 0, id, u32(0x8), 'CANCEL')
      }
    } else if (k === 2) {
      for (let i = 0; i < Math.min(n, 140); i++) {
        this.push(FrameType.Headers, Flag.EndHeaders, this.openNew(false), hpackEncode(requestFields('POST', '/slow')), `flood ${i + 1}, open`)
      }
    } else if (k === 3) {
      // A valid request, one byte per CONTINUATION.
      const block = this.requestBlock(false, 'GET')
      const id = this.openNew(true)
      this.push(FrameType.Headers, Flag.EndStream, id, block.subarray(0, 1), `flood: a ${block.length}-byte block a byte a frame`)
      for (let at = 1; at < block.length; at++) this.push(FrameType.Continuation, at === block.length - 1 ? Flag.EndHeaders : 0, id, block.subarray(at, at + 1))
    } else {
      for (let i = 0; i < n; i++) this.push(FrameType.Priority, 0, this.nextId + 2 * i, Buffer.alloc(4), `flood ${i + 1} of ${n}`)
    }
  }

  /** The next stream id, as opened (and ended, when `isEnded`). */
  openNew(isEnded: boolean): number {
    const id = this.nextId
    this.nextId += 2
    if (isEnded) this.done.push(id)
    else this.open.push(id)
    return id
  }

  /** One frame of the mix (or a flood); `badness` is the chance that it is built to be wrong. */
  one(badness: number): void {
    const r = this.r
    const isBad = r.chance(badness)
    const before = this.out.length
    const x = r.int(0, 99)
    if (isBad && !this.hasLied && x < 3) this.lie()
    else if (x < 30) this.request(isBad)
    else if (x < 48) this.data(isBad)
    else if (x < 56) this.windowUpdate(isBad)
    else if (x < 62) this.rstStream(isBad)
    else if (x < 67) this.ping(isBad)
    else if (x < 71) this.settings(isBad, false)
    else if (x < 75) this.priority(isBad)
    else if (x < 79) this.trailers(isBad)
    else if (x < 84) this.unknown()
    else if (x < 86) this.continuation(isBad)
    else if (isBad && x < 90) this.garbageHpack()
    else if (isBad && x < 92) this.pushPromise()
    else if (isBad && x < 94) this.goaway(isBad)
    else if (x < 96) this.ping(false)
    else if (x < 98) this.request(false)
    else this.flood()
    // Marked in the report: a connection error right after a BAD frame is that frame's due.
    if (isBad) for (let k = before; k < this.out.length; k++) this.out[k].what = `BAD ${this.out[k].what}`
  }
}

/** Connection i's frames; the last one cut short in about a third of them. */
function generate(i: number): { gen: Gen; writes: Rand } {
  const r = new Rand(connSeed(i))
  const gen = new Gen(r)
  gen.settings(r.chance(0.1), true)
  // The server's SETTINGS need our ACK (§6.5.3); portico does not insist on it, so sometimes it never comes.
  if (r.chance(0.85)) gen.push(FrameType.Settings, Flag.Ack, 0, Buffer.alloc(0), 'ACK')
  // Connections differ in how much of their input is wrong: a mostly valid one gets deep into
  // stream states before a connection error ends it, a mostly wrong one tries more error paths.
  const badness = r.pick([0.01, 0.03, 0.08, 0.2])
  for (let n = r.int(MIN_FRAMES, MAX_FRAMES); n > 0; n--) gen.one(badness)
  if (r.chance(0.3)) {
    const last = gen.out[gen.out.length - 1]
    const keep = r.int(1, Math.max(1, last.bytes.length - 1))
    gen.out[gen.out.length - 1] = { what: `${last.what} TRUNCATED to ${keep} of ${last.bytes.length} bytes`, bytes: last.bytes.subarray(0, keep) }
    gen.isAligned = false
  }
  return { gen, writes: new Rand(connSeed(i) ^ 0x5bd1e995) }
}

// ── portico and its origin ──────────────────────────────────────────────────────────────────

function handler(req: http.IncomingMessage, res: http.ServerResponse, _origin: Origin): void {
  req.resume()
  req.on('end', () => {
    const answer = (): void => {
      if (!res.destroyed) res.end(req.url === '/big' ? Buffer.alloc(BIG_BODY_BYTES, 'b') : 'ok')
    }
    if (req.url === '/slow') setTimeout(answer, SLOW_MS)
    else answer()
  })
}

const origin = await startOrigin('s1', handler)
// /metrics, read once at the end: nothing the fuzz did may leave a connection or a request counted.
const metricsPort = await freePort()
const p = await startPortico(`
[global]
workers = 1
[log]
access = "off"
[runtime]
metrics = "127.0.0.1:${metricsPort}"

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

/** Lines of portico's output not yet looked at. */
let stdoutSeen = 0
let stderrSeen = 0
function newBadLines(): string[] {
  const lines = [...p.stdout.slice(stdoutSeen), ...p.stderr.slice(stderrSeen)]
  stdoutSeen = p.stdout.length
  stderrSeen = p.stderr.length
  return lines.filter((l) => BAD_LOG.test(l))
}

/**
 * Internal errors so far: portico_request_errors_total (the frame layer's and the exchanges'
 * caught exceptions) plus portico_worker_errors_total (threads that died). Read from /metrics,
 * which reads the shared cells: exact at once, where the log lines come later (worker ring, then
 * pino, then a pipe).
 */
async function internalErrors(): Promise<number> {
  return await metricTotal(metricsPort, 'portico_request_errors_total') + await metricTotal(metricsPort, 'portico_worker_errors_total')
}
let errorsSeen = 0

/**
 * What went wrong inside portico since the last call: the internal errors counted and the bad
 * lines logged. When errors were counted, their lines are waited for (bounded), so they are
 * reported with the connection that caused them rather than a later one.
 */
async function newErrors(): Promise<{ count: number; lines: string[] }> {
  const total = await internalErrors()
  const count = total - errorsSeen
  errorsSeen = total
  if (count > 0) await waitUntil(() => p.stderr.length > stderrSeen && p.stderr.slice(stderrSeen).some((l) => BAD_LOG.test(l)), 2000)
  return { count, lines: newBadLines() }
}

/** A GET through node:http2's own client on a new connection: the status and body, or the error. */
function normalGet(path: string): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${p.port}`)
    const timer = setTimeout(() => { session.destroy(); resolve('timed out') }, 5000)
    const done = (s: string): void => {
      clearTimeout(timer)
      session.close()
      resolve(s)
    }
    session.on('error', (err) => done(`error: ${err.message}`))
    const req = session.request({ ':path': path })
    let status = 0
    const chunks: Buffer[] = []
    req.on('response', (h) => { status = Number(h[':status']) })
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => done(`${status} ${Buffer.concat(chunks).toString()}`))
    req.on('error', (err) => done(`error: ${err.message}`))
    req.end()
  })
}

/** Random write sizes: single bytes, a few hundred, a few thousand, or all that is left. */
function writeSize(r: Rand, left: number): number {
  const x = r.next()
  if (x < 0.25) return r.int(1, 16)
  if (x < 0.6) return r.int(17, 512)
  if (x < 0.85) return r.int(513, 8192)
  return left
}

/** The server's frames in short: for failure reports. */
function seen(c: H2Wire): string {
  const names = c.frames.map((f: Frame) => {
    const name = TYPE_NAMES[f.type] ?? `type 0x${f.type.toString(16)}`
    if (f.type === FrameType.Goaway && f.payload.length >= 8) return `GOAWAY ${errorName(f.payload.readUInt32BE(4))}`
    if (f.type === FrameType.RstStream && f.payload.length >= 4) return `RST_STREAM ${errorName(f.payload.readUInt32BE(0))} on ${f.streamId}`
    return `${name}${f.streamId === 0 ? '' : ` on ${f.streamId}`}`
  })
  return `${names.join(', ')}${c.isClosed ? ', closed' : ', still open'}`
}

function report(i: number, problem: string, gen: Gen, c: H2Wire | null): string {
  return [
    `seed ${seed}, connection ${i} (replay: PORTICO_FUZZ_SEED=${seed} PORTICO_FUZZ_CONN=${i}): ${problem}`,
    `frames sent (${gen.out.length}):`,
    ...gen.out.map((f, k) => `  ${k} ${f.what}`),
    `server sent: ${c === null ? 'nothing (no connection)' : seen(c)}`,
  ].join('\n')
}

/** What the fuzzed connections came to, for the summary: outcomes and frames seen from the server. */
const tally = new Map<string, number>()
function count(key: string, n = 1): void {
  tally.set(key, (tally.get(key) ?? 0) + n)
}

/** Until the server closed the connection or sent nothing for IDLE_MS, at most SETTLE_MS. */
async function settle(c: H2Wire): Promise<void> {
  const settleEnd = Date.now() + SETTLE_MS
  while (!c.isClosed && Date.now() < settleEnd) {
    const seenCount = c.frames.length
    await c.until(() => c.isClosed || c.frames.length !== seenCount, Math.min(IDLE_MS, settleEnd - Date.now()))
    if (c.frames.length === seenCount) break
  }
}

/** The preface and `frames` in one write on a new connection; what went wrong inside portico meanwhile. */
async function replay(frames: readonly Fuzzed[]): Promise<{ count: number; lines: string[] }> {
  const c = await H2Wire.connect(p.port, { isPrefaceSent: false, isAutoAck: false })
  try {
    c.write(Buffer.concat([PREFACE, ...frames.map((f) => f.bytes)]))
    await settle(c)
  } finally {
    c.close()
  }
  return newErrors()
}

/**
 * The fewest frames of `frames` that still make portico log `signature`, found by dropping runs
 * of frames (halving their length, down to one) while it does; null when the whole list sent in
 * one write does not reproduce it (it needed the random writes' timing). Bounded in tries and time.
 */
async function shrink(frames: readonly Fuzzed[], signature: string): Promise<Fuzzed[] | null> {
  const deadline = Date.now() + SHRINK_MS
  let tries = 0
  const reproduces = async (list: readonly Fuzzed[]): Promise<boolean> => {
    tries++
    return (await replay(list)).lines.some((l) => l.includes(signature))
  }
  if (!await reproduces(frames)) return null
  let best = [...frames]
  const isOver = (): boolean => tries >= MAX_SHRINK_TRIES || Date.now() > deadline
  for (let run = Math.ceil(best.length / 2); run >= 1 && !isOver(); run = run === 1 ? 0 : Math.ceil(run / 2)) {
    // Bounded: each turn drops a run (the list shrinks) or moves past one.
    for (let at = 0; at < best.length && !isOver();) {
      const candidate = [...best.slice(0, at), ...best.slice(at + run)]
      if (candidate.length > 0 && await reproduces(candidate)) best = candidate
      else at += run
    }
  }
  return best
}

/** What identifies a bad line when shrinking: the exception's message if it has one, else the event. */
function signatureOf(line: string): string {
  const m = /"error":"((?:[^"\\]|\\.){1,80})/.exec(line)
  return m !== null ? m[1] : (BAD_LOG.exec(line)?.[0] ?? line)
}

/** One fuzzed connection. Returns the problems found (as reports), none when all went well. */
async function fuzzOne(i: number): Promise<string[]> {
  const { gen, writes } = generate(i)
  const problems: string[] = []
  // No automatic ACKs: written between two of our writes, they would land inside a frame.
  const c = await H2Wire.connect(p.port, { isPrefaceSent: false, isAutoAck: false })
  try {
    // The preface goes in the same random writes: the h2c sniffer (front.ts) must gather it too.
    const bytes = Buffer.concat([PREFACE, ...gen.out.map((f) => f.bytes)])
    // Bounded: every write takes at least one byte.
    for (let at = 0; at < bytes.length && !c.isClosed;) {
      const n = Math.min(bytes.length - at, writeSize(writes, bytes.length - at))
      c.write(bytes.subarray(at, at + n))
      at += n
      if (writes.chance(0.12)) await sleep(writes.int(0, 15))
    }
    await settle(c)
    if (c.isClosed && c.goaways.length === 0) problems.push(report(i, 'the server closed the connection without a GOAWAY', gen, c))
    if (!c.isClosed && gen.isAligned) {
      // Kept open: it must still read frames. A PING (or, in the middle of a header block, the
      // GOAWAY PROTOCOL_ERROR it earns) shows it does.
      const opaque = Buffer.from(`probe${i}`.padEnd(8, '.').slice(0, 8), 'latin1')
      const goaways = c.goaways.length
      c.write(rawFrame(FrameType.Ping, 0, 0, opaque))
      const isAlive = await c.until(() => c.isClosed || c.goaways.length > goaways ||
        c.frames.some((f) => f.type === FrameType.Ping && (f.flags & Flag.Ack) !== 0 && f.payload.equals(opaque)), PROBE_MS)
      if (!isAlive) problems.push(report(i, `a PING on the connection kept open got no answer in ${PROBE_MS} ms`, gen, c))
    }
    if (gen.isAligned) {
      const stray = c.frames.filter((f) => f.streamId !== 0 && !gen.headerIds.has(f.streamId))
      if (stray.length > 0) problems.push(report(i, `frames on streams never opened: ${stray.map((f) => `${TYPE_NAMES[f.type] ?? f.type} on ${f.streamId}`).join(', ')}`, gen, c))
    }
    count(c.goaways.length > 0 ? `GOAWAY ${errorName(c.goaways[0].code)}` : c.isClosed ? 'closed' : 'kept open')
    count('responses', c.frames.filter((f) => f.type === FrameType.Headers).length)
    count('RST_STREAM', c.frames.filter((f) => f.type === FrameType.RstStream).length)
    count('frames sent', gen.out.length)
  } finally {
    c.close()
  }
  const errors = await newErrors()
  const bad = errors.lines
  if (errors.count > 0 || bad.length > 0) {
    const small = bad.length === 0 ? null : await shrink(gen.out, signatureOf(bad[0]))
    const smallest = small === null
      ? 'not reproduced when the same frames were sent in one write'
      : `reproduced by ${small.length} of the ${gen.out.length} frames, sent after the preface in one write:\n${small.map((f) => `  ${f.what}\n    ${f.bytes.toString('hex')}`).join('\n')}`
    problems.push(`${report(i, `${errors.count} internal errors counted; portico logged:\n${bad.join('\n')}`, gen, c)}\nshrunk: ${smallest}`)
  }
  return problems
}

t.test(`the frame layer survives ${CONNECTIONS} fuzzed connections (seed ${seed})`, async (t) => {
  t.comment(`seed ${seed} (set PORTICO_FUZZ_SEED to replay or vary it)`)
  t.equal(await normalGet('/before'), '200 ok', 'a normal HTTP/2 client is served before the fuzz')
  await newErrors()
  const start = Date.now()
  const ids = onlyConn === null ? Array.from({ length: CONNECTIONS }, (_, i) => i) : [onlyConn]
  let failures = 0
  for (const i of ids) {
    const problems = await fuzzOne(i)
    for (const problem of problems) {
      failures++
      t.comment(problem)
      t.fail(problem.split('\n')[0])
    }
    if ((i + 1) % CHECK_EVERY === 0) t.equal(await normalGet(`/check${i}`), '200 ok', `a normal client is served after connection ${i}`)
  }
  t.comment(`outcomes: ${[...tally].map(([k, n]) => `${k} ${n}`).join(', ')}`)
  t.equal(failures, 0, `${ids.length} connections, none broke the frame layer (${Date.now() - start} ms)`)
  t.equal(await normalGet('/after'), '200 ok', 'a normal HTTP/2 client is served after the fuzz')
  t.ok(p.proc.exitCode === null && p.proc.signalCode === null, 'portico is still running')
  // Every fuzzed connection is closed by now: the server lets go of them, their streams and their server slots.
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_listener_connections_active')) === 0, 3000),
    `no client connection left open (${await metricTotal(metricsPort, 'portico_listener_connections_active')})`)
  t.ok(await waitUntil(async () => (await metricTotal(metricsPort, 'portico_server_active_requests')) === 0, 3000),
    `no request left in flight at the origin (${await metricTotal(metricsPort, 'portico_server_active_requests')})`)
  t.equal(await metricTotal(metricsPort, 'portico_request_errors_total'), 0, 'no internal request errors counted')
  const all = [...p.stdout, ...p.stderr].filter((l) => BAD_LOG.test(l))
  t.same(all, [], 'no worker_replaced, uncaught, h2_connection_error, request_error or other error in portico\'s output')
})
