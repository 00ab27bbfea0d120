// One HTTP/2 stream from a client, forwarded as one HTTP/1.1 request to an upstream server, on a
// worker thread. Same router, balancer, server slots, wait queue, pools, retries, timeouts and
// counters as the HTTP/1.1 Session (session.ts); only the client side speaks HTTP/2:
//
//   start ──▶ Waiting (queue / connect) ──▶ Exchange (request DATA ⇢ HTTP/1.1 body, response ⇠) ──▶ Done
//
// Flow control both ways: request DATA is handed over only while the upstream socket takes it (the
// stream is paused otherwise, and the client's window is not credited meanwhile), and the upstream
// socket is paused while the stream's queue is full.
//
// Invariants (as in session.ts): a server slot taken with cells.acquire is released exactly once
// (releaseServer); an upstream connection is owned by this exchange, back in its pool, or destroyed.
// The stream calls the exchange directly (it is the stream's StreamOwner): no closure per stream.

import { ListenerCounter, ServerCounter } from '../../shared/layout.ts'
import { ERRORS } from '../../shared/errors.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import { DEFAULT_LIMITS, KNOWN_METHODS, ResponseHead, parseResponseHead } from '../http1/parser.ts'
import { Pick } from '../balance/balancer.ts'
import { HashKind } from '../context.ts'
import type { UpstreamRuntime, WorkerContext } from '../context.ts'
import { cookieValue, hostWithoutPort, targetPath } from '../router.ts'
import type { CompiledRoute } from '../router.ts'
import type { ConnOwner, UpstreamConn } from '../upstream/pool.ts'
import { isIdempotent, mayRetry, noteConnectFailure, noteServerFailure, noteServerSuccess, serverName } from '../upstream/outcome.ts'
import type { H2Connection } from './connection.ts'
import { H2Error } from './frames.ts'
import type { H2Stream, StreamOwner } from './stream.ts'
import { Dechunker, HeadError, RequestInfo, UpFraming, buildRequestHead, readRequest, responseHeaders } from './head.ts'
import { writeAccessLog } from '../access-log.ts'

const State = { New: 0, Waiting: 1, Exchange: 2, Done: 3 } as const
const Body = { None: 0, Length: 1, Chunked: 2, UntilClose: 3 } as const
const Deadline = { None: 0, Queue: 1, Connect: 2, Response: 3, ClientSend: 4 } as const

/** Request body bytes held while no upstream connection can take them (only after a retry). */
const MAX_PENDING_BODY_BYTES = 64 * 1024

/**
 * Spare response parse state (a ResponseHead holds a 1.6 KB offsets array): allocating it per
 * stream showed in profiles as allocation and GC time.
 */
const spareHeads: ResponseHead[] = []
const spareDechunkers: Dechunker[] = []
const MAX_SPARES = 1024

const CRLF = Buffer.from('\r\n', 'latin1')
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1')

/** Methods whose HTTP/1.1 requests carry `content-length: 0` when they have no body. */
function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH'
}

// The router's header lookup reads the raw list of the request being routed (routing is synchronous).
let routedHeaders: readonly string[] = []
function routedHeader(lowerName: string): string | null {
  return headerIn(routedHeaders, lowerName)
}

function headerIn(raw: readonly string[], lowerName: string): string | null {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === lowerName) return raw[i + 1]
  return null
}

/** Dechunker data callback: forward one range of response data to the client. */
function relayRange(ex: H2Exchange, buf: Buffer, from: number, to: number): void {
  ex.writeDownstream(from === 0 && to === buf.length ? buf : buf.subarray(from, to))
}

