// least_conn: fewest in flight per unit of weight, from the shared Active cells.

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { LeastConn } from '../../../src/worker/balance/least-conn.ts'
import { Admin, Health, makeCells, NOW_SEC, ServerCell, tally } from './fixture.ts'

const zero = (): number => 0

t.test('the server with the fewest active requests wins', async (t) => {
  const { cells, first } = makeCells([1, 1, 1])
  cells.setServer(first, ServerCell.Active, 5)
  cells.setServer(first + 1, ServerCell.Active, 2)
  cells.setServer(first + 2, ServerCell.Active, 7)
  const lc = new LeastConn(cells, first, 3, zero)
  for (let k = 0; k < 6; k++) t.equal(lc.pick(-1, null, NOW_SEC), first + 1)
})

t.test('load is weighted: (active + 1) / weight, compared in integers', async (t) => {
  const { cells, first } = makeCells([3, 1])
  const lc = new LeastConn(cells, first, 2, zero)
  // s0: (5+1)/3 = 2 vs s1: (1+1)/1 = 2 → tie; s0: (4+1)/3 < 2 → s0.
  cells.setServer(first, ServerCell.Active, 4)
  cells.setServer(first + 1, ServerCell.Active, 1)
  t.equal(lc.pick(-1, null, NOW_SEC), first)
  // s0: (6+1)/3 = 2.33 > s1: 2 → s1.
  cells.setServer(first, ServerCell.Active, 6)
  t.equal(lc.pick(-1, null, NOW_SEC), first + 1)
  // Nothing in flight: the heavier server is less loaded (1/3 < 1/1).
  cells.setServer(first, ServerCell.Active, 0)
  cells.setServer(first + 1, ServerCell.Active, 0)
  t.equal(lc.pick(-1, null, NOW_SEC), first)
})

t.test('picks that raise Active keep the weighted ratio (3:1 within 2% of 10,000)', async (t) => {
  const { cells, first } = makeCells([3, 1])
  const lc = new LeastConn(cells, first, 2, zero)
  // Requests never finish: each pick adds to Active, as acquire() would.
  const { counts } = tally(() => {
    const i = lc.pick(-1, null, NOW_SEC)
    if (i >= 0) cells.addServer(i, ServerCell.Active, 1)
    return i
  }, first, 2, 10_000)
  t.ok(Math.abs(counts[0] - 7500) <= 200, `s0: ${counts[0]}`)
  t.ok(Math.abs(counts[1] - 2500) <= 200, `s1: ${counts[1]}`)
})

t.test('ties rotate: the scan start advances every pick', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1])
  const lc = new LeastConn(cells, first, 4, zero)
  let s = ''
  for (let k = 0; k < 8; k++) s += lc.pick(-1, null, NOW_SEC) - first
  t.equal(s, '01230123', 'equal load: each server in turn, not always s0')
  const other = new LeastConn(cells, first, 4, () => 0.5)
  t.equal(other.pick(-1, null, NOW_SEC), first + 2, 'another thread starts elsewhere')
})

t.test('servers that are down, draining, in maintenance, weight 0 or ejected are skipped even when idle', async (t) => {
  const { cells, first } = makeCells([1, 1, 1, 1, 1, 1])
  for (let i = 0; i < 6; i++) cells.setServer(first + i, ServerCell.Active, i === 5 ? 50 : 0)
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 1, ServerCell.Admin, Admin.Drain)
  cells.setServer(first + 2, ServerCell.Admin, Admin.Maint)
  cells.setServer(first + 3, ServerCell.Weight, 0)
  cells.setServer(first + 4, ServerCell.EjectUntil, NOW_SEC + 1)
  const lc = new LeastConn(cells, first, 6, zero)
  const { counts } = tally(() => lc.pick(-1, null, NOW_SEC), first, 6, 20)
  t.same(counts, [0, 0, 0, 0, 0, 20], 'only s5, busy as it is')
  t.equal(lc.pick(-1, null, NOW_SEC + 1), first + 4, 'ejection over at EjectUntil')
})

t.test('a full server is skipped even when it is the least loaded by weight', async (t) => {
  const { cells, first } = makeCells([10, 1])
  cells.setServer(first, ServerCell.MaxConn, 3)
  cells.setServer(first, ServerCell.Active, 3)
  cells.setServer(first + 1, ServerCell.Active, 9)
  const lc = new LeastConn(cells, first, 2, zero)
  t.equal(lc.pick(-1, null, NOW_SEC), first + 1)
  cells.setServer(first + 1, ServerCell.MaxConn, 9)
  t.equal(lc.pick(-1, null, NOW_SEC), Pick.Full)
  cells.setServer(first, ServerCell.Admin, Admin.Maint)
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  t.equal(lc.pick(-1, null, NOW_SEC), Pick.None)
})

t.test('avoid is skipped; when it is the only eligible server → None', async (t) => {
  const { cells, first } = makeCells([1, 1])
  cells.setServer(first + 1, ServerCell.Active, 100)
  const lc = new LeastConn(cells, first, 2, zero)
  t.equal(lc.pick(first, null, NOW_SEC), first + 1, 'the busier server, since s0 is avoided')
  cells.setServer(first + 1, ServerCell.Admin, Admin.Drain)
  t.equal(lc.pick(first, null, NOW_SEC), Pick.None)
  t.equal(lc.pick(-1, null, NOW_SEC), first)
})
