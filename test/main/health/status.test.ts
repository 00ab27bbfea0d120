import t from 'tap'
import { serverState, serverStatus } from '../../../src/main/health/status.ts'
import { Admin, Health, ServerCell } from '../../../src/shared/layout.ts'
import { HEALTH_STOPPING } from '../../../src/main/health/state.ts'
import { healthConfig, testCells, testConfig } from './fixture.ts'

const config = testConfig([{ name: 'app', health: {}, servers: [{ name: 's1', port: 1 }] }])
const h = healthConfig({ rise: 2, fall: 3 })

function status(health: number, admin: number, count: number, checkEnabled = 1, hc: typeof h | null = h): string {
  const cells = testCells(config)
  cells.setServer(0, ServerCell.Health, health)
  cells.setServer(0, ServerCell.Admin, admin)
  cells.setServer(0, ServerCell.CheckCount, count)
  cells.setServer(0, ServerCell.CheckEnabled, checkEnabled)
  return serverStatus(cells, 0, hc)
}

t.test('status strings follow HAProxy show stat for checked servers', async (t) => {
  // Observed with rise 2, fall 3: UP → UP 2/3 → UP 1/3 → DOWN → DOWN 1/2 → UP
  t.equal(status(Health.Up, Admin.Ready, 0), 'UP')
  t.equal(status(Health.Up, Admin.Ready, 1), 'UP 2/3')
  t.equal(status(Health.Up, Admin.Ready, 2), 'UP 1/3')
  t.equal(status(Health.Down, Admin.Ready, 0), 'DOWN')
  t.equal(status(Health.Down, Admin.Ready, 1), 'DOWN 1/2')
})

t.test('maintenance wins over health, drain keeps the failure streak', async (t) => {
  t.equal(status(Health.Down, Admin.Maint, 1), 'MAINT')
  t.equal(status(Health.Up, Admin.Maint, 0), 'MAINT')
  t.equal(status(Health.Up, Admin.Drain, 0), 'DRAIN')
  t.equal(status(Health.Up, Admin.Drain, 1), 'DRAIN 2/3')
  t.equal(status(Health.Down, Admin.Drain, 0), 'DOWN')
})

t.test('a stopping server is NOLB, with its failure streak when checked', async (t) => {
  t.equal(status(HEALTH_STOPPING, Admin.Ready, 0), 'NOLB')
  t.equal(status(HEALTH_STOPPING, Admin.Ready, 1), 'NOLB 2/3')
  t.equal(status(HEALTH_STOPPING, Admin.Drain, 0), 'NOLB')
  t.equal(status(HEALTH_STOPPING, Admin.Ready, 0, 0, null), 'NOLB')
  t.equal(status(HEALTH_STOPPING, Admin.Maint, 0), 'MAINT')
})

t.test('unchecked servers show no check when up', async (t) => {
  t.equal(status(Health.Up, Admin.Ready, 0, 0, null), 'no check')
  t.equal(status(Health.Up, Admin.Ready, 1, 0, h), 'no check')
  t.equal(status(Health.Down, Admin.Ready, 0, 0, null), 'DOWN')
  t.equal(status(Health.Up, Admin.Drain, 0, 0, null), 'DRAIN')
})

t.test('the four-word state puts maintenance first, then health, then drain', async (t) => {
  const cells = testCells(config)
  const state = (health: number, admin: number) => {
    cells.setServer(0, ServerCell.Health, health)
    cells.setServer(0, ServerCell.Admin, admin)
    return serverState(cells, 0)
  }
  t.equal(state(Health.Up, Admin.Ready), 'UP')
  t.equal(state(Health.Down, Admin.Ready), 'DOWN')
  t.equal(state(Health.Down, Admin.Drain), 'DOWN')
  t.equal(state(Health.Up, Admin.Drain), 'DRAIN')
  t.equal(state(Health.Down, Admin.Maint), 'MAINT')
  t.equal(state(HEALTH_STOPPING, Admin.Drain), 'NOLB')
})
