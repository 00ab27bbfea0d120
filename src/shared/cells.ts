// Typed access to one generation's shared buffers (layout.ts). Used by both threads; the only
// module that computes offsets into them. State cells go through Atomics; counters are per-thread
// shards written with plain stores by their owning thread only (see layout.ts for why).

import {
  Admin, Header, Health, HEADER_CELLS, LATENCY_BUCKETS_MS, LISTENER_CELLS, LISTENER_COUNTERS,
  ListenerCell, ListenerCounter, MISC_COUNTERS, SERVER_CELLS, SLOT_CELLS, SlotCell, SERVER_COUNTERS, ServerCell,
  ServerCounter, UPSTREAM_CELLS, counterLength, shardLength, stateLength,
} from './layout.ts'
import type { LayoutSizes } from './layout.ts'

/** What a generation hands to each worker (structured-clonable; the buffers are shared, not copied). */
export interface CellBuffers {
  state: SharedArrayBuffer
  counters: SharedArrayBuffer
  sizes: LayoutSizes
}

export function allocateCells(sizes: LayoutSizes): CellBuffers {
  return {
    state: new SharedArrayBuffer(stateLength(sizes) * 4),
    counters: new SharedArrayBuffer(counterLength(sizes) * 8),
    sizes,
  }
}

/** Unix time in whole seconds: the unit of the EjectUntil and LastChange cells. */
export function nowSeconds(): number {
  return (Date.now() / 1000) | 0
}

export class Cells {
  readonly state: Int32Array
  readonly counters: Float64Array
  readonly sizes: LayoutSizes
  readonly serverBase: number
  readonly upstreamBase: number
  readonly listenerBase: number
  readonly slotOwnerBase: number
  readonly slotActiveBase: number
  readonly slotListenerBase: number
  readonly shardSize: number
  readonly listenerCounterBase: number
  readonly miscCounterBase: number

  constructor(buffers: CellBuffers) {
    const s = buffers.sizes
    this.state = new Int32Array(buffers.state)
    this.counters = new Float64Array(buffers.counters)
    this.sizes = s
    this.serverBase = HEADER_CELLS
    this.upstreamBase = this.serverBase + s.servers * SERVER_CELLS
    this.listenerBase = this.upstreamBase + s.upstreams * UPSTREAM_CELLS
    this.slotOwnerBase = this.listenerBase + s.listeners * LISTENER_CELLS
    this.slotActiveBase = this.slotOwnerBase + s.workers * SLOT_CELLS
    this.slotListenerBase = this.slotActiveBase + s.workers * s.servers
    this.shardSize = shardLength(s)
    this.listenerCounterBase = s.servers * SERVER_COUNTERS
    this.miscCounterBase = this.listenerCounterBase + s.listeners * LISTENER_COUNTERS
  }

  /** The main thread's counter shard (after all worker slots). */
  get mainShard(): number {
    return this.sizes.workers
  }

  // ── header ──────────────────────────────────────────────────────────────────────────────────

  header(cell: number): number {
    return Atomics.load(this.state, cell)
  }

  setHeader(cell: number, value: number): void {
    Atomics.store(this.state, cell, value)
  }

  isDraining(): boolean {
    return Atomics.load(this.state, Header.Draining) !== 0
  }

  // ── servers: state ──────────────────────────────────────────────────────────────────────────

  server(index: number, cell: number): number {
    return Atomics.load(this.state, this.serverBase + index * SERVER_CELLS + cell)
  }

  setServer(index: number, cell: number, value: number): void {
    Atomics.store(this.state, this.serverBase + index * SERVER_CELLS + cell, value)
  }

  addServer(index: number, cell: number, delta: number): number {
    return Atomics.add(this.state, this.serverBase + index * SERVER_CELLS + cell, delta)
  }

  /** Compare-and-set on a server cell; returns the value found (== expected on success). */
  casServer(index: number, cell: number, expected: number, value: number): number {
    return Atomics.compareExchange(this.state, this.serverBase + index * SERVER_CELLS + cell, expected, value)
  }

  active(index: number): number {
    return Atomics.load(this.state, this.serverBase + index * SERVER_CELLS + ServerCell.Active)
  }

  weight(index: number): number {
    return Atomics.load(this.state, this.serverBase + index * SERVER_CELLS + ServerCell.Weight)
  }

  /**
   * May a new request go to this server? Up, ready, weight > 0 and not passively ejected.
   * A draining server keeps the requests it has but gets no new ones.
   */
  isEligible(index: number, nowSec: number): boolean {
    const base = this.serverBase + index * SERVER_CELLS
    const st = this.state
    return Atomics.load(st, base + ServerCell.Health) === Health.Up &&
      Atomics.load(st, base + ServerCell.Admin) === Admin.Ready &&
      Atomics.load(st, base + ServerCell.Weight) > 0 &&
      Atomics.load(st, base + ServerCell.EjectUntil) <= nowSec
  }

