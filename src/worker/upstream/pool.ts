// Connections from one worker thread to upstream servers: UpstreamConn wraps one TCP connection
// (or TLS, for a server with `tls = true`), ServerPool keeps a server's idle keep-alive connections
// (LIFO: the most recently used one is the least likely to have been closed by the server) and its
// last TLS session, so a new connection resumes instead of a full handshake. Worker threads only;
// nothing is shared.

import fs from 'node:fs'
import net from 'node:net'
import type { Socket } from 'node:net'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { ReadBufferPair } from '../read-buffers.ts'
import type { UpstreamTls } from '../../shared/config/types.ts'

/**
 * Bytes read from plain-TCP upstream connections land in reused memory instead of a fresh
 * ArrayBuffer per read (Node's default: malloc, a cold copy, and external memory that drives
 * major GCs — 13% of a download's CPU in perf record). Three cases, chosen before each read:
 *
 * - Between relays (response heads, small responses, idle pooled connections): the worker's one
 *   `scratch` buffer, shared by every connection. Reads on one thread happen one at a time and
 *   the owner's handler runs before the next, so this is safe as long as the owner keeps nothing
 *   of the chunk past its handler: what it keeps (a partial head, a body start sent with its
 *   head) it copies — see `ConnOwner.onUpstreamData`.
 * - Relaying a body to a socket (`relayTo(socket)`): two buffers of the connection's own,
 *   alternated (ReadBufferPair, worker/read-buffers.ts, which says when one is read into again).
 * - Relaying into something whose queue we can't see (an HTTP/2 stream, where nghttp2 holds
 *   the data until flow control lets it go: `relayTo(null)`): a new buffer per read, as Node does.
 *
 * TLS connections read through node:tls and get fresh buffers from it; the same owner rules hold.
 */
const READ_BYTES = 64 * 1024
const scratch = Buffer.allocUnsafeSlow(READ_BYTES)

const Relay = { None: 0, Socket: 1, Fresh: 2 } as const

/** The side of an upstream connection that receives its events while a request uses it. */
export interface ConnOwner {
  onUpstreamConnect(conn: UpstreamConn): void
  /**
   * `chunk` may be reused memory: keep none of it past this call unless `conn.relayTo` was set
   * before the read (then it may be written to that socket or stream as it is); copy anything else.
   */
  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void
  onUpstreamDrain(conn: UpstreamConn): void
  onUpstreamClose(conn: UpstreamConn, err: Error | null): void
}

export class UpstreamConn {
  readonly socket: Socket
  readonly pool: ServerPool
  owner: ConnOwner | null = null
  isConnected = false
  isClosed = false
  /** Requests this connection has carried; > 0 means a request on it is a reuse. */
  requests = 0
  idleSinceMs = 0
  lastError: Error | null = null
  /** Read buffers (see READ_BYTES): the relay mode, where its bytes go, and the own buffer pair. */
  private relay: number = Relay.None
  private relaySocket: Socket | null = null
  private readonly relayBufs = new ReadBufferPair(READ_BYTES)

  constructor(pool: ServerPool, owner: ConnOwner) {
    this.pool = pool
    this.owner = owner
    this.onConnect = this.onConnect.bind(this)
    this.onData = this.onData.bind(this)
    this.onDrain = this.onDrain.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onSession = this.onSession.bind(this)
    if (pool.tls === null) {
      this.nextReadBuffer = this.nextReadBuffer.bind(this)
      this.onRead = this.onRead.bind(this)
      this.socket = net.connect({
        host: pool.host, port: pool.port, noDelay: true, onread: { buffer: this.nextReadBuffer, callback: this.onRead },
      })
      this.socket.on('connect', this.onConnect)
    } else {
      // Connected means handshake done and certificate accepted: a TLS failure is a connect
      // failure (502 or retry on another server), logged with OpenSSL's reason as err.message.
      const socket = tls.connect(pool.connectOptions())
      socket.setNoDelay(true)
      socket.on('secureConnect', this.onConnect)
      socket.on('session', this.onSession)
      this.socket = socket
    }
    this.socket.on('data', this.onData)
    this.socket.on('drain', this.onDrain)
    this.socket.on('error', this.onError)
    this.socket.on('close', this.onClose)
  }

  /**
   * The response body from the next read on is relayed as read: to `socket` (HTTP/1.1 client,
   * tunnel), or, with null, to something whose write queue we can't see (an HTTP/2 stream).
   * Set before the read it applies to; cleared when the connection goes back to its pool.
   */
  relayTo(socket: Socket | null): void {
    this.relay = socket === null ? Relay.Fresh : Relay.Socket
    this.relaySocket = socket
  }

  /** Stop relaying: the next reads go to the shared scratch buffer again. */
  endRelay(): void {
    this.relay = Relay.None
    this.relaySocket = null
    this.relayBufs.clear()
  }

  /** Called by the socket once at connect and after every read: where the next read goes. */
  private nextReadBuffer(): Buffer {
    switch (this.relay) {
      case Relay.Socket:
        // Alternate; a buffer whose bytes may still be queued is replaced, never overwritten.
        return this.relayBufs.next()
      case Relay.Fresh:
        return Buffer.allocUnsafeSlow(READ_BYTES)
      default:
        return scratch
    }
  }

