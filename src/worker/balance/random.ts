// balance = "random": weighted random among the candidates. Worker threads only.
//
// Stateless between picks apart from a scratch array, so threads never coordinate and no thread's
// sequence can line up with another's. The weights are copied in one pass (balancer.ts
// `candidateWeights`) and the draw is made over the copy.

import type { Cells } from '../../shared/cells.ts'
import { candidateWeights, weightedIndex } from './balancer.ts'
import type { Balancer } from './balancer.ts'

export class Random implements Balancer {
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
    const sum = candidateWeights(this.cells, this.first, this.count, avoid, nowSec, this.weights)
    if (sum < 0) return sum
    const local = weightedIndex(this.weights, this.count, Math.floor(this.rand() * sum), -1)
    // -1 only if rand() returned 1 or more; take the last candidate rather than fail.
    return this.first + (local >= 0 ? local : lastCandidate(this.weights, this.count))
  }
}

/** Highest local index with a nonzero weight (there is one whenever the sum is positive). */
export function lastCandidate(weights: Int32Array, count: number): number {
  for (let local = count - 1; local > 0; local--) if (weights[local] !== 0) return local
  return 0
}
