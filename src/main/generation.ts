// One generation = one validated config + its SharedArrayBuffer cells + its piscina pool of
// worker threads. Main thread only. A reload builds a new generation, waits until its threads are
// up (ready()), switches dispatch to it and drains the old one; nothing here throws out to the
// caller after construction.

import { randomBytes } from 'node:crypto'
import { Piscina } from 'piscina'
import type { Socket } from 'node:net'
import type { MessagePort } from 'node:worker_threads'
import { Cells, allocateCells } from '../shared/cells.ts'
import {
  Admin, Header, Health, ListenerCell, ListenerCounter, LISTENER_COUNTERS, MiscCounter, MISC_COUNTERS, ServerCell,
  ServerCounter, SERVER_COUNTERS,
} from '../shared/layout.ts'
import { Ring } from '../shared/ring.ts'
import { detachHandle } from '../shared/socket-handle.ts'
import type { Config } from '../shared/config/types.ts'
import { RecordKind, isDispatchPortMessage } from '../shared/worker-init.ts'
import type { ConnectionTask, WorkerInit } from '../shared/worker-init.ts'
import type { Logs } from './log.ts'

/**
 * Set on globalThis.porticoStandalone by the standalone binary (tools/sea/extract.ts) before any
 * of portico's modules run: where it extracted what worker threads load from disk.
 */
export interface Standalone {
  /** file: URL of the extraction directory, with a trailing '/'; `import.meta.url` resolves under it. */
  root: string
  /** file: URL of the bundled worker module (worker/worker.ts and its imports). */
  workerUrl: string
  /** Path of piscina's own thread entry, bundled. */
  piscinaWorker: string
  /** The directory and its files, handed to global.user when privileges are dropped. */
  dir: string
  files: string[]
}

export function standalone(): Standalone | null {
  return (globalThis as { porticoStandalone?: Standalone }).porticoStandalone ?? null
}

/**
 * Young-generation ceiling of each worker thread's V8 heap. The main thread gets the same (three
 * 4 MiB semi-spaces) from `--max-semi-space-size=4` on its command line: bin/portico and the
 * standalone binary (tools/build-sea.ts) pass it.
 */
export const WORKER_YOUNG_GENERATION_MB = 12

/** The module piscina loads in every worker thread: worker/worker.ts, or its bundle in the standalone binary. */
const WORKER_URL = standalone()?.workerUrl ?? new URL('../worker/worker.ts', import.meta.url).href
/** Per worker slot: 1 MiB holds several thousand access-log lines between two reader wake-ups. */
const RING_BYTES = 1 << 20
/** How often the reader looks at the rings when none has woken it (a worker may not notify). */
const RING_POLL_MS = 200
/** How often ready() looks whether every thread has claimed its worker slot and sent its port. */
const READY_POLL_MS = 20
/** How often a drain looks whether the generation's connections have all closed. */
const DRAIN_POLL_MS = 20

export interface WorkerInfo { threadId: number; slot: number; generation: number; connections: number }

/** A thread whose heartbeat is this many tenths of a second old counts as stalled. */
const STALLED_TENTHS = 3
/** Added to a stalled thread's connection count: more than any thread holds. */
const STALLED_PENALTY = 1 << 30

/** What piscina's load balancer sees of a thread (piscina does not export its PiscinaWorker type). */
interface PoolThread { currentUsage: number; terminating: boolean; destroyed: boolean }

/** One worker-thread crash: the error piscina hands to every task the thread had, logged once. */
interface Crash { err: Error; lostConnections: number }

/** A worker thread that takes connections on its own port (worker/worker.ts), and its slot in the cells. */
interface DispatchTarget { threadId: number; slot: number; port: MessagePort }

