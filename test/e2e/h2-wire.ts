// A raw HTTP/2 client for e2e tests (h2c prior knowledge over node:net to 127.0.0.1): it builds
// any frame, valid or not, and reads the server's frames one by one, so tests can check wire
// behaviour that node:http2's client refuses to produce or hides (RFC 9113 connection and
// stream errors, flow control, SETTINGS). Runs on the test's main thread; every wait is bounded.
//
// HPACK: requests are encoded as literals without indexing, new names, no Huffman (RFC 7541
// §6.2.2), which every decoder accepts; hpackEncodeIndexing and hpackIndexed are there for tests
// that drive the server's dynamic table on purpose. Responses are decoded from the static table and
// literals; Huffman-coded strings stay opaque (`<huffman:…>`). The client advertises
// SETTINGS_HEADER_TABLE_SIZE = 0 by default, so the server's encoder keeps no dynamic entries.

import net from 'node:net'
import type { Socket } from 'node:net'

/** RFC 9113 §3.4: what a client sends first. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const FrameType = {
  Data: 0x0, Headers: 0x1, Priority: 0x2, RstStream: 0x3, Settings: 0x4, PushPromise: 0x5,
  Ping: 0x6, Goaway: 0x7, WindowUpdate: 0x8, Continuation: 0x9,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

/** Frame flags (RFC 9113 §6); Ack shares its bit with EndStream. */
export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4, Padded: 0x8, Priority: 0x20 } as const

/** RFC 9113 §7. */
export const ErrorCode = {
  NoError: 0x0, ProtocolError: 0x1, InternalError: 0x2, FlowControlError: 0x3, SettingsTimeout: 0x4,
  StreamClosed: 0x5, FrameSizeError: 0x6, RefusedStream: 0x7, Cancel: 0x8, CompressionError: 0x9,
  ConnectError: 0xa, EnhanceYourCalm: 0xb, InadequateSecurity: 0xc, Http11Required: 0xd,
} as const

/** RFC 9113 §6.5.2. */
export const Setting = {
  HeaderTableSize: 0x1, EnablePush: 0x2, MaxConcurrentStreams: 0x3, InitialWindowSize: 0x4,
  MaxFrameSize: 0x5, MaxHeaderListSize: 0x6,
} as const

/** What the client sends in its SETTINGS unless told otherwise. */
export const DEFAULT_SETTINGS: ReadonlyArray<readonly [number, number]> = [[Setting.HeaderTableSize, 0]]

/** RFC 9113 §6.9.2: every flow-control window starts here until SETTINGS say otherwise. */
export const DEFAULT_WINDOW_BYTES = 65_535
/** RFC 9113 §4.2 / §6.5.2: SETTINGS_MAX_FRAME_SIZE before any SETTINGS. */
export const DEFAULT_MAX_FRAME_BYTES = 16_384
/** RFC 9113 §6.9.1: no flow-control window may exceed 2^31-1. */
export const MAX_WINDOW_BYTES = 0x7fff_ffff

const names = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]))
/** `ProtocolError (0x1)`, for test messages. */
export function errorName(code: number): string {
  return `${names.get(code) ?? 'unknown'} (0x${code.toString(16)})`
}

export interface Frame {
  type: number
  flags: number
  streamId: number
  payload: Buffer
  /** On the frame that ends a field block (END_HEADERS): the decoded fields of the whole block. */
  fields?: Array<[string, string]>
}

/** One frame on the wire: 9-byte header (RFC 9113 §4.1) + payload. `streamId` keeps its R bit off. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(streamId & 0x7fff_ffff, 5)
  return Buffer.concat([h, payload])
}

/** A SETTINGS payload: 6 bytes per (id, value). */
export function settingsPayload(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const b = Buffer.alloc(6 * pairs.length)
  pairs.forEach(([id, value], i) => { b.writeUInt16BE(id, 6 * i); b.writeUInt32BE(value >>> 0, 6 * i + 2) })
  return b
}