export class H2Exchange implements ConnOwner, StreamOwner {
  readonly ctx: WorkerContext
  readonly client: H2Connection
  readonly stream: H2Stream
  readonly raw: readonly string[]
  readonly info: RequestInfo
  state: number = State.New
  deadlineMs = 0
  deadlineKind: number = Deadline.None
  // ── the request ──
  route: CompiledRoute | null = null
  upstream: UpstreamRuntime | null = null
  server = -1
  hasServerSlot = false
  conn: UpstreamConn | null = null
  isQueued = false
  attempts = 0
  upstreamHead: string | null = null
  framing: number = UpFraming.None
  pendingBody: Buffer | null = null
  isReqBodyDone: boolean
  hasSentBody = false
  isHead = false
  // ── the response ──
  /** Parse state of the upstream response; from a per-thread spare list, given back when the stream closes. */
  res: ResponseHead
  dechunker: Dechunker
  resBuf: Buffer | null = null
  isResHeadDone = false
  resBody: number = Body.None
  resRemaining = 0
  status = 0
  hasSentResponse = false
  /** The stream's queue is full: the upstream is paused and client_send runs, not upstream_response. */
  isWaitingForClient = false
  // ── accounting ──
  startMs = 0
  connectStartMs = 0
  /** When the last new upstream connection was established (0 = reused or none). */
  connectedMs = 0
  headMs = 0
  queueMs = 0
  bytesIn = 0
  bytesOut = 0

  constructor(client: H2Connection, stream: H2Stream, raw: string[], isEndStream: boolean) {
    this.ctx = client.ctx
    this.client = client
    this.stream = stream
    this.raw = raw
    this.info = new RequestInfo()
    this.isReqBodyDone = isEndStream
    this.res = spareHeads.pop() ?? new ResponseHead()
    this.dechunker = spareDechunkers.pop() ?? new Dechunker()
    stream.owner = this
    this.ctx.sessions.add(this)
  }

  /** Route the request and ask for a server. */
  start(): void {
    const ctx = this.ctx
    const client = this.client
    this.startMs = Date.now()
    ctx.cells.countListener(ctx.slot, client.listener, ListenerCounter.Requests, 1)
    const info = this.info
    const r = readRequest(this.raw, info, KNOWN_METHODS)
    if (r === HeadError.Malformed) {
      ctx.cells.countListener(ctx.slot, client.listener, ListenerCounter.Denied, 1)
      client.glitch()
      this.status = 400
      this.finishStream(H2Error.Protocol)
      return
    }
    if (r === HeadError.NotImplemented) { this.refuse('not_implemented'); return }
    this.isHead = info.method === 'HEAD'
    routedHeaders = this.raw
    const route = ctx.router.match(client.listener, info.authority === null ? null : hostWithoutPort(info.authority), targetPath(info.path), info.method, routedHeader)
    routedHeaders = []
    if (route === null || route.upstream < 0) { this.refuse('no_route'); return }
    this.route = route
    if (this.isReqBodyDone) {
      if (expectsBody(info.method)) {
        info.contentLength = 0
        this.framing = UpFraming.Length
      }
    } else if (info.contentLength >= 0) {
      if (info.contentLength > route.config.maxBodyBytes) { this.refuse('body_too_large'); return }
      this.framing = UpFraming.Length
    } else {
      this.framing = UpFraming.Chunked
    }
    this.upstream = ctx.upstreams[route.upstream]
    this.upstreamHead = buildRequestHead(this.raw, info, client.clientIp, client.proto, this.framing)
    // Nothing is handed over until an upstream connection can take it (sendRequest resumes).
    if (!this.isReqBodyDone) this.stream.pause()
    this.state = State.Waiting
    this.choose(-1)
  }

  // ── the request body ────────────────────────────────────────────────────────────────────────

  onRequestData(chunk: Buffer): void {
    try {
      const ctx = this.ctx
      if (this.state === State.Done) return // the answer is out; the rest of the body is dropped
      this.bytesIn += chunk.length
      ctx.cells.countListener(ctx.slot, this.client.listener, ListenerCounter.BytesIn, chunk.length)
      if (this.bytesIn > (this.route as CompiledRoute).config.maxBodyBytes) { this.fail('body_too_large'); return }
      const conn = this.conn
      if (this.state === State.Exchange && conn !== null) {
        this.hasSentBody = true
        if (!this.writeBody(conn, chunk)) this.stream.pause()
        // upstream_response counts from the end of what we send: a long upload is not a slow upstream.
        if (!this.isResHeadDone) this.deadlineMs = ctx.nowMs + this.timeouts().upstreamResponseMs
      } else {
        // Between two attempts (a retry): hold it, read no more for now.
        this.pendingBody = this.pendingBody === null ? chunk : Buffer.concat([this.pendingBody, chunk])
        if (this.pendingBody.length >= MAX_PENDING_BODY_BYTES) this.stream.pause()
      }
    } catch (err) {
      this.internalError(err)
    }
  }

