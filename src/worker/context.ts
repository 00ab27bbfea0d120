// Everything one worker thread holds for its generation: the shared cells (and its slot in them),
// the router, one balancer and wait queue per upstream, one idle-connection pool per server, the
// ring to the main thread, and the coarse timer sweep that enforces every timeout. Worker only.

import { threadId } from 'node:worker_threads'
import { Cells, nowSeconds } from '../shared/cells.ts'
import { Header, MiscCounter } from '../shared/layout.ts'
import { Ring } from '../shared/ring.ts'
import type { Config, UpstreamConfig } from '../shared/config/types.ts'
import { RecordKind } from '../shared/worker-init.ts'
import type { WorkerInit } from '../shared/worker-init.ts'
import { createBalancer } from './balance/index.ts'
import type { Balancer } from './balance/balancer.ts'
import { Router } from './router.ts'
import { ServerPool } from './upstream/pool.ts'
import { RequestHead, ResponseHead } from './http1/parser.ts'
import type { HeadLimits } from './http1/parser.ts'
import { WaitQueue } from './upstream/queue.ts'
import { WriteBatch } from './write-batch.ts'

/** Something with a deadline, checked by the sweep (sessions). */
export interface Expiring {
  deadlineMs: number
  onDeadline(nowMs: number): void
}

export class UpstreamRuntime {
  readonly index: number
  readonly config: UpstreamConfig
  /** Global index of its first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  readonly balancer: Balancer
  readonly queue: WaitQueue
  /** Which part of the request the hash key comes from (hash balance only). */
  readonly hashKind: number
  /** Lowercase header or cookie name for the hash key. */
  readonly hashName: string

  constructor(index: number, config: UpstreamConfig, first: number, cells: Cells) {
    this.index = index
    this.config = config
    this.first = first
    this.count = config.servers.length
    this.balancer = createBalancer(cells, config, index, first, Math.random)
    this.queue = new WaitQueue()
    const k = config.balance === 'hash' ? config.hashKey : null
    this.hashKind = k === null ? HashKind.None : k.kind === 'header' ? HashKind.Header : k.kind === 'cookie' ? HashKind.Cookie : k.kind === 'client_ip' ? HashKind.ClientIp : HashKind.Path
    this.hashName = k === null ? '' : k.name.toLowerCase()
  }
}

export const HashKind = { None: 0, Header: 1, Cookie: 2, ClientIp: 3, Path: 4 } as const

/** How often the sweep runs: fine enough for sub-second timeouts in tests, cheap enough for 10k idle connections. */
const SWEEP_MS = 50
/** A sweep this much later than due means the loop was stalled (see sweep). */
const STALL_MS = 250

export class WorkerContext {
  readonly config: Config
  readonly generation: number
  readonly cells: Cells
  /** This thread's worker slot, also its counter shard. */
  readonly slot: number
  readonly router: Router
  readonly upstreams: UpstreamRuntime[]
  /** By global server index. */
  readonly pools: ServerPool[]
  readonly ring: Ring | null
  readonly isAccessLogOn: boolean
  /** Request head limits from [global] (max_header_bytes, max_headers, max_request_line). */
  readonly limits: HeadLimits
  /**
   * Parse results, one of each per thread rather than per connection (1.6 KiB of offsets each):
   * a head is parsed and consumed within one event handler, and sessions copy what they keep.
   */
  readonly reqHead: RequestHead
  readonly resHead: ResponseHead
  /** Socket writes of this event-loop iteration, sent together at its end (write-batch.ts). */
  readonly writes = new WriteBatch()
  readonly sessions = new Set<Expiring>()
  isDraining = false
  /** Updated by the sweep; good enough for deadlines and access-log timings. */
  nowMs = Date.now()
  /** When the sweep last ran: a sweep much later than SWEEP_MS after it means the loop stalled. */
  private lastSweepMs = Date.now()
  nowSec = nowSeconds()
  /** Called once when the generation starts draining (session.ts closes idle connections). */
  onDrain: (() => void) | null = null
  private readonly sweepTimer: NodeJS.Timeout