/** A 32-bit big-endian payload: an error code, a window increment. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

// ── HPACK (RFC 7541) ────────────────────────────────────────────────────────────────────────────

/** RFC 7541 §5.1: an integer with an N-bit prefix; `high` holds the bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, high = 0): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([high | value])
  const out = [high | max]
  let rest = value - max
  for (let i = 0; i < 5 && rest >= 128; i++) {
    out.push((rest & 0x7f) | 0x80)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return Buffer.from(out)
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1')
  return Buffer.concat([hpackInt(b.length, 7), b])
}

/** Fields as literals without indexing, new names, no Huffman (RFC 7541 §6.2.2): no state needed. */
export function hpackEncode(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value))
  return Buffer.concat(parts)
}

/**
 * Fields as literals with incremental indexing, new names, no Huffman (RFC 7541 §6.2.1): the
 * server's decoder adds each to its dynamic table, the newest at index 62.
 */
export function hpackEncodeIndexing(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of fields) parts.push(Buffer.from([0x40]), hpackString(name), hpackString(value))
  return Buffer.concat(parts)
}

/** An indexed field (RFC 7541 §6.1): 1..61 static, 62 and up the dynamic table, newest first. */
export function hpackIndexed(index: number): Buffer {
  return hpackInt(index, 7, 0x80)
}

/**
 * A field block as HEADERS and as many CONTINUATION frames as `maxFrameBytes` needs (RFC 9113
 * §4.3); END_STREAM on the HEADERS, END_HEADERS on the last frame unless `isEndHeaders` is false.
 */
export function headerFrames(streamId: number, block: Buffer, opts: { isEndStream?: boolean; isEndHeaders?: boolean; maxFrameBytes?: number } = {}): Buffer {
  const maxBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const out: Buffer[] = []
  let at = 0
  // Bounded: a turn takes at least one byte of the block, or it is an empty block's only frame.
  do {
    const n = Math.min(maxBytes, block.length - at)
    const isLast = at + n === block.length
    const type = at === 0 ? FrameType.Headers : FrameType.Continuation
    const flags = (at === 0 && opts.isEndStream === true ? Flag.EndStream : 0) | (isLast && opts.isEndHeaders !== false ? Flag.EndHeaders : 0)
    out.push(frame(type, flags, streamId, block.subarray(at, at + n)))
    at += n
  } while (at < block.length)
  return Buffer.concat(out)
}

/** RFC 7541 Appendix A, index 1..61. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
]

/**
 * A response-side HPACK decoder: static table, dynamic table with size updates, literals.
 * Huffman strings are not decoded; their table size is counted as their encoded length, which
 * is only right while the dynamic table stays empty (the default SETTINGS make it size 0).
 */
export class HpackDecoder {
  /** Newest first. */
  table: Array<[string, string]> = []
  tableBytes = 0
  maxTableBytes = 4096

  decode(block: Buffer): { fields: Array<[string, string]>; error: string | null } {
    const fields: Array<[string, string]> = []
    let pos = 0
    // Each representation consumes at least one byte: bounded by the block length.
    while (pos < block.length) {
      const b = block[pos]
      if ((b & 0x80) !== 0) {
        const r = readInt(block, pos, 7)
        if (r === null) return { fields, error: 'truncated integer' }
        const entry = this.entry(r.value)
        if (entry === null) return { fields, error: `bad index ${r.value}` }
        fields.push(entry)
        pos = r.next
      } else if ((b & 0xe0) === 0x20) {
        const r = readInt(block, pos, 5)
        if (r === null) return { fields, error: 'truncated integer' }
        this.maxTableBytes = r.value
        this.evict(0)
        pos = r.next
      } else {
        const isIndexed = (b & 0xc0) === 0x40
        const r = readInt(block, pos, isIndexed ? 6 : 4)
        if (r === null) return { fields, error: 'truncated integer' }
        pos = r.next
        let name: string
        if (r.value === 0) {
          const s = readString(block, pos)
          if (s === null) return { fields, error: 'truncated name' }
          name = s.value
          pos = s.next
        } else {
          const entry = this.entry(r.value)
          if (entry === null) return { fields, error: `bad name index ${r.value}` }
          name = entry[0]
        }
        const v = readString(block, pos)
        if (v === null) return { fields, error: 'truncated value' }
        pos = v.next
        fields.push([name, v.value])
        if (isIndexed) this.add(name, v.value)
      }
    }
    return { fields, error: null }
  }