  private onRead(nread: number, buf: Buffer): boolean {
    const relaySocket = this.relaySocket
    this.relayBufs.noteRead(relaySocket === null ? 0 : relaySocket.writableLength)
    this.onData(buf.subarray(0, nread))
    return true
  }

  private onConnect(): void {
    this.isConnected = true
    this.owner?.onUpstreamConnect(this)
  }

  private onSession(session: Buffer): void {
    this.pool.keepSession(this.socket as TLSSocket, session)
  }

  private onData(chunk: Buffer): void {
    if (this.owner !== null) {
      this.owner.onUpstreamData(this, chunk)
    } else {
      // Bytes on an idle pooled connection: the server broke framing; never reuse it.
      this.socket.destroy()
    }
  }

  private onDrain(): void {
    this.owner?.onUpstreamDrain(this)
  }

  private onError(err: Error): void {
    this.lastError = err
  }

  private onClose(): void {
    this.isClosed = true
    const owner = this.owner
    this.owner = null
    if (owner !== null) owner.onUpstreamClose(this, this.lastError)
  }

  destroy(): void {
    this.owner = null
    this.isClosed = true
    this.endRelay()
    this.socket.destroy()
  }
}

/**
 * CA files read by this worker thread, by path. A worker thread serves one generation, so a CA
 * file changed on disk is read again by the next generation's threads (SIGHUP), not mid-way.
 */
const caFiles = new Map<string, Buffer | null>()

function readCa(file: string): Buffer | null {
  let pem = caFiles.get(file)
  if (pem === undefined) {
    try {
      pem = fs.readFileSync(file)
    } catch {
      // validate.ts read it moments ago; if it has gone since, trust nothing rather than fall
      // back to the public CAs: every handshake fails (verification error, logged as a connect failure).
      pem = null
    }
    caFiles.set(file, pem)
  }
  return pem
}

export class ServerPool {
  readonly server: number
  readonly host: string
  readonly port: number
  /** Most idle connections kept (`keepalive`). */
  readonly maxIdle: number
  /** TLS to this server, or null for plain TCP. */
  readonly tls: UpstreamTls | null
  /** PEM CAs from `tls_ca` (read once per worker thread); null = Node's bundled CAs. */
  private readonly ca: Buffer | string[] | null
  /** The last TLS session the server gave us, offered on the next connection. */
  private tlsSession: Buffer | null
  private readonly idle: UpstreamConn[] = []

  constructor(server: number, host: string, port: number, maxIdle: number, upstreamTls: UpstreamTls | null = null) {
    this.server = server
    this.host = host
    this.port = port
    this.maxIdle = maxIdle
    this.tls = upstreamTls
    this.ca = upstreamTls === null || upstreamTls.caFile === null ? null : (readCa(upstreamTls.caFile) ?? [])
    this.tlsSession = null
  }

  /** tls.connect options for a new connection to this server (TLS servers only). */
  connectOptions(): tls.ConnectionOptions {
    const t = this.tls as UpstreamTls
    return {
      host: this.host,
      port: this.port,
      servername: t.sni ?? undefined,
      ca: this.ca ?? undefined,
      rejectUnauthorized: t.verify,
      ALPNProtocols: ['http/1.1'],
      session: this.tlsSession ?? undefined,
    }
  }

  /** Keep a session ticket for the next connection, only from a server whose certificate passed. */
  keepSession(socket: TLSSocket, session: Buffer): void {
    if (socket.authorized || this.tls?.verify === false) this.tlsSession = session
  }

  /** A live idle connection, most recently used first, or null. */
  take(owner: ConnOwner): UpstreamConn | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop() as UpstreamConn
      if (conn.isClosed || conn.socket.destroyed) continue
      conn.owner = owner
      conn.socket.ref()
      conn.socket.resume()
      return conn
    }
    return null
  }

  open(owner: ConnOwner): UpstreamConn {
    return new UpstreamConn(this, owner)
  }

  /** Keep a connection whose exchange ended cleanly, or close it when the pool is full. */
  release(conn: UpstreamConn, nowMs: number): void {
    conn.owner = null
    conn.endRelay()
    if (conn.isClosed || this.idle.length >= this.maxIdle) {
      conn.destroy()
      return
    }
    conn.idleSinceMs = nowMs
    // Paused for backpressure at the end of the last response: read again, to notice a close.
    conn.socket.resume()
    // An idle pooled connection must not keep a draining worker alive.
    conn.socket.unref()
    this.idle.push(conn)
  }

  /** Close connections idle for longer than `idleMs` (upstream_idle); called by the worker's sweep. */
  sweep(nowMs: number, idleMs: number): void {
    const idle = this.idle
    let kept = 0
    for (let i = 0; i < idle.length; i++) {
      const c = idle[i]
      if (c.isClosed) continue
      if (nowMs - c.idleSinceMs >= idleMs) { c.destroy(); continue }
      idle[kept++] = c
    }
    idle.length = kept
  }

  closeIdle(): void {
    for (const c of this.idle) c.destroy()
    this.idle.length = 0
  }

  idleCount(): number {
    return this.idle.length
  }
}
