// Listeners with `accept = "workers"`: this worker thread opens its own listen socket on the same
// address with SO_REUSEPORT, and the kernel spreads new connections over the worker threads' (and
// the main thread's) sockets. A connection accepted here never crosses threads — no main-thread
// accept, no handle transfer — which is most of what a new connection costs otherwise
// (perf/RESULTS.md). Worker threads only.
//
// What it gives up: when a generation drains, connections still queued in its threads' accept
// queues are reset by the kernel (Linux does not move them to the sockets that stay), so a reload
// can refuse a few connections; with accept = "main" it never does. And a port below 1024 must be
// bindable by the user portico runs as after dropping root.

import net from 'node:net'
import type { Socket } from 'node:net'
import { Header, ListenerCell, ListenerCounter } from '../shared/layout.ts'
import type { WorkerContext } from './context.ts'

export type Adopt = (socket: Socket, listener: number) => void

export class WorkerListeners {
  private readonly servers: net.Server[] = []
  private readonly ctx: WorkerContext
  private readonly adopt: Adopt
  private isClosed = false

  constructor(ctx: WorkerContext, adopt: Adopt) {
    this.ctx = ctx
    this.adopt = adopt
    if (!ctx.config.listeners.some((l) => l.accept === 'workers')) return
    // Not before the main thread serves this generation: by then root was dropped (no traffic as
    // root), and a generation that never goes live (a failed reload) never takes connections.
    const wait = Atomics.waitAsync(ctx.cells.state, Header.Serving, 0)
    if (wait.async) wait.value.then(() => this.openAll(), () => {})
    else this.openAll()
  }

  private openAll(): void {
    if (this.isClosed) return
    const listeners = this.ctx.config.listeners
    for (let i = 0; i < listeners.length; i++) {
      if (listeners[i].accept === 'workers') this.open(i)
    }
  }

  private open(index: number): void {
    const l = this.ctx.config.listeners[index]
    // Paused: worker.ts serves the connection on a Socket of its own built from the handle.
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket: Socket) => this.onConnection(socket, index))
    server.on('error', (err: NodeJS.ErrnoException) => {
      // This thread can't share the port (EACCES after dropping root, for one): the main thread's
      // socket and the other threads still serve it.
      this.ctx.event('error', { event: 'worker_listen_failed', listener: l.name, bind: l.bind, code: err.code },
        `listener ${l.name}: this worker thread cannot accept on ${l.bind} itself (${err.message}); ` +
        'connections still come through the main thread')
    })
    server.listen({ host: l.host, port: l.port, reusePort: true, backlog: 4096, ipv6Only: l.host === '::' ? false : undefined }, () => {
      // The main thread steps out of the port once every thread listens (main/main.ts).
      this.ctx.cells.addListener(index, ListenerCell.WorkerSockets, 1)
      server.once('close', () => this.ctx.cells.addListener(index, ListenerCell.WorkerSockets, -1))
    })
    this.servers.push(server)
  }

  private onConnection(socket: Socket, index: number): void {
    const cells = this.ctx.cells
    if (cells.listener(index, ListenerCell.Enabled) === 0 || this.ctx.isDraining) {
      socket.destroy()
      return
    }
    // global.max_connections over every listener, as the main thread checks it.
    let open = 0
    for (let l = 0; l < this.ctx.config.listeners.length; l++) open += cells.listener(l, ListenerCell.Active)
    if (open >= this.ctx.config.global.maxConnections) {
      cells.countListener(this.ctx.slot, index, ListenerCounter.Refused, 1)
      socket.destroy()
      return
    }
    this.adopt(socket, index)
  }

  /** Stop accepting (drain): connections already adopted carry on. */
  close(): void {
    this.isClosed = true
    for (const s of this.servers) s.close()
    this.servers.length = 0
  }
}
