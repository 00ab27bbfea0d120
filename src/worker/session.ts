// One downstream HTTP/1.1 connection, on a worker thread: read a request head, route it, pick a
// server, forward the request (body streamed with backpressure), relay the response, then the
// next request (keep-alive, pipelined requests answered in order). One request at a time per
// connection; every handler is bound once per connection, no closure per request or chunk.
//
//   Head ──▶ Waiting (queue / connect) ──▶ Exchange (request body ⇢, response ⇠) ──▶ Head …
//                                                     └─ 101 ──▶ Tunnel
//
// Invariants: a server slot taken with cells.acquire is released exactly once (releaseServer);
// an upstream connection is either owned by this session, back in its pool, or destroyed.

import net from 'node:net'
import type { Socket } from 'node:net'
import { ListenerCounter, ServerCounter } from '../shared/layout.ts'
import { ERRORS, toResponse } from '../shared/errors.ts'
import type { ErrorCode } from '../shared/errors.ts'
import type { RouteConfig } from '../shared/config/types.ts'
import {
  DEFAULT_LIMITS, ParseError, parseRequestHead, parseResponseHead,
} from './http1/parser.ts'
import { ChunkedFramer } from './http1/chunked.ts'
import { buildRequestHead, buildResponseHead, ConnectionMode } from './http1/rewrite.ts'
import type { ForwardInfo } from './http1/rewrite.ts'
import type { RequestHead } from './http1/parser.ts'
import { Pick } from './balance/balancer.ts'
import { HashKind } from './context.ts'
import type { UpstreamRuntime, WorkerContext } from './context.ts'
import { cookieValue, hostWithoutPort, normalizeIp, targetPath } from './router.ts'
import type { CompiledRoute } from './router.ts'
import type { ConnOwner, UpstreamConn } from './upstream/pool.ts'
import { isIdempotent, mayRetry, noteConnectFailure, noteServerFailure, noteServerSuccess, serverName } from './upstream/outcome.ts'
import { ReadBufferPair } from './read-buffers.ts'
import { writeAccessLog } from './access-log.ts'

const State = {
  /** Waiting for (the rest of) a request head. */
  Head: 0,
  /** Request routed; waiting in a queue or for the upstream connection. */
  Waiting: 1,
  /** Request sent or being sent; response being relayed. */
  Exchange: 2,
  /** After a 101: bytes spliced both ways. */
  Tunnel: 3,
  Closed: 4,
} as const

const Body = { None: 0, Length: 1, Chunked: 2, UntilClose: 3 } as const

const Deadline = { None: 0, ClientIdle: 1, ClientHeader: 2, Queue: 3, Connect: 4, Response: 5, Tunnel: 6, Linger: 7, ClientSend: 8 } as const

/**
 * Response body chunks at least this large go to the client socket at once instead of with the
 * iteration's write batch. They come in the upstream connection's own read buffers (pool.ts),
 * which are read into again only if the socket has written the last one out; a chunk held corked
 * until the end of the iteration made every further read of that iteration take a fresh 64 KiB
 * buffer (allocation, page faults, GC). Measured on 1 MiB downloads: 22% less CPU per MiB
 * (perf/RESULTS.md). Small chunks still go with the batch, where they share a write with the head.
 */
const DIRECT_WRITE_BYTES = 16 * 1024

/**
 * Client sockets of cleartext HTTP/1.1 listeners read into portico's buffers (net.Socket `onread`,
 * see ownReadSocket) instead of a fresh 64 KiB buffer that Node allocates for every read, cold
 * in the cache and first touched by the kernel's copy. Two kinds: the thread's shared scratch,
 * whose bytes a session copies before its read handler returns (it keeps nothing of it), and a
 * session's own pair while it streams a request body to its upstream, written out as they are
 * (ReadBufferPair, worker/read-buffers.ts, as upstream/pool.ts relays responses).
 */
const CLIENT_READ_BYTES = 64 * 1024
const clientScratch = Buffer.allocUnsafeSlow(CLIENT_READ_BYTES)

/**
 * A Socket around an accepted handle that reads as described at CLIENT_READ_BYTES. Node asks for
 * the next read's buffer without telling which socket it is for, hence one small closure per
 * connection. The session must be attached (kSession) before the socket reads: Session's
 * constructor does that, then resumes it.
 */
export function ownReadSocket(handle: object): Socket {
  let socket: TaggedSocket | null = null
  const buffer = (): Buffer => socket === null || socket[kSession] === undefined ? clientScratch : socket[kSession].nextReadBuffer()
  socket = new net.Socket({ handle, onread: { buffer, callback: onOwnRead } } as unknown as net.SocketConstructorOpts) as TaggedSocket
  return socket
}

function onOwnRead(this: TaggedSocket, nread: number, buf: Buffer): boolean {
  this[kSession].onOwnRead(buf, nread)
  return true
}

/** After we end a connection, how long the client gets to read the rest before it is cut. */
const LINGER_MS = 5000

/**
 * While draining, a keep-alive connection idle this long is closed; one idle for less gets that
 * long for its next request, answered with `connection: close`. Closing a connection the client is
 * about to reuse is the keep-alive race: its next request meets our FIN, a "socket hang up" that
 * most clients (node's http among them) do not retry. A client in a request loop is never quiet
 * for a second; one that is runs the same small risk as at any idle timeout.
 */
const DRAIN_QUIET_MS = 1000

/**
 * Backpressure: the other side is paused once this much is queued on a socket. write() reports
 * "full" past the stream's 16 KiB high-water mark, which a single 64 KiB read already exceeds;
 * pausing there would stop and restart the reader on every chunk (two epoll changes per read).
 * Bounded per connection, so a slow reader still costs at most this much memory.
 */
const PAUSE_BYTES = 128 * 1024

