// One downstream HTTP/2 connection on a worker thread (ALPN h2 over TLS, or h2c prior knowledge):
// the node:http2 server session, its listener accounting, its idle timeout, and GOAWAY when the
// generation drains. Each stream it opens becomes an H2Exchange (exchange.ts) that forwards one
// request to an HTTP/1.1 upstream. Handlers are bound once per connection.

import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2'
import { ListenerCell, ListenerCounter } from '../../shared/layout.ts'
import type { Expiring, WorkerContext } from '../context.ts'
import { H2Exchange } from './exchange.ts'

/** After GOAWAY, how long open streams may take before the connection is cut (when not draining). */
const CLOSE_GRACE_MS = 5000

export class H2Connection implements Expiring {
  readonly ctx: WorkerContext
  readonly session: ServerHttp2Session
  readonly listener: number
  readonly clientIp: string
  readonly proto: 'http' | 'https'
  /** Streams with an H2Exchange that has not closed yet. */
  openStreams = 0
  /** Expiring: client_idle while no stream is open; 0 while streams are open. */
  deadlineMs = 0
  isClosing = false
  isClosed = false

  constructor(ctx: WorkerContext, session: ServerHttp2Session, listener: number, clientIp: string, isTls: boolean) {
    this.ctx = ctx
    this.session = session
    this.listener = listener
    this.clientIp = clientIp
    this.proto = isTls ? 'https' : 'http'
    this.onStream = this.onStream.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onError = this.onError.bind(this)
    session.on('stream', this.onStream)
    session.on('close', this.onClose)
    session.on('error', this.onError)
    ctx.sessions.add(this)
    ctx.cells.addListener(listener, ListenerCell.Active, 1)
    ctx.cells.countListener(ctx.slot, listener, ListenerCounter.Connections, 1)
    this.deadlineMs = Date.now() + ctx.config.timeouts.clientIdleMs
    if (ctx.isDraining) this.drain()
  }

  onStream(stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
    this.openStreams++
    this.deadlineMs = 0
    const ex = new H2Exchange(this, stream, rawHeaders, (flags & END_STREAM) !== 0)
    ex.start()
  }

  /** H2Exchange: its stream closed. */
  streamClosed(): void {
    if (--this.openStreams === 0 && !this.isClosing) this.deadlineMs = this.ctx.nowMs + this.ctx.config.timeouts.clientIdleMs
  }

  onDeadline(_nowMs: number): void {
    if (this.isClosing) {
      // Streams outlived the grace period after GOAWAY.
      this.session.destroy()
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
    this.session.close()
  }

  /** The generation is draining: GOAWAY now; streams in flight finish (bounded by drain_timeout). */
  drain(): void {
    this.close()
  }

  onError(): void {
    // 'close' follows; a protocol or socket error only ends this connection.
  }

  onClose(): void {
    if (this.isClosed) return
    this.isClosed = true
    const ctx = this.ctx
    ctx.sessions.delete(this)
    ctx.cells.addListener(this.listener, ListenerCell.Active, -1)
  }
}

/** HTTP/2 HEADERS flag: the request has no body. */
const END_STREAM = 0x1
