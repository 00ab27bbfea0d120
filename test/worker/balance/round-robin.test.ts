// round_robin: nginx smooth weighted round robin, per instance (= per worker thread).

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { RoundRobin } from '../../../src/worker/balance/round-robin.ts'
import { Admin, Health, makeCells, NOW_SEC, seeded, ServerCell, tally } from './fixture.ts'

const zero = (): number => 0

function sequence(rr: RoundRobin, first: number, n: number, avoid = -1): string {
  let s = ''
  for (let k = 0; k < n; k++) {
    const i = rr.pick(avoid, null, NOW_SEC)
    s += i < 0 ? (i === Pick.None ? 'N' : 'F') : String(i - first)
  }
  return s
}

t.test('weights 3:1 give the smooth sequence 0 0 1 0, repeated', async (t) => {
  // running weights (start 0,0; +3,+1 per pick; winner pays 4):
  //   pick 1: 3,1 → s0 → -1,1   pick 2: 2,2 → s0 (tie: first) → -2,2
  //   pick 3: 1,3 → s1 → 1,-1   pick 4: 4,0 → s0 → 0,0  (back to the start)
  const { cells, first } = makeCells([3, 1])
  t.equal(sequence(new RoundRobin(cells, first, 2, zero), first, 12), '001000100010')
})

t.test('weights 3:1 are exactly 3:1 over 10,000 picks, whatever the starting point', async (t) => {
  for (const seed of [1, 2, 3]) {
    const { cells, first } = makeCells([3, 1])
    const rr = new RoundRobin(cells, first, 2, seeded(seed))
    const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 2, 10_000)
    t.same(counts, [7500, 2500], `seed ${seed}`)
    // and within every window of 4 consecutive picks
    const s = sequence(rr, first, 400)
    let bad = 0
    for (let k = 0; k < 400; k += 4) if (s.slice(k, k + 4).split('1').length - 1 !== 1) bad++
    t.equal(bad, 0)
  }
})

t.test('equal weights rotate strictly; instances start at different servers', async (t) => {
  const { cells, first } = makeCells([1, 1, 1])
  t.equal(sequence(new RoundRobin(cells, first, 3, zero), first, 9), '012012012')
  t.equal(sequence(new RoundRobin(cells, first, 3, () => 0.5), first, 9), '120120120')
  t.equal(sequence(new RoundRobin(cells, first, 3, () => 0.99), first, 9), '201201201')
})

t.test('weights 5:2:1 are proportional within 2% over 10,000 picks', async (t) => {
  const { cells, first } = makeCells([5, 2, 1])
  const rr = new RoundRobin(cells, first, 3, seeded(7))
  const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 3, 10_000)
  const want = [6250, 2500, 1250]
  for (let s = 0; s < 3; s++) t.ok(Math.abs(counts[s] - want[s]) <= 200, `s${s}: ${counts[s]} ≈ ${want[s]}`)
})

t.test('set weight takes effect on the next pick', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const rr = new RoundRobin(cells, first, 2, zero)
  t.equal(sequence(rr, first, 4), '0101')
  cells.setServer(first + 1, ServerCell.Weight, 3)
  const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 2, 400)
  t.same(counts, [100, 300])
  cells.setServer(first + 1, ServerCell.Weight, 0)
  t.equal(sequence(rr, first, 4), '0000')
})

t.test('servers that are down, draining, in maintenance, weight 0 or ejected get nothing', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1, 1, 1, 1])
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  cells.setServer(first + 2, ServerCell.Admin, Admin.Drain)
  cells.setServer(first + 3, ServerCell.Admin, Admin.Maint)
  cells.setServer(first + 4, ServerCell.Weight, 0)
  cells.setServer(first + 5, ServerCell.EjectUntil, NOW_SEC + 10)
  cells.setServer(first + 6, ServerCell.EjectUntil, NOW_SEC) // ejection over: eligible again
  const rr = new RoundRobin(cells, first, 7, zero)
  const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 7, 100)
  t.same(counts, [50, 0, 0, 0, 0, 0, 50])
})

t.test('a server coming back starts from a neutral running weight', async (t) => {
  // 3:1; s1 is down for the third pick. Its running weight (credit 2 after picks 1-2) is reset,
  // so after it returns it waits its turn: 0 0 0 | 0 1 0 0 0 1. Keeping the credit would have
  // given it the very next pick (0 0 0 | 1 0 0 0 1 0).
  const { cells, first } = makeCells([3, 1])
  const rr = new RoundRobin(cells, first, 2, zero)
  let s = sequence(rr, first, 2)
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  s += sequence(rr, first, 1)
  cells.setServer(first + 1, ServerCell.Health, Health.Up)
  s += sequence(rr, first, 6)
  t.equal(s, '000010001')
})

t.test('full servers are skipped; all eligible full → Full; none eligible → None', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const rr = new RoundRobin(cells, first, 2, zero)
  cells.setServer(first, ServerCell.MaxConn, 2)
  cells.setServer(first, ServerCell.Active, 2)
  t.equal(sequence(rr, first, 4), '1111', 's0 is at its limit')
  cells.setServer(first + 1, ServerCell.MaxConn, 1)
  cells.setServer(first + 1, ServerCell.Active, 1)
  t.equal(rr.pick(-1, null, NOW_SEC), Pick.Full)
  cells.setServer(first, ServerCell.Active, 1)
  t.equal(rr.pick(-1, null, NOW_SEC), first, 'room again')
  cells.setServer(first, ServerCell.Health, Health.Down)
  t.equal(rr.pick(-1, null, NOW_SEC), Pick.Full, 'the only eligible server is full')
  cells.setServer(first + 1, ServerCell.Admin, Admin.Maint)
  t.equal(rr.pick(-1, null, NOW_SEC), Pick.None)
})

t.test('avoid is never returned; when it is the only eligible server → None', async (t) => {
  const { cells, first } = makeCells([1, 1, 1])
  const rr = new RoundRobin(cells, first, 3, zero)
  t.equal(sequence(rr, first, 6, first + 1), '020202')
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 2, ServerCell.Health, Health.Down)
  t.equal(rr.pick(first + 1, null, NOW_SEC), Pick.None)
  t.equal(rr.pick(-1, null, NOW_SEC), first + 1)
})

t.test('servers of other upstreams are never picked', async (t) => {
  const { cells, first } = makeCells([1, 1], 3)
  const rr = new RoundRobin(cells, first, 2, seeded(3))
  for (let k = 0; k < 50; k++) {
    const i = rr.pick(-1, null, NOW_SEC)
    if (i < first || i >= first + 2) t.fail(`picked ${i}`)
  }
  t.pass('all picks within [first, first + count)')
})

t.test('an upstream without servers answers None', async (t) => {
  const { cells, first } = makeCells([])
  t.equal(new RoundRobin(cells, first, 0, zero).pick(-1, null, NOW_SEC), Pick.None)
})