/** Did this write fill the socket enough that the sender should pause? */
function isFull(socket: Socket, isWriteOk: boolean): boolean {
  return !isWriteOk && socket.writableLength >= PAUSE_BYTES
}

/** Bytes of unparsed input a connection may hold while a request is being answered (pipelining). */
const MAX_PIPELINED_BYTES = 64 * 1024

export class Session implements ConnOwner {
  readonly ctx: WorkerContext
  readonly socket: Socket
  readonly listener: number
  readonly clientIp: string
  readonly proto: 'http' | 'https'
  state: number = State.Head
  /** finishClose ran: the socket closed and every count of this connection was given back. */
  isFinished = false
  deadlineMs = 0
  deadlineKind: number = Deadline.None
  /** Unparsed downstream bytes (a partial head, or pipelined requests). */
  inBuf: Buffer | null = null
  /** Chunked framing state, made on the first chunked body (most connections never need one). */
  reqFramer: ChunkedFramer | null = null
  resFramer: ChunkedFramer | null = null
  // ── the request in flight ──
  route: CompiledRoute | null = null
  upstream: UpstreamRuntime | null = null
  server = -1
  hasServerSlot = false
  conn: UpstreamConn | null = null
  isQueued = false
  attempts = 0
  /** The request head as sent upstream (kept to re-send on a retry). */
  upstreamHead: Buffer | null = null
  /** Request body bytes received before the upstream connection was ready. */
  pendingBody: Buffer | null = null
  /** request_buffering: still collecting the body before choosing a server. */
  isBuffering = false
  /** The whole request body, buffered: it can be sent again on a retry. */
  replayBody: Buffer | null = null
  reqBody: number = Body.None
  reqRemaining = 0
  isReqBodyDone = true
  /** Some request body bytes went to an upstream: the request can no longer be re-sent. */
  hasSentBody = false
  isHead = false
  isKeepAlive = true
  /** The client said this request is its last (Connection: close, or HTTP/1.0 without keep-alive). */
  isLastByClient = false
  /** Own read buffers while streaming a request body (see CLIENT_READ_BYTES); null otherwise. */
  private bodyReadBufs: ReadBufferPair | null = null
  isHttp10 = false
  /** balance = "hash": the request's key (header, cookie, client IP or path), null otherwise. */
  hashKey: string | null = null
  /** The client half-closed: answer what it sent, then close. */
  isClientEnded = false
  method = ''
  target = ''
  // ── the response ──
  resBuf: Buffer | null = null
  isResHeadDone = false
  resBody: number = Body.None
  resRemaining = 0
  status = 0
  /** The upstream's response allows another request on its connection (HTTP/1.1 without close, or 1.0 keep-alive). */
  isUpstreamPersistent = false
  /** Response bytes reached the client: no retry, no error page any more. */
  hasSentResponse = false
  /** The upstream is paused because the client does not read (client_send runs, not upstream_response). */
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
  /** Requests started on this connection (0: a fresh connection, its first request on its way). */
  requests = 0
  constructor(ctx: WorkerContext, socket: Socket, listener: number, isTls: boolean) {
    this.ctx = ctx
    this.socket = socket
    this.listener = listener
    this.clientIp = normalizeIp(socket.remoteAddress)
    this.proto = isTls ? 'https' : 'http'
    // TCP_NODELAY is on already: both listener kinds set it at accept (main/listeners.ts,
    // worker/accept.ts), and it lives on the socket, not on this thread's descriptor of it.
    // Setting it again here was a setsockopt per connection (2% of a new connection's time).
    // A client may send its requests and half-close (FIN): it still gets its responses.
    socket.allowHalfOpen = true
    ;(socket as TaggedSocket)[kSession] = this
    socket.on('data', onSocketData)
    socket.on('end', onSocketEnd)
    socket.on('drain', onSocketDrain)
    socket.on('error', onSocketError)
    socket.on('close', onSocketClose)
    ctx.sessions.add(this)
    ctx.cells.addListenerActive(ctx.slot, listener, 1)
    ctx.cells.countListener(ctx.slot, listener, ListenerCounter.Connections, 1)
    this.setDeadline(Deadline.ClientIdle, ctx.config.timeouts.clientHeaderMs)
    socket.resume()
  }

  // ── downstream events ───────────────────────────────────────────────────────────────────────

  /** A request body is streaming to a connected upstream: reads can go into own buffers and be written out as they are. */
  private isStreamingBody(): boolean {
    return this.state === State.Exchange && this.conn !== null && !this.isReqBodyDone && !this.isBuffering
  }

  /** Where the next read of an ownReadSocket goes (see CLIENT_READ_BYTES). */
  nextReadBuffer(): Buffer {
    if (!this.isStreamingBody()) {
      this.bodyReadBufs = null
      return clientScratch
    }
    if (this.bodyReadBufs === null) this.bodyReadBufs = new ReadBufferPair(CLIENT_READ_BYTES)
    return this.bodyReadBufs.next()
  }

  /** A read of an ownReadSocket: `buf` is read into again later, so whatever is kept of it is copied. */
  onOwnRead(buf: Buffer, nread: number): void {
    const pair = this.bodyReadBufs
    if (pair === null || !pair.isLast(buf) || !this.isStreamingBody()) {
      this.onData(Buffer.from(buf.subarray(0, nread)))
      return
    }
    try {
      pair.noteRead((this.conn as UpstreamConn).socket.writableLength)
      this.ctx.cells.countListener(this.ctx.slot, this.listener, ListenerCounter.BytesIn, nread)
      this.takeRequestBytes(buf.subarray(0, nread), true, true)
    } catch (err) {
      this.internalError(err)
    }
  }

