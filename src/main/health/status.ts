// A server's status as HAProxy prints it in `show stat` (column 17), computed from the cells:
// "UP", "UP 2/3", "DOWN", "DOWN 1/2", "DRAIN", "DRAIN 2/3", "NOLB", "MAINT", "no check", and the same
// reduced to one word for colours and filters. Main thread only; shared by the dashboard (metrics.ts) and
// the runtime API so both say the same thing.

import { Admin, Health, ServerCell } from '../../shared/layout.ts'
import type { Cells } from '../../shared/cells.ts'
import type { HealthConfig } from '../../shared/config/types.ts'
import { HEALTH_STOPPING } from './state.ts'

/**
 * The HAProxy status string of server `index` (reference/runtime-api.md §6). `health` is the
 * server's upstream check config, or null when it has none. With checks on, a failure streak shows
 * as "UP <fall-count>/<fall>" (that many more failures → DOWN) and a success streak while down as
 * "DOWN <count>/<rise>". A server whose checks are disabled at runtime shows "no check" when up.
 * A stopping server (set server … health stopping) is "NOLB", with its failure streak if checked.
 */
export function serverStatus(cells: Cells, index: number, health: HealthConfig | null): string {
  const admin = cells.server(index, ServerCell.Admin)
  if (admin === Admin.Maint) return 'MAINT'
  const isChecked = health !== null && cells.server(index, ServerCell.CheckEnabled) === 1
  const count = cells.server(index, ServerCell.CheckCount)
  if (cells.server(index, ServerCell.Health) === Health.Down) {
    return isChecked && count > 0 && count < health.rise ? `DOWN ${count}/${health.rise}` : 'DOWN'
  }
  const word = cells.server(index, ServerCell.Health) === HEALTH_STOPPING ? 'NOLB' : admin === Admin.Drain ? 'DRAIN' : 'UP'
  if (isChecked && count > 0 && count < health.fall) return `${word} ${health.fall - count}/${health.fall}`
  if (!isChecked && word === 'UP') return 'no check'
  return word
}

/** HAProxy's Prometheus exporter reduces server status to these words too. */
export type ServerState = 'UP' | 'DOWN' | 'MAINT' | 'DRAIN' | 'NOLB'

/** The status reduced to one word, first match wins: MAINT, DOWN, NOLB, DRAIN, UP ("no check" is UP). */
export function serverState(cells: Cells, index: number): ServerState {
  const admin = cells.server(index, ServerCell.Admin)
  if (admin === Admin.Maint) return 'MAINT'
  const health = cells.server(index, ServerCell.Health)
  if (health === Health.Down) return 'DOWN'
  if (health === HEALTH_STOPPING) return 'NOLB'
  return admin === Admin.Drain ? 'DRAIN' : 'UP'
}
