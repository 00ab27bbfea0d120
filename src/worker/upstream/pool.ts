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
import type { UpstreamTls } from '../../shared/config/types.ts'

/** The side of an upstream connection that receives its events while a request uses it. */
export interface ConnOwner {
  onUpstreamConnect(conn: UpstreamConn): void
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
      this.socket = net.connect({ host: pool.host, port: pool.port, noDelay: true })
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