  onData(chunk: Buffer): void {
    try {
      this.ctx.cells.countListener(this.ctx.slot, this.listener, ListenerCounter.BytesIn, chunk.length)
      switch (this.state) {
        case State.Head:
          this.inBuf = this.inBuf === null ? chunk : Buffer.concat([this.inBuf, chunk])
          this.processInput()
          break
        case State.Waiting:
          this.takeRequestBytes(chunk, false, false)
          if (this.isBuffering) this.checkBuffered()
          break
        case State.Exchange:
          this.takeRequestBytes(chunk, true, false)
          break
        case State.Tunnel:
          if (this.conn !== null && isFull(this.conn.socket, this.ctx.writes.write(this.conn.socket, chunk))) this.socket.pause()
          this.touchTunnel()
          break
        default:
          break
      }
    } catch (err) {
      this.internalError(err)
    }
  }

  /** Parse and start as many requests as the buffered input holds (one at a time). */
  private processInput(): void {
    const buf = this.inBuf
    if (buf === null) return
    const r = parseRequestHead(buf, 0, buf.length, this.ctx.reqHead, this.ctx.limits)
    if (r === 0) {
      if (this.deadlineKind === Deadline.ClientIdle) this.setDeadline(Deadline.ClientHeader, this.ctx.config.timeouts.clientHeaderMs)
      return
    }
    if (r < 0) {
      this.refuse(r === ParseError.HeadTooLarge ? 'head_too_large' : r === ParseError.UriTooLong ? 'uri_too_long' : r === ParseError.NotImplemented ? 'not_implemented' : 'bad_request')
      return
    }
    const rest = r < buf.length ? buf.subarray(r) : null
    this.startRequest(buf, rest)
  }

  private startRequest(buf: Buffer, rest: Buffer | null): void {
    const ctx = this.ctx
    // Parse results live in the worker's one RequestHead: read them here, before anything else parses.
    const req = ctx.reqHead
    this.inBuf = null
    this.startMs = Date.now()
    this.queueMs = 0
    this.connectStartMs = 0
    this.connectedMs = 0
    this.headMs = 0
    this.bytesIn = 0
    this.bytesOut = 0
    this.attempts = 0
    this.status = 0
    this.requests++
    this.hasSentBody = false
    this.hasSentResponse = false
    this.isWaitingForClient = false
    this.isResHeadDone = false
    this.resBuf = null
    this.method = req.method
    this.target = req.target
    this.isHead = req.method === 'HEAD'
    this.isHttp10 = req.versionMinor === 0
    this.isKeepAlive = this.isHttp10 ? req.hasKeepAlive && !req.hasClose : !req.hasClose
    this.isLastByClient = !this.isKeepAlive
    ctx.cells.countListener(ctx.slot, this.listener, ListenerCounter.Requests, 1)

    const path = targetPath(req.target)
    const host = req.host === null ? null : hostWithoutPort(req.host)
    routedBuf = buf
    routedHead = req
    const route = ctx.router.match(this.listener, host, path, req.method, routedHeader)
    routedBuf = null
    if (route === null || route.upstream < 0) { this.refuse('no_route'); return }
    this.route = route
    const rc: RouteConfig = route.config
    // Request body framing.
    if (req.isChunked) {
      if (this.reqFramer === null) this.reqFramer = new ChunkedFramer()
      else this.reqFramer.reset()
      this.reqBody = Body.Chunked
      this.isReqBodyDone = false
    } else if (req.contentLength > 0) {
      if (req.contentLength > rc.maxBodyBytes) { this.refuse('body_too_large'); return }
      this.reqBody = Body.Length
      this.reqRemaining = req.contentLength
      this.isReqBodyDone = false
    } else {
      this.reqBody = Body.None
      this.isReqBodyDone = true
    }
    const upstream = ctx.upstreams[route.upstream]
    this.upstream = upstream
    this.hashKey = upstream.hashKind === HashKind.None ? null : this.computeHashKey(buf, req, upstream)
    const target = req.target.charCodeAt(0) === 47 ? req.target : originForm(req.target)
    const info: ForwardInfo = { clientIp: this.clientIp, proto: this.proto, isChunked: req.isChunked, upgrade: req.upgrade }
    this.upstreamHead = buildRequestHead(buf, req, target, info)
    this.pendingBody = null
    this.replayBody = null
    this.state = State.Waiting
    this.clearDeadline()
    // Buffer the body first (so a retry can send it again) when the route asks for it.
    this.isBuffering = rc.requestBuffering && !this.isReqBodyDone && req.upgrade === null
    // Bytes after the head: this request's body, then possibly pipelined requests.
    if (rest !== null) this.takeRequestBytes(rest, false, false)
    if (this.state !== State.Waiting) return
    if (this.isBuffering) {
      // The body must arrive like the head did: within client_header.
      this.setDeadline(Deadline.ClientHeader, rc.timeouts.clientHeaderMs)
      this.checkBuffered()
      return
    }
    this.choose(-1)
  }

  /**
   * request_buffering: go on once the whole body is here (it can then be replayed on a retry), or
   * once it outgrew max_buffered_body (then it streams like any other, and is not replayed).
   */
  private checkBuffered(): void {
    if (this.state !== State.Waiting) return
    const max = (this.route as CompiledRoute).config.maxBufferedBodyBytes
    const size = this.pendingBody === null ? 0 : this.pendingBody.length
    if (!this.isReqBodyDone && size <= max) {
      // Keep reading: takeRequestBytes paused the socket past MAX_PIPELINED_BYTES.
      this.socket.resume()
      return
    }
    this.isBuffering = false
    this.clearDeadline()
    if (this.isReqBodyDone) this.replayBody = this.pendingBody
    this.choose(-1)
  }