  /** One piece of request body to the upstream in its framing; false when the socket is full. */
  private writeBody(conn: UpstreamConn, chunk: Buffer): boolean {
    const socket = conn.socket
    const writes = this.ctx.writes
    if (this.framing !== UpFraming.Chunked) return writes.write(socket, chunk)
    writes.write(socket, chunk.length.toString(16) + '\r\n')
    writes.write(socket, chunk)
    return writes.write(socket, CRLF)
  }

  onRequestEnd(): void {
    try {
      if (this.isReqBodyDone) return
      this.isReqBodyDone = true
      if (this.framing !== UpFraming.Chunked || this.state === State.Done) return
      if (this.state === State.Exchange && this.conn !== null && this.pendingBody === null) {
        this.ctx.writes.write(this.conn.socket, LAST_CHUNK)
      }
      // Otherwise sendRequest writes the last chunk after the pending bytes.
    } catch (err) {
      this.internalError(err)
    }
  }

  // ── choosing a server (as session.ts) ───────────────────────────────────────────────────────

  private choose(avoid: number): void {
    const upstream = this.upstream as UpstreamRuntime
    const ctx = this.ctx
    const pick = upstream.balancer.pick(avoid, upstream.hashKind === HashKind.None ? null : this.hashKey(), ctx.nowSec)
    if (pick === Pick.None) { this.fail('no_server_available'); return }
    if (pick === Pick.Full || !ctx.cells.acquire(pick, ctx.slot)) {
      this.enqueue()
      return
    }
    this.useServer(pick)
  }

  private hashKey(): string | null {
    const upstream = this.upstream as UpstreamRuntime
    switch (upstream.hashKind) {
      case HashKind.ClientIp: return this.client.clientIp
      case HashKind.Path: return targetPath(this.info.path)
      case HashKind.Header: return headerIn(this.raw, upstream.hashName)
      case HashKind.Cookie: return cookieValue(this.info.cookie, upstream.hashName)
      default: return null
    }
  }

  private enqueue(): void {
    const ctx = this.ctx
    const upstream = this.upstream as UpstreamRuntime
    this.queueMs = ctx.nowMs
    upstream.queue.push(this)
    ctx.cells.addUpstream(upstream.index, 0, 1)
    this.setDeadline(Deadline.Queue, this.timeouts().queueMs)
  }

  /** WaitQueue: try again for a server; true when this exchange left the queue. */
  tryLeaveQueue(): boolean {
    if (!this.isQueued) return true
    const upstream = this.upstream as UpstreamRuntime
    const ctx = this.ctx
    const pick = upstream.balancer.pick(-1, upstream.hashKind === HashKind.None ? null : this.hashKey(), ctx.nowSec)
    if (pick === Pick.Full) return false
    if (pick >= 0 && !ctx.cells.acquire(pick, ctx.slot)) return false
    this.leaveQueue()
    try {
      if (pick === Pick.None) this.fail('no_server_available')
      else this.useServer(pick)
    } catch (err) {
      this.internalError(err)
    }
    return true
  }

  private leaveQueue(): void {
    this.isQueued = false
    this.queueMs = this.ctx.nowMs - this.queueMs
    this.ctx.cells.addUpstream((this.upstream as UpstreamRuntime).index, 0, -1)
    this.clearDeadline()
  }

  private useServer(server: number): void {
    const ctx = this.ctx
    this.server = server
    this.hasServerSlot = true
    this.attempts++
    ctx.cells.countServer(ctx.slot, server, ServerCounter.Requests, 1)
    ctx.cells.maxServer(ctx.slot, server, ServerCounter.MaxActive, ctx.cells.active(server))
    const reused = ctx.pools[server].take(this)
    if (reused !== null) {
      ctx.cells.countServer(ctx.slot, server, ServerCounter.ConnectionsReused, 1)
      this.conn = reused
      this.sendRequest()
      return
    }
    this.openConnection()
  }

