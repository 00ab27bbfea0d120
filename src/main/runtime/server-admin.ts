// Runtime API verbs on servers and frontends: get/set weight, set server state|health|weight,
// enable/disable server|health|frontend, set maxconn server, clear counters. They write the live
// generation's cells directly; every worker thread sees the change on its next pick (a worker
// already past its pick uses the old value for that one request, which is harmless). Replies copy
// HAProxy 2.6 byte for byte (reference/haproxy-2.6-transcripts/). Main thread only.

import { Admin, Health, ListenerCell, nowSeconds, ServerCell, ServerCounter } from '../../shared/cells.ts'
import type { Cells } from '../../shared/cells.ts'
import { err, Level, notice, OK, PERMISSION_DENIED, raw } from './context.ts'
import type { Reply, Session } from './context.ts'
import { HEALTH_STOPPING } from './show-stat.ts'
import { riseFall, topologyOf } from './topology.ts'
import type { ServerEntry } from './topology.ts'

const SET_SERVER_USAGE = 'usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | ' +
  'agent-send | check-addr | check-port | fqdn | health | ssl | state | weight'

/** C strtol prefix: blanks, sign, digits. null when there are no digits; `rest` is what follows. */
function strtol(s: string): { value: number; rest: string } | null {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s)
  if (m === null) return null
  return { value: Number(m[1]), rest: s.slice(m[0].length) }
}

/**
 * HAProxy server_parse_weight_change_request: `<w>` (0..256) or `<w>%` of the initial weight
 * (capped at 256). Returns the new weight or the error text. No portico balancer is "static" in
 * HAProxy's sense, so any weight is accepted.
 */
export function parseWeight(str: string, initialWeight: number): number | string {
  if (str === '') return 'Require <weight> or <weight%>.'
  const n = strtol(str)
  if (n === null) return 'Empty weight string empty or preceded by garbage'
  let w = n.value
  if (n.rest === '%') {
    if (w < 0) return 'Relative weight must be positive.'
    if (w > 25600) w = 25600 // HAProxy's guard against overflow
    w = Math.trunc((initialWeight * w) / 100)
    if (w > 256) w = 256
  } else if (w < 0 || w > 256) {
    return 'Absolute weight can only be between 0 and 256 inclusive.'
  } else if (n.rest !== '') {
    return 'Trailing garbage in weight string'
  }
  return w
}

/** HAProxy server_parse_maxconn_change_request; portico's MaxConn is 0 (unlimited) or more. */
export function parseMaxconn(str: string): number | string {
  if (str === '') return 'Require <maxconn>.'
  const n = strtol(str)
  if (n === null) return 'maxconn string empty or preceded by garbage'
  if (n.rest !== '') return 'Trailing garbage in maxconn string'
  if (n.value < 0 || n.value > 2147483647) return 'Value out of range.'
  return n.value
}

function lookup(session: Session, arg: string, emptyBackendOk = false): { cells: Cells; sv: ServerEntry } | Reply {
  const { config, cells } = session.ctx.current()
  const found = topologyOf(config).findServer(arg, emptyBackendOk)
  if (typeof found === 'string') return err(found)
  return { cells, sv: found }
}

function isReply(x: object): x is Reply {
  return 'severity' in x
}

function setWeightCell(cells: Cells, sv: ServerEntry, arg: string): Reply {
  const w = parseWeight(arg, cells.server(sv.index, ServerCell.InitialWeight))
  if (typeof w === 'string') return err(w)
  cells.setServer(sv.index, ServerCell.Weight, w)
  return OK
}

/**
 * Admin state change (HAProxy srv_adm_set_ready/drain/maint). Entering maintenance counts as a
 * DOWN transition (chkdown) for a server that was up. Leaving it with checks enabled puts the
 * server UP with health = rise, one failure away from DOWN ("UP 1/3" for rise 2 fall 3), as 2.6
 * does; without checks it is simply up. Repeating the current state is a silent no-op.
 */
export function setAdmin(cells: Cells, sv: ServerEntry, target: Admin): void {
  const i = sv.index
  const cur = cells.server(i, ServerCell.Admin)
  if (cur === target) return
  if (target === Admin.Maint && cells.server(i, ServerCell.Health) !== Health.Down) {
    // The main thread's shard: written only by this thread (the checker counts there too).
    cells.countServer(cells.mainShard, i, ServerCounter.HealthTransitionsDown, 1)
  }
  if (cur === Admin.Maint) {
    const checked = cells.server(i, ServerCell.CheckEnabled) === 1
    cells.setServer(i, ServerCell.Health, Health.Up)
    cells.setServer(i, ServerCell.CheckCount, checked ? riseFall(sv.backend.config.health).fall - 1 : 0)
  }
  cells.setServer(i, ServerCell.Admin, target)
  cells.setServer(i, ServerCell.LastChange, nowSeconds())
}

/**
 * `set server … health up|stopping|down` (HAProxy: health = rise+fall-1 and running / stopping, or
 * 0 and stopped). With checks enabled the next check result takes over again, as in 2.6.
 * "stopping" is written as HEALTH_STOPPING: not Health.Up, so no worker picks the server (NOLB).
 */
