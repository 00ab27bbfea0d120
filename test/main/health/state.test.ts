import t from 'tap'
import { HEALTH_STOPPING, applyCheck } from '../../../src/main/health/state.ts'
import { Health } from '../../../src/shared/layout.ts'

// Walk a sequence of check results (true = pass) from UP, count 0, with rise 2 fall 3, and record
// (health, count, transition) after each.
function walk(results: boolean[], rise = 2, fall = 3, start: number = Health.Up): string[] {
  let health = start
  let count = 0
  return results.map((isPass) => {
    const o = applyCheck(health, count, isPass, rise, fall)
    health = o.health
    count = o.checkCount
    return `${health === Health.Up ? 'UP' : 'DOWN'}:${count}${o.isTransition ? '!' : ''}`
  })
}

t.test('a server goes down after fall failures in a row and up after rise passes', async (t) => {
  //            fail      fail      fail       pass       pass
  t.same(walk([false, false, false, true, true]), ['UP:1', 'UP:2', 'DOWN:0!', 'DOWN:1', 'UP:0!'])
})

t.test('a pass while up ends the failure streak', async (t) => {
  t.same(walk([false, false, true, false, false, false]), ['UP:1', 'UP:2', 'UP:0', 'UP:1', 'UP:2', 'DOWN:0!'])
})

t.test('a failure while down ends the success streak', async (t) => {
  t.same(walk([true, false, true, true], 2, 3, Health.Down), ['DOWN:1', 'DOWN:0', 'DOWN:1', 'UP:0!'])
})

t.test('rise 1 and fall 1 flip on every changed result', async (t) => {
  t.same(walk([false, false, true, true, false], 1, 1), ['DOWN:0!', 'DOWN:0', 'UP:0!', 'UP:0', 'DOWN:0!'])
})

t.test('a streak written from outside past the threshold flips on the next result', async (t) => {
  // e.g. the runtime API left CheckCount at fall-1 ("UP 1/3" after `state ready`)
  t.same(applyCheck(Health.Up, 2, false, 2, 3), { health: Health.Down, checkCount: 0, isTransition: true })
  t.same(applyCheck(Health.Up, 7, false, 2, 3), { health: Health.Down, checkCount: 0, isTransition: true })
  t.same(applyCheck(Health.Up, -4, false, 2, 3), { health: Health.Up, checkCount: 1, isTransition: false })
  t.same(applyCheck(Health.Down, 5, true, 2, 3), { health: Health.Up, checkCount: 0, isTransition: true })
})

t.test('a stopping server counts failures like an up one and is UP on its first pass', async (t) => {
  t.same(applyCheck(HEALTH_STOPPING, 0, true, 2, 3), { health: Health.Up, checkCount: 0, isTransition: true })
  t.same(applyCheck(HEALTH_STOPPING, 0, false, 2, 3), { health: HEALTH_STOPPING, checkCount: 1, isTransition: false })
  t.same(applyCheck(HEALTH_STOPPING, 2, false, 2, 3), { health: Health.Down, checkCount: 0, isTransition: true })
})
