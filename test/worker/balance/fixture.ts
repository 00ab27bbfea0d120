// Shared set-up for the balancer tests: real shared cells (cells.ts) with servers in a chosen
// state, an upstream config for them, and a seeded random source so every run is the same.

import { Admin, allocateCells, Cells, Health, ServerCell } from '../../../src/shared/cells.ts'
import type { Balance, UpstreamConfig } from '../../../src/shared/config/types.ts'

/** Seconds "now" for the tests; EjectUntil values are relative to it. */
export const NOW_SEC = 1_700_000_000

/**
 * Cells for two upstreams: `before` servers of another upstream first (so global indexes do not
 * start at 0), then the servers under test, all up, ready, with the given weights and no limit.
 */
export function makeCells(weights: number[], before = 2): { cells: Cells; first: number } {
  const servers = before + weights.length
  const cells = new Cells(allocateCells({ servers, upstreams: 2, listeners: 1, workers: 2 }))
  for (let i = 0; i < servers; i++) {
    cells.setServer(i, ServerCell.Health, Health.Up)
    cells.setServer(i, ServerCell.Admin, Admin.Ready)
    const w = i < before ? 1 : weights[i - before]
    cells.setServer(i, ServerCell.Weight, w)
    cells.setServer(i, ServerCell.InitialWeight, w)
  }
  return { cells, first: before }
}

export function upstreamConfig(balance: Balance, weights: number[]): UpstreamConfig {
  return {
    name: 'api',
    balance,
    hashKey: balance === 'hash' ? { kind: 'header', name: 'x-user' } : null,
    maxConnectionsPerServer: 0,
    keepalive: 8,
    retries: 1,
    ejectAfter: 0,
    ejectBaseMs: 0,
    ejectMaxMs: 0,
    health: null,
    servers: weights.map((weight, i) => ({ name: `s${i}`, address: `10.0.0.${i + 1}:8080`, host: `10.0.0.${i + 1}`, port: 8080, weight, tls: null })),
  }
}

/** mulberry32: a small seeded PRNG with uniform output in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed | 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Picks per local server index over `n` picks (negative results counted under -1 / -2). */
export function tally(pick: () => number, first: number, count: number, n: number): { counts: number[]; none: number; full: number } {
  const counts = new Array<number>(count).fill(0)
  let none = 0
  let full = 0
  for (let k = 0; k < n; k++) {
    const i = pick()
    if (i === -1) none++
    else if (i === -2) full++
    else counts[i - first]++
  }
  return { counts, none, full }
}

export { Admin, Health, ServerCell }