  private entry(index: number): [string, string] | null {
    if (index === 0) return null
    if (index <= STATIC_TABLE.length) return [STATIC_TABLE[index - 1][0], STATIC_TABLE[index - 1][1]]
    return this.table[index - STATIC_TABLE.length - 1] ?? null
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32
    this.evict(size)
    if (size <= this.maxTableBytes) {
      this.table.unshift([name, value])
      this.tableBytes += size
    }
  }

  private evict(room: number): void {
    while (this.table.length > 0 && this.tableBytes + room > this.maxTableBytes) {
      const [n, v] = this.table.pop() as [string, string]
      this.tableBytes -= n.length + v.length + 32
    }
  }
}

function readInt(b: Buffer, pos: number, prefixBits: number): { value: number; next: number } | null {
  if (pos >= b.length) return null
  const max = (1 << prefixBits) - 1
  let value = b[pos] & max
  let next = pos + 1
  if (value < max) return { value, next }
  // At most 4 continuation bytes: enough for any length a test meets.
  for (let shift = 0; shift <= 21; shift += 7) {
    if (next >= b.length) return null
    const c = b[next++]
    value += (c & 0x7f) * 2 ** shift
    if ((c & 0x80) === 0) return { value, next }
  }
  return null
}

function readString(b: Buffer, pos: number): { value: string; next: number } | null {
  if (pos >= b.length) return null
  const isHuffman = (b[pos] & 0x80) !== 0
  const len = readInt(b, pos, 7)
  if (len === null || len.next + len.value > b.length) return null
  const raw = b.subarray(len.next, len.next + len.value)
  return { value: isHuffman ? `<huffman:${raw.toString('hex')}>` : raw.toString('latin1'), next: len.next + len.value }
}

// ── the client ──────────────────────────────────────────────────────────────────────────────────

/** What `response()` saw on one stream. */
export interface WireResponse {
  /** The final :status, or null when none came or it was Huffman-coded. */
  status: number | null
  fields: Array<[string, string]>
  body: Buffer
  isEndStream: boolean
  /** RST_STREAM's error code, or null. */
  rstCode: number | null
  isClosed: boolean
  isTimedOut: boolean
}

export interface ConnectOptions {
  /** Our first SETTINGS; null sends none (the preface alone). Default DEFAULT_SETTINGS. */
  settings?: ReadonlyArray<readonly [number, number]> | null
  /** Written right after the preface and SETTINGS, in the same write. */
  after?: Buffer
  /** False: send nothing at all on connect, not even the preface (the test writes it, as it likes). Default true. */
  isPrefaceSent?: boolean
  /** ACK the server's SETTINGS and answer its PINGs. Default true. */
  isAutoAck?: boolean
  timeoutMs?: number
}

export class H2Wire {
  readonly socket: Socket
  /** Every frame received, in order. */
  readonly frames: Frame[] = []
  /** The server's SETTINGS values so far (all non-ACK SETTINGS merged); null before the first. */
  serverSettings: Map<number, number> | null = null
  /** SETTINGS ACKs received (for our SETTINGS frames). */
  settingsAcks = 0
  /** GOAWAY frames received: last stream id and error code. */
  readonly goaways: Array<{ lastStreamId: number; code: number }> = []
  isClosed = false
  isAutoAck: boolean
  /** Frames not yet taken by nextFrame, waitFor or response. */
  private queue: Frame[] = []
  private wakers = new Set<() => void>()
  private buf: Buffer = Buffer.alloc(0)
  private readonly hpack = new HpackDecoder()
  /** The field block being gathered across HEADERS + CONTINUATION frames. */
  private block: Buffer[] | null = null
  /** Our send-side accounting, for the windows the server granted us (RFC 9113 §6.9). */
  private connSentBytes = 0
  private connGrantedBytes = 0
  private readonly streamSentBytes = new Map<number, number>()
  private readonly streamGrantedBytes = new Map<number, number>()