export class Generation {
  readonly id: number
  readonly config: Config
  readonly cells: Cells
  readonly pool: Piscina
  readonly rings: Ring[]
  readonly logs: Logs
  /** Connections sent as piscina tasks and not yet adopted by a thread (see dispatch()). */
  private pendingTasks = 0
  isDraining = false
  /** pool.destroy() has begun: task rejections from here on are cuts, not crashes. */
  isDestroying = false
  /**
   * This generation's counters at the moment a successor copied their totals (see carryCounters):
   * what the old generation counts after that is added to the live one when it is gone.
   */
  counterBaseline: Float64Array | null = null
  /** ready() has seen every thread up once; a thread failing before that is a start failure. */
  private isUp = false
  /** The error of a thread that failed while starting (a broken worker module), for ready(). */
  private startError: Error | null = null
  private readonly crashes = new Map<Error, Crash>()
  /** Threads whose dispatch port has arrived, in arrival order. */
  private readonly targets: DispatchTarget[] = []
  private readonly textDecoder = new TextDecoder()
  private ringTimer: NodeJS.Timeout | null = null
  private drained: Promise<void> | null = null
  private destroyed: Promise<void> | null = null

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
      filename: WORKER_URL,
      name: 'default',
      minThreads: config.global.workers,
      maxThreads: config.global.workers,
      idleTimeout: 2 ** 31 - 1,
      // A task settles when its connection is adopted; queued ones must all go as soon as a thread is up.
      concurrentTasksPerWorker: config.global.maxConnections,
      // Workers run event loops; piscina must never park one in Atomics.wait.
      atomics: 'disabled',
      workerData: init,
      // V8 grows a thread's young generation up to 48 MiB under a burst of connections and keeps
      // it: 22 to 40 MiB per thread that 9,000 idle connections never give back (2.4 KiB each of
      // the per-connection figure). 12 MiB (4 MiB semi-spaces) costs about 1 µs per h2 request
      // in scavenges and nothing measurable on HTTP/1.1 (perf/RESULTS.md, idle).
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      loadBalancer: (_task, workers) => this.fewestTasks(workers),
    })
    this.pool.on('workerDestroy', (w: { id: number }) => this.onWorkerGone(w.id))
    // Worker threads' own messages (parentPort) come out here: each sends its dispatch port once.
    this.pool.on('message', (m: unknown) => {
      if (isDispatchPortMessage(m)) this.targets.push({ threadId: m.threadId, slot: m.slot, port: m.port })
    })
    // piscina emits 'error' for a thread that died holding no task (otherwise each of its tasks is
    // rejected with the error instead: dispatch() sees those).
    this.pool.on('error', (err: Error) => this.onWorkerError(err, false))
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
    if (previous !== null) {
      previous.counterBaseline = previous.cells.counters.slice()
      this.addCounts(previous, null)
    }
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
  }

  /**
   * Counters continue across generations: add `older`'s totals (all shards) for every server
   * (by upstream/server name), listener (by name) and misc counter that exists here, into this
   * generation's main shard. With `baseline`, only what `older` counted since that snapshot: the
   * requests it finished while draining. Max counters (smax) take the max instead of a sum.
   */
  addCounts(older: Generation, baseline: Float64Array | null): void {
    const o = older.cells
    const c = this.cells
    const shards = o.sizes.workers + 1
    const total = (offset: number): number => {
      let v = 0
      for (let w = 0; w < shards; w++) {
        const i = w * o.shardSize + offset
        v += baseline === null ? o.counters[i] : o.counters[i] - baseline[i]
      }
      return v
    }
    let from = 0
    for (const u of older.config.upstreams) {
      for (const s of u.servers) {
        const to = this.serverIndex(u.name, s.name)
        if (to >= 0) {
          for (let k = 0; k < SERVER_COUNTERS; k++) {
            if (k === ServerCounter.MaxActive) c.maxServer(c.mainShard, to, k, o.maxOfServer(from, k))
            else {
              const v = total(from * SERVER_COUNTERS + k)
              if (v !== 0) c.countServer(c.mainShard, to, k, v)
            }
          }
        }
        from++
      }
    }
    for (let l = 0; l < older.config.listeners.length; l++) {
      const to = this.listenerIndex(older.config.listeners[l].name)
      if (to < 0) continue
      for (let k = 0; k < LISTENER_COUNTERS; k++) {
        if (k === ListenerCounter.MaxActive) c.maxListener(c.mainShard, to, k, o.maxOfListener(l, k))
        else {
          const v = total(o.listenerCounterBase + l * LISTENER_COUNTERS + k)
          if (v !== 0) c.countListener(c.mainShard, to, k, v)
        }
      }
    }
    for (let k = 0; k < MISC_COUNTERS; k++) {
      const v = total(o.miscCounterBase + k)
      if (v !== 0) c.countMisc(c.mainShard, k, v)
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

  /**
   * Resolves true once every thread of the pool has loaded the worker module (each claims its
   * worker slot in the cells when its WorkerContext is built), false after `timeoutMs` or as soon
   * as a thread fails while starting. Until then connections would only queue: a reload switches
   * dispatch after this, so the old generation serves meanwhile.
   */
  async ready(timeoutMs: number): Promise<{ ok: boolean; message: string }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.startError !== null) return { ok: false, message: `worker thread failed to start: ${this.startError.message}` }
      let up = 0
      for (const t of this.pool.threads) if (this.cells.slotOf(t.threadId) >= 0 && this.targetOf(t.threadId) !== null) up++
      if (up >= this.config.global.workers) {
        this.isUp = true
        return { ok: true, message: '' }
      }
      if (Date.now() >= deadline) {
        return { ok: false, message: `${up} of ${this.config.global.workers} worker threads started within ${timeoutMs}ms` }
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS))
    }
  }

  /**
   * Hand an accepted, never-read socket to the least busy worker thread: one message on the
   * thread's dispatch port, nothing back. The connection counts in the thread's slot from here
   * (the thread subtracts it when it closes), so the next dispatch already sees it. Until some
   * thread's port has arrived (a generation starting, every thread being replaced) it goes as a
   * piscina task instead, which piscina queues until a thread is up.
   */
  dispatch(socket: Socket, listener: number): void {
    // The handle goes, not the Socket (worker.ts serve says why).
    const handle = detachHandle(socket)
    if (handle === null) return
    const task: ConnectionTask = { handle, listener }
    const target = this.leastBusyTarget()
    if (target !== null) {
      this.cells.addSlotConnections(target.slot, 1)
      target.port.postMessage(task, [handle as never])
      return
    }
    this.pendingTasks++
    this.pool.run(task, { transferList: [handle] as never }).then(
      () => { this.pendingTasks-- },
      (err: Error) => {
        this.pendingTasks--
        // Cut by destroy() (drain timeout, stop): drain() reports those. Otherwise the thread died
        // with this connection on its way: the connection is lost, nothing else.
        if (!this.isDestroying) this.onWorkerError(err, true)
      },
    )
  }

  /** Open connections of this generation: on its threads (however they came) and on their way to one. */
  openConnections(): number {
    return this.pendingTasks + this.openInWorkers()
  }

  /**
   * A worker thread died (an uncaught error, or it exited). piscina hands the same Error to each
   * task the thread held and starts a replacement; log it once, with its stack and how many
   * connections went with it, and count it (show info / metrics: worker errors).
   */
  private onWorkerError(err: Error, hadConnection: boolean): void {
    if (this.isDestroying) return
    let crash = this.crashes.get(err)
    if (crash === undefined) {
      crash = { err, lostConnections: 0 }
      this.crashes.set(err, crash)
      this.cells.countMisc(this.cells.mainShard, MiscCounter.WorkerErrors, 1)
      // Every rejection for this thread arrives in the same turn: report after them, once.
      setImmediate(() => this.reportCrash(err))
    }
    if (hadConnection) crash.lostConnections++
    if (this.startError === null && !this.isUp) this.startError = err
  }

  private reportCrash(err: Error): void {
    const crash = this.crashes.get(err)
    if (crash === undefined) return
    this.crashes.delete(err)
    // The connections the thread held are counted when it is gone (worker_replaced); these are the
    // ones piscina was still handing to it as tasks.
    const n = crash.lostConnections
    const queued = n === 0 ? '' : `; ${n} connection${n === 1 ? '' : 's'} on ${n === 1 ? 'its' : 'their'} way to it lost`
    this.logs.error.error({ event: 'worker_error', generation: this.id, err, lostConnections: n },
      `worker thread failed: ${err.message}${queued}; the pool replaces it`)
  }

  /** A thread of this generation is gone (crashed, or the pool is being destroyed). */
  private onWorkerGone(threadId: number): void {
    const target = this.targetOf(threadId)
    if (target !== null) {
      this.targets.splice(this.targets.indexOf(target), 1)
      target.port.close()
    }
    const slot = this.cells.slotOf(threadId)
    if (slot < 0) return
    // What the thread held when it died, and what was sent to it and not yet read.
    const connections = this.cells.slotConnections(slot)
    const requests = this.cells.releaseSlot(slot)
    if (!this.isDestroying) {
      this.logs.error.warn({ event: 'worker_replaced', generation: this.id, threadId, slot, lostConnections: connections, inFlight: requests },
        `worker thread ${threadId} exited; ${connections} connection${connections === 1 ? '' : 's'} and ` +
        `${requests} in-flight request${requests === 1 ? '' : 's'} lost with it, replacing it`)
    }
  }

  private targetOf(threadId: number): DispatchTarget | null {
    for (const t of this.targets) if (t.threadId === threadId) return t
    return null
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
   * close idle keep-alive connections and send `Connection: close` on the next response of busy
   * ones. Resolves when every connection is closed or after `timeoutMs`, then destroys the
   * threads (whatever is left is cut, and counted in the log). Calling it again returns the same
   * promise: a stop during a reload's drain waits for that drain.
   */
  drain(timeoutMs: number): Promise<void> {
    if (this.drained === null) this.drained = this.runDrain(timeoutMs)
    return this.drained
  }

  private async runDrain(timeoutMs: number): Promise<void> {
    const startedMs = Date.now()
    this.isDraining = true
    this.cells.setHeader(Header.Draining, 1)
    Atomics.notify(this.cells.state, Header.Draining)
    // Every open connection is counted in its thread's slot (layout.ts SlotCell), however it came.
    while (this.openConnections() > 0 && Date.now() - startedMs < timeoutMs) {
      await new Promise<void>((resolve) => setTimeout(resolve, DRAIN_POLL_MS).unref())
    }
    const open = this.openConnections()
    if (open > 0) {
      this.logs.error.warn({ event: 'drain_timeout', generation: this.id, connections: open },
        `generation ${this.id}: ${open} connection${open === 1 ? '' : 's'} still open after drain_timeout (${timeoutMs}ms), closing them`)
    }
    await this.destroy()
  }

  /** Traffic now goes to this generation: its threads may accept on their own sockets too. */
  serve(): void {
    this.cells.setHeader(Header.Serving, 1)
    Atomics.notify(this.cells.state, Header.Serving)
  }

  /**
   * Where dispatch() sends a connection: the thread with the fewest open connections by the cells
   * (updated by the thread the moment one closes, and by dispatch the moment one is sent). A
   * thread whose timer sweep (every 50 ms) is STALLED_TENTHS late is stuck in something slow: it
   * gets a connection only when every thread is. Ties go to the thread that swept most recently.
   */
  private leastBusyTarget(): DispatchTarget | null {
    const targets = this.targets
    if (targets.length <= 1) return targets.length === 0 ? null : targets[0]
    let best: DispatchTarget | null = null
    let bestScore = Infinity
    let bestAge = Infinity
    const now = this.cells.tenthsSinceEpoch(Date.now())
    for (const t of targets) {
      const age = now - this.cells.slotHeartbeat(t.slot)
      let score = this.cells.slotConnections(t.slot)
      if (age >= STALLED_TENTHS) score += STALLED_PENALTY
      if (score < bestScore || score === bestScore && age < bestAge) {
        best = t
        bestScore = score
        bestAge = age
      }
    }
    return best
  }

  /**
   * piscina's load balancer, for the connections sent as tasks while no thread's dispatch port
   * has arrived: the live thread with the fewest tasks.
   */
  private fewestTasks<W extends PoolThread>(workers: W[]): W | null {
    let best: W | null = null
    for (const w of workers) {
      if (w.terminating || w.destroyed) continue
      if (best === null || w.currentUsage < best.currentUsage) best = w
    }
    return best
  }

  /** Open downstream connections on this generation's threads, however they were accepted. */
  private openInWorkers(): number {
    let open = 0
    for (let slot = 0; slot < this.cells.sizes.workers; slot++) open += this.cells.slotConnections(slot)
    return open
  }

  /** End the threads now (in-flight connections are cut) and read what is left in the rings. */
  destroy(): Promise<void> {
    if (this.destroyed === null) this.destroyed = this.runDestroy()
    return this.destroyed
  }

  private async runDestroy(): Promise<void> {
    this.isDraining = true
    this.isDestroying = true
    await this.pool.destroy().catch(() => {})
    if (this.ringTimer !== null) clearTimeout(this.ringTimer)
    this.ringTimer = null
    // The threads are gone: whatever they wrote last is in the rings, and nobody writes any more.
    this.drainRings()
  }
}
