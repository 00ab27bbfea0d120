// One generation = one validated config + its SharedArrayBuffer cells + its piscina pool of
// worker threads. Main thread only. A reload builds a new generation, waits until its threads are
// up (ready()), switches dispatch to it and drains the old one; nothing here throws out to the
// caller after construction.

import { randomBytes } from 'node:crypto'
import { Piscina } from 'piscina'
import type { Socket } from 'node:net'
import { Cells, allocateCells } from '../shared/cells.ts'
import {
  Admin, Header, Health, ListenerCell, ListenerCounter, LISTENER_COUNTERS, MiscCounter, MISC_COUNTERS, ServerCell,
  ServerCounter, SERVER_COUNTERS,
} from '../shared/layout.ts'
import { Ring } from '../shared/ring.ts'
import type { Config } from '../shared/config/types.ts'
import { RecordKind } from '../shared/worker-init.ts'
import type { ConnectionTask, WorkerInit } from '../shared/worker-init.ts'
import type { Logs } from './log.ts'

/**
 * The module piscina loads in every worker thread. The standalone binary (tools/sea/main.ts)
 * points `url` at the worker bundle it extracts before the first generation starts.
 */
export const workerModule = { url: new URL('../worker/worker.ts', import.meta.url).href }
/** Per worker slot: 1 MiB holds several thousand access-log lines between two reader wake-ups. */
const RING_BYTES = 1 << 20
/** How often the reader looks at the rings when none has woken it (a worker may not notify). */
const RING_POLL_MS = 200
/** How often ready() looks whether every thread has claimed its worker slot. */
const READY_POLL_MS = 20

export interface WorkerInfo { threadId: number; slot: number; generation: number; connections: number }

export class Generation {
  readonly id: number
  readonly config: Config
  readonly cells: Cells
  readonly pool: Piscina
  readonly rings: Ring[]
  readonly logs: Logs
  /** Connections handed to this generation and not yet closed. */
  connections = 0
  isDraining = false
  private readonly textDecoder = new TextDecoder()
  private ringTimer: NodeJS.Timeout | null = null
  private drainResolve: (() => void) | null = null

  constructor(id: number, config: Config, logs: Logs, previous: Generation | null, ticketKeys: Buffer | null) {
    this.id = id
    this.config = config
    this.logs = logs
    let servers = 0
    for (const u of config.upstreams) servers += u.servers.length
    // Twice the threads: a replacement thread finds a free slot before the dead one's is released.
    const slots = config.global.workers * 2
    const buffers = allocateCells({ servers, upstreams: config.upstreams.length, listeners: config.listeners.length, workers: slots })
    this.cells = new Cells(buffers)
    this.initCells(previous)
    const ringBuffers: SharedArrayBuffer[] = []
    this.rings = []
    for (let i = 0; i < slots; i++) {
      const sab = Ring.allocate(RING_BYTES)
      ringBuffers.push(sab)
      this.rings.push(new Ring(sab))
    }
    const init: WorkerInit = { config, generation: id, buffers, rings: ringBuffers, ticketKeys: ticketKeys ?? randomBytes(48) }
    this.pool = new Piscina({
      filename: WORKER_FILE,
      name: 'default',
      minThreads: config.global.workers,
      maxThreads: config.global.workers,
      idleTimeout: 2 ** 31 - 1,
      // A connection is one long task: a worker must take many at once.
      concurrentTasksPerWorker: config.global.maxConnections,
      // Workers run event loops; piscina must never park one in Atomics.wait.
      atomics: 'disabled',
      workerData: init,
    })
    this.pool.on('workerDestroy', (w: { id: number }) => this.onWorkerGone(w.id))
    this.pool.on('error', (err: Error) => {
      this.logs.error.error({ event: 'worker_error', err }, `worker thread failed: ${err.message}`)
    })
    this.startRingReader()
  }

