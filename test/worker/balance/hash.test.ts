// hash: Maglev consistent hashing over server names and addresses.

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { buildMaglevTable, fnv1a32, Hash, hash32, MIN_TABLE_SIZE, tableSizeFor } from '../../../src/worker/balance/hash.ts'
import { createBalancer } from '../../../src/worker/balance/index.ts'
import { Admin, Health, makeCells, NOW_SEC, seeded, ServerCell, upstreamConfig } from './fixture.ts'

const KEYS = 10_000
const keys = Array.from({ length: KEYS }, (_, k) => `user-${k}`)

function make(weights: number[], seed = 1): { h: Hash; cells: ReturnType<typeof makeCells>['cells']; first: number } {
  const { cells, first } = makeCells(weights)
  return { h: new Hash(cells, first, upstreamConfig('hash', weights).servers, 1), cells, first }
}

function mapAll(h: Hash, avoid = -1): Int32Array {
  const out = new Int32Array(KEYS)
  for (let k = 0; k < KEYS; k++) out[k] = h.pick(avoid, keys[k], NOW_SEC)
  return out
}

t.test('fnv1a32 matches the published FNV-1a 32 test vectors', async (t) => {
  t.equal(fnv1a32('', 0), 0x811c9dc5)
  t.equal(fnv1a32('a', 0), 0xe40c292c)
  t.equal(fnv1a32('foobar', 0), 0xbf9cf968)
  t.not(hash32('foobar', 0), hash32('foobar', 1), 'the seed matters')
})

t.test('table size is a prime of at least 65537, growing with the server count', async (t) => {
  t.equal(tableSizeFor(5), MIN_TABLE_SIZE)
  const big = tableSizeFor(1000)
  t.ok(big >= 100_000)
  let isPrime = true
  for (let d = 2; d * d <= big; d++) if (big % d === 0) isPrime = false
  t.ok(isPrime, `${big} is prime`)
})

t.test('table entries are proportional to weight, and every entry is filled', async (t) => {
  const table = buildMaglevTable(upstreamConfig('hash', [2, 1, 1, 4]).servers)
  const counts = [0, 0, 0, 0]
  for (const s of table) counts[s]++
  t.equal(counts[0] + counts[1] + counts[2] + counts[3], MIN_TABLE_SIZE)
  const want = [2, 1, 1, 4].map((w) => (MIN_TABLE_SIZE * w) / 8)
  for (let s = 0; s < 4; s++) t.ok(Math.abs(counts[s] - want[s]) <= 2, `s${s}: ${counts[s]} ≈ ${want[s]}`)
})

t.test('a server with weight 0 in the config still owns a little of the table', async (t) => {
  const table = buildMaglevTable(upstreamConfig('hash', [100, 0]).servers)
  let owned = 0
  for (const s of table) if (s === 1) owned++
  t.ok(owned > 0 && owned < MIN_TABLE_SIZE / 50, `${owned} entries`)
})

t.test('keys spread in proportion to weight (2:1:1 within 2% of 10,000 keys)', async (t) => {
  const { h, first } = make([2, 1, 1])
  const counts = [0, 0, 0]
  for (const i of mapAll(h)) counts[i - first]++
  const want = [5000, 2500, 2500]
  for (let s = 0; s < 3; s++) t.ok(Math.abs(counts[s] - want[s]) <= 200, `s${s}: ${counts[s]} ≈ ${want[s]}`)
})

t.test('the same key goes to the same server in another instance (another thread)', async (t) => {
  const a = make([1, 1, 1, 1, 1], 1)
  const b = make([1, 1, 1, 1, 1], 99)
  t.same(mapAll(a.h), mapAll(b.h))
  for (let k = 0; k < 100; k++) t.equal(a.h.pick(-1, keys[k], NOW_SEC), a.h.pick(-1, keys[k], NOW_SEC))
})

t.test('the mapping survives restarts: fixed seeds, recorded here', async (t) => {
  // Recorded from this implementation with servers s0..s4 at 10.0.0.1..5:8080, weight 1 each.
  // If this fails, every deployed key would move to another server after an upgrade.
  const { h, first } = make([1, 1, 1, 1, 1])
  const got = ['alice', 'bob', 'carol', 'dave', 'user-1', 'user-2', '10.1.2.3', '/api/v1/items']
    .map((k) => `${k}:s${h.pick(-1, k, NOW_SEC) - first}`).join(' ')
  t.equal(got, 'alice:s0 bob:s2 carol:s4 dave:s4 user-1:s3 user-2:s1 10.1.2.3:s1 /api/v1/items:s0')
})

t.test('the mapping depends on names and addresses, not on the global index', async (t) => {
  const weights = [1, 1, 1, 1, 1]
  const a = makeCells(weights, 0)
  const b = makeCells(weights, 7)
  const ha = new Hash(a.cells, a.first, upstreamConfig('hash', weights).servers, 1)
  const hb = new Hash(b.cells, b.first, upstreamConfig('hash', weights).servers, 1)
  let same = 0
  for (let k = 0; k < 1000; k++) if (ha.pick(-1, keys[k], NOW_SEC) - a.first === hb.pick(-1, keys[k], NOW_SEC) - b.first) same++
  t.equal(same, 1000)
})

