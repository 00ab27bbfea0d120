// balance = "round_robin": nginx's smooth weighted round robin, one sequence per worker thread.
// Worker threads only.
//
// Every pick, each candidate's running weight grows by its current weight (read from the cells,
// so `set weight` counts from the next pick); the candidate with the largest running weight wins
// and pays back the total. Weights 3:1 give a a b a, a a b a, … — exact ratios, interleaved rather
// than bursty. A server that is not eligible has its running weight reset to 0, so when it comes
// back it starts from neutral instead of with a stored debt or credit. A server skipped only for
// this pick (full, or `avoid`) keeps its running weight.
//
// Threads do not share the sequence (no cache line bouncing per pick); each instance starts its
// scan at a random server, so with equal weights N threads do not all send their first request to
// the same server, while each thread's own sequence stays exact.

import type { Cells } from '../../shared/cells.ts'
import { Pick } from './balancer.ts'
import type { Balancer } from './balancer.ts'

export class RoundRobin implements Balancer {
  readonly cells: Cells
  /** Global index of the upstream's first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  /** nginx current_weight, by local index. Float64: a sum of weights cannot overflow it. */
  private readonly running: Float64Array
  /** Local index the scan starts at; ties go to the first in scan order. */
  private readonly start: number

  /** `rand` (like Math.random) chooses this instance's scan start only. */
  constructor(cells: Cells, first: number, count: number, rand: () => number) {
    this.cells = cells
    this.first = first
    this.count = count
    this.running = new Float64Array(count)
    this.start = count > 0 ? Math.floor(rand() * count) % count : 0
  }

  pick(avoid: number, _key: string | null, nowSec: number): number {
    const cells = this.cells
    const running = this.running
    let total = 0
    let best = -1
    let bestRunning = 0
    let isAnyEligible = false
    let local = this.start
    for (let k = 0; k < this.count; k++, local++) {
      if (local === this.count) local = 0
      const i = this.first + local
      if (i === avoid) continue
      if (!cells.isEligible(i, nowSec)) {
        running[local] = 0
        continue
      }
      isAnyEligible = true
      if (!cells.hasCapacity(i)) continue
      const w = cells.weight(i)
      const r = running[local] + w
      running[local] = r
      total += w
      if (best < 0 || r > bestRunning) {
        best = local
        bestRunning = r
      }
    }
    if (best < 0) return isAnyEligible ? Pick.Full : Pick.None
    running[best] = bestRunning - total
    return this.first + best
  }
}
