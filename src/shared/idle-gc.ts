// Gives memory back to the system once a thread has gone quiet after a burst. Both threads.
//
// V8 keeps what a burst of connections made it allocate — garbage in the old generation, a grown
// heap — until allocation forces a full GC, and its memory reducer did not run in 30 s of idling
// here. A proxy holding 9,000 idle keep-alive connections after such a burst kept 7.7 KiB of RSS
// per connection with accept = "main", of which one memory-reducing full GC on each thread gave
// back all but 2.2 KiB (perf/RESULTS.md, idle). So each thread checks, every few seconds, how
// busy its event loop was and how much its heap has grown since the last such GC, and runs one
// when it has been quiet for a while and has grown.
//
// The GC blocks the thread while it runs (47–53 ms on a worker thread holding 9,000 idle
// connections; perf/RESULTS.md), which is why it waits for a quiet loop: a thread that serves
// steady traffic never runs it, and a thread that does is idle enough that a request meeting the
// pause is rare. It needs `gc` (node --expose-gc, which bin/portico and the standalone binary
// pass); without it nothing runs.

import { performance } from 'node:perf_hooks'
import type { EventLoopUtilization } from 'node:perf_hooks'
import v8 from 'node:v8'

/** How often a thread looks (ms). */
export const IDLE_GC_CHECK_MS = 2000
/** Checks in a row with the event loop at most QUIET_UTILIZATION busy: 6 s of quiet. */
export const QUIET_CHECKS = 3
export const QUIET_UTILIZATION = 0.02
/** Heap growth since the last idle GC (or since start) that makes one worth its pause. */
export const GROWTH_BYTES = 8 * 1024 * 1024

/** The decision alone, fed one observation per check (unit-tested). */
export class IdleGcPolicy {
  private quietChecks = 0
  private baselineBytes: number

  constructor(heapBytes: number) {
    this.baselineBytes = heapBytes
  }

  /** One check: the loop's utilization since the last one, the heap's size now. True: collect now. */
  observe(utilization: number, heapBytes: number): boolean {
    if (heapBytes < this.baselineBytes) this.baselineBytes = heapBytes
    this.quietChecks = utilization <= QUIET_UTILIZATION ? this.quietChecks + 1 : 0
    return this.quietChecks >= QUIET_CHECKS && heapBytes - this.baselineBytes >= GROWTH_BYTES
  }

  /** After the GC: its result is the new baseline, and quiet is counted afresh. */
  collected(heapBytes: number): void {
    this.baselineBytes = heapBytes
    this.quietChecks = 0
  }
}

/**
 * Start the checks on this thread (an unref'd timer: it never keeps a thread alive). `isEnabled`
 * is asked at each check (global.idle_gc, which a reload may change); `onCollect` hears how long
 * each GC took and what it gave back. Returns false when `gc` is not exposed.
 */
export function startIdleGc(isEnabled: () => boolean, onCollect: (pauseMs: number, freedBytes: number) => void): boolean {
  const gc = globalThis.gc
  if (typeof gc !== 'function') return false
  const policy = new IdleGcPolicy(v8.getHeapStatistics().total_heap_size)
  let last: EventLoopUtilization = performance.eventLoopUtilization()
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const since = performance.eventLoopUtilization(now, last)
    last = now
    const before = v8.getHeapStatistics().total_heap_size
    if (!policy.observe(since.utilization, before) || !isEnabled()) return
    const start = performance.now()
    // 'last-resort': the memory-reducing full GC, which also hands freed pages back to the system
    // (a regular one collects the garbage but keeps the pages: no RSS comes back).
    gc({ type: 'major', flavor: 'last-resort' })
    const after = v8.getHeapStatistics().total_heap_size
    policy.collected(after)
    last = performance.eventLoopUtilization()
    onCollect(performance.now() - start, before - after)
  }, IDLE_GC_CHECK_MS)
  timer.unref()
  return true
}