  /**
   * Downstream bytes while a request is in flight: body bytes go upstream (or wait in pendingBody
   * until the connection is ready), anything after the body is the next pipelined request.
   * `isOwnBuffer`: `chunk` is in one of this session's body read buffers (onOwnRead): the body
   * bytes are written at once, not held in the write batch, and what follows them is copied.
   */
  private takeRequestBytes(chunk: Buffer, isConnected: boolean, isOwnBuffer: boolean): void {
    let body: Buffer | null = null
    let next: Buffer | null = null
    if (this.isReqBodyDone) {
      next = chunk
    } else if (this.reqBody === Body.Length) {
      if (chunk.length <= this.reqRemaining) {
        body = chunk
      } else {
        body = chunk.subarray(0, this.reqRemaining)
        next = chunk.subarray(this.reqRemaining)
      }
      this.reqRemaining -= body.length
      if (this.reqRemaining === 0) this.isReqBodyDone = true
    } else {
      const framer = this.reqFramer as ChunkedFramer
      const used = framer.feed(chunk, 0, chunk.length)
      if (used < 0) { this.refuse('bad_request'); return }
      if (framer.dataBytes > (this.route as CompiledRoute).config.maxBodyBytes) { this.refuse('body_too_large'); return }
      body = used === chunk.length ? chunk : chunk.subarray(0, used)
      if (used < chunk.length) next = chunk.subarray(used)
      if (framer.done) this.isReqBodyDone = true
    }
    if (body !== null && body.length > 0) {
      this.bytesIn += body.length
      if (isConnected && this.conn !== null) {
        this.hasSentBody = true
        const up = this.conn.socket
        if (isFull(up, isOwnBuffer ? up.write(body) : this.ctx.writes.write(up, body))) this.socket.pause()
        // upstream_response measures the upstream's silence: not while the client still uploads.
        if (!this.isResHeadDone) this.armResponseDeadline()
      } else {
        this.pendingBody = this.pendingBody === null ? (isOwnBuffer ? Buffer.from(body) : body) : Buffer.concat([this.pendingBody, body])
        // Don't read more than a little while nothing can take it (checkBuffered reads on while buffering).
        if (this.pendingBody.length > MAX_PIPELINED_BYTES) this.socket.pause()
      }
    }
    if (next !== null && next.length > 0) {
      if (isOwnBuffer && this.inBuf === null) next = Buffer.from(next)
      this.inBuf = this.inBuf === null ? next : Buffer.concat([this.inBuf, next])
      // One request at a time: stop reading until this one is answered.
      this.socket.pause()
    }
  }

  onDrain(): void {
    if (this.conn === null) return
    this.conn.socket.resume()
    if (this.isWaitingForClient) {
      this.isWaitingForClient = false
      if (this.state === State.Exchange) this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
    }
  }

  onEnd(): void {
    this.isClientEnded = true
    if (this.state === State.Head && this.inBuf === null) this.closeSoon()
    else if (this.state === State.Tunnel) this.conn?.socket.end()
  }

  onClose(): void {
    // Not `state === Closed`: closeSoon/destroy set that before the socket closes, and the close
    // that follows must still release the connection (counts, sessions).
    if (this.isFinished) return
    // Client gone: whatever is in flight is abandoned.
    this.abandonExchange()
    this.finishClose()
  }

  // ── choosing a server ───────────────────────────────────────────────────────────────────────

  private choose(avoid: number): void {
    const upstream = this.upstream as UpstreamRuntime
    const ctx = this.ctx
    const pick = upstream.balancer.pick(avoid, this.hashKey, ctx.nowSec)
    if (pick === Pick.None) { this.fail('no_server_available'); return }
    if (pick === Pick.Full || !ctx.cells.acquire(pick, ctx.slot)) {
      this.enqueue()
      return
    }
    this.useServer(pick)
  }

  /** The hash key of a request for balance = "hash", read from its head while it is parsed. */
  private computeHashKey(buf: Buffer, req: RequestHead, upstream: UpstreamRuntime): string | null {
    switch (upstream.hashKind) {
      case HashKind.ClientIp: return this.clientIp
      case HashKind.Path: return targetPath(req.target)
      case HashKind.Header: return headerValue(buf, req, upstream.hashName)
      case HashKind.Cookie: return cookieValue(headerValue(buf, req, 'cookie'), upstream.hashName)
      default: return null
    }
  }

  private enqueue(): void {
    const ctx = this.ctx
    const upstream = this.upstream as UpstreamRuntime
    this.queueMs = ctx.nowMs
    upstream.queue.push(this)
    ctx.cells.addUpstream(upstream.index, 0, 1)
    this.setDeadline(Deadline.Queue, this.route?.config.timeouts.queueMs ?? ctx.config.timeouts.queueMs)
  }

  /** WaitQueue: try again for a server; true when this session left the queue. */
  tryLeaveQueue(): boolean {
    if (!this.isQueued) return true
    const upstream = this.upstream as UpstreamRuntime
    const ctx = this.ctx
    const pick = upstream.balancer.pick(-1, this.hashKey, ctx.nowSec)
    if (pick === Pick.Full) return false
    if (pick >= 0 && !ctx.cells.acquire(pick, ctx.slot)) return false
    this.leaveQueue()
    if (pick === Pick.None) { this.fail('no_server_available'); return true }
    this.useServer(pick)
    return true
  }

  private leaveQueue(): void {
    this.isQueued = false
    this.queueMs = this.ctx.nowMs - this.queueMs
    this.ctx.cells.addUpstream((this.upstream as UpstreamRuntime).index, 0, -1)
    this.clearDeadline()
  }

