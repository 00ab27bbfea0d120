// The listen sockets, owned by the main thread for the life of the process. A socket is bound
// once and kept across reloads as long as a listener with the same bind address exists, so a
// reload never refuses a connection. Accepted sockets are never read here (pauseOnConnect):
// they go untouched to a worker thread.

import net from 'node:net'
import type { Socket } from 'node:net'
import type { ListenerConfig } from '../shared/config/types.ts'

export type OnAccept = (socket: Socket, bind: string) => void

export class ListenError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ListenError'
  }
}

function explain(l: ListenerConfig, err: NodeJS.ErrnoException): string {
  const where = `listeners "${l.name}": bind ${l.bind}`
  switch (err.code) {
    case 'EADDRINUSE': return `${where}: address already in use (another process listens there; stop it or change bind)`
    case 'EACCES': return `${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`
    case 'EADDRNOTAVAIL': return `${where}: address not available on this machine`
    default: return `${where}: ${err.message}`
  }
}

export class Listeners {
  /** By bind string ("0.0.0.0:8080"). */
  private readonly servers = new Map<string, net.Server>()
  private readonly onAccept: OnAccept

  constructor(onAccept: OnAccept) {
    this.onAccept = onAccept
  }

  /**
   * Make the set of open listen sockets match `wanted`: open new binds, close binds no longer
   * configured, keep the rest untouched. Rejects with a ListenError naming the listener when a
   * bind fails (the sockets opened by this call are closed again, the old ones stay).
   */
  async apply(wanted: ListenerConfig[]): Promise<void> {
    await this.openMissing(wanted)
    this.closeExcept(wanted)
  }

  /**
   * First half of a reload: open the binds of `wanted` not open yet and return them; close
   * nothing. A bind that fails closes the ones this call opened and rejects with a ListenError.
   */
  async openMissing(wanted: ListenerConfig[]): Promise<string[]> {
    const opened: string[] = []
    for (const l of wanted) {
      if (this.servers.has(l.bind)) continue
      try {
        this.servers.set(l.bind, await this.open(l))
        opened.push(l.bind)
      } catch (err) {
        for (const bind of opened) this.closeOne(bind)
        throw new ListenError(explain(l, err as NodeJS.ErrnoException))
      }
    }
    return opened
  }

  /** Second half: close every bind `wanted` does not have (connections already accepted live on). */
  closeExcept(wanted: ListenerConfig[]): void {
    const keep = new Set(wanted.map((l) => l.bind))
    for (const bind of [...this.servers.keys()]) if (!keep.has(bind)) this.closeOne(bind)
  }

  /** Close the given binds (a reload that failed after openMissing). */
  closeBinds(binds: string[]): void {
    for (const bind of binds) this.closeOne(bind)
  }

  private open(l: ListenerConfig): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true, noDelay: true })
      const bind = l.bind
      server.on('connection', (socket: Socket) => this.onAccept(socket, bind))
      server.once('error', reject)
      // accept = "workers": the worker threads bind the same address with SO_REUSEPORT too, which
      // needs it on every socket of the group, ours included (src/worker/accept.ts).
      const reusePort = l.accept === 'workers'
      server.listen({ host: l.host, port: l.port, backlog: 4096, reusePort, ipv6Only: l.host === '::' ? false : undefined }, () => {
        server.off('error', reject)
        server.on('error', () => { /* accept errors (EMFILE…) are transient; the server keeps listening */ })
        resolve(server)
      })
    })
  }

  private closeOne(bind: string): void {
    this.servers.get(bind)?.close()
    this.servers.delete(bind)
  }

  /** The port actually bound (for port 0 in tests). */
  port(bind: string): number {
    const addr = this.servers.get(bind)?.address()
    return typeof addr === 'object' && addr !== null ? addr.port : 0
  }

  closeAll(): void {
    for (const bind of [...this.servers.keys()]) this.closeOne(bind)
  }
}
