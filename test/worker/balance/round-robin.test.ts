// round_robin: nginx's smooth weighted sequence, one cycle for the whole process, walked by a
// cursor shared in the cells (two instances = two worker threads).

import t from 'tap'
import { Pick } from '../../../src/worker/balance/balancer.ts'
import { RoundRobin } from '../../../src/worker/balance/round-robin.ts'
import { Admin, Health, makeCells, NOW_SEC, ServerCell, tally } from './fixture.ts'

/** The fixture lays out two upstreams; the servers under test belong to the second. */
const UPSTREAM = 1

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
  t.equal(sequence(new RoundRobin(cells, first, 2, UPSTREAM), first, 12), '001000100010')
})

t.test('two threads share one cycle: their picks interleave into the exact sequence', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const a = new RoundRobin(cells, first, 2, UPSTREAM)
  const b = new RoundRobin(cells, first, 2, UPSTREAM)
  let s = ''
  // Thread a takes two picks, then b takes two, and so on: still 0 1 0 1 overall.
  for (let k = 0; k < 6; k++) s += sequence(k % 2 === 0 ? a : b, first, 2)
  t.equal(s, '010101010101')
})

t.test('weights 3:1 are exactly 3:1 over 10,000 picks spread over two threads', async (t) => {
  const { cells, first } = makeCells([3, 1])
  const threads = [new RoundRobin(cells, first, 2, UPSTREAM), new RoundRobin(cells, first, 2, UPSTREAM)]
  let k = 0
  const { counts } = tally(() => threads[(k++ * 7919) % 3 === 0 ? 0 : 1].pick(-1, null, NOW_SEC), first, 2, 10_000)
  t.same(counts, [7500, 2500])
})

t.test('weights 5:2:1 are proportional over 10,000 picks', async (t) => {
  const { cells, first } = makeCells([5, 2, 1])
  const rr = new RoundRobin(cells, first, 3, UPSTREAM)
  const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 3, 10_000)
  const want = [6250, 2500, 1250]
  for (let s = 0; s < 3; s++) t.ok(Math.abs(counts[s] - want[s]) <= 200, `s${s}: ${counts[s]} ≈ ${want[s]}`)
})

t.test('equal weights rotate strictly', async (t) => {
  const { cells, first } = makeCells([1, 1, 1])
  t.equal(sequence(new RoundRobin(cells, first, 3, UPSTREAM), first, 9), '012012012')
})

t.test('set weight takes effect on the next pick', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const rr = new RoundRobin(cells, first, 2, UPSTREAM)
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
  const rr = new RoundRobin(cells, first, 7, UPSTREAM)
  const { counts } = tally(() => rr.pick(-1, null, NOW_SEC), first, 7, 100)
  t.same(counts, [50, 0, 0, 0, 0, 0, 50])
})

t.test('a server coming back rejoins the cycle at once', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const rr = new RoundRobin(cells, first, 2, UPSTREAM)
  cells.setServer(first + 1, ServerCell.Health, Health.Down)
  t.equal(sequence(rr, first, 3), '000')
  cells.setServer(first + 1, ServerCell.Health, Health.Up)
  const s = sequence(rr, first, 4)
  t.equal(s.split('1').length - 1, 2, `alternates again: ${s}`)
})

t.test('full servers are skipped; all eligible full → Full; none eligible → None', async (t) => {
  const { cells, first } = makeCells([1, 1])
  const rr = new RoundRobin(cells, first, 2, UPSTREAM)
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
  const rr = new RoundRobin(cells, first, 3, UPSTREAM)
  const s = sequence(rr, first, 6, first + 1)
  t.notMatch(s, /1/, `never s1: ${s}`)
  t.equal(s.length, 6)
  cells.setServer(first, ServerCell.Health, Health.Down)
  cells.setServer(first + 2, ServerCell.Health, Health.Down)
  t.equal(rr.pick(first + 1, null, NOW_SEC), Pick.None)
  t.equal(rr.pick(-1, null, NOW_SEC), first + 1)
})

t.test('servers of other upstreams are never picked', async (t) => {
  const { cells, first } = makeCells([1, 1], 3)
  const rr = new RoundRobin(cells, first, 2, UPSTREAM)
  for (let k = 0; k < 50; k++) {
    const i = rr.pick(-1, null, NOW_SEC)
    if (i < first || i >= first + 2) t.fail(`picked ${i}`)
  }
  t.pass('all picks within [first, first + count)')
})

t.test('an upstream without servers answers None', async (t) => {
  const { cells, first } = makeCells([])
  t.equal(new RoundRobin(cells, first, 0, UPSTREAM).pick(-1, null, NOW_SEC), Pick.None)
})