t.test('taking 1 of 5 servers out moves only its own keys (~1/5), spread over the rest; they return', async (t) => {
  const { h, cells, first } = make([1, 1, 1, 1, 1])
  const before = mapAll(h)
  const gone = first + 2
  const states: Array<[string, () => void, () => void]> = [
    ['down', () => cells.setServer(gone, ServerCell.Health, Health.Down), () => cells.setServer(gone, ServerCell.Health, Health.Up)],
    ['maint', () => cells.setServer(gone, ServerCell.Admin, Admin.Maint), () => cells.setServer(gone, ServerCell.Admin, Admin.Ready)],
    ['drain', () => cells.setServer(gone, ServerCell.Admin, Admin.Drain), () => cells.setServer(gone, ServerCell.Admin, Admin.Ready)],
    ['weight 0', () => cells.setServer(gone, ServerCell.Weight, 0), () => cells.setServer(gone, ServerCell.Weight, 1)],
    ['ejected', () => cells.setServer(gone, ServerCell.EjectUntil, NOW_SEC + 30), () => cells.setServer(gone, ServerCell.EjectUntil, 0)],
  ]
  for (const [what, out, back] of states) {
    out()
    const after = mapAll(h)
    let moved = 0
    let movedOther = 0
    const landed = [0, 0, 0, 0, 0]
    for (let k = 0; k < KEYS; k++) {
      if (after[k] === before[k]) continue
      moved++
      if (before[k] !== gone) movedOther++
      landed[after[k] - first]++
    }
    t.equal(movedOther, 0, `${what}: no key of another server moved`)
    t.equal(landed[2], 0, `${what}: nothing lands on the removed server`)
    t.ok(moved > 1600 && moved < 2400, `${what}: ${moved} of ${KEYS} keys moved (~1/5)`)
    for (const s of [0, 1, 3, 4]) t.ok(landed[s] > moved / 8, `${what}: s${s} took ${landed[s]} of the moved keys`)
    back()
    t.same(mapAll(h), before, `${what}: back, every key returns`)
  }
})

t.test('a full server is walked past the same way, and the key returns when there is room', async (t) => {
  const { h, cells, first } = make([1, 1, 1])
  const key = keys[0]
  const home = h.pick(-1, key, NOW_SEC)
  cells.setServer(home, ServerCell.MaxConn, 1)
  cells.setServer(home, ServerCell.Active, 1)
  const elsewhere = h.pick(-1, key, NOW_SEC)
  t.not(elsewhere, home)
  t.ok(elsewhere >= first && elsewhere < first + 3)
  t.equal(make([1, 1, 1], 5).h.pick(home, key, NOW_SEC), elsewhere, 'same fallback as avoiding it, in another instance')
  cells.setServer(home, ServerCell.Active, 0)
  t.equal(h.pick(-1, key, NOW_SEC), home)
})

t.test('avoid walks on to the next server; avoid as the only eligible one → None', async (t) => {
  const { h, cells, first } = make([1, 1])
  const key = keys[1]
  const home = h.pick(-1, key, NOW_SEC)
  const other = home === first ? first + 1 : first
  t.equal(h.pick(home, key, NOW_SEC), other)
  cells.setServer(other, ServerCell.Health, Health.Down)
  t.equal(h.pick(home, key, NOW_SEC), Pick.None)
})

t.test('Full when every eligible server is full, None when none is eligible', async (t) => {
  const { h, cells, first } = make([1, 1])
  for (const i of [first, first + 1]) {
    cells.setServer(i, ServerCell.MaxConn, 2)
    cells.setServer(i, ServerCell.Active, 2)
  }
  t.equal(h.pick(-1, 'k', NOW_SEC), Pick.Full)
  t.equal(h.pick(-1, null, NOW_SEC), Pick.Full, 'the no-key fallback agrees')
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 1, ServerCell.Admin, Admin.Maint)
  t.equal(h.pick(-1, 'k', NOW_SEC), Pick.None)
  t.equal(h.pick(-1, null, NOW_SEC), Pick.None)
})

t.test('without a key, requests are spread round robin among the candidates', async (t) => {
  const { h, cells, first } = make([1, 1, 1])
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  const counts = [0, 0, 0]
  for (let k = 0; k < 100; k++) counts[h.pick(-1, null, NOW_SEC) - first]++
  t.same(counts, [50, 0, 50])
})

t.test('createBalancer builds each kind from the config', async (t) => {
  const { cells, first } = makeCells([1, 1])
  for (const balance of ['round_robin', 'least_conn', 'random', 'p2c', 'hash'] as const) {
    const b = createBalancer(cells, upstreamConfig(balance, [1, 1]), 1, first, seeded(1))
    const i = b.pick(-1, balance === 'hash' ? 'key' : null, NOW_SEC)
    t.ok(i === first || i === first + 1, `${balance} picks a server of its upstream`)
  }
  const names = ['RoundRobin', 'LeastConn', 'Random', 'P2c', 'Hash']
  const kinds = ['round_robin', 'least_conn', 'random', 'p2c', 'hash'] as const
  for (let k = 0; k < kinds.length; k++) {
    t.equal(createBalancer(cells, upstreamConfig(kinds[k], [1, 1]), 1, first, seeded(1)).constructor.name, names[k])
  }
})
