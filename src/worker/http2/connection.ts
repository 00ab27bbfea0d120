// One downstream HTTP/2 connection on a worker thread (ALPN h2 over TLS, or h2c prior knowledge),
// served by portico's own HTTP/2 layer (RFC 9113) rather than node:http2: the frames read from the
// socket, the streams (stream.ts) and their flow control, HPACK (hpack.ts), the frames written
// back, GOAWAY, the idle timeout and the listener accounting. Each request stream becomes an
// H2Exchange (exchange.ts) that forwards it to an HTTP/1.1 upstream.
//
// Why not node:http2: measured, node:http2 alone cost as much CPU per request as HAProxy's whole
// h2-to-HTTP/1.1 proxying (perf/RESULTS.md, "what node:http2 costs by itself"): JS↔C++ crossings
// per frame and per stream, an EventEmitter and a Duplex per stream, header objects. Here a
// stream is one small object, the owner is called directly, and frames are written into a shared
// slab and leave once per event-loop iteration.
//
// Robustness (RFC 9113 §10.5 and the floods of 2019 and 2023): header blocks are bounded
// (CONTINUATION included), streams per connection are bounded (REFUSED_STREAM past it), resets by
// the client, refused streams and empty frames draw on a budget that refills with time (past it:
// GOAWAY ENHANCE_YOUR_CALM), and control frames answered while the client does not read are
// bounded too. Every protocol error ends in RST_STREAM or GOAWAY with the RFC's code.

import type { Socket } from 'node:net'
import { ListenerCounter, MiscCounter } from '../../shared/layout.ts'
import type { Expiring, WorkerContext } from '../context.ts'
import { H2Exchange } from './exchange.ts'
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FRAME_HEADER_BYTES, Flag, FrameType, H2Error, MAX_FRAME_LIMIT, MAX_WINDOW, PREFACE,
  Setting, writeFrameHeader,
} from './frames.ts'
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts'
import { HeadCheck, checkRequestFields, checkTrailerFields } from './head.ts'
import { H2Stream } from './stream.ts'
import type { StreamOwner } from './stream.ts'

/** After GOAWAY, how long open streams may take before the connection is cut (when not draining). */
const CLOSE_GRACE_MS = 5000
/** After a connection error's GOAWAY, how long the client has to read it before the socket is cut. */
const ERROR_LINGER_MS = 1000

/**
 * Concurrent streams a client may open on one connection. HAProxy's default is 100; a little
 * more lets a browser's burst through without queueing at the client.
 */
const MAX_CONCURRENT_STREAMS = 128
/** Our receive window per stream: the protocol's default, so no SETTINGS entry is needed. */
const STREAM_WINDOW = DEFAULT_WINDOW
/**
 * Our receive window for the whole connection, raised from the default at the start: uploads on
 * several streams at once are not held to 64 KiB in flight together. It also bounds the request
 * body bytes held for paused streams.
 */
const CONNECTION_WINDOW = 1024 * 1024
/** The largest frame we accept: the default, not raised (SETTINGS_MAX_FRAME_SIZE not sent). */
const OUR_MAX_FRAME = DEFAULT_MAX_FRAME

/** Unsent response bytes in the socket beyond this make every stream's write() return false. */
const SOCKET_HIGH_WATER = 256 * 1024
/** Control frames answered (PING, SETTINGS, RST_STREAM) while the socket is full, before GOAWAY. */
const MAX_CONTROL_WHILE_FULL = 10000
/**
 * The misbehaviour budget: streams the client resets or opens past the limit, empty DATA and
 * CONTINUATION frames. A burst of GLITCH_BURST, refilled at GLITCH_PER_SECOND: a browser cancelling
 * navigations never comes near it, a rapid-reset attack (CVE-2023-44487) is cut within a burst.
 */
const GLITCH_BURST = 200
const GLITCH_PER_SECOND = 100
/** A CONTINUATION frame shorter than this, not the block's last, draws on the budget. */
const MIN_CONTINUATION_BYTES = 1024
/** Streams whose late frames are remembered as ours to drop (see recentResets). */
const RECENT_RESETS = 16

/** Response body slices up to this are copied next to their frame header; longer ones are sent as they are. */
const COPY_DATA_BYTES = 2048

// ── output: frames are written into a thread-wide slab; each connection's run of consecutive bytes
// is one part, and its parts leave together at the end of the event-loop iteration ──

const SLAB_BYTES = 64 * 1024
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
let slabTop = 0

/** HPACK output before it is cut into frames; grows for very large heads. */
let headScratch = Buffer.allocUnsafeSlow(16 * 1024)
const encoder = new HpackEncoder()

let flushing: H2Connection[] = []
let toFlush: H2Connection[] = []
let isFlushScheduled = false

function flushAll(): void {
  const list = toFlush
  toFlush = flushing
  flushing = list
  isFlushScheduled = false
  for (let i = 0; i < list.length; i++) {
    const c = list[i]
    list[i] = undefined as unknown as H2Connection
    c.flush()
  }
  list.length = 0
}

function notifyStreamClosed(stream: H2Stream): void {
  const owner = stream.owner
  stream.owner = null
  if (owner !== null) owner.onStreamClose()
}

