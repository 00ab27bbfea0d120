// balance = "least_conn": the candidate with the fewest requests in flight per unit of weight,
// counted across all threads (the shared Active cells). Worker threads only.
//
// Load is compared in integers: a is less loaded than b when
// (a.active + 1) * b.weight < (b.active + 1) * a.weight. The +1 counts the request being placed,
// so with nothing in flight a heavier server still wins (1/3 < 1/1), which keeps weights
// meaningful at low load. Ties go to the first candidate in scan order, and each instance starts
// its scan one server further on every pick: otherwise every thread, seeing the same counts,
// would send its next request to the same lowest-index server (herding).

import type { Cells } from '../../shared/cells.ts'
import { Pick } from './balancer.ts'
import type { Balancer } from './balancer.ts'

export class LeastConn implements Balancer {
  readonly cells: Cells
  /** Global index of the upstream's first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  /** Local index the next scan starts at; advances by one per pick. */
  private cursor: number

  /** `rand` (like Math.random) chooses this instance's first scan start only. */
  constructor(cells: Cells, first: number, count: number, rand: () => number) {
    this.cells = cells
    this.first = first
    this.count = count
    this.cursor = count > 0 ? Math.floor(rand() * count) % count : 0
  }

  pick(avoid: number, _key: string | null, nowSec: number): number {
    const cells = this.cells
    let best = -1
    let bestActive = 0
    let bestWeight = 0
    let isAnyEligible = false
    let local = this.cursor
    this.cursor = local + 1 >= this.count ? 0 : local + 1
    for (let k = 0; k < this.count; k++, local++) {
      if (local === this.count) local = 0
      const i = this.first + local
      if (i === avoid || !cells.isEligible(i, nowSec)) continue
      isAnyEligible = true
      if (!cells.hasCapacity(i)) continue
      const active = cells.active(i)
      const w = cells.weight(i)
      // w > 0 here (eligible); a weight that dropped to 0 since isEligible makes this server lose.
      if (best < 0 || (active + 1) * bestWeight < (bestActive + 1) * w) {
        best = i
        bestActive = active
        bestWeight = w
      }
    }
    if (best < 0) return isAnyEligible ? Pick.Full : Pick.None
    return best
  }
}
