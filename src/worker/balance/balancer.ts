// The load-balancer interface every upstream's `balance` implements, and what pick() returns when
// it has no server to give. Worker threads only: each thread builds its own balancer per upstream
// (index.ts), and all of them read the same shared server cells (shared/cells.ts), so health,
// admin state, weights and Active counts are global while per-thread cursors are private.
//
// Contract shared by all balancers (round-robin.ts, least-conn.ts, random.ts, p2c.ts, hash.ts):
// - A server is a candidate when `cells.isEligible(i, nowSec)` (up, ready, weight > 0, not
//   ejected), it is not `avoid`, and `cells.hasCapacity(i)` (below max_connections_per_server).
// - No candidate but some eligible server other than `avoid` is full → Pick.Full (queue).
//   No eligible server other than `avoid` at all → Pick.None (503). `avoid` is never returned,
//   even when it is the only eligible server: the caller decides what a retry without another
//   server means.
// - pick() never throws and does not allocate; cell values may change under it (another thread,
//   the runtime API): a pick made from a value one store old is harmless, the next pick sees it.

import type { Cells } from '../../shared/cells.ts'

/** What pick() returns instead of a server index. */
export const Pick = {
  /** No eligible server (→ 503 no_server_available). */
  None: -1,
  /** Eligible servers exist but every one is at max_connections_per_server (→ queue). */
  Full: -2,
} as const
export type Pick = (typeof Pick)[keyof typeof Pick]

export interface Balancer {
  /**
   * Choose a server (global index) for one request, or Pick.None / Pick.Full.
   * @param avoid a server index to skip (a retry goes to another server), or -1.
   * @param key the hash key for `hash` balancing; null when there is none (or for other
   *   balancers), in which case `hash` falls back to round robin.
   * @param nowSec seconds since the Unix epoch (cells.ts `nowSeconds`), for passive ejection.
   */
  pick(avoid: number, key: string | null, nowSec: number): number
}

/**
 * For the weighted-random balancers: set `weights[local]` to the current weight of each candidate
 * server and 0 for the others, and return the sum; when the sum is 0, return Pick.Full (eligible
 * servers exist, all full) or Pick.None. `weights` has one slot per server of the upstream.
 * The weights are copied so a concurrent `set weight` cannot make the two passes disagree.
 */
export function candidateWeights(cells: Cells, first: number, count: number, avoid: number, nowSec: number,
  weights: Int32Array): number {
  let sum = 0
  let isAnyEligible = false
  for (let local = 0; local < count; local++) {
    const i = first + local
    weights[local] = 0
    if (i === avoid || !cells.isEligible(i, nowSec)) continue
    isAnyEligible = true
    if (!cells.hasCapacity(i)) continue
    // Read after isEligible: a weight set to 0 in between means the server just left.
    const w = cells.weight(i)
    weights[local] = w
    sum += w
  }
  if (sum > 0) return sum
  return isAnyEligible ? Pick.Full : Pick.None
}

/**
 * The local index whose weight range contains `r` (0 <= r < sum of `weights`), skipping `skip`
 * (whose weight must then be left out of the sum), or -1 past the end.
 */
export function weightedIndex(weights: Int32Array, count: number, r: number, skip: number): number {
  for (let local = 0; local < count; local++) {
    if (local === skip) continue
    const w = weights[local]
    if (r < w) return local
    r -= w
  }
  return -1
}