  /** We hold a slot on `server`: get a connection to it and send. */
  private useServer(server: number): void {
    const ctx = this.ctx
    this.server = server
    this.hasServerSlot = true
    this.attempts++
    ctx.cells.countServer(ctx.slot, server, ServerCounter.Requests, 1)
    ctx.cells.maxServer(ctx.slot, server, ServerCounter.MaxActive, ctx.cells.active(server))
    const pool = ctx.pools[server]
    const reused = pool.take(this)
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
    this.isResHeadDone = false
    this.resBuf = null
    this.ctx.resHead.reset()
    this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
    const head = this.upstreamHead as Buffer
    this.bytesIn += head.length
    const body = this.pendingBody
    this.pendingBody = null
    // Sent with this event-loop iteration's other writes (write-batch.ts): head and body in one write.
    let ok = this.ctx.writes.write(conn.socket, head)
    if (body !== null) {
      this.hasSentBody = true
      ok = this.ctx.writes.write(conn.socket, body)
    }
    if (!this.isReqBodyDone) {
      if (isFull(conn.socket, ok)) this.socket.pause()
      else this.socket.resume()
    }
  }

  onUpstreamDrain(conn: UpstreamConn): void {
    if (conn !== this.conn) return
    if (this.state === State.Tunnel || this.state === State.Exchange && !this.isReqBodyDone) this.socket.resume()
  }

  // ── the response ────────────────────────────────────────────────────────────────────────────

  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void {
    if (conn !== this.conn) return
    try {
      this.ctx.cells.countServer(this.ctx.slot, this.server, ServerCounter.BytesOut, chunk.length)
      if (this.state === State.Tunnel) {
        this.bytesOut += chunk.length
        if (isFull(this.socket, this.ctx.writes.write(this.socket, chunk))) conn.socket.pause()
        this.touchTunnel()
        return
      }
      if (!this.isResHeadDone) this.readResponseHead(chunk)
      else this.relayBody(chunk, 0)
    } catch (err) {
      this.internalError(err)
    }
  }

  private readResponseHead(chunk: Buffer): void {
    let buf = this.resBuf === null ? chunk : Buffer.concat([this.resBuf, chunk])
    let start = 0
    for (;;) {
      const r = parseResponseHead(buf, start, buf.length, this.ctx.resHead, DEFAULT_LIMITS)
      if (r === 0) {
        // A partial head is kept across reads: copied, `chunk` may be reused memory (pool.ts).
        this.resBuf = Buffer.from(start === 0 ? buf : buf.subarray(start))
        return
      }
      if (r < 0) { this.upstreamFailed('upstream_bad_response'); return }
      const status = this.ctx.resHead.status
      if (status >= 100 && status < 200 && status !== 101) {
        // Interim response (100 Continue, 103 Early Hints): relay it, keep reading.
        const head = buildResponseHead(buf, start, this.ctx.resHead, false, ConnectionMode.Persist, null)
        this.hasSentResponse = true
        this.bytesOut += head.length
        this.socket.write(head)
        start += r
        this.ctx.resHead.reset()
        if (start === buf.length) { this.resBuf = null; return }
        continue
      }
      this.resBuf = null
      this.onResponseHead(buf, start, r)
      return
    }
  }

  private onResponseHead(buf: Buffer, start: number, headLength: number): void {
    const ctx = this.ctx
    // The worker's one ResponseHead: everything needed later is copied into this session now.
    const res = ctx.resHead
    this.isResHeadDone = true
    this.status = res.status
    this.isUpstreamPersistent = !res.hasClose && (res.versionMinor === 1 || res.hasKeepAlive)
    this.headMs = Date.now()
    ctx.cells.observeLatency(ctx.slot, this.server, this.headMs - this.startMs)
    this.clearDeadline()
    if (res.status >= 500) noteServerFailure(this.ctx, this.upstream as UpstreamRuntime, this.server)
    else noteServerSuccess(this.ctx.cells, this.server)
    const isUpgrade = res.status === 101
    if (isUpgrade) {
      this.resBody = Body.UntilClose
    } else if (this.isHead || res.status === 204 || res.status === 304) {
      this.resBody = Body.None
    } else if (res.isChunked) {
      this.resBody = Body.Chunked
      if (this.resFramer === null) this.resFramer = new ChunkedFramer()
      else this.resFramer.reset()
    } else if (res.contentLength >= 0) {
      this.resBody = res.contentLength === 0 ? Body.None : Body.Length
      this.resRemaining = res.contentLength
    } else {
      this.resBody = Body.UntilClose
    }
    // Keep the client connection only when the response has an end we can see.
    if (this.resBody === Body.UntilClose || ctx.isDraining || res.hasClose && !res.isChunked && res.contentLength < 0) {
      if (!isUpgrade) this.isKeepAlive = false
    }
    if (!this.isReqBodyDone && !isUpgrade) {
      // Answered before the request body ended: the rest of the body can't be framed away safely.
      this.isKeepAlive = false
    }
    const mode = isUpgrade ? ConnectionMode.Persist : !this.isKeepAlive ? ConnectionMode.Close : this.isHttp10 ? ConnectionMode.KeepAlive10 : ConnectionMode.Persist
    const out = buildResponseHead(buf, start, res, this.resBody === Body.Chunked, mode, isUpgrade ? res.upgrade ?? 'websocket' : null)
    const bodyStart = start + headLength
    // Frame the first body bytes before anything goes out: a framing error in them (bad chunk
    // size) still gets the client a 502 instead of a silent close.
    const n = isUpgrade || this.resBody === Body.None ? 0 : this.bodyBytesIn(buf, bodyStart)
    if (n < 0) return
    this.hasSentResponse = true
    if (isUpgrade) {
      this.bytesOut += out.length
      this.socket.write(out)
      this.startTunnel(buf, bodyStart)
      return
    }
    if (this.resBody === Body.None) {
      this.bytesOut += out.length
      this.ctx.writes.write(this.socket, out)
      this.finishExchange(bodyStart < buf.length)
      return
    }
    // Head and the first body bytes in one write when they came in one read (the common case).
    if (n > 0) {
      const combined = Buffer.allocUnsafe(out.length + n)
      out.copy(combined, 0)
      buf.copy(combined, out.length, bodyStart, bodyStart + n)
      this.writeDownstream(combined)
    } else {
      this.writeDownstream(out)
    }
    if (this.isResponseDone()) {
      this.finishExchange(bodyStart + n < buf.length)
    } else {
      this.armResponseDeadline()
      // The rest of the body is written to the client as read, in the connection's own buffers.
      ;(this.conn as UpstreamConn).relayTo(this.socket)
    }
  }

