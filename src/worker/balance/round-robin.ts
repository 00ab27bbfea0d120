// balance = "round_robin": smooth weighted round robin (nginx's sequence), one sequence for the
// whole process. Worker threads only.
//
// Each thread derives the same cycle from the current weights — nginx's smooth sequence, e.g.
// weights 3:1 → a a b a — and all threads walk it with one shared cursor in the upstream's cells
// (UpstreamCell.Cursor, one Atomics.add per pick). So requests alternate across the whole process
// as they would through one HAProxy backend, whichever thread a connection landed on, and weights
// hold exactly over every cycle, not just per thread.
//
// The cycle is rebuilt when a thread sees the weights change (`set weight`, a server going down,
// maint, drain, ejection): every pick reads the effective weight (current weight if eligible,
// else 0) of each server. Threads rebuild independently; for the pick or two in which they
// disagree the ratios are briefly off, which is harmless. A server that is full
// (max_connections_per_server) or `avoid` is skipped by walking on along the cycle.

import type { Cells } from '../../shared/cells.ts'
import { UpstreamCell } from '../../shared/layout.ts'
import { Pick } from './balancer.ts'
import type { Balancer } from './balancer.ts'

/**
 * Longest cycle kept. Weights are 0..256, so a cycle is at most 256 × servers / gcd entries;
 * past this length the sequence is truncated (ratios then hold to within 1/MAX_CYCLE).
 */
const MAX_CYCLE = 16384

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b
    a = b
    b = t
  }
  return a
}

export class RoundRobin implements Balancer {
  readonly cells: Cells
  /** Global index of the upstream's first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  /** The upstream's index, whose Cursor cell all threads share. */
  readonly upstream: number
  /** Effective weights (0 = not eligible) the current cycle was built from, by local index. */
  private readonly effective: Int32Array
  /** The cycle: local server indexes in smooth weighted order. */
  private cycle: Int32Array
  private cycleLength = 0
  /** Scratch for building the cycle (nginx current_weight). */
  private readonly running: Float64Array

  constructor(cells: Cells, first: number, count: number, upstream: number) {
    this.cells = cells
    this.first = first
    this.count = count
    this.upstream = upstream
    this.effective = new Int32Array(count).fill(-1)
    this.cycle = new Int32Array(0)
    this.running = new Float64Array(count)
  }

  pick(avoid: number, _key: string | null, nowSec: number): number {
    const cells = this.cells
    const effective = this.effective
    let isChanged = false
    for (let local = 0; local < this.count; local++) {
      const i = this.first + local
      const w = cells.isEligible(i, nowSec) ? cells.weight(i) : 0
      if (w !== effective[local]) {
        effective[local] = w
        isChanged = true
      }
    }
    if (isChanged) this.rebuild()
    const length = this.cycleLength
    if (length === 0) return Pick.None
    const cycle = this.cycle
    let pos = (cells.addUpstream(this.upstream, UpstreamCell.Cursor, 1) >>> 0) % length
    let isAnyFull = false
    for (let k = 0; k < length; k++) {
      const i = this.first + cycle[pos]
      if (++pos === length) pos = 0
      if (i === avoid) continue
      if (cells.hasCapacity(i)) return i
      isAnyFull = true
    }
    return isAnyFull ? Pick.Full : Pick.None
  }

  /** nginx's smooth weighted round robin over the effective weights, scaled down by their gcd. */
  private rebuild(): void {
    const effective = this.effective
    const running = this.running
    let divisor = 0
    let total = 0
    for (let local = 0; local < this.count; local++) {
      const w = effective[local]
      if (w > 0) divisor = gcd(divisor, w)
    }
    if (divisor === 0) {
      this.cycleLength = 0
      return
    }
    for (let local = 0; local < this.count; local++) {
      running[local] = 0
      total += effective[local] / divisor
    }
    const length = Math.min(total, MAX_CYCLE)
    if (this.cycle.length < length) this.cycle = new Int32Array(length)
    for (let n = 0; n < length; n++) {
      let best = -1
      for (let local = 0; local < this.count; local++) {
        const w = effective[local] / divisor
        if (w === 0) continue
        running[local] += w
        if (best < 0 || running[local] > running[best]) best = local
      }
      running[best] -= total
      this.cycle[n] = best
    }
    this.cycleLength = length
  }
}
