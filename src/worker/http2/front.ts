// The client-facing protocol choice for each accepted connection on a worker thread: TLS
// listeners go through a per-listener TLS server (tls.ts) that does the handshake here, then ALPN
// picks HTTP/2 (an H2Connection) or HTTP/1.1 (a Session over the TLS socket); cleartext listeners
// with "h2c" peek at the first bytes for the HTTP/2 connection preface (prior knowledge, RFC 9113
// §3.3) and hand everything else to the HTTP/1.1 Session. One ClientFront per worker per
// generation; its TLS servers never listen, they only adopt sockets given to them.

import type { Socket } from 'node:net'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { ListenerCounter } from '../../shared/layout.ts'
import type { Expiring, WorkerContext } from '../context.ts'
import { Session } from '../session.ts'
import { loadCerts, tlsServerOptions } from '../tls.ts'
import { H2Connection } from './connection.ts'
import { PREFACE } from './frames.ts'
import { normalizeIp } from '../router.ts'

/** A handshake that ended because the client closed or reset: not a TLS error of ours to count. */
function isHangUp(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'ECONNRESET'
}

export class ClientFront {
  readonly ctx: WorkerContext
  /** By listener index: the TLS server of a TLS listener; null for cleartext or unusable ones. */
  readonly tlsServers: Array<tls.Server | null>
  /** By listener index: whether a cleartext listener serves h2c. */
  readonly isH2c: boolean[]

  constructor(ctx: WorkerContext, ticketKeys: Buffer | null) {
    this.ctx = ctx
    this.tlsServers = []
    this.isH2c = []
    const listeners = ctx.config.listeners
    for (let li = 0; li < listeners.length; li++) {
      const l = listeners[li]
      this.tlsServers.push(l.tls === null ? null : this.tlsServer(li, ticketKeys))
      this.isH2c.push(l.tls === null && l.protocols.includes('h2c'))
    }
  }

  private tlsServer(li: number, ticketKeys: Buffer | null): tls.Server | null {
    const ctx = this.ctx
    const l = ctx.config.listeners[li]
    let opts: tls.TlsOptions
    try {
      const certs = loadCerts(l.tls!, ticketKeys)
      opts = tlsServerOptions(l, certs, ticketKeys, ctx.config.timeouts.clientHeaderMs)
    } catch (err) {
      // validate.ts checked the files; they changed since. This listener refuses connections
      // (counted as TLS errors) until a reload with readable certificates.
      ctx.event('error', { event: 'tls_certificates_unreadable', listener: l.name, error: (err as Error).message },
        `listener ${l.name}: cannot load its certificates, refusing TLS connections: ${(err as Error).message}`)
      return null
    }
    const server = tls.createServer(opts)
    const hasH1 = l.protocols.includes('http/1.1')
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') {
        new H2Connection(ctx, socket, li, normalizeIp(socket.remoteAddress), true, null)
      } else if (hasH1) {
        // ALPN chose http/1.1, or the client offered no ALPN at all (alpnProtocol false).
        new Session(ctx, socket, li, true)
      } else {
        socket.destroy()
      }
    })
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      if (!isHangUp(err)) ctx.cells.countListener(ctx.slot, li, ListenerCounter.TlsErrors, 1)
      socket.destroy()
    })
    return server
  }

  /**
   * Serve one accepted socket. It counts among this thread's open connections (its slot's
   * Connections cell: dispatch, drain and crash reports read it) from now until it closes, TLS
   * handshake and protocol sniffing included. `isCounted`: the main thread counted it already,
   * when it sent it here.
   */
  adopt(socket: Socket, listener: number, isCounted: boolean): void {
    const ctx = this.ctx
    if (!isCounted) ctx.cells.addSlotConnections(ctx.slot, 1)
    socket.on('close', this.onAdoptedClose)
    const l = ctx.config.listeners[listener]
    if (l.tls !== null) {
      const server = this.tlsServers[listener]
      if (server === null) {
        ctx.cells.countListener(ctx.slot, listener, ListenerCounter.TlsErrors, 1)
        socket.destroy()
      } else {
        server.emit('connection', socket)
      }
    } else if (this.isH2c[listener]) {
      new Sniffer(this, socket, listener)
    } else {
      new Session(ctx, socket, listener, false)
    }
  }

  /** One listener for every adopted socket (`this` is the socket; nothing per connection). */
  private readonly onAdoptedClose = (): void => {
    this.ctx.cells.addSlotConnections(this.ctx.slot, -1)
  }

  /** Sniffer: the first bytes (`head`) decided the protocol of a cleartext h2c listener's connection. */
  handOff(socket: Socket, listener: number, head: Buffer, isH2: boolean): void {
    if (isH2) {
      new H2Connection(this.ctx, socket, listener, normalizeIp(socket.remoteAddress), false, head)
    } else if (this.ctx.config.listeners[listener].protocols.includes('http/1.1')) {
      // The HTTP/1.1 Session reads them again as its first 'data'.
      socket.unshift(head)
      new Session(this.ctx, socket, listener, false)
    } else {
      this.ctx.cells.countListener(this.ctx.slot, listener, ListenerCounter.Denied, 1)
      socket.destroy()
    }
  }
}

/**
 * Reads a cleartext connection until its first bytes show whether it starts with the HTTP/2
 * preface, then hands the socket over with those bytes. Bounded by client_header.
 */
class Sniffer implements Expiring {
  readonly front: ClientFront
  readonly socket: Socket
  readonly listener: number
  buf: Buffer | null = null
  deadlineMs: number

  constructor(front: ClientFront, socket: Socket, listener: number) {
    this.front = front
    this.socket = socket
    this.listener = listener
    this.onData = this.onData.bind(this)
    this.onClose = this.onClose.bind(this)
    socket.on('data', this.onData)
    socket.on('close', this.onClose)
    socket.on('error', onSocketError)
    this.deadlineMs = Date.now() + front.ctx.config.timeouts.clientHeaderMs
    front.ctx.sessions.add(this)
    socket.resume()
  }

  onData(chunk: Buffer): void {
    const buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk])
    this.buf = buf
    const n = buf.length < PREFACE.length ? buf.length : PREFACE.length
    const isPrefix = buf.compare(PREFACE, 0, n, 0, n) === 0
    if (isPrefix && n < PREFACE.length) return // the preface so far: wait for the rest
    const socket = this.socket
    socket.removeListener('data', this.onData)
    socket.pause()
    this.buf = null
    this.deadlineMs = 0
    this.front.ctx.sessions.delete(this)
    this.front.handOff(socket, this.listener, buf, isPrefix)
  }

  onClose(): void {
    this.front.ctx.sessions.delete(this)
  }

  onDeadline(_nowMs: number): void {
    this.front.ctx.sessions.delete(this)
    this.socket.destroy()
  }
}

function onSocketError(): void {
  // 'close' follows; whoever owns the socket by then cleans up.
}
