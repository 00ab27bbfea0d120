// p2c: two distinct weighted-random candidates, the less loaded one wins.

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { P2c } from '../../../src/worker/balance/p2c.ts'
import { Admin, Health, makeCells, NOW_SEC, seeded, ServerCell, tally } from './fixture.ts'

t.test('equal weights, no load: picks spread evenly (within 2% of 10,000 per server)', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1])
  const p = new P2c(cells, first, 4, seeded(21))
  const { counts } = tally(() => p.pick(-1, null, NOW_SEC), first, 4, 10_000)
  for (let s = 0; s < 4; s++) t.ok(Math.abs(counts[s] - 2500) <= 200, `s${s}: ${counts[s]}`)
})

t.test('the busiest server is never chosen: it loses every pair it is drawn into', async (t) => {
  const { cells, first } = makeCells([1, 1, 1])
  cells.setServer(first + 1, ServerCell.Active, 10)
  const p = new P2c(cells, first, 3, seeded(4))
  const { counts } = tally(() => p.pick(-1, null, NOW_SEC), first, 3, 3000)
  t.equal(counts[1], 0)
  t.ok(Math.abs(counts[0] - 1500) <= 150 && Math.abs(counts[2] - 1500) <= 150, `${counts}`)
})

t.test('p2c distribution: the second least loaded gets picked only against the busiest', async (t) => {
  // Active 0, 1, 2, 3 with equal weights. A server wins a pair only against busier ones, so with
  // 6 equally likely pairs the expected shares are 3/6, 2/6, 1/6, 0.
  const { cells, first } = makeCells([1, 1, 1, 1])
  for (let s = 0; s < 4; s++) cells.setServer(first + s, ServerCell.Active, s)
  const p = new P2c(cells, first, 4, seeded(8))
  const { counts } = tally(() => p.pick(-1, null, NOW_SEC), first, 4, 12_000)
  const want = [6000, 4000, 2000, 0]
  for (let s = 0; s < 4; s++) t.ok(Math.abs(counts[s] - want[s]) <= 240, `s${s}: ${counts[s]} ≈ ${want[s]}`)
})

t.test('load is (active + 1) / weight: a heavier server carries more', async (t) => {
  // s0 weight 4 with 5 active: 6/4 = 1.5; s1 weight 1 with 1 active: 2/1 = 2 → s0 wins.
  const { cells, first } = makeCells([4, 1])
  cells.setServer(first, ServerCell.Active, 5)
  cells.setServer(first + 1, ServerCell.Active, 1)
  const p = new P2c(cells, first, 2, seeded(2))
  for (let k = 0; k < 10; k++) t.equal(p.pick(-1, null, NOW_SEC), first)
  cells.setServer(first, ServerCell.Active, 8) // 9/4 = 2.25 > 2
  for (let k = 0; k < 10; k++) t.equal(p.pick(-1, null, NOW_SEC), first + 1)
})

t.test('draws are weighted: with 3:1 weights and no load, pairs {s0,s1} go to s0', async (t) => {
  // Three servers 3:1:1, all idle. s0 loses no pair; s1 and s2 win only their pair with each
  // other. P(pair {s1,s2}) = P(s1 then s2) + P(s2 then s1) = 1/5 · 1/4 · 2 = 1/10, so s0 gets
  // 90% and s1, s2 share the rest.
  const { cells, first } = makeCells([3, 1, 1])
  const p = new P2c(cells, first, 3, seeded(13))
  const { counts } = tally(() => p.pick(-1, null, NOW_SEC), first, 3, 10_000)
  t.ok(Math.abs(counts[0] - 9000) <= 200, `s0: ${counts[0]}`)
  t.ok(Math.abs(counts[1] - counts[2]) <= 200, `s1 ${counts[1]}, s2 ${counts[2]}`)
})

t.test('one candidate: it is picked, without a second draw', async (t) => {
  const { cells, first } = makeCells([1, 1])
  cells.setServer(first, ServerCell.Admin, Admin.Maint)
  let draws = 0
  const p = new P2c(cells, first, 2, () => { draws++; return 0.3 })
  t.equal(p.pick(-1, null, NOW_SEC), first + 1)
  t.equal(draws, 1)
})

t.test('skips ineligible, full and avoided servers; Full and None as documented', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1, 1, 1])
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 1, ServerCell.Admin, Admin.Drain)
  cells.setServer(first + 2, ServerCell.Weight, 0)
  cells.setServer(first + 3, ServerCell.EjectUntil, NOW_SEC + 5)
  const p = new P2c(cells, first, 6, seeded(3))
  const { counts } = tally(() => p.pick(first + 4, null, NOW_SEC), first, 6, 200)
  t.same(counts, [0, 0, 0, 0, 0, 200])
  cells.setServer(first + 5, ServerCell.MaxConn, 4)
  cells.setServer(first + 5, ServerCell.Active, 4)
  t.equal(p.pick(first + 4, null, NOW_SEC), Pick.Full)
  t.equal(p.pick(first + 5, null, NOW_SEC), first + 4)
  cells.setServer(first + 5, ServerCell.Health, Health.Down)
  t.equal(p.pick(first + 4, null, NOW_SEC), Pick.None)
})