const STATUS_431: readonly string[] = [':status', '431', 'content-length', '0']
const EMPTY = Buffer.alloc(0)

export class H2Connection implements Expiring {
  readonly ctx: WorkerContext
  readonly socket: Socket
  readonly listener: number
  readonly clientIp: string
  readonly proto: 'http' | 'https'
  readonly decoder: HpackDecoder
  readonly streams = new Map<number, H2Stream>()
  /** Streams with an H2Exchange that has not been told of the close yet. */
  openStreams = 0
  /** Expiring: client_idle while no stream is open; 0 while streams are open. */
  deadlineMs = 0
  isClosing = false
  isClosed = false
  /** A connection error was sent: input is ignored, the socket ends. */
  isDead = false
  // ── input ──
  /**
   * The reads that hold an incomplete frame (or preface), their total bytes, and how many bytes
   * make it whole (the frame header alone while fewer than 9 are in). They are joined once
   * enough is in: a frame that arrives a byte per segment costs one copy, not one per read.
   */
  inParts: Buffer[] | null = null
  inBytes = 0
  inNeed = 0
  hasPreface = false
  hasSettings = false
  /** Highest stream id the client opened; new ones must be above it. */
  lastStreamId = 0
  /** The last stream id our first GOAWAY named, or -1. */
  goAwayId = -1
  /** Streams we reset while the client was still sending: their late frames are dropped, not errors (§5.1). */
  recentResets: number[] | null = null
  /** While a header block waits for CONTINUATION: its stream, first frame's flags and bytes so far. */
  headerStream = 0
  headerFlags = 0
  headerParts: Buffer[] | null = null
  headerBytes = 0
  readonly maxListSize: number
  readonly maxHeaderBlock: number
  // ── flow control ──
  recvWindow = DEFAULT_WINDOW
  recvUnacked = 0
  sendWindow = DEFAULT_WINDOW
  peerInitialWindow = DEFAULT_WINDOW
  peerMaxFrame = DEFAULT_MAX_FRAME
  /** Streams with queued response bytes that wait for connection window. */
  blocked: H2Stream[] = []
  // ── output ──
  /** What this iteration wrote, in order, for flush(): slab runs and response bodies sent as they are. */
  parts: Buffer[] = []
  /** The slab run being extended (null when none): [regionStart, regionEnd) of regionSlab. */
  regionSlab: Buffer | null = null
  regionStart = 0
  regionEnd = 0
  isFlushQueued = false
  isSocketFull = false
  controlWhileFull = 0
  // ── misbehaviour budget ──
  glitchBudget = GLITCH_BURST
  glitchMs = 0

  constructor(ctx: WorkerContext, socket: Socket, listener: number, clientIp: string, isTls: boolean, initial: Buffer | null) {
    this.ctx = ctx
    this.socket = socket
    this.listener = listener
    this.clientIp = clientIp
    this.proto = isTls ? 'https' : 'http'
    // The HTTP/1.1 limits, in HTTP/2's measure (RFC 9113 §6.5.2: 32 octets more per field).
    this.maxListSize = ctx.limits.maxHeadBytes + 32 * ctx.limits.maxHeaders
    this.maxHeaderBlock = this.maxListSize + OUR_MAX_FRAME
    this.decoder = new HpackDecoder()
    this.glitchMs = ctx.nowMs
    this.onData = this.onData.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onSocketDrain = this.onSocketDrain.bind(this)
    socket.on('data', this.onData)
    socket.on('close', this.onClose)
    socket.on('drain', this.onSocketDrain)
    socket.on('error', onSocketError)
    ctx.sessions.add(this)
    ctx.cells.addListenerActive(ctx.slot, listener, 1)
    ctx.cells.countListener(ctx.slot, listener, ListenerCounter.Connections, 1)
    this.deadlineMs = Date.now() + ctx.config.timeouts.clientIdleMs
    this.sendPreface()
    if (initial !== null) this.onData(initial)
    if (ctx.isDraining) this.drain()
    socket.resume()
  }

  // ── reading frames ──────────────────────────────────────────────────────────────────────────