  /** Fresh cells from the config, carrying over what the previous generation knew of servers that still exist. */
  private initCells(previous: Generation | null): void {
    const c = this.cells
    c.setHeader(Header.Generation, this.id)
    c.setHeader(Header.EpochSeconds, (Date.now() / 1000) | 0)
    const now = (Date.now() / 1000) | 0
    let index = 0
    for (const u of this.config.upstreams) {
      for (const s of u.servers) {
        c.setServer(index, ServerCell.Health, Health.Up)
        c.setServer(index, ServerCell.Admin, Admin.Ready)
        c.setServer(index, ServerCell.Weight, s.weight)
        c.setServer(index, ServerCell.InitialWeight, s.weight)
        c.setServer(index, ServerCell.MaxConn, u.maxConnectionsPerServer)
        c.setServer(index, ServerCell.CheckEnabled, u.health === null ? 0 : 1)
        c.setServer(index, ServerCell.LastChange, now)
        const old = previous?.serverIndex(u.name, s.name) ?? -1
        if (previous !== null && old >= 0) this.carryOver(previous, old, index)
        index++
      }
    }
    for (let l = 0; l < this.config.listeners.length; l++) c.setListener(l, ListenerCell.Enabled, 1)
  }

  private carryOver(previous: Generation, from: number, to: number): void {
    const p = previous.cells
    const c = this.cells
    c.setServer(to, ServerCell.Health, p.server(from, ServerCell.Health))
    c.setServer(to, ServerCell.Admin, p.server(from, ServerCell.Admin))
    c.setServer(to, ServerCell.CheckCount, p.server(from, ServerCell.CheckCount))
    c.setServer(to, ServerCell.EjectUntil, p.server(from, ServerCell.EjectUntil))
    c.setServer(to, ServerCell.Fails, p.server(from, ServerCell.Fails))
    c.setServer(to, ServerCell.LastChange, p.server(from, ServerCell.LastChange))
    // A weight set at runtime survives a reload; an unchanged one follows the new file.
    const runtimeWeight = p.server(from, ServerCell.Weight)
    if (runtimeWeight !== p.server(from, ServerCell.InitialWeight)) c.setServer(to, ServerCell.Weight, runtimeWeight)
    // Likewise `set maxconn server` and `disable health` (when the upstream still has checks).
    const oldUpstream = previous.config.upstreams.find((u) => u.servers.length > 0 && previous.serverIndex(u.name, u.servers[0].name) <= from &&
      from < previous.serverIndex(u.name, u.servers[0].name) + u.servers.length)
    const runtimeMaxConn = p.server(from, ServerCell.MaxConn)
    if (oldUpstream !== undefined && runtimeMaxConn !== oldUpstream.maxConnectionsPerServer) c.setServer(to, ServerCell.MaxConn, runtimeMaxConn)
    if (c.server(to, ServerCell.CheckEnabled) === 1 && p.server(from, ServerCell.CheckEnabled) === 0 && oldUpstream?.health !== null) {
      c.setServer(to, ServerCell.CheckEnabled, 0)
    }
    // Counters continue: the old totals go into the new main shard.
    for (let k = 0; k < SERVER_COUNTERS; k++) {
      const v = k === ServerCounter.MaxActive ? p.maxOfServer(from, k) : p.sumServer(from, k)
      if (v !== 0) c.countServer(c.mainShard, to, k, v)
    }
  }

  /** Global server index of upstream/server by name, or -1. */
  serverIndex(upstream: string, server: string): number {
    let index = 0
    for (const u of this.config.upstreams) {
      if (u.name === upstream) {
        for (const s of u.servers) {
          if (s.name === server) return index
          index++
        }
        return -1
      }
      index += u.servers.length
    }
    return -1
  }

  listenerIndex(name: string): number {
    return this.config.listeners.findIndex((l) => l.name === name)
  }

  /** Hand an accepted, never-read socket to the least busy worker thread. */
  dispatch(socket: Socket, listener: number): void {
    this.connections++
    const task: ConnectionTask = { socket, listener }
    this.pool.run(task, { transferList: [socket] as never }).then(
      () => this.onConnectionDone(),
      (err: Error) => {
        // The worker thread died with this connection on it: the connection is lost, nothing else.
        this.onConnectionDone()
        this.logs.error.warn({ event: 'connection_lost', reason: err.message }, 'connection lost with its worker thread')
      },
    )
  }