  private openConnection(): void {
    const ctx = this.ctx
    ctx.cells.countServer(ctx.slot, this.server, ServerCounter.ConnectionsOpened, 1)
    this.connectStartMs = Date.now()
    this.conn = ctx.pools[this.server].open(this)
    this.setDeadline(Deadline.Connect, this.timeouts().upstreamConnectMs)
  }

  onUpstreamConnect(conn: UpstreamConn): void {
    if (conn !== this.conn) return
    this.connectedMs = Date.now()
    try {
      this.sendRequest()
    } catch (err) {
      this.internalError(err)
    }
  }

  private sendRequest(): void {
    const conn = this.conn as UpstreamConn
    conn.requests++
    this.state = State.Exchange
    this.isWaitingForClient = false
    this.isResHeadDone = false
    this.resBuf = null
    this.res.reset()
    this.dechunker.reset()
    this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
    const socket = conn.socket
    const body = this.pendingBody
    this.pendingBody = null
    // Head, held body bytes and the last chunk leave together with this iteration's other writes.
    const writes = this.ctx.writes
    let ok = writes.write(socket, this.upstreamHead as string)
    if (body !== null) {
      this.hasSentBody = true
      ok = this.writeBody(conn, body)
    }
    if (this.isReqBodyDone && this.framing === UpFraming.Chunked) ok = writes.write(socket, LAST_CHUNK)
    if (!this.isReqBodyDone && ok) this.stream.resume()
  }

  onUpstreamDrain(conn: UpstreamConn): void {
    if (conn !== this.conn) return
    if (this.state === State.Exchange && !this.isReqBodyDone) this.stream.resume()
  }

  // ── the response ────────────────────────────────────────────────────────────────────────────

  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void {
    if (conn !== this.conn) return
    try {
      this.ctx.cells.countServer(this.ctx.slot, this.server, ServerCounter.BytesIn, chunk.length)
      if (!this.isResHeadDone) this.readResponseHead(chunk)
      else this.relayBody(chunk, 0)
    } catch (err) {
      this.internalError(err)
    }
  }

  private readResponseHead(chunk: Buffer): void {
    const buf = this.resBuf === null ? chunk : Buffer.concat([this.resBuf, chunk])
    let start = 0
    for (;;) {
      const r = parseResponseHead(buf, start, buf.length, this.res, DEFAULT_LIMITS)
      if (r === 0) {
        // A partial head is kept across reads: copied, `chunk` may be reused memory (pool.ts).
        this.resBuf = Buffer.from(start === 0 ? buf : buf.subarray(start))
        return
      }
      if (r < 0) { this.upstreamFailed('upstream_bad_response'); return }
      const status = this.res.status
      if (status === 101 || status >= 600) { this.upstreamFailed('upstream_bad_response'); return }
      if (status < 200) {
        // Interim response (100 Continue, 103 Early Hints): relay it, keep reading.
        this.stream.interim(responseHeaders(buf, this.res, false))
        start += r
        this.res.reset()
        if (start === buf.length) { this.resBuf = null; return }
        continue
      }
      this.resBuf = null
      this.onResponseHead(buf, start + r)
      return
    }
  }

  private onResponseHead(buf: Buffer, bodyStart: number): void {
    const ctx = this.ctx
    const res = this.res
    this.isResHeadDone = true
    this.status = res.status
    this.headMs = Date.now()
    ctx.cells.observeLatency(ctx.slot, this.server, this.headMs - this.startMs)
    this.clearDeadline()
    if (res.status >= 500) noteServerFailure(this.ctx, this.upstream as UpstreamRuntime, this.server)
    else noteServerSuccess(this.ctx.cells, this.server)
    if (this.isHead || res.status === 204 || res.status === 304) {
      this.resBody = Body.None
    } else if (res.isChunked) {
      this.resBody = Body.Chunked
    } else if (res.contentLength >= 0) {
      this.resBody = res.contentLength === 0 ? Body.None : Body.Length
      this.resRemaining = res.contentLength
    } else {
      this.resBody = Body.UntilClose
    }
    const hasLength = res.contentLength >= 0 && !res.isChunked && res.status !== 204
    const headers = responseHeaders(buf, res, hasLength)
    this.stream.respond(headers, this.resBody === Body.None)
    this.hasSentResponse = true
    if (this.resBody === Body.None) {
      this.finishExchange(bodyStart < buf.length)
      return
    }
    // The stream keeps what it is given until flow control lets it go: this read's body bytes
    // are copied (`buf` may be the connection's reused read buffer), later reads come in fresh
    // buffers (pool.ts).
    ;(this.conn as UpstreamConn).relayTo(null)
    if (bodyStart < buf.length) this.relayBody(Buffer.from(buf.subarray(bodyStart)), 0)
    else this.relayBody(buf, bodyStart)
  }

