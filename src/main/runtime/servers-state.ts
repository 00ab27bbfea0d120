// `show servers state [<backend>]` (HAProxy's state-file format, version 1) and `show backend`.
// Main thread only.

import { isIP } from 'node:net'
import { Admin, Health, ServerCell } from '../../shared/cells.ts'
import type { Cells } from '../../shared/cells.ts'
import { err, raw } from './context.ts'
import type { Reply, Session } from './context.ts'
import { checkHealth, clockOf, HEALTH_STOPPING } from './show-stat.ts'
import { riseFall, topologyOf } from './topology.ts'
import type { ServerEntry } from './topology.ts'

const STATE_HEADER = '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ' +
  'srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state ' +
  'srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port ' +
  'srv_check_addr srv_agent_addr srv_agent_port\n'

/** srv_op_state: 0 stopped, 2 running, 3 stopping (1 starting is not a portico state). */
const OpState = { Stopped: 0, Running: 2, Stopping: 3 } as const
/** srv_admin_state bits portico can have: forced maintenance, forced drain. */
const AdminBit = { ForcedMaint: 0x01, ForcedDrain: 0x08 } as const
/** srv_check_state bits: configured, enabled, paused (maintenance). */
const CheckState = { Configured: 0x02, Enabled: 0x04, Paused: 0x08 } as const
/** HAProxy check status / result codes used here. */
const CheckStatus = { Init: 1, L7Ok: 15, Unknown: 0 } as const
const CheckResult = { Unknown: 0, Failed: 2, Passed: 3 } as const

/** One line of `show servers state`; `nowSec` is Unix seconds, `baseSec` stands in for a LastChange never written. */
export function serverStateLine(cells: Cells, sv: ServerEntry, nowSec: number, baseSec: number): string {
  const i = sv.index
  const admin = cells.server(i, ServerCell.Admin)
  const health = cells.server(i, ServerCell.Health)
  const checkCount = cells.server(i, ServerCell.CheckCount)
  const hasHealthConfig = sv.backend.config.health !== null
  const enabled = cells.server(i, ServerCell.CheckEnabled) === 1
  const { rise, fall } = riseFall(sv.backend.config.health)
  const maint = admin === Admin.Maint
  const op = maint || health === Health.Down ? OpState.Stopped : health === HEALTH_STOPPING ? OpState.Stopping : OpState.Running
  const adminBits = maint ? AdminBit.ForcedMaint : admin === Admin.Drain ? AdminBit.ForcedDrain : 0
  let checkState = 0
  if (hasHealthConfig) {
    checkState = CheckState.Configured
    if (enabled) checkState |= CheckState.Enabled
    if (maint && enabled) checkState |= CheckState.Paused
  }
  // What portico knows of the last check: a streak of failures while up (or none while down)
  // means the last check failed. The kind of failure (L4/L7) is not kept, hence "unknown".
  let checkStatus: number = CheckStatus.Init
  let checkResult: number = CheckResult.Unknown
  let checkHealthValue: number
  if (hasHealthConfig) {
    const lastPassed = health === Health.Down ? checkCount > 0 : checkCount === 0
    checkStatus = lastPassed ? CheckStatus.L7Ok : CheckStatus.Unknown
    checkResult = lastPassed ? CheckResult.Passed : CheckResult.Failed
    checkHealthValue = maint ? 0 : checkHealth(health, checkCount, rise, fall)
  } else {
    // An unchecked server sits at health = rise while up (2.6 shows 2), 0 once forced down.
    checkHealthValue = op === OpState.Stopped ? 0 : rise
  }
  const lastChange = cells.server(i, ServerCell.LastChange)
  const since = Math.max(0, nowSec - (lastChange > 0 ? lastChange : baseSec))
  const host = sv.config.host
  const fqdn = isIP(host) === 0 ? host : '-'
  return [
    sv.backend.iid, sv.backend.name, sv.sid, sv.name, host, op, adminBits,
    cells.server(i, ServerCell.Weight), cells.server(i, ServerCell.InitialWeight), since,
    checkStatus, checkResult, checkHealthValue, checkState,
    0, 0, 0, fqdn, sv.config.port, '-', 0, 0, '-', '-', 0,
  ].join(' ') + '\n'
}

/** The `show servers state [<backend>]` verb. */
export function showServersState(session: Session, args: readonly string[]): Reply {
  const { config, cells } = session.ctx.current()
  const topo = topologyOf(config)
  const name = args[3] ?? ''
  let backends = topo.backends
  if (name !== '') {
    const be = topo.backend(name)
    if (be === null) return err("Can't find backend.")
    backends = [be]
  }
  const clock = clockOf(cells, session.ctx.startedAtMs)
  let out = STATE_HEADER
  for (const be of backends) for (const sv of be.servers) out += serverStateLine(cells, sv, clock.nowSec, clock.baseSec)
  return raw(out)
}

/** The `show backend` verb: every upstream name. */
export function showBackend(session: Session): Reply {
  const topo = topologyOf(session.ctx.current().config)
  let out = '# name\n'
  for (const be of topo.backends) out += be.name + '\n'
  return raw(out)
}