export function setHealth(cells: Cells, sv: ServerEntry, target: number): void {
  const i = sv.index
  const cur = cells.server(i, ServerCell.Health)
  cells.setServer(i, ServerCell.CheckCount, 0)
  if (cur === target) return
  if (target === Health.Down && cells.server(i, ServerCell.Admin) !== Admin.Maint) {
    cells.countServer(cells.mainShard, i, ServerCounter.HealthTransitionsDown, 1)
  }
  cells.setServer(i, ServerCell.Health, target)
  cells.setServer(i, ServerCell.LastChange, nowSeconds())
}

/** `get weight <bk>/<srv>` → "<current> (initial <configured>)". */
export function getWeight(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '', true)
  if (isReply(found)) return found
  const { cells, sv } = found
  return raw(`${cells.server(sv.index, ServerCell.Weight)} (initial ${cells.server(sv.index, ServerCell.InitialWeight)})\n`)
}

/** `set weight <bk>/<srv> <w>[%]`. */
export function setWeight(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  return setWeightCell(found.cells, found.sv, args[3] ?? '')
}

/** `set server <bk>/<srv> weight|state|health …`. */
export function setServer(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  const { cells, sv } = found
  const sub = args[3] ?? ''
  const value = args[4] ?? ''
  switch (sub) {
    case 'weight':
      return setWeightCell(cells, sv, value)
    case 'state':
      if (value === 'ready') setAdmin(cells, sv, Admin.Ready)
      else if (value === 'drain') setAdmin(cells, sv, Admin.Drain)
      else if (value === 'maint') setAdmin(cells, sv, Admin.Maint)
      else return err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.")
      return OK
    case 'health':
      if (value === 'up') setHealth(cells, sv, Health.Up)
      else if (value === 'stopping') setHealth(cells, sv, HEALTH_STOPPING)
      else if (value === 'down') setHealth(cells, sv, Health.Down)
      else return err("'set server <srv> health' expects 'up', 'stopping', or 'down'.")
      return OK
    case 'agent':
    case 'agent-addr':
    case 'agent-port':
    case 'agent-send':
      // portico has no agent checks: 2.6's reply for a server without one.
      return err('agent checks are not enabled on this server.')
    case 'addr':
    case 'check-addr':
    case 'check-port':
    case 'fqdn':
    case 'ssl':
      return err(`'set server <srv> ${sub}' is not supported by portico; change the config file and reload.`)
    default:
      return err(SET_SERVER_USAGE)
  }
}

/** `disable server <bk>/<srv>` = `set server … state maint`. */
export function disableServer(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  setAdmin(found.cells, found.sv, Admin.Maint)
  return OK
}

/** `enable server <bk>/<srv>` = `set server … state ready`. */
export function enableServer(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  setAdmin(found.cells, found.sv, Admin.Ready)
  return OK
}

/** `disable health <bk>/<srv>`: the checker stops judging it; status "no check". Always silent. */
export function disableHealth(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  found.cells.setServer(found.sv.index, ServerCell.CheckEnabled, 0)
  return OK
}

/** `enable health <bk>/<srv>`: only for an upstream with a [health] section. */
export function enableHealth(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[2] ?? '')
  if (isReply(found)) return found
  if (found.sv.backend.config.health === null) return err('Health checks are not configured on this server, cannot enable.')
  found.cells.setServer(found.sv.index, ServerCell.CheckEnabled, 1)
  return OK
}

/** `set maxconn server <bk>/<srv> <n>`: max_connections_per_server for one server, 0 = unlimited. */
export function setMaxconnServer(session: Session, args: readonly string[]): Reply {
  const found = lookup(session, args[3] ?? '')
  if (isReply(found)) return found
  const v = parseMaxconn(args[4] ?? '')
  if (typeof v === 'string') return err(v)
  found.cells.setServer(found.sv.index, ServerCell.MaxConn, v)
  return OK
}

function frontendCell(session: Session, name: string): { cells: Cells; listener: number } | Reply {
  if (name === '') return err('A frontend name is expected.')
  const { config, cells } = session.ctx.current()
  const fe = topologyOf(config).frontend(name)
  if (fe === null) return err('No such frontend.')
  return { cells, listener: fe.listener }
}

/** `disable frontend <fe>`: ListenerCell.Enabled = 0 (status PAUSED); the listener stops accepting. */
export function disableFrontend(session: Session, args: readonly string[]): Reply {
  const found = frontendCell(session, args[2] ?? '')
  if (isReply(found)) return found
  if (found.cells.listener(found.listener, ListenerCell.Enabled) === 0) return notice('All sockets are already disabled.')
  found.cells.setListener(found.listener, ListenerCell.Enabled, 0)
  return OK
}

/** `enable frontend <fe>`. */
export function enableFrontend(session: Session, args: readonly string[]): Reply {
  const found = frontendCell(session, args[2] ?? '')
  if (isReply(found)) return found
  if (found.cells.listener(found.listener, ListenerCell.Enabled) !== 0) return notice('All sockets are already enabled.')
  found.cells.setListener(found.listener, ListenerCell.Enabled, 1)
  return OK
}

/**
 * `clear counters` (operator) resets maxima; `clear counters all` (admin) zeroes every counter.
 * Workers add to their shards without locks, so a request finishing during the clear may survive
 * it; that is the same looseness HAProxy documents for this command.
 */
export function clearCounters(session: Session, args: readonly string[]): Reply {
  const all = args[2] === 'all'
  if (all && session.level < Level.Admin) return PERMISSION_DENIED
  if (all) session.ctx.current().cells.clearCounters()
  else session.ctx.current().cells.clearMaxCounters()
  return OK
}
