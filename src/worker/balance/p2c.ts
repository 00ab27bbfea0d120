// balance = "p2c": power of two choices. Draw two distinct candidates at random (weighted), send
// the request to the less loaded of the two, load being (active + 1) / weight compared in
// integers as in least-conn.ts. Worker threads only.
//
// Why not always least-conn: every thread reads the same Active counts, and between a pick and
// the increment other threads pick too; least-conn sends them all to the same minimum, p2c spreads
// them (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"), while still
// steering clearly away from a loaded or slow server. Ties go to the first draw.

import type { Cells } from '../../shared/cells.ts'
import { candidateWeights, weightedIndex } from './balancer.ts'
import type { Balancer } from './balancer.ts'
import { lastCandidate } from './random.ts'

export class P2c implements Balancer {
  readonly cells: Cells
  /** Global index of the upstream's first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  /** Source of uniform numbers in [0, 1), like Math.random (tests pass a seeded one). */
  private readonly rand: () => number
  /** Per-pick copy of the candidates' weights, by local index. */
  private readonly weights: Int32Array

  constructor(cells: Cells, first: number, count: number, rand: () => number) {
    this.cells = cells
    this.first = first
    this.count = count
    this.rand = rand
    this.weights = new Int32Array(count)
  }

  pick(avoid: number, _key: string | null, nowSec: number): number {
    const weights = this.weights
    const sum = candidateWeights(this.cells, this.first, this.count, avoid, nowSec, weights)
    if (sum < 0) return sum
    let a = weightedIndex(weights, this.count, Math.floor(this.rand() * sum), -1)
    if (a < 0) a = lastCandidate(weights, this.count)
    const wa = weights[a]
    const rest = sum - wa
    if (rest <= 0) return this.first + a // the only candidate
    const b = weightedIndex(weights, this.count, Math.floor(this.rand() * rest), a)
    if (b < 0) return this.first + a
    const wb = weights[b]
    const activeA = this.cells.active(this.first + a)
    const activeB = this.cells.active(this.first + b)
    return this.first + ((activeB + 1) * wa < (activeA + 1) * wb ? b : a)
  }
}