  /** Is the server below its max_connections_per_server limit? */
  hasCapacity(index: number): boolean {
    const base = this.serverBase + index * SERVER_CELLS
    const max = Atomics.load(this.state, base + ServerCell.MaxConn)
    return max === 0 || Atomics.load(this.state, base + ServerCell.Active) < max
  }

  /**
   * Take one request slot on a server for worker slot `slot`: global Active and the worker's own
   * share. With a limit, the increment is undone if it overshot (another thread won the race), so
   * Active never stays above MaxConn. Returns false when the server is full.
   */
  acquire(index: number, slot: number): boolean {
    const base = this.serverBase + index * SERVER_CELLS
    const max = Atomics.load(this.state, base + ServerCell.MaxConn)
    const before = Atomics.add(this.state, base + ServerCell.Active, 1)
    if (max !== 0 && before >= max) {
      Atomics.sub(this.state, base + ServerCell.Active, 1)
      return false
    }
    Atomics.add(this.state, this.slotActiveBase + slot * this.sizes.servers + index, 1)
    return true
  }

  /** Give back what `acquire` took. Exactly one release per successful acquire. */
  release(index: number, slot: number): void {
    Atomics.sub(this.state, this.serverBase + index * SERVER_CELLS + ServerCell.Active, 1)
    Atomics.sub(this.state, this.slotActiveBase + slot * this.sizes.servers + index, 1)
  }

  // ── upstreams and listeners: state ──────────────────────────────────────────────────────────

  upstream(index: number, cell: number): number {
    return Atomics.load(this.state, this.upstreamBase + index * UPSTREAM_CELLS + cell)
  }

  addUpstream(index: number, cell: number, delta: number): number {
    return Atomics.add(this.state, this.upstreamBase + index * UPSTREAM_CELLS + cell, delta)
  }

  listener(index: number, cell: number): number {
    return Atomics.load(this.state, this.listenerBase + index * LISTENER_CELLS + cell)
  }

  setListener(index: number, cell: number, value: number): void {
    Atomics.store(this.state, this.listenerBase + index * LISTENER_CELLS + cell, value)
  }

  addListener(index: number, cell: number, delta: number): number {
    return Atomics.add(this.state, this.listenerBase + index * LISTENER_CELLS + cell, delta)
  }

  /**
   * A downstream connection opened (+1) or closed (-1) on a listener by the thread in `slot`:
   * ListenerCell.Active, and the slot's share of it, which releaseSlot takes back if the thread
   * dies with connections open (else the gauge, and max_connections with accept = "workers",
   * would keep them for good).
   */
  addListenerActive(slot: number, index: number, delta: number): void {
    Atomics.add(this.state, this.listenerBase + index * LISTENER_CELLS + ListenerCell.Active, delta)
    Atomics.add(this.state, this.slotListenerBase + slot * this.sizes.listeners + index, delta)
  }

  // ── worker slots ────────────────────────────────────────────────────────────────────────────

  /** Claim a free worker slot for `threadId`; -1 when none is free. */
  claimSlot(threadId: number): number {
    for (let w = 0; w < this.sizes.workers; w++) {
      if (Atomics.compareExchange(this.state, this.slotOwnerBase + w * SLOT_CELLS + SlotCell.Owner, 0, threadId) === 0) return w
    }
    return -1
  }

  slotOf(threadId: number): number {
    for (let w = 0; w < this.sizes.workers; w++) {
      if (Atomics.load(this.state, this.slotOwnerBase + w * SLOT_CELLS + SlotCell.Owner) === threadId) return w
    }
    return -1
  }

  /**
   * Main thread, after a worker thread has died: subtract its share of every server's Active count
   * (its connections are gone with it) and free the slot. Its counter shard is kept: the counts
   * happened. Returns how many in-flight requests it removed.
   */
  releaseSlot(slot: number): number {
    let removed = 0
    const col = this.slotActiveBase + slot * this.sizes.servers
    for (let i = 0; i < this.sizes.servers; i++) {
      const share = Atomics.exchange(this.state, col + i, 0)
      if (share !== 0) {
        Atomics.sub(this.state, this.serverBase + i * SERVER_CELLS + ServerCell.Active, share)
        removed += share
      }
    }
    const listeners = this.slotListenerBase + slot * this.sizes.listeners
    for (let l = 0; l < this.sizes.listeners; l++) {
      const share = Atomics.exchange(this.state, listeners + l, 0)
      if (share !== 0) Atomics.sub(this.state, this.listenerBase + l * LISTENER_CELLS + ListenerCell.Active, share)
    }
    Atomics.store(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Connections, 0)
    Atomics.store(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Owner, 0)
    return removed
  }