  private relayBody(buf: Buffer, start: number): void {
    const avail = buf.length - start
    let used = 0
    if (avail > 0) {
      switch (this.resBody) {
        case Body.Length:
          used = avail < this.resRemaining ? avail : this.resRemaining
          this.resRemaining -= used
          if (this.resRemaining === 0) {
            // The last bytes: one DATA frame with END_STREAM rather than DATA then an empty one.
            this.bytesOut += used
            this.stream.end(start === 0 && used === buf.length ? buf : buf.subarray(start, start + used))
          } else {
            this.writeDownstream(start === 0 && used === buf.length ? buf : buf.subarray(start, start + used))
          }
          break
        case Body.Chunked:
          used = this.dechunker.feed(buf, start, buf.length, this, relayRange)
          if (used < 0) { this.upstreamFailed('upstream_bad_response'); return }
          break
        default:
          used = avail
          this.writeDownstream(start === 0 ? buf : buf.subarray(start))
      }
    }
    if (this.state !== State.Exchange) return // the client went away while we wrote
    const isDone = this.resBody === Body.Length ? this.resRemaining === 0 : this.resBody === Body.Chunked ? this.dechunker.done : false
    if (isDone) this.finishExchange(start + used < buf.length)
    else if (!this.isWaitingForClient) this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
  }

  /** Response body bytes to the client; the upstream pauses while the stream's buffer is full. */
  writeDownstream(data: Buffer): void {
    if (data.length === 0) return
    this.bytesOut += data.length
    if (!this.stream.write(data) && this.conn !== null && !this.isWaitingForClient) {
      // The client is the slow side now (flow control): the upstream waits, client_send runs.
      this.conn.socket.pause()
      this.isWaitingForClient = true
      this.setDeadline(Deadline.ClientSend, this.timeouts().clientSendMs)
    }
  }

  onStreamDrain(): void {
    if (this.conn === null || this.state !== State.Exchange || !this.isWaitingForClient) return
    this.isWaitingForClient = false
    this.conn.socket.resume()
    // The wait was the client's, not the upstream's: the upstream's clock starts again.
    this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
  }

  /**
   * The response is complete. `hasExtraBytes`: the upstream sent bytes past its end, so its
   * framing can't be trusted and the connection is not reused.
   */
  private finishExchange(hasExtraBytes: boolean): void {
    const ctx = this.ctx
    const conn = this.conn
    this.conn = null
    if (conn !== null) {
      const isReusable = !hasExtraBytes && this.isReqBodyDone && !this.res.hasClose && this.resBody !== Body.UntilClose &&
        (this.res.versionMinor === 1 || this.res.hasKeepAlive) && !ctx.isDraining
      if (isReusable) ctx.pools[this.server].release(conn, ctx.nowMs)
      else conn.destroy()
    }
    this.endRequest()
    this.finishStream(H2Error.NoError)
  }

  /**
   * End our side of the stream: with END_STREAM when `code` is NO_ERROR, on the DATA frame of
   * `last` when given (a request body still coming is then refused with RST_STREAM NO_ERROR,
   * connection.ts localFinished), else with RST_STREAM(code).
   */
  private finishStream(code: number, last: Buffer | null = null): void {
    this.state = State.Done
    this.clearDeadline()
    const stream = this.stream
    if (stream.isClosed) return
    if (code !== H2Error.NoError) {
      stream.reset(code)
      return
    }
    stream.end(last)
  }