  private constructor(socket: Socket, isAutoAck: boolean) {
    this.socket = socket
    this.isAutoAck = isAutoAck
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('end', () => this.onClose())
    socket.on('close', () => this.onClose())
    socket.on('error', () => this.onClose())
  }

  /** Connect to 127.0.0.1:port, send the preface and our SETTINGS (plus `after`). */
  static connect(port: number, opts: ConnectOptions = {}): Promise<H2Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1')
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`h2-wire: no connection to ${port}`)) }, opts.timeoutMs ?? 5000)
      socket.once('error', (err) => { clearTimeout(timer); reject(err) })
      socket.once('connect', () => {
        clearTimeout(timer)
        const c = new H2Wire(socket, opts.isAutoAck ?? true)
        const settings = opts.settings === undefined ? DEFAULT_SETTINGS : opts.settings
        if (opts.isPrefaceSent !== false) {
          const out: Buffer[] = [PREFACE]
          if (settings !== null) out.push(frame(FrameType.Settings, 0, 0, settingsPayload(settings)))
          if (opts.after !== undefined) out.push(opts.after)
          socket.write(Buffer.concat(out))
        }
        resolve(c)
      })
    })
  }

  // ── sending ──

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes)
  }

  /** Any frame. DATA frames count against our view of the send windows. */
  send(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): void {
    if (type === FrameType.Data) {
      this.connSentBytes += payload.length
      this.streamSentBytes.set(streamId, (this.streamSentBytes.get(streamId) ?? 0) + payload.length)
    }
    this.write(frame(type, flags, streamId, payload))
  }

  settings(pairs: ReadonlyArray<readonly [number, number]>, streamId = 0): void {
    this.send(FrameType.Settings, 0, streamId, settingsPayload(pairs))
  }

  ping(opaque: Buffer, streamId = 0): void {
    this.send(FrameType.Ping, 0, streamId, opaque)
  }

  /** HEADERS with the fields HPACK-encoded; END_HEADERS unless `isEndHeaders` is false. */
  headers(streamId: number, fields: ReadonlyArray<readonly [string, string]>, opts: { isEndStream?: boolean; isEndHeaders?: boolean } = {}): void {
    const flags = (opts.isEndStream === true ? Flag.EndStream : 0) | (opts.isEndHeaders === false ? 0 : Flag.EndHeaders)
    this.send(FrameType.Headers, flags, streamId, hpackEncode(fields))
  }

  /** A ready-made field block (hpackEncode…), cut into HEADERS + CONTINUATION at the server's frame size. */
  headerBlock(streamId: number, block: Buffer, opts: { isEndStream?: boolean; isEndHeaders?: boolean } = {}): void {
    this.write(headerFrames(streamId, block, { ...opts, maxFrameBytes: this.maxFrameBytes() }))
  }

  data(streamId: number, payload: Buffer, isEndStream = false): void {
    this.send(FrameType.Data, isEndStream ? Flag.EndStream : 0, streamId, payload)
  }

  windowUpdate(streamId: number, incrementBytes: number): void {
    this.send(FrameType.WindowUpdate, 0, streamId, u32(incrementBytes))
  }

  rstStream(streamId: number, code: number): void {
    this.send(FrameType.RstStream, 0, streamId, u32(code))
  }

  goaway(lastStreamId: number, code: number): void {
    this.send(FrameType.Goaway, 0, 0, Buffer.concat([u32(lastStreamId), u32(code)]))
  }

  /** A GET with END_STREAM: :method, :scheme http, :path, :authority wire.test, then `extra`. */
  get(streamId: number, path = '/', extra: ReadonlyArray<readonly [string, string]> = []): void {
    this.headers(streamId, [...requestFields('GET', path), ...extra], { isEndStream: true })
  }

  /** The DATA bytes the server still lets us send on the connection, or on a stream too. */
  sendWindow(streamId = 0): number {
    const conn = DEFAULT_WINDOW_BYTES + this.connGrantedBytes - this.connSentBytes
    if (streamId === 0) return conn
    const initial = this.serverSettings?.get(Setting.InitialWindowSize) ?? DEFAULT_WINDOW_BYTES
    return initial + (this.streamGrantedBytes.get(streamId) ?? 0) - (this.streamSentBytes.get(streamId) ?? 0)
  }

  /** The largest frame payload the server accepts (its SETTINGS_MAX_FRAME_SIZE). */
  maxFrameBytes(): number {
    return this.serverSettings?.get(Setting.MaxFrameSize) ?? DEFAULT_MAX_FRAME_BYTES
  }

  close(): void {
    this.socket.destroy()
  }

  // ── receiving ──

  /** Resolves true once `cond()` holds (checked on every frame and on close), false after `timeoutMs`. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const check = (): void => {
        if (!cond()) return
        clearTimeout(timer)
        this.wakers.delete(check)
        resolve(true)
      }
      const timer = setTimeout(() => { this.wakers.delete(check); resolve(cond()) }, Math.max(0, timeoutMs))
      this.wakers.add(check)
    })
  }

  /** Takes the first queued frame that matches; null when none came within `timeoutMs` or the connection closed first. */
  async waitFor(predicate: (f: Frame) => boolean, timeoutMs: number): Promise<Frame | null> {
    let found: Frame | null = null
    const take = (): boolean => {
      const i = this.queue.findIndex(predicate)
      if (i >= 0) {
        found = this.queue[i]
        this.queue.splice(i, 1)
        return true
      }
      return this.isClosed
    }
    await this.until(take, timeoutMs)
    return found
  }

  /** Takes the next queued frame (of `type`, if given), or null after `timeoutMs` or on close. */
  nextFrame(type?: number, timeoutMs = 3000): Promise<Frame | null> {
    return this.waitFor((f) => type === undefined || f.type === type, timeoutMs)
  }

  /** The server's first SETTINGS arrived (true), or not within `timeoutMs`. */
  ready(timeoutMs = 3000): Promise<boolean> {
    return this.until(() => this.serverSettings !== null, timeoutMs)
  }

  /** The server ended or closed the connection within `timeoutMs`. */
  closed(timeoutMs = 3000): Promise<boolean> {
    return this.until(() => this.isClosed, timeoutMs)
  }

  /**
   * Takes the frames of one stream until END_STREAM, RST_STREAM, close or `timeoutMs`. With
   * `isAutoWindow` (default) each DATA frame is given back at once on the stream and the
   * connection, as a client that reads promptly does.
   */
  async response(streamId: number, timeoutMs = 5000, isAutoWindow = true): Promise<WireResponse> {
    const out: WireResponse = { status: null, fields: [], body: Buffer.alloc(0), isEndStream: false, rstCode: null, isClosed: false, isTimedOut: false }
    const chunks: Buffer[] = []
    const deadline = Date.now() + timeoutMs
    // Every turn takes one frame or ends: bounded by the deadline and a frame count.
    for (let i = 0; i < 100_000; i++) {
      const f = await this.waitFor((x) => x.streamId === streamId, deadline - Date.now())
      if (f === null) {
        if (this.isClosed) out.isClosed = true
        else out.isTimedOut = true
        break
      }
      if (f.type === FrameType.RstStream) {
        out.rstCode = f.payload.length >= 4 ? f.payload.readUInt32BE(0) : -1
        break
      }
      if (f.fields !== undefined) {
        out.fields.push(...f.fields)
        const status = f.fields.find(([n]) => n === ':status')
        if (status !== undefined && Number(status[1]) >= 200) out.status = Number(status[1])
      }
      if (f.type === FrameType.Data) {
        chunks.push(unpad(f))
        if (isAutoWindow && f.payload.length > 0) {
          this.windowUpdate(streamId, f.payload.length)
          this.windowUpdate(0, f.payload.length)
        }
      }
      if ((f.type === FrameType.Data || f.type === FrameType.Headers) && (f.flags & Flag.EndStream) !== 0) {
        out.isEndStream = true
        break
      }
    }
    out.body = Buffer.concat(chunks)
    return out
  }

  /** RST_STREAM and GOAWAY frames received so far, and whether the connection closed: for messages. */
  describe(): string {
    const seen: string[] = []
    for (const f of this.frames) {
      if (f.type === FrameType.Goaway && f.payload.length >= 8) seen.push(`GOAWAY ${errorName(f.payload.readUInt32BE(4))}`)
      if (f.type === FrameType.RstStream && f.payload.length >= 4) seen.push(`RST_STREAM ${errorName(f.payload.readUInt32BE(0))} on ${f.streamId}`)
    }
    if (this.isClosed) seen.push('closed')
    return seen.length === 0 ? 'nothing' : seen.join(', ')
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    // Each turn removes one whole frame: bounded by the bytes received.
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3)
      if (this.buf.length < 9 + len) break
      const f: Frame = {
        type: this.buf[3], flags: this.buf[4], streamId: this.buf.readUInt32BE(5) & 0x7fff_ffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      }
      this.buf = this.buf.subarray(9 + len)
      this.onFrame(f)
    }
    this.wake()
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Settings:
        if ((f.flags & Flag.Ack) !== 0) {
          this.settingsAcks++
        } else {
          const s = this.serverSettings ?? new Map<number, number>()
          for (let i = 0; i + 6 <= f.payload.length; i += 6) s.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2))
          this.serverSettings = s
          if (this.isAutoAck) this.send(FrameType.Settings, Flag.Ack, 0)
        }
        break
      case FrameType.Ping:
        if ((f.flags & Flag.Ack) === 0 && this.isAutoAck) this.send(FrameType.Ping, Flag.Ack, 0, f.payload)
        break
      case FrameType.WindowUpdate:
        if (f.payload.length === 4) {
          const inc = f.payload.readUInt32BE(0) & 0x7fff_ffff
          if (f.streamId === 0) this.connGrantedBytes += inc
          else this.streamGrantedBytes.set(f.streamId, (this.streamGrantedBytes.get(f.streamId) ?? 0) + inc)
        }
        break
      case FrameType.Goaway:
        if (f.payload.length >= 8) this.goaways.push({ lastStreamId: f.payload.readUInt32BE(0) & 0x7fff_ffff, code: f.payload.readUInt32BE(4) })
        break
      case FrameType.Headers:
      case FrameType.PushPromise:
        this.block = [fieldBlock(f)]
        if ((f.flags & Flag.EndHeaders) !== 0) this.endBlock(f)
        break
      case FrameType.Continuation:
        this.block?.push(f.payload)
        if ((f.flags & Flag.EndHeaders) !== 0) this.endBlock(f)
        break
    }
    this.frames.push(f)
    this.queue.push(f)
  }

  private endBlock(f: Frame): void {
    const { fields } = this.hpack.decode(Buffer.concat(this.block ?? []))
    f.fields = fields
    this.block = null
  }

  private onClose(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.wake()
  }

  private wake(): void {
    for (const w of [...this.wakers]) w()
  }
}

/** The pseudo-header fields of a request to http://wire.test<path>. */
export function requestFields(method: string, path: string): Array<[string, string]> {
  return [[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'wire.test']]
}

/** A HEADERS (or PUSH_PROMISE) payload without its padding, priority or promised stream id. */
function fieldBlock(f: Frame): Buffer {
  let start = 0
  let end = f.payload.length
  if ((f.flags & Flag.Padded) !== 0) {
    end -= f.payload[0]
    start = 1
  }
  if (f.type === FrameType.PushPromise) start += 4
  else if ((f.flags & Flag.Priority) !== 0) start += 5
  return f.payload.subarray(start, Math.max(start, end))
}

/** A DATA payload without its padding. */
function unpad(f: Frame): Buffer {
  if ((f.flags & Flag.Padded) === 0) return f.payload
  return f.payload.subarray(1, Math.max(1, f.payload.length - f.payload[0]))
}