  /** Open downstream connections of a worker slot, sent or accepted and not yet closed (layout.ts SlotCell). */
  slotConnections(slot: number): number {
    return Atomics.load(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Connections)
  }

  /** Tenths of a second since the generation's epoch, for the heartbeat cell. */
  tenthsSinceEpoch(nowMs: number): number {
    return ((nowMs / 100) | 0) - Atomics.load(this.state, Header.EpochSeconds) * 10
  }

  slotHeartbeat(slot: number): number {
    return Atomics.load(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Heartbeat)
  }

  setSlotHeartbeat(slot: number, tenths: number): void {
    Atomics.store(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Heartbeat, tenths)
  }

  addSlotConnections(slot: number, delta: number): void {
    Atomics.add(this.state, this.slotOwnerBase + slot * SLOT_CELLS + SlotCell.Connections, delta)
  }

  // ── counters (write: own shard only) ────────────────────────────────────────────────────────

  countServer(shard: number, index: number, counter: number, n: number): void {
    this.counters[shard * this.shardSize + index * SERVER_COUNTERS + counter] += n
  }

  countListener(shard: number, index: number, counter: number, n: number): void {
    this.counters[shard * this.shardSize + this.listenerCounterBase + index * LISTENER_COUNTERS + counter] += n
  }

  countMisc(shard: number, counter: number, n: number): void {
    this.counters[shard * this.shardSize + this.miscCounterBase + counter] += n
  }

  /** Keep a running maximum in a counter cell of this shard (smax). */
  maxServer(shard: number, index: number, counter: number, value: number): void {
    const i = shard * this.shardSize + index * SERVER_COUNTERS + counter
    if (value > this.counters[i]) this.counters[i] = value
  }

  maxListener(shard: number, index: number, counter: number, value: number): void {
    const i = shard * this.shardSize + this.listenerCounterBase + index * LISTENER_COUNTERS + counter
    if (value > this.counters[i]) this.counters[i] = value
  }

  /** Record one response-head latency in the server's histogram and sum. */
  observeLatency(shard: number, index: number, ms: number): void {
    const base = shard * this.shardSize + index * SERVER_COUNTERS
    let b = 0
    while (b < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[b]) b++
    this.counters[base + ServerCounter.LatencyBucket0 + b] += 1
    this.counters[base + ServerCounter.LatencySumMs] += ms
  }

  // ── counters (read: sums over all shards) ───────────────────────────────────────────────────

  sumServer(index: number, counter: number): number {
    let total = 0
    const off = index * SERVER_COUNTERS + counter
    for (let w = 0; w <= this.sizes.workers; w++) total += this.counters[w * this.shardSize + off]
    return total
  }

  maxOfServer(index: number, counter: number): number {
    let m = 0
    const off = index * SERVER_COUNTERS + counter
    for (let w = 0; w <= this.sizes.workers; w++) m = Math.max(m, this.counters[w * this.shardSize + off])
    return m
  }

  sumListener(index: number, counter: number): number {
    let total = 0
    const off = this.listenerCounterBase + index * LISTENER_COUNTERS + counter
    for (let w = 0; w <= this.sizes.workers; w++) total += this.counters[w * this.shardSize + off]
    return total
  }

  maxOfListener(index: number, counter: number): number {
    let m = 0
    const off = this.listenerCounterBase + index * LISTENER_COUNTERS + counter
    for (let w = 0; w <= this.sizes.workers; w++) m = Math.max(m, this.counters[w * this.shardSize + off])
    return m
  }

  sumMisc(counter: number): number {
    let total = 0
    const off = this.miscCounterBase + counter
    for (let w = 0; w <= this.sizes.workers; w++) total += this.counters[w * this.shardSize + off]
    return total
  }

  /** Zero the running maxima (smax) of servers and listeners in every shard (clear counters). */
  clearMaxCounters(): void {
    for (let w = 0; w <= this.sizes.workers; w++) {
      const base = w * this.shardSize
      for (let i = 0; i < this.sizes.servers; i++) this.counters[base + i * SERVER_COUNTERS + ServerCounter.MaxActive] = 0
      for (let l = 0; l < this.sizes.listeners; l++) {
        this.counters[base + this.listenerCounterBase + l * LISTENER_COUNTERS + ListenerCounter.MaxActive] = 0
      }
    }
  }

  /** Zero every counter of every shard (clear counters all). */
  clearCounters(): void {
    this.counters.fill(0)
  }
}

export { Admin, Header, Health, SlotCell, ListenerCell, ListenerCounter, MISC_COUNTERS, ServerCell, ServerCounter }
