// Builds the balancer an upstream's `balance` names. Worker threads only: each thread calls this
// once per upstream per generation (worker/context.ts), so per-thread state (cursors, running
// weights, the hash table) is private to the thread and the shared cells are the only common state.

import type { Cells } from '../../shared/cells.ts'
import type { UpstreamConfig } from '../../shared/config/types.ts'
import type { Balancer } from './balancer.ts'
import { Hash } from './hash.ts'
import { LeastConn } from './least-conn.ts'
import { P2c } from './p2c.ts'
import { Random } from './random.ts'
import { RoundRobin } from './round-robin.ts'

export { Pick } from './balancer.ts'
export type { Balancer } from './balancer.ts'

/**
 * The balancer for `upstream`, whose servers have the global indexes [first, first + servers).
 * `upstreamIndex` is its position in the config (round_robin, and hash's no-key fallback, share a
 * cursor cell of that upstream across threads). `rand` returns uniform numbers in [0, 1)
 * (Math.random in production; tests pass a seeded one): random and p2c draw from it,
 * least_conn takes only its starting point from it.
 */
export function createBalancer(cells: Cells, upstream: UpstreamConfig, upstreamIndex: number, first: number, rand: () => number): Balancer {
  const count = upstream.servers.length
  switch (upstream.balance) {
    case 'round_robin': return new RoundRobin(cells, first, count, upstreamIndex)
    case 'least_conn': return new LeastConn(cells, first, count, rand)
    case 'random': return new Random(cells, first, count, rand)
    case 'p2c': return new P2c(cells, first, count, rand)
    case 'hash': return new Hash(cells, first, upstream.servers, upstreamIndex)
  }
}
