// balance = "hash": consistent hashing with a Maglev lookup table (Eisenbud et al., "Maglev: A
// Fast and Reliable Software Network Load Balancer", NSDI 2016, §3.4). Worker threads only.
//
// Each instance builds the same table, because the table depends only on the servers' names and
// addresses (fixed-seed hashes), their config weights and the server count — not on the thread,
// the start time or a random source. So a key maps to the same server in every thread and after
// a restart or a reload with the same servers.
//
//   table: TABLE_SIZE entries (a prime), each a local server index
//   ┌────┬────┬────┬────┬────┬─────┬────┐
//   │ s2 │ s0 │ s1 │ s0 │ s4 │ ... │ s3 │    key → hash32(key) % size → entry
//   └────┴────┴────┴────┴────┴─────┴────┘
//
// Building: every server walks its own permutation of the table (offset and skip from two hashes
// of "name address"), taking the next free entry on its turn; a server with half the maximum
// weight takes a turn every second round (Envoy's weighted Maglev), so entries are proportional
// to weight and every server gets at least one.
//
// Picking: the key's entry; when that server is not a candidate (down, drain, maint, weight 0,
// ejected, full, or `avoid`), the next entries in table order, until one is. Eligibility is not
// part of the table, so a server going down moves only the keys that were on it, and they spread
// over the others in proportion to their entries (the next entries belong to all of them). When
// it comes back, exactly those keys return. Weights changed at runtime (`set weight`) do not
// change the table: only 0 (not eligible) versus more than 0 matters to hash balancing.
//
// No key (the request lacks the header or cookie) → round robin among the candidates.

import type { Cells } from '../../shared/cells.ts'
import type { ServerConfig } from '../../shared/config/types.ts'
import { Pick } from './balancer.ts'
import type { Balancer } from './balancer.ts'
import { RoundRobin } from './round-robin.ts'

/** Minimum table size: prime, and ≥ 100 entries per server up to 655 servers (Maglev's M ≫ N). */
export const MIN_TABLE_SIZE = 65537
const ENTRIES_PER_SERVER = 100
const EMPTY = 0xffff
/** Fixed seeds: changing them remaps every key (a "restart" would then move sessions). */
const KEY_SEED = 0
const OFFSET_SEED = 0x9e3779b9
const SKIP_SEED = 0x85ebca6b

/**
 * 32-bit FNV-1a over the string's UTF-16 code units (no UTF-8 encoding, no allocation), starting
 * from the FNV offset basis xor `seed`. For ASCII strings and seed 0 this is the standard
 * FNV-1a 32 of the bytes.
 */
export function fnv1a32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** FNV-1a then MurmurHash3's fmix32 finaliser: FNV alone spreads similar short keys poorly. */
export function hash32(s: string, seed: number): number {
  let h = fnv1a32(s, seed)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Smallest prime ≥ max(MIN_TABLE_SIZE, 100 × servers). */
export function tableSizeFor(servers: number): number {
  let n = Math.max(MIN_TABLE_SIZE, servers * ENTRIES_PER_SERVER)
  if (n % 2 === 0) n++
  for (;; n += 2) {
    let isPrime = true
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        isPrime = false
        break
      }
    }
    if (isPrime) return n
  }
}

/**
 * The Maglev lookup table for these servers (local indexes). Deterministic: same names,
 * addresses and weights → same table. A weight of 0 in the config counts as 1, so a server
 * brought in later with `set weight` still owns some keys.
 */
export function buildMaglevTable(servers: readonly ServerConfig[]): Uint16Array {
  const n = servers.length
  if (n >= EMPTY) throw new RangeError(`hash upstream with ${n} servers: at most ${EMPTY - 1} supported`)
  const size = tableSizeFor(n)
  const table = new Uint16Array(size).fill(EMPTY)
  if (n === 0) return table
  const position = new Float64Array(n)
  const skip = new Float64Array(n)
  const weight = new Float64Array(n)
  const target = new Float64Array(n)
  let maxWeight = 0
  for (let s = 0; s < n; s++) {
    const id = servers[s].name + ' ' + servers[s].address
    position[s] = hash32(id, OFFSET_SEED) % size
    skip[s] = (hash32(id, SKIP_SEED) % (size - 1)) + 1
    weight[s] = Math.max(1, servers[s].weight)
    if (weight[s] > maxWeight) maxWeight = weight[s]
  }
  let filled = 0
  for (let round = 1; filled < size; round++) {
    for (let s = 0; s < n && filled < size; s++) {
      // Server s takes a turn in this round only if its weight has earned it: with weight
      // maxWeight / k it takes one every k rounds.
      if (round * weight[s] < target[s]) continue
      target[s] += maxWeight
      let p = position[s]
      while (table[p] !== EMPTY) {
        p += skip[s]
        if (p >= size) p -= size
      }
      table[p] = s
      p += skip[s]
      position[s] = p >= size ? p - size : p
      filled++
    }
  }
  return table
}

export class Hash implements Balancer {
  readonly cells: Cells
  /** Global index of the upstream's first server; its servers are [first, first + count). */
  readonly first: number
  readonly count: number
  readonly table: Uint16Array
  /** For requests without a key. */
  private readonly fallback: RoundRobin
  /** Per-pick: 1 where the server (local index) is a candidate. */
  private readonly isCandidate: Uint8Array

  constructor(cells: Cells, first: number, servers: readonly ServerConfig[], upstream: number) {
    this.cells = cells
    this.first = first
    this.count = servers.length
    this.table = buildMaglevTable(servers)
    this.fallback = new RoundRobin(cells, first, servers.length, upstream)
    this.isCandidate = new Uint8Array(servers.length)
  }

  pick(avoid: number, key: string | null, nowSec: number): number {
    if (key === null) return this.fallback.pick(avoid, null, nowSec)
    const cells = this.cells
    const isCandidate = this.isCandidate
    let candidates = 0
    let isAnyEligible = false
    for (let local = 0; local < this.count; local++) {
      const i = this.first + local
      isCandidate[local] = 0
      if (i === avoid || !cells.isEligible(i, nowSec)) continue
      isAnyEligible = true
      if (!cells.hasCapacity(i)) continue
      isCandidate[local] = 1
      candidates++
    }
    if (candidates === 0) return isAnyEligible ? Pick.Full : Pick.None
    const table = this.table
    const size = table.length
    let e = hash32(key, KEY_SEED) % size
    // Every server owns at least one entry, so this finds a candidate within one lap.
    for (let step = 0; step < size; step++) {
      const local = table[e]
      if (isCandidate[local] === 1) return this.first + local
      e = e + 1 === size ? 0 : e + 1
    }
    return Pick.None // unreachable: see buildMaglevTable
  }
}