  /** Accounting at the end of a request, whatever its outcome (as session.ts endRequest). */
  private endRequest(): void {
    const ctx = this.ctx
    const listener = this.client.listener
    const status = this.status
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0
    ctx.cells.countListener(ctx.slot, listener, cls === 0 ? ListenerCounter.RespOther : ListenerCounter.Resp1xx + cls - 1, 1)
    ctx.cells.countListener(ctx.slot, listener, ListenerCounter.BytesOut, this.bytesOut)
    if (this.server >= 0) {
      ctx.cells.countServer(ctx.slot, this.server, cls === 0 ? ServerCounter.RespOther : ServerCounter.Resp1xx + cls - 1, 1)
      ctx.cells.countServer(ctx.slot, this.server, ServerCounter.BytesOut, this.bytesIn)
    }
    if (ctx.isAccessLogOn) writeAccessLog(this.ctx, this, this.client.listener, this.client.clientIp, this.info.method, this.info.path)
    this.upstreamHead = null
    this.pendingBody = null
    this.releaseServer()
    this.route = null
    this.server = -1
  }

  private releaseServer(): void {
    if (!this.hasServerSlot) return
    this.hasServerSlot = false
    this.ctx.cells.release(this.server, this.ctx.slot)
    const upstream = this.upstream
    if (upstream !== null && upstream.queue.length > 0) upstream.queue.retry()
  }

  // ── upstream failures (as session.ts) ───────────────────────────────────────────────────────

  onUpstreamClose(conn: UpstreamConn, err: Error | null): void {
    if (conn !== this.conn) return
    try {
      this.conn = null
      if (this.isResHeadDone) {
        if (this.resBody === Body.UntilClose) {
          this.finishExchange(false)
        } else {
          // Truncated body: the client must see the stream reset, not a short "complete" response.
          this.ctx.cells.countServer(this.ctx.slot, this.server, ServerCounter.ResponseErrors, 1)
          this.ctx.event('warn', { event: 'upstream_truncated', server: this.serverName() }, `upstream ${this.serverName()} closed mid-response`)
          this.endRequest()
          this.finishStream(H2Error.Internal)
        }
        return
      }
      if (!conn.isConnected) {
        this.connectFailed(err === null ? 'connection closed' : err.message)
        return
      }
      if (conn.requests > 1 && this.resBuf === null && !this.hasSentBody && isIdempotent(this.info.method)) {
        // A pooled connection the server closed while idle: once more on a fresh connection.
        this.openConnection()
        return
      }
      this.upstreamFailed('upstream_reset')
    } catch (e) {
      this.internalError(e)
    }
  }

  private connectFailed(reason: string): void {
    noteConnectFailure(this.ctx, this.upstream as UpstreamRuntime, this.server, reason)
    this.upstreamFailed('upstream_connect_failed')
  }

  private upstreamFailed(code: ErrorCode): void {
    const ctx = this.ctx
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    const failed = this.server
    const upstream = this.upstream as UpstreamRuntime
    if (mayRetry(code, this.info.method, this.hasSentResponse, this.hasSentBody, false, this.attempts, upstream.config.retries)) {
      ctx.cells.countServer(ctx.slot, failed, ServerCounter.Retries, 1)
      this.releaseServer()
      this.server = -1
      this.state = State.Waiting
      if (!this.isReqBodyDone) this.stream.pause()
      this.choose(failed)
      return
    }
    if (code === 'upstream_bad_response') ctx.cells.countServer(ctx.slot, failed, ServerCounter.ResponseErrors, 1)
    this.fail(code)
  }

  /** Answer with a portico error if nothing was sent yet (else reset the stream), and end. */
  private fail(code: ErrorCode): void {
    const kind = ERRORS[code]
    this.status = kind.status
    if (this.isQueued) this.leaveQueue()
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    this.endRequest()
    const stream = this.stream
    if (this.hasSentResponse || kind.status === 0 || stream.isClosed || stream.hasResponded) {
      this.finishStream(this.hasSentResponse ? H2Error.Internal : H2Error.NoError)
      return
    }
    const body = errorBody(code)
    this.bytesOut += body.length
    stream.respond([':status', String(kind.status), 'content-type', 'text/plain', 'content-length', String(body.length)], false)
    this.hasSentResponse = true
    this.finishStream(H2Error.NoError, body)
  }

