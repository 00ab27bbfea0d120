// random: weighted random among the candidates.

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { Random } from '../../../src/worker/balance/random.ts'
import { Admin, Health, makeCells, NOW_SEC, seeded, ServerCell, tally } from './fixture.ts'

t.test('weights 3:1 within 2% over 10,000 picks', async (t) => {
  const { cells, first } = makeCells([3, 1])
  const r = new Random(cells, first, 2, seeded(11))
  const { counts } = tally(() => r.pick(-1, null, NOW_SEC), first, 2, 10_000)
  t.ok(Math.abs(counts[0] - 7500) <= 200, `s0: ${counts[0]}`)
  t.ok(Math.abs(counts[1] - 2500) <= 200, `s1: ${counts[1]}`)
})

t.test('the draw maps onto weight ranges: [0, 3) → s0, [3, 4) → s1', async (t) => {
  const { cells, first } = makeCells([3, 1])
  const draws = [0, 0.74, 0.75, 0.9999]
  let k = 0
  const r = new Random(cells, first, 2, () => draws[k++])
  t.same([r.pick(-1, null, NOW_SEC), r.pick(-1, null, NOW_SEC), r.pick(-1, null, NOW_SEC), r.pick(-1, null, NOW_SEC)],
    [first, first, first + 1, first + 1])
})

t.test('a rand() that returns 1 still picks a candidate', async (t) => {
  const { cells, first } = makeCells([1, 1, 0])
  t.equal(new Random(cells, first, 3, () => 1).pick(-1, null, NOW_SEC), first + 1)
})

t.test('set weight changes the odds on the next pick', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const r = new Random(cells, first, 2, seeded(5))
  cells.setServer(first, ServerCell.Weight, 0)
  const { counts } = tally(() => r.pick(-1, null, NOW_SEC), first, 2, 1000)
  t.same(counts, [0, 1000])
})

t.test('down, draining, maintenance, weight 0, ejected, full and avoided servers get nothing', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1, 1, 1, 1, 1, 1])
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 1, ServerCell.Admin, Admin.Drain)
  cells.setServer(first + 2, ServerCell.Admin, Admin.Maint)
  cells.setServer(first + 3, ServerCell.Weight, 0)
  cells.setServer(first + 4, ServerCell.EjectUntil, NOW_SEC + 60)
  cells.setServer(first + 5, ServerCell.MaxConn, 1)
  cells.setServer(first + 5, ServerCell.Active, 1)
  const r = new Random(cells, first, 9, seeded(9))
  const { counts } = tally(() => r.pick(first + 6, null, NOW_SEC), first, 9, 2000)
  t.same(counts.slice(0, 7), [0, 0, 0, 0, 0, 0, 0])
  t.ok(counts[7] > 900 && counts[8] > 900, `s7 ${counts[7]}, s8 ${counts[8]}`)
})

t.test('Full when every eligible server is full, None when none is eligible or only avoid is', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const r = new Random(cells, first, 2, seeded(1))
  cells.setServer(first, ServerCell.MaxConn, 1)
  cells.setServer(first, ServerCell.Active, 1)
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  t.equal(r.pick(-1, null, NOW_SEC), Pick.Full)
  t.equal(r.pick(first, null, NOW_SEC), Pick.None)
  cells.setServer(first, ServerCell.Health, Health.Down)
  t.equal(r.pick(-1, null, NOW_SEC), Pick.None)
})