  private onConnectionDone(): void {
    this.connections--
    if (this.isDraining && this.connections === 0 && this.drainResolve !== null) this.drainResolve()
  }

  private onWorkerGone(threadId: number): void {
    const slot = this.cells.slotOf(threadId)
    if (slot < 0) return
    const removed = this.cells.releaseSlot(slot)
    if (!this.isDraining) {
      this.logs.error.error({ event: 'worker_replaced', threadId, slot, inFlight: removed },
        `worker thread ${threadId} exited; ${removed} in-flight request${removed === 1 ? '' : 's'} lost, replacing it`)
    }
  }

  /** Worker threads currently in this generation, for `show workers`. */
  workers(): WorkerInfo[] {
    const out: WorkerInfo[] = []
    for (const t of this.pool.threads) {
      const slot = this.cells.slotOf(t.threadId)
      out.push({ threadId: t.threadId, slot, generation: this.id, connections: slot < 0 ? 0 : this.cells.slotConnections(slot) })
    }
    return out
  }

  // ── rings: worker records → logs ────────────────────────────────────────────────────────────

  private startRingReader(): void {
    const tick = (): void => {
      this.drainRings()
      this.ringTimer = setTimeout(tick, RING_POLL_MS)
      this.ringTimer.unref()
    }
    tick()
    for (const ring of this.rings) this.waitOn(ring)
  }

  private waitOn(ring: Ring): void {
    const p = ring.waitAsync()
    if (p === null) {
      // Records are already waiting: read them, then wait again (on the next turn, not recursively).
      setImmediate(() => {
        if (this.ringTimer === null) return
        this.drainRings()
        this.waitOn(ring)
      })
      return
    }
    p.then(() => {
      if (this.ringTimer === null) return
      this.drainRings()
      this.waitOn(ring)
    }, () => {})
  }

  drainRings(): void {
    for (const ring of this.rings) ring.drain(this.onRecord, 10000)
  }

  private readonly onRecord = (bytes: Uint8Array): void => {
    const kind = bytes[0]
    const text = this.textDecoder.decode(bytes.subarray(1))
    if (kind === RecordKind.Access) {
      this.logs.access?.writeLine(text + '\n')
    } else if (kind === RecordKind.Event) {
      try {
        const rec = JSON.parse(text) as { level?: string; msg?: string }
        const level = rec.level ?? 'info'
        const msg = rec.msg ?? ''
        delete rec.level
        delete rec.msg
        const log = this.logs.error as unknown as Record<string, (o: object, m: string) => void>
        ;(log[level] ?? log.info).call(this.logs.error, rec, msg)
      } catch {
        this.logs.error.warn({ event: 'bad_ring_record' }, 'unreadable event record from a worker')
      }
    }
  }

  // ── drain and stop ──────────────────────────────────────────────────────────────────────────

  /**
   * Stop taking connections and let the ones in flight finish: workers see the Draining cell,
   * close idle keep-alive connections at once and send `Connection: close` on the next response
   * of busy ones. Resolves when every connection is closed or after `timeoutMs`, then destroys
   * the threads (whatever is left is cut).
   */
  async drain(timeoutMs: number): Promise<void> {
    this.isDraining = true
    this.cells.setHeader(Header.Draining, 1)
    Atomics.notify(this.cells.state, Header.Draining)
    if (this.connections > 0) {
      await new Promise<void>((resolve) => {
        this.drainResolve = resolve
        const t = setTimeout(resolve, timeoutMs)
        t.unref()
      })
    }
    await this.destroy()
  }

  async destroy(): Promise<void> {
    this.isDraining = true
    await this.pool.destroy().catch(() => {})
    if (this.ringTimer !== null) clearTimeout(this.ringTimer)
    this.ringTimer = null
    this.drainRings()
  }
}