  /** A request refused by portico itself before any upstream is involved. */
  private refuse(code: ErrorCode): void {
    this.ctx.cells.countListener(this.ctx.slot, this.client.listener, ListenerCounter.Denied, 1)
    this.fail(code)
  }

  private internalError(err: unknown): void {
    const e = err as Error
    this.ctx.cells.countMisc(this.ctx.slot, 1, 1)
    this.ctx.event('error', { event: 'request_error', error: e?.message, stack: e?.stack }, `request failed inside portico: ${e?.message}`)
    if (this.state === State.Done) return
    try {
      this.fail('internal_error')
    } catch {
      this.state = State.Done
      this.stream.reset(H2Error.Internal)
    }
  }

  // ── the client's side of the stream ────────────────────────────────────────────────────────

  /** The stream closed (both sides done, or reset by the client or the connection). */
  onStreamClose(): void {
    try {
      if (this.state !== State.Done) {
        // Client gone (RST_STREAM, GOAWAY cut, connection lost): drop what is in flight.
        this.state = State.Done
        this.clearDeadline()
        if (this.isQueued) this.leaveQueue()
        const conn = this.conn
        this.conn = null
        if (conn !== null) conn.destroy()
        if (this.route !== null) this.endRequest()
      }
    } catch (err) {
      this.ctx.event('error', { event: 'request_error', error: (err as Error)?.message }, `stream close failed inside portico: ${(err as Error)?.message}`)
    }
    this.ctx.sessions.delete(this)
    // Nothing reads the parse state any more: the upstream connection (the only writer) is gone.
    if (spareHeads.length < MAX_SPARES) {
      spareHeads.push(this.res)
      spareDechunkers.push(this.dechunker)
    }
    this.client.streamClosed()
  }

  // ── deadlines ───────────────────────────────────────────────────────────────────────────────

  private timeouts() {
    return this.route === null ? this.ctx.config.timeouts : this.route.config.timeouts
  }

  private setDeadline(kind: number, ms: number): void {
    this.deadlineKind = kind
    this.deadlineMs = Date.now() + ms
  }

  private clearDeadline(): void {
    this.deadlineKind = Deadline.None
    this.deadlineMs = 0
  }

  onDeadline(_nowMs: number): void {
    const kind = this.deadlineKind
    this.clearDeadline()
    try {
      switch (kind) {
        case Deadline.Queue: {
          const ctx = this.ctx
          ctx.cells.countServer(ctx.slot, (this.upstream as UpstreamRuntime).first, ServerCounter.QueueTimeouts, 1)
          this.fail('queue_timeout')
          break
        }
        case Deadline.Connect:
          this.connectFailed(`timeout after ${this.timeouts().upstreamConnectMs}ms`)
          break
        case Deadline.Response:
          this.ctx.event('warn', { event: 'upstream_timeout', server: this.serverName() }, `upstream ${this.serverName()} timed out`)
          this.upstreamFailed('upstream_response_timeout')
          break
        case Deadline.ClientSend:
          this.clientSendTimedOut()
          break
      }
    } catch (err) {
      this.internalError(err)
    }
  }

  /**
   * The client read nothing of this stream's response for client_send: reset the stream (CANCEL)
   * and drop its upstream connection; the server is not blamed. Other streams go on.
   */
  private clientSendTimedOut(): void {
    const ctx = this.ctx
    ctx.event('warn', { event: 'client_send_timeout', client: this.client.clientIp, server: this.serverName(), bytes_out: this.bytesOut },
      `client ${this.client.clientIp} read nothing of an HTTP/2 stream for ${this.timeouts().clientSendMs}ms: stream reset`)
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    this.endRequest()
    this.finishStream(H2Error.Cancel)
  }

  private serverName(): string {
    return serverName(this.upstream, this.server)
  }
}

const errorBodies = new Map<ErrorCode, Buffer>()

function errorBody(code: ErrorCode): Buffer {
  let b = errorBodies.get(code)
  if (b === undefined) {
    b = Buffer.from(ERRORS[code].body + '\n', 'latin1')
    errorBodies.set(code, b)
  }
  return b
}