  /** How many bytes from `start` belong to the response body (advancing the framing); -1 after a framing error. */
  private bodyBytesIn(buf: Buffer, start: number): number {
    const avail = buf.length - start
    if (avail === 0) return 0
    switch (this.resBody) {
      case Body.Length: {
        const n = avail < this.resRemaining ? avail : this.resRemaining
        this.resRemaining -= n
        return n
      }
      case Body.Chunked: {
        const n = (this.resFramer as ChunkedFramer).feed(buf, start, buf.length)
        if (n < 0) { this.upstreamFailed('upstream_bad_response'); return -1 }
        return n
      }
      case Body.UntilClose:
        return avail
      default:
        return 0
    }
  }

  private isResponseDone(): boolean {
    switch (this.resBody) {
      case Body.Length: return this.resRemaining === 0
      case Body.Chunked: return (this.resFramer as ChunkedFramer).done
      case Body.UntilClose: return false
      default: return true
    }
  }

  private relayBody(chunk: Buffer, start: number): void {
    const n = this.bodyBytesIn(chunk, start)
    if (n < 0) return
    if (n > 0) this.writeDownstream(n === chunk.length ? chunk : chunk.subarray(start, start + n))
    if (this.isResponseDone()) this.finishExchange(start + n < chunk.length)
    else this.armResponseDeadline()
  }

  private writeDownstream(data: Buffer): void {
    this.bytesOut += data.length
    const socket = this.socket
    const ok = data.length >= DIRECT_WRITE_BYTES ? socket.write(data) : this.ctx.writes.write(socket, data)
    if (isFull(socket, ok) && this.conn !== null) {
      // The client is the slow side now: the upstream waits on us, so client_send is what runs.
      this.conn.socket.pause()
      this.isWaitingForClient = true
      this.setDeadline(Deadline.ClientSend, this.timeouts().clientSendMs)
    }
  }

  /** The response goes on: time the upstream again, unless we are waiting for the client. */
  private armResponseDeadline(): void {
    if (!this.isWaitingForClient) this.setDeadline(Deadline.Response, this.timeouts().upstreamResponseMs)
  }

  /**
   * The response is complete. `hasExtraBytes`: the upstream sent bytes past the end of the
   * response, so its framing can't be trusted and the connection is not reused.
   */
  private finishExchange(hasExtraBytes: boolean): void {
    const ctx = this.ctx
    const conn = this.conn
    this.conn = null
    if (conn !== null) {
      const isReusable = !hasExtraBytes && this.isReqBodyDone && this.isUpstreamPersistent && this.resBody !== Body.UntilClose &&
        !ctx.isDraining
      if (isReusable) ctx.pools[this.server].release(conn, ctx.nowMs)
      else conn.destroy()
    }
    this.endRequest()
    if (!this.isKeepAlive || ctx.isDraining || this.isClientEnded && this.inBuf === null) {
      if ((this.isLastByClient || this.isClientEnded) && this.isReqBodyDone && this.inBuf === null && this.proto === 'http') this.closeNow()
      else this.closeSoon()
      return
    }
    this.state = State.Head
    // The next request has had nothing sent yet: a bad head or a header timeout gets its 4xx.
    this.hasSentResponse = false
    this.setDeadline(Deadline.ClientIdle, ctx.config.timeouts.clientIdleMs)
    if (this.inBuf !== null) {
      // A pipelined request is waiting: answer it in order. Defer so a long pipeline doesn't recurse.
      setImmediate(resumeSessionInput, this)
    } else {
      this.socket.resume()
    }
  }

  resumeInput(): void {
    if (this.state !== State.Head) return
    this.socket.resume()
    try {
      this.processInput()
    } catch (err) {
      this.internalError(err)
    }
  }

  /**
   * Accounting at the end of a request, whatever its outcome. A tunnel keeps its server slot
   * (it still occupies the server) until it closes: `keepSlot`.
   */
  private endRequest(keepSlot = false): void {
    const ctx = this.ctx
    const status = this.status
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0
    ctx.cells.countListener(ctx.slot, this.listener, cls === 0 ? ListenerCounter.RespOther : ListenerCounter.Resp1xx + cls - 1, 1)
    ctx.cells.countListener(ctx.slot, this.listener, ListenerCounter.BytesOut, this.bytesOut)
    if (this.server >= 0) {
      ctx.cells.countServer(ctx.slot, this.server, cls === 0 || !this.isResHeadDone ? ServerCounter.RespOther : ServerCounter.Resp1xx + cls - 1, 1)
      ctx.cells.countServer(ctx.slot, this.server, ServerCounter.BytesIn, this.bytesIn)
    }
    if (ctx.isAccessLogOn) writeAccessLog(this.ctx, this, this.listener, this.clientIp, this.method, this.target)
    this.upstreamHead = null
    this.pendingBody = null
    this.replayBody = null
    this.isBuffering = false
    if (keepSlot) return
    this.releaseServer()
    this.route = null
    this.upstream = null
    this.server = -1
  }

  private releaseServer(): void {
    if (!this.hasServerSlot) return
    this.hasServerSlot = false
    this.ctx.cells.release(this.server, this.ctx.slot)
    // A slot freed: a queued request of this upstream may go now.
    const upstream = this.upstream
    if (upstream !== null && upstream.queue.length > 0) upstream.queue.retry()
  }