  onData(chunk: Buffer): void {
    if (this.isDead) return
    let buf = chunk
    if (this.inParts !== null) {
      this.inParts.push(chunk)
      this.inBytes += chunk.length
      if (this.inBytes < this.inNeed) return
      buf = Buffer.concat(this.inParts, this.inBytes)
      this.inParts = null
    }
    let pos = 0
    if (!this.hasPreface) {
      const n = buf.length < PREFACE.length ? buf.length : PREFACE.length
      if (buf.compare(PREFACE, 0, n, 0, n) !== 0) {
        // Not HTTP/2 (RFC 9113 §3.4): a connection error with no GOAWAY owed.
        this.socket.destroy()
        return
      }
      if (n < PREFACE.length) {
        this.keepPartial(buf, PREFACE.length)
        return
      }
      this.hasPreface = true
      pos = PREFACE.length
    }
    const end = buf.length
    while (end - pos >= FRAME_HEADER_BYTES) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
      if (length > OUR_MAX_FRAME) { this.connectionError(H2Error.FrameSize); return }
      if (end - pos - FRAME_HEADER_BYTES < length) break
      const type = buf[pos + 3]
      const flags = buf[pos + 4]
      const id = buf.readUInt32BE(pos + 5) & 0x7fffffff
      pos += FRAME_HEADER_BYTES
      try {
        this.onFrame(buf, pos, length, type, flags, id)
      } catch (err) {
        // A fault of ours must cost this connection only, never the thread and its other clients.
        this.internalError(err)
        return
      }
      pos += length
      if (this.isDead) return
    }
    if (pos === end) return
    const tail = pos === 0 ? buf : buf.subarray(pos)
    this.keepPartial(tail, tail.length < FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES : FRAME_HEADER_BYTES + ((tail[0] << 16) | (tail[1] << 8) | tail[2]))
  }

  /** Keep `tail` until `need` bytes are in. 'data' chunks are fresh memory per read: kept as views. */
  private keepPartial(tail: Buffer, need: number): void {
    this.inParts = [tail]
    this.inBytes = tail.length
    this.inNeed = need
  }

  private onFrame(buf: Buffer, p: number, length: number, type: number, flags: number, id: number): void {
    if (this.headerStream !== 0 && type !== FrameType.Continuation) { this.connectionError(H2Error.Protocol); return }
    if (!this.hasSettings) {
      // The client's preface goes on with SETTINGS (RFC 9113 §3.4).
      if (type !== FrameType.Settings || (flags & Flag.Ack) !== 0) { this.connectionError(H2Error.Protocol); return }
      this.hasSettings = true
    }
    switch (type) {
      case FrameType.Data: this.onDataFrame(buf, p, length, flags, id); break
      case FrameType.Headers: this.onHeadersFrame(buf, p, length, flags, id); break
      case FrameType.Priority: this.onPriority(length, id); break
      case FrameType.RstStream: this.onRstStream(buf, p, length, id); break
      case FrameType.Settings: this.onSettings(buf, p, length, flags, id); break
      case FrameType.PushPromise: this.connectionError(H2Error.Protocol); break
      case FrameType.Ping: this.onPing(buf, p, length, flags, id); break
      case FrameType.GoAway: this.onGoAway(length, id); break
      case FrameType.WindowUpdate: this.onWindowUpdate(buf, p, length, id); break
      case FrameType.Continuation: this.onContinuation(buf, p, length, flags, id); break
      default: break // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onDataFrame(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id === 0) { this.connectionError(H2Error.Protocol); return }
    let start = p
    let dataLength = length
    if ((flags & Flag.Padded) !== 0) {
      if (length < 1 || buf[p] >= length) { this.connectionError(H2Error.Protocol); return }
      start = p + 1
      dataLength = length - 1 - buf[p]
    }
    // Flow control counts the whole payload, padding included (§6.9.1).
    if (length > this.recvWindow) { this.connectionError(H2Error.FlowControl); return }
    this.recvWindow -= length
    const s = this.streams.get(id)
    if (s === undefined) {
      if (id > this.lastStreamId) { this.connectionError(H2Error.Protocol); return } // idle stream
      // A stream closed here (reset by us, or refused): its late frames are dropped (§5.4.2).
      this.consumed(null, length)
      return
    }
    if (s.isRemoteEnded) {
      this.consumed(null, length)
      this.streamError(s, H2Error.StreamClosed)
      return
    }
    if (length > s.recvWindow) {
      this.consumed(null, length)
      this.streamError(s, H2Error.FlowControl)
      return
    }
    s.recvWindow -= length
    if (length > dataLength) this.consumed(s, length - dataLength)
    const isEnd = (flags & Flag.EndStream) !== 0
    s.receivedLength += dataLength
    if (s.expectedLength >= 0 && (s.receivedLength > s.expectedLength || (isEnd && s.receivedLength !== s.expectedLength))) {
      // Body and content-length disagree: malformed (§8.1.1).
      this.consumed(null, dataLength)
      this.streamError(s, H2Error.Protocol)
      return
    }
    if (dataLength === 0 && !isEnd) this.glitch()
    if (isEnd) s.isRemoteEnded = true
    if (dataLength > 0) {
      const chunk = buf.subarray(start, start + dataLength)
      if (s.isPaused || s.held !== null) {
        if (s.held === null) s.held = [chunk]
        else s.held.push(chunk)
        s.heldBytes += dataLength
      } else {
        this.consumed(s, dataLength)
        ;(s.owner as StreamOwner).onRequestData(chunk)
      }
    }
    if (isEnd && !s.isClosed) this.requestEnded(s)
  }

  /** END_STREAM from the client: the owner hears of it now, or after the body it holds for it. */
  private requestEnded(s: H2Stream): void {
    if (s.isPaused || s.held !== null) s.heldEnd = true
    else (s.owner as StreamOwner).onRequestEnd()
  }

  /** A paused stream resumed: hand over what it held, then its end, while it stays resumed. */
  deliverHeld(s: H2Stream): void {
    while (s.held !== null && !s.isPaused && !s.isClosed) {
      const held = s.held
      const chunk = held[s.heldNext]
      held[s.heldNext++] = EMPTY
      if (s.heldNext === held.length) {
        s.held = null
        s.heldNext = 0
      }
      s.heldBytes -= chunk.length
      this.consumed(s, chunk.length)
      ;(s.owner as StreamOwner).onRequestData(chunk)
    }
    if (s.held === null && s.heldEnd && !s.isPaused && !s.isClosed) {
      s.heldEnd = false
      ;(s.owner as StreamOwner).onRequestEnd()
    }
  }

  /**
   * `n` received bytes are used up (handed to the owner, or dropped): credit them to our windows,
   * in WINDOW_UPDATEs of at least half a window so small DATA frames do not each cost one.
   */
  private consumed(s: H2Stream | null, n: number): void {
    if (n === 0) return
    this.recvUnacked += n
    if (this.recvUnacked >= CONNECTION_WINDOW >>> 1) {
      this.sendWindowUpdate(0, this.recvUnacked)
      this.recvWindow += this.recvUnacked
      this.recvUnacked = 0
    }
    if (s === null || s.isRemoteEnded) return
    s.recvUnacked += n
    if (s.recvUnacked >= STREAM_WINDOW >>> 1) {
      this.sendWindowUpdate(s.id, s.recvUnacked)
      s.recvWindow += s.recvUnacked
      s.recvUnacked = 0
    }
  }

  private onHeadersFrame(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id === 0) { this.connectionError(H2Error.Protocol); return }
    let start = p
    let end = p + length
    if ((flags & Flag.Padded) !== 0) {
      if (length < 1) { this.connectionError(H2Error.FrameSize); return }
      const pad = buf[start++]
      if (pad > end - start) { this.connectionError(H2Error.Protocol); return }
      end -= pad
    }
    if ((flags & Flag.Priority) !== 0) {
      if (end - start < 5) { this.connectionError(H2Error.FrameSize); return }
      start += 5
    }
    if (!this.streams.has(id) && ((id & 1) === 0 || (id <= this.lastStreamId && !this.wasResetByUs(id)))) {
      // A new stream must have a higher odd id than every earlier one (§5.1.1).
      this.connectionError(H2Error.Protocol)
      return
    }
    if ((flags & Flag.EndHeaders) !== 0) {
      this.onHeaderBlock(id, flags, buf, start, end)
      return
    }
    this.headerStream = id
    this.headerFlags = flags
    this.headerParts = [buf.subarray(start, end)]
    this.headerBytes = end - start
  }

  private wasResetByUs(id: number): boolean {
    return this.recentResets !== null && this.recentResets.includes(id)
  }

  /** Remember the last few streams reset while the client was still sending on them. */
  private noteResetByUs(id: number): void {
    if (this.recentResets === null) this.recentResets = []
    if (this.recentResets.length >= RECENT_RESETS) this.recentResets.shift()
    this.recentResets.push(id)
  }

  private onContinuation(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (this.headerStream === 0 || id !== this.headerStream) { this.connectionError(H2Error.Protocol); return }
    this.headerBytes += length
    if (this.headerBytes > this.maxHeaderBlock) { this.connectionError(H2Error.EnhanceYourCalm); return }
    const parts = this.headerParts as Buffer[]
    if (length > 0) parts.push(buf.subarray(p, p + length))
    if ((flags & Flag.EndHeaders) === 0) {
      // Clients continue a block only when it outgrows a frame, so a short piece that is not the
      // last is a flood's, not a client's (CVE-2024-27316 sent them empty or a byte long).
      if (length < MIN_CONTINUATION_BYTES) this.glitch()
      return
    }
    const block = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.headerBytes)
    this.headerStream = 0
    this.headerParts = null
    this.onHeaderBlock(id, this.headerFlags, block, 0, block.length)
  }

  /** A complete header block: a new request, trailers, or something to refuse. */
  private onHeaderBlock(id: number, flags: number, buf: Buffer, start: number, end: number): void {
    const list: string[] = []
    const size = this.decoder.decode(buf, start, end, list, this.maxListSize)
    if (size === HpackError.Compression) { this.connectionError(H2Error.Compression); return }
    const isEnd = (flags & Flag.EndStream) !== 0
    const s = this.streams.get(id)
    if (s !== undefined) {
      // Trailers: they end the request; HTTP/1.1 upstreams get none (dropped, as before).
      if (s.isRemoteEnded) { this.streamError(s, H2Error.StreamClosed); return }
      if (!isEnd || size < 0 || !checkTrailerFields(list)) { this.streamError(s, H2Error.Protocol); return }
      if (s.expectedLength >= 0 && s.receivedLength !== s.expectedLength) { this.streamError(s, H2Error.Protocol); return }
      s.isRemoteEnded = true
      this.requestEnded(s)
      return
    }
    if (id <= this.lastStreamId) return // a closed stream's late trailers: decoded (table state), dropped
    this.lastStreamId = id
    if (this.isClosing) return // after our GOAWAY: not processed (the client may retry it elsewhere)
    if (this.streams.size >= MAX_CONCURRENT_STREAMS) {
      this.glitch()
      if (this.isDead) return
      this.sendRstStream(id, H2Error.RefusedStream)
      if (!isEnd) this.noteResetByUs(id)
      return
    }
    const stream = new H2Stream(this, id, STREAM_WINDOW, this.peerInitialWindow)
    this.streams.set(id, stream)
    if (isEnd) stream.isRemoteEnded = true
    // Over max_header_bytes (HPACK's list size) or max_headers: 431, as over HTTP/1.1.
    const expected = size === HpackError.ListTooLarge ? HeadCheck.TooLarge : checkRequestFields(list, this.ctx.limits.maxHeaders)
    if (expected === HeadCheck.TooLarge) {
      this.ctx.cells.countListener(this.ctx.slot, this.listener, ListenerCounter.Denied, 1)
      stream.respond(STATUS_431, true)
      return
    }
    if (expected === HeadCheck.Malformed || (isEnd && expected > 0)) {
      // Malformed (§8.1.1, §8.2): reset, never forwarded.
      this.ctx.cells.countListener(this.ctx.slot, this.listener, ListenerCounter.Denied, 1)
      this.streamError(stream, H2Error.Protocol)
      return
    }
    stream.expectedLength = expected
    this.openStreams++
    this.deadlineMs = 0
    const ex = new H2Exchange(this, stream, list, isEnd)
    ex.start()
  }

  private onPriority(length: number, id: number): void {
    if (id === 0) { this.connectionError(H2Error.Protocol); return }
    if (length !== 5) {
      // A stream error (§6.3); on a stream that is not open there is nothing to reset (and an
      // idle one must not get RST_STREAM, §5.1): it draws on the budget instead.
      const s = this.streams.get(id)
      if (s !== undefined) this.streamError(s, H2Error.FrameSize)
      else this.glitch()
    }
    // Priorities are advisory and deprecated (RFC 9113 §5.3.2): not acted on.
  }

  private onRstStream(buf: Buffer, p: number, length: number, id: number): void {
    if (id === 0) { this.connectionError(H2Error.Protocol); return }
    if (length !== 4) { this.connectionError(H2Error.FrameSize); return }
    const s = this.streams.get(id)
    if (s === undefined) {
      if (id > this.lastStreamId) this.connectionError(H2Error.Protocol) // idle stream
      return
    }
    if (!s.isLocalDone) this.glitch()
    s.isLocalDone = true
    s.isRemoteEnded = true
    this.closeStream(s)
  }

  private onSettings(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id !== 0) { this.connectionError(H2Error.Protocol); return }
    if ((flags & Flag.Ack) !== 0) {
      if (length !== 0) this.connectionError(H2Error.FrameSize)
      return
    }
    if (length % 6 !== 0) { this.connectionError(H2Error.FrameSize); return }
    let windowDelta = 0
    for (let q = p; q < p + length; q += 6) {
      const key = buf.readUInt16BE(q)
      const value = buf.readUInt32BE(q + 2)
      switch (key) {
        case Setting.EnablePush:
          if (value > 1) { this.connectionError(H2Error.Protocol); return }
          break
        case Setting.InitialWindowSize:
          if (value > MAX_WINDOW) { this.connectionError(H2Error.FlowControl); return }
          windowDelta += value - this.peerInitialWindow
          this.peerInitialWindow = value
          break
        case Setting.MaxFrameSize:
          if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) { this.connectionError(H2Error.Protocol); return }
          this.peerMaxFrame = value
          break
        // HEADER_TABLE_SIZE: our encoder never uses the dynamic table, so any size suits it.
        // MAX_CONCURRENT_STREAMS: we push nothing. MAX_HEADER_LIST_SIZE: advisory. Unknown: ignored.
        default:
          break
      }
    }
    this.sendControl(FrameType.Settings, Flag.Ack, 0, null, 0)
    if (windowDelta !== 0) {
      // §6.9.2: every open stream's send window moves by the change.
      for (const s of this.streams.values()) {
        s.sendWindow += windowDelta
        if (s.sendWindow > MAX_WINDOW) { this.connectionError(H2Error.FlowControl); return }
      }
      if (windowDelta > 0) for (const s of this.streams.values()) if (s.queue !== null) this.sendQueued(s)
    }
  }

  private onPing(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id !== 0) { this.connectionError(H2Error.Protocol); return }
    if (length !== 8) { this.connectionError(H2Error.FrameSize); return }
    if ((flags & Flag.Ack) !== 0) return
    this.sendControl(FrameType.Ping, Flag.Ack, 0, buf, p)
  }

  private onGoAway(length: number, id: number): void {
    if (id !== 0) { this.connectionError(H2Error.Protocol); return }
    if (length < 8) { this.connectionError(H2Error.FrameSize); return }
    // The client opens no more streams: finish the open ones, then close.
    this.close()
  }

  private onWindowUpdate(buf: Buffer, p: number, length: number, id: number): void {
    if (length !== 4) { this.connectionError(H2Error.FrameSize); return }
    const increment = buf.readUInt32BE(p) & 0x7fffffff
    if (id === 0) {
      if (increment === 0) { this.connectionError(H2Error.Protocol); return }
      if (this.sendWindow + increment > MAX_WINDOW) { this.connectionError(H2Error.FlowControl); return }
      this.sendWindow += increment
      this.sendBlocked()
      return
    }
    const s = this.streams.get(id)
    if (s === undefined) {
      if (id > this.lastStreamId) this.connectionError(H2Error.Protocol) // idle stream
      return
    }
    if (increment === 0) { this.streamError(s, H2Error.Protocol); return }
    if (s.sendWindow + increment > MAX_WINDOW) { this.streamError(s, H2Error.FlowControl); return }
    s.sendWindow += increment
    if (s.queue !== null) this.sendQueued(s)
  }

  /** Draw on the misbehaviour budget; GOAWAY(ENHANCE_YOUR_CALM) when it runs out. Also H2Exchange's, for malformed requests. */
  glitch(): void {
    const now = this.ctx.nowMs
    const refill = (now - this.glitchMs) * GLITCH_PER_SECOND / 1000
    this.glitchMs = now
    this.glitchBudget = Math.min(GLITCH_BURST, this.glitchBudget + refill) - 1
    if (this.glitchBudget < 0) {
      this.ctx.event('warn', { event: 'h2_client_misbehaving', client: this.clientIp },
        `client ${this.clientIp}: too many reset or refused HTTP/2 streams or empty frames: connection closed (ENHANCE_YOUR_CALM)`)
      this.connectionError(H2Error.EnhanceYourCalm)
    }
  }

  // ── writing frames ──────────────────────────────────────────────────────────────────────────

  /**
   * Room for `n` bytes of output in the slab, after this connection's last bytes when nothing
   * else was written since (one part), else in a new part. Returns the offset in `slab`.
   */
  private reserve(n: number): number {
    if (this.regionSlab === slab && this.regionEnd === slabTop && slabTop + n <= slab.length) {
      slabTop += n
      this.regionEnd = slabTop
      return slabTop - n
    }
    this.closeRegion()
    if (slabTop + n > slab.length) {
      slab = Buffer.allocUnsafeSlow(n > SLAB_BYTES ? n : SLAB_BYTES)
      slabTop = 0
    }
    this.regionSlab = slab
    this.regionStart = slabTop
    slabTop += n
    this.regionEnd = slabTop
    this.scheduleFlush()
    return this.regionStart
  }

  private closeRegion(): void {
    if (this.regionSlab === null) return
    this.parts.push(this.regionSlab.subarray(this.regionStart, this.regionEnd))
    this.regionSlab = null
  }

  private scheduleFlush(): void {
    if (this.isFlushQueued) return
    this.isFlushQueued = true
    toFlush.push(this)
    if (!isFlushScheduled) {
      isFlushScheduled = true
      setImmediate(flushAll)
    }
  }

  /** Everything written this iteration goes to the socket: one write, or one writev when corked. */
  flush(): void {
    this.isFlushQueued = false
    this.closeRegion()
    const parts = this.parts
    const n = parts.length
    const socket = this.socket
    if (socket.destroyed || socket.writableEnded) {
      parts.length = 0
      return
    }
    if (n === 1) {
      socket.write(parts[0])
    } else if (n > 1) {
      socket.cork()
      for (let i = 0; i < n; i++) socket.write(parts[i])
      socket.uncork()
    }
    parts.length = 0
    if (socket.writableLength >= SOCKET_HIGH_WATER) this.isSocketFull = true
    if (this.isDead || (this.isClosing && this.streams.size === 0)) socket.end()
  }

  onSocketDrain(): void {
    if (!this.isSocketFull) return
    this.isSocketFull = false
    this.controlWhileFull = 0
    for (const s of this.streams.values()) this.maybeDrain(s)
  }

  private sendPreface(): void {
    const at = this.reserve(FRAME_HEADER_BYTES + 12 + FRAME_HEADER_BYTES + 4)
    writeFrameHeader(slab, at, 12, FrameType.Settings, 0, 0)
    slab.writeUInt16BE(Setting.MaxConcurrentStreams, at + 9)
    slab.writeUInt32BE(MAX_CONCURRENT_STREAMS, at + 11)
    slab.writeUInt16BE(Setting.MaxHeaderListSize, at + 15)
    slab.writeUInt32BE(this.maxListSize, at + 17)
    const w = at + FRAME_HEADER_BYTES + 12
    writeFrameHeader(slab, w, 4, FrameType.WindowUpdate, 0, 0)
    slab.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, w + 9)
    this.recvWindow = CONNECTION_WINDOW
  }

  /**
   * One more control frame owed while the client reads nothing: past MAX_CONTROL_WHILE_FULL the
   * connection ends (GOAWAY ENHANCE_YOUR_CALM) and true says not to queue the frame.
   */
  private isControlFlood(): boolean {
    if (!this.isSocketFull || ++this.controlWhileFull <= MAX_CONTROL_WHILE_FULL) return false
    this.connectionError(H2Error.EnhanceYourCalm)
    return true
  }

  /** A PING or SETTINGS answer (payload: 8 bytes of `from` at `p`, or none). */
  private sendControl(type: number, flags: number, id: number, from: Buffer | null, p: number): void {
    if (this.isControlFlood()) return
    const length = from === null ? 0 : 8
    const at = this.reserve(FRAME_HEADER_BYTES + length)
    writeFrameHeader(slab, at, length, type, flags, id)
    if (from !== null) from.copy(slab, at + FRAME_HEADER_BYTES, p, p + 8)
  }

  private sendWindowUpdate(id: number, increment: number): void {
    const at = this.reserve(FRAME_HEADER_BYTES + 4)
    writeFrameHeader(slab, at, 4, FrameType.WindowUpdate, 0, id)
    slab.writeUInt32BE(increment, at + FRAME_HEADER_BYTES)
  }

  private sendRstStream(id: number, code: number): void {
    if (this.isControlFlood()) return
    const at = this.reserve(FRAME_HEADER_BYTES + 4)
    writeFrameHeader(slab, at, 4, FrameType.RstStream, 0, id)
    slab.writeUInt32BE(code, at + FRAME_HEADER_BYTES)
  }

  private sendGoAway(code: number): void {
    const at = this.reserve(FRAME_HEADER_BYTES + 8)
    writeFrameHeader(slab, at, 8, FrameType.GoAway, 0, 0)
    // A second GOAWAY (an error after a graceful one) must not name a higher stream (§6.8).
    if (this.goAwayId < 0) this.goAwayId = this.lastStreamId
    slab.writeUInt32BE(this.goAwayId, at + FRAME_HEADER_BYTES)
    slab.writeUInt32BE(code, at + FRAME_HEADER_BYTES + 4)
  }

  /** H2Stream: a response head (HEADERS, and CONTINUATION frames when it exceeds the client's frame size). */
  sendHeaders(s: H2Stream, list: readonly string[], endStream: boolean): void {
    let length = encoder.encode(list, headScratch, 0)
    while (length < 0) {
      headScratch = Buffer.allocUnsafeSlow(headScratch.length * 2)
      length = encoder.encode(list, headScratch, 0)
    }
    let type: number = FrameType.Headers
    let flags = endStream ? Flag.EndStream : 0
    let from = 0
    for (;;) {
      const n = length - from > this.peerMaxFrame ? this.peerMaxFrame : length - from
      const isLast = from + n === length
      const at = this.reserve(FRAME_HEADER_BYTES + n)
      writeFrameHeader(slab, at, n, type, isLast ? flags | Flag.EndHeaders : flags, s.id)
      headScratch.copy(slab, at + FRAME_HEADER_BYTES, from, from + n)
      from += n
      if (isLast) return
      type = FrameType.Continuation
      flags = 0
    }
  }

  /**
   * H2Stream: response body bytes (`data` may be null with `isEnd`), as DATA frames while both
   * windows allow; the rest waits in the stream's queue for WINDOW_UPDATE.
   */
  sendData(s: H2Stream, data: Buffer | null, isEnd: boolean): void {
    if (s.queue !== null) {
      if (data !== null && data.length > 0) {
        s.queue.push(data)
        s.queuedBytes += data.length
      }
      return // isLocalEnded is set: END_STREAM goes with the last queued byte
    }
    if (data === null || data.length === 0) {
      if (isEnd) this.endStreamNow(s)
      return
    }
    const sent = this.sendFrom(s, data, 0, isEnd)
    if (sent < data.length) {
      s.queue = [data]
      s.queueOffset = sent
      s.queuedBytes = data.length - sent
      this.noteBlocked(s)
    } else if (isEnd) {
      s.localFinished()
    }
  }

  /** DATA frames for data[from, …) within the windows; END_STREAM on the last byte when `withEnd`. Returns where it stopped. */
  private sendFrom(s: H2Stream, data: Buffer, from: number, withEnd: boolean): number {
    const length = data.length
    while (from < length) {
      let n = length - from
      if (n > s.sendWindow) n = s.sendWindow
      if (n > this.sendWindow) n = this.sendWindow
      if (n > this.peerMaxFrame) n = this.peerMaxFrame
      if (n <= 0) break
      const flags = withEnd && from + n === length ? Flag.EndStream : 0
      if (n <= COPY_DATA_BYTES) {
        const at = this.reserve(FRAME_HEADER_BYTES + n)
        writeFrameHeader(slab, at, n, FrameType.Data, flags, s.id)
        data.copy(slab, at + FRAME_HEADER_BYTES, from, from + n)
      } else {
        const at = this.reserve(FRAME_HEADER_BYTES)
        writeFrameHeader(slab, at, n, FrameType.Data, flags, s.id)
        this.closeRegion()
        this.parts.push(from === 0 && n === length ? data : data.subarray(from, from + n))
      }
      s.sendWindow -= n
      this.sendWindow -= n
      from += n
    }
    return from
  }

  private endStreamNow(s: H2Stream): void {
    const at = this.reserve(FRAME_HEADER_BYTES)
    writeFrameHeader(slab, at, 0, FrameType.Data, Flag.EndStream, s.id)
    s.localFinished()
  }

  /** Window opened: send what the stream holds, as far as the windows go. */
  private sendQueued(s: H2Stream): void {
    const queue = s.queue as Buffer[]
    while (queue.length > 0) {
      const data = queue[0]
      const withEnd = s.isLocalEnded && queue.length === 1
      const sent = this.sendFrom(s, data, s.queueOffset, withEnd)
      s.queuedBytes -= sent - s.queueOffset
      if (sent < data.length) {
        s.queueOffset = sent
        this.noteBlocked(s)
        this.maybeDrain(s)
        return
      }
      queue.shift()
      s.queueOffset = 0
    }
    s.queue = null
    s.queuedBytes = 0
    if (s.isLocalEnded) {
      // The last queued bytes carried END_STREAM unless end() came with nothing after them.
      if (!s.isLocalDone) s.localFinished()
      return
    }
    this.maybeDrain(s)
  }

  private noteBlocked(s: H2Stream): void {
    if (this.sendWindow <= 0 && s.sendWindow > 0 && !s.isBlocked) {
      s.isBlocked = true
      this.blocked.push(s)
    }
  }

  /** Connection window opened: streams that waited for it send, in the order they began to wait. */
  private sendBlocked(): void {
    const list = this.blocked
    if (list.length === 0) return
    this.blocked = []
    for (let i = 0; i < list.length; i++) {
      const s = list[i]
      s.isBlocked = false
      if (!s.isClosed && s.queue !== null) this.sendQueued(s)
    }
  }

  private maybeDrain(s: H2Stream): void {
    if (s.needsDrain && s.mayWrite() && s.owner !== null) {
      s.needsDrain = false
      s.owner.onStreamDrain()
    }
  }

  // ── stream ends ─────────────────────────────────────────────────────────────────────────────

  /**
   * H2Stream: our END_STREAM is out. A request still being sent is not wanted any more: RST_STREAM
   * NO_ERROR asks the client to stop (RFC 9113 §8.1), and its late frames are dropped.
   */
  localFinished(s: H2Stream): void {
    if (!s.isRemoteEnded) {
      this.sendRstStream(s.id, H2Error.NoError)
      this.noteResetByUs(s.id)
      s.isRemoteEnded = true
    }
    this.closeStream(s)
  }

  /** H2Stream: reset by us. */
  resetStream(s: H2Stream, code: number): void {
    if (!s.isLocalDone || !s.isRemoteEnded) this.sendRstStream(s.id, code)
    if (!s.isRemoteEnded) this.noteResetByUs(s.id)
    s.isLocalDone = true
    s.isRemoteEnded = true
    this.closeStream(s)
  }

  private streamError(s: H2Stream, code: number): void {
    this.glitch()
    if (!this.isDead) this.resetStream(s, code)
  }

  private closeStream(s: H2Stream): void {
    if (s.isClosed) return
    s.isClosed = true
    s.queue = null
    s.queuedBytes = 0
    // Body bytes held for a paused owner were never credited back: the connection window gets them.
    const held = s.heldBytes
    s.held = null
    s.heldBytes = 0
    s.heldEnd = false
    if (held > 0 && !this.isDead && !this.isClosed) this.consumed(null, held)
    this.streams.delete(s.id)
    if (s.owner !== null) process.nextTick(notifyStreamClosed, s)
    if (this.isClosing && this.streams.size === 0 && !this.isClosed) this.scheduleFlush()
  }

  /** The connection is ending: every open stream is over for both sides, nothing more is sent on it. */
  private closeAllStreams(): void {
    for (const s of this.streams.values()) {
      s.isLocalDone = true
      s.isRemoteEnded = true
      this.closeStream(s)
    }
  }

  /** H2Exchange: its stream closed and it has let go of it. */
  streamClosed(): void {
    if (--this.openStreams === 0 && !this.isClosing) this.deadlineMs = this.ctx.nowMs + this.ctx.config.timeouts.clientIdleMs
  }

  // ── the connection's end ────────────────────────────────────────────────────────────────────

  /** GOAWAY with an error code; the connection ends once the client had a moment to read it. */
  private connectionError(code: number): void {
    if (this.isDead || this.isClosed) return
    this.sendGoAway(code)
    this.isDead = true
    this.isClosing = true
    this.inParts = null
    this.headerParts = null
    this.closeAllStreams()
    this.deadlineMs = Date.now() + ERROR_LINGER_MS
    this.scheduleFlush()
  }

  private internalError(err: unknown): void {
    const e = err as Error
    this.ctx.cells.countMisc(this.ctx.slot, MiscCounter.RequestErrors, 1)
    this.ctx.event('error', { event: 'h2_connection_error', error: e?.message, stack: e?.stack },
      `HTTP/2 connection failed inside portico: ${e?.message}`)
    this.connectionError(H2Error.Internal)
  }

  onDeadline(_nowMs: number): void {
    if (this.isClosing) {
      // Streams outlived the grace period after GOAWAY, or the client never read our error.
      this.socket.destroy()
      return
    }
    // Idle for client_idle: GOAWAY, then close.
    this.close()
  }

  /** GOAWAY (NO_ERROR): no new streams; the connection closes when the open ones are done. */
  private close(): void {
    if (this.isClosing || this.isClosed) return
    this.isClosing = true
    this.deadlineMs = this.ctx.isDraining ? 0 : Date.now() + CLOSE_GRACE_MS
    this.sendGoAway(H2Error.NoError)
    this.scheduleFlush()
  }

  /** The generation is draining: GOAWAY now; streams in flight finish (bounded by drain_timeout). */
  drain(): void {
    this.close()
  }

  onClose(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.isDead = true
    this.closeAllStreams()
    this.parts.length = 0
    this.regionSlab = null
    const ctx = this.ctx
    ctx.sessions.delete(this)
    ctx.cells.addListenerActive(ctx.slot, this.listener, -1)
  }
}

function onSocketError(): void {
  // 'close' follows; a protocol or socket error only ends this connection.
}