  constructor(init: WorkerInit) {
    this.config = init.config
    this.generation = init.generation
    this.cells = new Cells(init.buffers)
    const slot = this.cells.claimSlot(threadId)
    if (slot < 0) throw new Error(`worker thread ${threadId}: no free worker slot in generation ${init.generation}`)
    this.slot = slot
    this.ring = new Ring(init.rings[slot])
    this.isAccessLogOn = init.config.log.access !== 'off'
    const g = init.config.global
    this.limits = { maxHeadBytes: g.maxHeaderBytes, maxHeaders: g.maxHeaders, maxRequestLineBytes: g.maxRequestLineBytes }
    this.reqHead = new RequestHead(g.maxHeaders)
    this.resHead = new ResponseHead()
    this.router = new Router(init.config.routes, init.config.listeners.map((l) => l.name), init.config.upstreams.map((u) => u.name))
    this.upstreams = []
    this.pools = []
    let first = 0
    for (let u = 0; u < init.config.upstreams.length; u++) {
      const uc = init.config.upstreams[u]
      this.upstreams.push(new UpstreamRuntime(u, uc, first, this.cells))
      for (const s of uc.servers) this.pools.push(new ServerPool(this.pools.length, s.host, s.port, uc.keepalive, s.tls))
      first += uc.servers.length
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS)
    this.sweepTimer.unref()
    this.watchDraining()
  }

  private watchDraining(): void {
    const state = this.cells.state
    if (Atomics.load(state, Header.Draining) !== 0) { this.startDraining(); return }
    const wait = Atomics.waitAsync(state, Header.Draining, 0)
    if (wait.async) {
      wait.value.then(() => this.watchDraining(), () => {})
    } else {
      this.watchDraining()
    }
  }

  private startDraining(): void {
    if (this.isDraining) return
    this.isDraining = true
    for (const pool of this.pools) pool.closeIdle()
    this.onDrain?.()
  }

  private sweep(): void {
    const now = Date.now()
    const lateMs = now - this.lastSweepMs - SWEEP_MS
    this.lastSweepMs = now
    this.nowMs = now
    this.nowSec = (now / 1000) | 0
    this.cells.setSlotHeartbeat(this.slot, this.cells.tenthsSinceEpoch(now))
    if (lateMs > STALL_MS) {
      // The event loop was stuck (a long GC, a slow synchronous task): timers run before the
      // poll phase, so the I/O that arrived meanwhile (a connect that completed, a response)
      // has not been handled yet. Expire nothing until it has, on the check phase of this same
      // iteration: the stall must not turn into upstream_connect or upstream_response timeouts.
      setImmediate(this.expireDeadlines)
      return
    }
    this.expireDeadlines()
  }

  /** Every deadline that has passed, and the pools' and queues' periodic work. */
  private readonly expireDeadlines = (): void => {
    const now = Date.now()
    this.nowMs = now
    this.nowSec = (now / 1000) | 0
    for (const s of this.sessions) {
      if (s.deadlineMs !== 0 && now >= s.deadlineMs) s.onDeadline(now)
    }
    const idleMs = this.config.timeouts.upstreamIdleMs
    for (let i = 0; i < this.pools.length; i++) this.pools[i].sweep(now, idleMs)
    for (let u = 0; u < this.upstreams.length; u++) this.upstreams[u].queue.retry()
  }

  // ── records to the main thread ──────────────────────────────────────────────────────────────

  /** One access-log line (JSON, built by the caller only when isAccessLogOn). */
  accessLog(line: string): void {
    if (this.ring === null) return
    if (!this.ring.writeString(String.fromCharCode(RecordKind.Access) + line)) {
      this.cells.countMisc(this.slot, MiscCounter.RingDrops, 1)
    }
  }

  /** An event for the error log. Rare path: builds JSON freely. */
  event(level: 'error' | 'warn' | 'info' | 'debug', fields: Record<string, unknown>, msg: string): void {
    if (this.ring === null) return
    const rec = JSON.stringify({ level, msg, thread: threadId, ...fields })
    if (!this.ring.writeString(String.fromCharCode(RecordKind.Event) + rec)) {
      this.cells.countMisc(this.slot, MiscCounter.RingDrops, 1)
    }
  }
}