  // ── upstream failures ───────────────────────────────────────────────────────────────────────

  onUpstreamClose(conn: UpstreamConn, err: Error | null): void {
    if (conn !== this.conn) return
    try {
      this.conn = null
      if (this.state === State.Tunnel) { this.closeTunnel(); this.closeSoon(); return }
      if (this.isResHeadDone) {
        if (this.resBody === Body.UntilClose) {
          this.isKeepAlive = false
          this.finishExchange(false)
        } else {
          // Truncated body: the client must see the connection cut, not a short "complete" response.
          this.ctx.cells.countServer(this.ctx.slot, this.server, ServerCounter.ResponseErrors, 1)
          this.ctx.event('warn', { event: 'upstream_truncated', server: this.serverName() }, `upstream ${this.serverName()} closed mid-response`)
          this.endRequest()
          this.destroy()
        }
        return
      }
      if (!conn.isConnected) {
        this.connectFailed(err === null ? 'connection closed' : err.message)
        return
      }
      // Closed or reset before any response byte.
      const isReplayable = this.replayBody !== null
      if (conn.requests > 1 && this.resBuf === null && (isReplayable || !this.hasSentBody && isIdempotent(this.method))) {
        // A pooled connection the server closed while idle: once more on a fresh connection.
        if (isReplayable) {
          this.pendingBody = this.replayBody
          this.hasSentBody = false
        }
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

  /**
   * The exchange with the current server failed before a response reached the client. Retry on
   * another server when the error allows it and the request can be sent again; else answer.
   */
  private upstreamFailed(code: ErrorCode): void {
    const ctx = this.ctx
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    const failed = this.server
    // Connect failures and timeouts are logged where they are detected; these two are not.
    if (code === 'upstream_reset' || code === 'upstream_bad_response') {
      ctx.event('warn', { event: code, server: this.serverName() },
        code === 'upstream_reset' ? `upstream ${this.serverName()} closed the connection before responding` : `upstream ${this.serverName()} sent an invalid response`)
    }
    // Nothing of the body went out yet (it waits in pendingBody or still on the client side),
    // or all of it is buffered and can go out again.
    const isReplayable = this.replayBody !== null
    const upstream = this.upstream as UpstreamRuntime
    if (mayRetry(code, this.method, this.hasSentResponse, this.hasSentBody, isReplayable, this.attempts, upstream.config.retries)) {
      ctx.cells.countServer(ctx.slot, failed, ServerCounter.Retries, 1)
      this.releaseServer()
      this.server = -1
      this.state = State.Waiting
      if (isReplayable) {
        this.pendingBody = this.replayBody
        this.hasSentBody = false
      }
      this.choose(failed)
      return
    }
    if (code === 'upstream_bad_response') ctx.cells.countServer(ctx.slot, failed, ServerCounter.ResponseErrors, 1)
    this.fail(code)
  }

  /** Answer with a portico error (if nothing was sent yet) and close. */
  private fail(code: ErrorCode): void {
    this.status = ERRORS[code].status
    if (!this.hasSentResponse && ERRORS[code].status !== 0) {
      const out = toResponse(code)
      this.bytesOut += out.length
      this.socket.write(out)
    }
    if (this.isQueued) this.leaveQueue()
    // Refused mid-exchange (bad chunk, body too large): the upstream holds half a request and the
    // client may linger; drop that connection now rather than when the client finally closes.
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    this.endRequest()
    this.closeSoon()
  }

  /** A request refused by portico itself before any upstream is involved. */
  private refuse(code: ErrorCode): void {
    this.ctx.cells.countListener(this.ctx.slot, this.listener, ListenerCounter.Denied, 1)
    this.inBuf = null
    this.fail(code)
  }

  private internalError(err: unknown): void {
    const e = err as Error
    this.ctx.cells.countMisc(this.ctx.slot, 1, 1)
    this.ctx.event('error', { event: 'request_error', error: e?.message, stack: e?.stack }, `request failed inside portico: ${e?.message}`)
    if (this.state === State.Closed) return
    try {
      this.abandonExchange()
      if (!this.hasSentResponse) this.socket.write(toResponse('internal_error'))
    } catch { /* already broken: just close */ }
    this.closeSoon()
  }

  // ── tunnels (after 101) ─────────────────────────────────────────────────────────────────────

  private startTunnel(buf: Buffer, start: number): void {
    this.state = State.Tunnel
    this.endRequest(true)
    this.setDeadline(Deadline.Tunnel, this.timeouts().tunnelIdleMs)
    // Copied: `buf` may be the upstream connection's reused read buffer (pool.ts).
    if (start < buf.length) this.socket.write(Buffer.from(buf.subarray(start)))
    this.conn?.relayTo(this.socket)
    if (this.inBuf !== null) {
      const early = this.inBuf
      this.inBuf = null
      this.conn?.socket.write(early)
    }
    this.socket.resume()
  }

  /** Either side of a tunnel closed or idled out: release the server, close both. */
  private closeTunnel(): void {
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    this.releaseServer()
    this.route = null
    this.upstream = null
    this.server = -1
  }

  private touchTunnel(): void {
    this.deadlineMs = this.ctx.nowMs + this.timeouts().tunnelIdleMs
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

  onDeadline(nowMs: number): void {
    const kind = this.deadlineKind
    this.clearDeadline()
    try {
      switch (kind) {
        case Deadline.ClientIdle:
          this.closeSoon()
          break
        case Deadline.ClientHeader:
          this.inBuf = null
          this.fail('client_header_timeout')
          break
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
        case Deadline.Tunnel:
          this.closeTunnel()
          this.destroy()
          break
        case Deadline.Linger:
          this.destroy()
          break
        case Deadline.ClientSend:
          this.clientSendTimedOut()
          break
      }
    } catch (err) {
      this.internalError(err)
    }
    void nowMs
  }

  /**
   * The client read nothing of its response for client_send: cut it and the upstream (the status
   * it was sent stays in the log; the server is not blamed).
   */
  private clientSendTimedOut(): void {
    const ctx = this.ctx
    ctx.event('warn', { event: 'client_send_timeout', client: this.clientIp, server: this.serverName(), bytes_out: this.bytesOut },
      `client ${this.clientIp} read nothing for ${this.timeouts().clientSendMs}ms: connection cut`)
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    if (this.hasServerSlot || this.route !== null) this.endRequest()
    this.destroy()
  }

  /**
   * The generation is draining: a keep-alive connection idle for DRAIN_QUIET_MS closes now, one
   * idle for less when it has been (its ClientIdle deadline is brought forward), unless its next
   * request comes first: that one is answered with `connection: close`.
   */
  drainIfIdle(): void {
    // A fresh connection's first request is on its way: closing now fails a request no client
    // retries. It is served once, with `connection: close`.
    if (this.state !== State.Head || this.inBuf !== null || this.requests === 0) return
    // Between requests the deadline is the ClientIdle one finishExchange set: now + client_idle.
    const idleSinceMs = this.deadlineMs - this.ctx.config.timeouts.clientIdleMs
    const closeAtMs = idleSinceMs + DRAIN_QUIET_MS
    if (closeAtMs <= Date.now()) this.closeSoon()
    else if (closeAtMs < this.deadlineMs) this.deadlineMs = closeAtMs
  }

  // ── closing ─────────────────────────────────────────────────────────────────────────────────

  /** Drop what is in flight upstream: the client is gone or the request failed. */
  private abandonExchange(): void {
    if (this.state === State.Tunnel) { this.closeTunnel(); return }
    if (this.isQueued) this.leaveQueue()
    const conn = this.conn
    this.conn = null
    if (conn !== null) conn.destroy()
    if (this.hasServerSlot || this.route !== null) this.endRequest()
  }

  private serverName(): string {
    return serverName(this.upstream, this.server)
  }

  /** Close after what was written is flushed. */
  private closeSoon(): void {
    if (this.state === State.Closed) return
    this.state = State.Closed
    this.clearDeadline()
    this.socket.end()
    // A client that never reads must not hold the socket forever: cut it if 'close' doesn't come.
    this.setDeadline(Deadline.Linger, LINGER_MS)
  }

  /**
   * The response is complete and the client may send nothing more: it said this request was its
   * last (RFC 9112 §9.6: no further requests after "close") or it has half-closed, and all it sent
   * has been read. Nothing is left to linger for, so the socket closes as soon as the response is
   * in the kernel: close() sends it and then a FIN, as shutdown() would, without the shutdown and
   * the wait for the client's FIN (a read and a wake-up per connection). Bytes a client sends
   * anyway get it a reset, which is what it asked for. Cleartext only: TLS ends with close_notify
   * (closeSoon). A response the kernel could not take at once also goes the closeSoon way.
   */
  private closeNow(): void {
    const socket = this.socket
    // The response may still be corked in this iteration's write batch: send it now.
    while (socket.writableCorked > 0) socket.uncork()
    if (socket.writableLength > 0) {
      this.closeSoon()
      return
    }
    this.state = State.Closed
    this.clearDeadline()
    socket.destroy()
  }

  destroy(): void {
    this.state = State.Closed
    this.socket.destroy()
  }

  private finishClose(): void {
    this.state = State.Closed
    this.isFinished = true
    const ctx = this.ctx
    ctx.sessions.delete(this)
    ctx.cells.addListenerActive(ctx.slot, this.listener, -1)
    this.inBuf = null
  }
}

// Socket handlers shared by every session: `this` is the client socket, its session hangs off it.
// Five bound functions and two closures per connection were 0.8 KiB of an idle connection's
// memory (perf/RESULTS.md, idle).
const kSession = Symbol('portico.session')
type TaggedSocket = Socket & { [kSession]: Session }
function onSocketData(this: TaggedSocket, chunk: Buffer): void { this[kSession].onData(chunk) }
function onSocketEnd(this: TaggedSocket): void { this[kSession].onEnd() }
function onSocketDrain(this: TaggedSocket): void { this[kSession].onDrain() }
function onSocketClose(this: TaggedSocket): void { this[kSession].onClose() }
function onSocketError(): void { /* 'close' follows and does the cleanup */ }
function resumeSessionInput(session: Session): void { session.resumeInput() }

// The router's header lookup reads the head being routed (routing is synchronous, one at a time).
let routedBuf: Buffer | null = null
let routedHead: RequestHead | null = null
function routedHeader(lowerName: string): string | null {
  return routedBuf === null || routedHead === null ? null : headerValue(routedBuf, routedHead, lowerName)
}

/** Value of the first header `lowerName` in the parsed request, or null. Rare path (routing on headers). */
function headerValue(buf: Buffer, req: RequestHead, lowerName: string): string | null {
  const o = req.offsets
  for (let h = 0; h < req.headerCount; h++) {
    if (o[h * 4 + 1] - o[h * 4] !== lowerName.length) continue
    if (buf.latin1Slice(o[h * 4], o[h * 4 + 1]).toLowerCase() === lowerName) return buf.latin1Slice(o[h * 4 + 2], o[h * 4 + 3])
  }
  return null
}

/** "http://host:port/p?q" → "/p?q". */
function originForm(target: string): string {
  const scheme = target.indexOf('://')
  if (scheme < 0) return target
  const slash = target.indexOf('/', scheme + 3)
  if (slash < 0) {
    const q = target.indexOf('?', scheme + 3)
    return q < 0 ? '/' : '/' + target.slice(q)
  }
  return target.slice(slash)
}
