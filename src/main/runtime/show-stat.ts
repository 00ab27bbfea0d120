// `show stat`: HAProxy 2.6's CSV (and its typed and json forms) built from the live cells.
// Listeners appear as FRONTEND rows, each upstream as its server rows then a BACKEND row. Columns
// portico has no figure for are left empty (tools treat empty as "not applicable"); columns whose
// value is structurally zero in portico (no compression, no cache, no deny rules, no backups) say 0.
// Main thread only.
//
// Row order: every FRONTEND (listeners in file order), then per upstream its servers and BACKEND
// (file order). haproxy_exporter fixes the field count from the first row: every row here has
// exactly STAT_FIELDS.length fields plus the trailing empty one.

import { Admin, Header, Health, ListenerCell, ListenerCounter, ServerCell, ServerCounter } from '../../shared/cells.ts'
import type { Cells } from '../../shared/cells.ts'
import type { Balance, UpstreamConfig } from '../../shared/config/types.ts'
import { LATENCY_BUCKETS_MS, UpstreamCell } from '../../shared/layout.ts'
import { Col, MARKER_COL, STAT_FIELDS, jsonTags } from './fields.ts'
import { err, Level, raw } from './context.ts'
import type { Reply, Session } from './context.ts'
import { atoi, riseFall, topologyOf } from './topology.ts'
import type { BackendEntry, FrontendEntry, ServerEntry, Topology } from './topology.ts'

/** Value written to ServerCell.Health by `set server … health stopping` (HAProxy NOLB); see server-admin.ts. */
export const HEALTH_STOPPING = 2

/** Column `type` and the `show stat` type mask bit (1 << type). */
export const ObjType = { Frontend: 0, Backend: 1, Server: 2, Listener: 3 } as const
export type ObjType = (typeof ObjType)[keyof typeof ObjType]

const OBJ_CHAR = ['F', 'B', 'S', 'L'] as const
const OBJ_JSON = ['Frontend', 'Backend', 'Server', 'Listener'] as const

/** HAProxy's `algo` column names for portico's balancers. */
export function algoName(up: UpstreamConfig): string {
  const b: Balance = up.balance
  switch (b) {
    case 'round_robin': return 'roundrobin'
    case 'least_conn': return 'leastconn'
    case 'random': return 'random'
    // HAProxy's power-of-two-choices is `balance random(2)`, shown as "random".
    case 'p2c': return 'random'
    case 'hash': {
      const k = up.hashKey?.kind
      if (k === 'client_ip') return 'source'
      if (k === 'path') return 'uri'
      if (k === 'header') return 'hdr'
      return 'hash'
    }
  }
}

export interface StatRow {
  type: ObjType
  iid: number
  sid: number
  /** STAT_FIELDS.length values, '' = empty. */
  fields: string[]
}

function newRow(type: ObjType, iid: number, sid: number): StatRow {
  const fields = new Array<string>(STAT_FIELDS.length).fill('')
  fields[MARKER_COL] = '-'
  return { type, iid, sid, fields }
}

/** Counters are Float64 sums of whole numbers; print them as integers. */
function int(x: number): string {
  return String(Math.round(x))
}

/** Seconds now, and the fallback for a LastChange cell that was never written. */
export interface Clock {
  nowSec: number
  baseSec: number
}

export function clockOf(cells: Cells, startedAtMs: number): Clock {
  const epoch = cells.header(Header.EpochSeconds)
  return { nowSec: (Date.now() / 1000) | 0, baseSec: epoch > 0 ? epoch : (startedAtMs / 1000) | 0 }
}

/**
 * HAProxy's check health (0 .. rise+fall-1, server up from `rise`) from portico's Health and
 * CheckCount cells: while up CheckCount counts failures, while down it counts successes.
 */
export function checkHealth(health: number, checkCount: number, rise: number, fall: number): number {
  const n = Math.max(0, checkCount)
  if (health === Health.Down) return Math.min(n, rise - 1)
  return rise + fall - 1 - Math.min(n, fall - 1)
}

/** The server `status` column (HAProxy 2.6 stats_fill_sv_stats; portico has no track and no agent). */
export function serverStatus(cells: Cells, sv: ServerEntry): string {
  const i = sv.index
  if (cells.server(i, ServerCell.Admin) === Admin.Maint) return 'MAINT'
  const health = cells.server(i, ServerCell.Health)
  const checked = cells.server(i, ServerCell.CheckEnabled) === 1
  const { rise, fall } = riseFall(sv.backend.config.health)
  const h = checkHealth(health, cells.server(i, ServerCell.CheckCount), rise, fall)
  const max = rise + fall - 1
  if (health === Health.Up) {
    const goingDown = checked && h < max
    if (cells.server(i, ServerCell.Admin) === Admin.Drain) return goingDown ? `DRAIN ${h - rise + 1}/${fall}` : 'DRAIN'
    if (goingDown) return `UP ${h - rise + 1}/${fall}`
    return checked ? 'UP' : 'no check'
  }
  if (health === HEALTH_STOPPING) return !checked || h === max ? 'NOLB' : `NOLB ${h - rise + 1}/${fall}`
  if (checked && h > 0) return `DOWN ${h}/${rise}`
  return 'DOWN'
}

/** Not in maintenance and not stopped: HAProxy's "nbup" for the `(up/total)` backend status. */
function isUpish(cells: Cells, i: number): boolean {
  return cells.server(i, ServerCell.Admin) !== Admin.Maint && cells.server(i, ServerCell.Health) !== Health.Down
}

/** Response-latency average in ms over every request so far (HAProxy averages the last 1024). */
function latencyTotals(cells: Cells, i: number): { sumMs: number; count: number } {
  let count = 0
  for (let b = 0; b <= LATENCY_BUCKETS_MS.length; b++) count += cells.sumServer(i, ServerCounter.LatencyBucket0 + b)
  return { sumMs: cells.sumServer(i, ServerCounter.LatencySumMs), count }
}

function fillHttpCounters(f: string[], get: (c: number) => number, codes: readonly number[]): void {
  for (let k = 0; k < 6; k++) f[Col.hrsp_1xx + k] = int(get(codes[k]))
}

const SERVER_RESP = [
  ServerCounter.Resp1xx, ServerCounter.Resp2xx, ServerCounter.Resp3xx,
  ServerCounter.Resp4xx, ServerCounter.Resp5xx, ServerCounter.RespOther,
] as const
const LISTENER_RESP = [
  ListenerCounter.Resp1xx, ListenerCounter.Resp2xx, ListenerCounter.Resp3xx,
  ListenerCounter.Resp4xx, ListenerCounter.Resp5xx, ListenerCounter.RespOther,
] as const

export function frontendRow(topo: Topology, cells: Cells, fe: FrontendEntry): StatRow {
  const row = newRow(ObjType.Frontend, fe.iid, 0)
  const f = row.fields
  const l = fe.listener
  const get = (c: number): number => cells.sumListener(l, c)
  f[Col.pxname] = fe.name
  f[Col.svname] = 'FRONTEND'
  f[Col.scur] = int(cells.listener(l, ListenerCell.Active))
  f[Col.smax] = int(cells.maxOfListener(l, ListenerCounter.MaxActive))
  f[Col.slim] = int(topo.config.global.maxConnections)
  f[Col.stot] = int(get(ListenerCounter.Connections))
  f[Col.bin] = int(get(ListenerCounter.BytesIn))
  f[Col.bout] = int(get(ListenerCounter.BytesOut))
  f[Col.dreq] = '0' // portico has no deny rules
  f[Col.dresp] = '0'
  // Requests portico refused itself (bad request, no route, limits): HAProxy counts these as ereq.
  f[Col.ereq] = int(get(ListenerCounter.Denied))
  f[Col.status] = cells.listener(l, ListenerCell.Enabled) === 0 ? 'PAUSED' : 'OPEN'
  f[Col.pid] = '1'
  f[Col.iid] = String(fe.iid)
  f[Col.sid] = '0'
  f[Col.type] = String(ObjType.Frontend)
  f[Col.rate_lim] = '0' // no session rate limit
  fillHttpCounters(f, get, LISTENER_RESP)
  f[Col.req_tot] = int(get(ListenerCounter.Requests))
  for (let c = Col.comp_in; c <= Col.comp_rsp; c++) f[c] = '0' // no compression
  f[Col.mode] = 'http'
  f[Col.conn_tot] = int(get(ListenerCounter.Connections))
  f[Col.intercepted] = '0'
  // Connections closed at accept because global.max_connections was reached.
  f[Col.dcon] = int(get(ListenerCounter.Refused))
  f[Col.dses] = '0'
  f[Col.wrew] = '0' // no header rewrites that can fail
  f[Col.cache_lookups] = '0'
  f[Col.cache_hits] = '0'
  return row
}

export function serverRow(cells: Cells, sv: ServerEntry, clock: Clock, showLegends: boolean): StatRow {
  const row = newRow(ObjType.Server, sv.backend.iid, sv.sid)
  const f = row.fields
  const i = sv.index
  const get = (c: number): number => cells.sumServer(i, c)
  const checked = cells.server(i, ServerCell.CheckEnabled) === 1
  const maint = cells.server(i, ServerCell.Admin) === Admin.Maint
  const weight = cells.server(i, ServerCell.Weight)
  const maxconn = cells.server(i, ServerCell.MaxConn)
  const lastChange = cells.server(i, ServerCell.LastChange)
  f[Col.pxname] = sv.backend.name
  f[Col.svname] = sv.name
  f[Col.qcur] = int(cells.server(i, ServerCell.Queued))
  f[Col.scur] = int(cells.server(i, ServerCell.Active))
  f[Col.smax] = int(cells.maxOfServer(i, ServerCounter.MaxActive))
  f[Col.slim] = maxconn > 0 ? String(maxconn) : ''
  f[Col.stot] = int(get(ServerCounter.Requests))
  f[Col.bin] = int(get(ServerCounter.BytesIn))
  f[Col.bout] = int(get(ServerCounter.BytesOut))
  f[Col.dresp] = '0'
  f[Col.econ] = int(get(ServerCounter.ConnectFailures))
  f[Col.eresp] = int(get(ServerCounter.ResponseErrors))
  f[Col.wretr] = int(get(ServerCounter.Retries))
  f[Col.wredis] = int(get(ServerCounter.Redispatches))
  f[Col.status] = serverStatus(cells, sv)
  f[Col.weight] = String(weight)
  f[Col.act] = '1' // portico has no backup servers
  f[Col.bck] = '0'
  if (checked) {
    f[Col.chkfail] = int(get(ServerCounter.ChecksFailed))
    f[Col.chkdown] = int(get(ServerCounter.HealthTransitionsDown))
  }
  f[Col.lastchg] = String(Math.max(0, clock.nowSec - (lastChange > 0 ? lastChange : clock.baseSec)))
  f[Col.pid] = '1'
  f[Col.iid] = String(sv.backend.iid)
  f[Col.sid] = String(sv.sid)
  f[Col.lbtot] = int(get(ServerCounter.Requests))
  f[Col.type] = String(ObjType.Server)
  fillHttpCounters(f, get, SERVER_RESP)
  f[Col.req_tot] = int(get(ServerCounter.Requests))
  const lat = latencyTotals(cells, i)
  if (lat.count > 0) f[Col.rtime] = int(lat.sumMs / lat.count)
  if (checked && !maint) {
    const { rise, fall } = riseFall(sv.backend.config.health)
    f[Col.check_rise] = String(rise)
    f[Col.check_fall] = String(fall)
    f[Col.check_health] = String(checkHealth(cells.server(i, ServerCell.Health), cells.server(i, ServerCell.CheckCount), rise, fall))
  }
  if (showLegends) f[Col.addr] = sv.config.address
  f[Col.mode] = 'http'
  f[Col.wrew] = '0'
  f[Col.connect] = int(get(ServerCounter.ConnectionsOpened))
  f[Col.reuse] = int(get(ServerCounter.ConnectionsReused))
  f[Col.uweight] = String(weight)
  return row
}

export function backendRow(
  cells: Cells, be: BackendEntry, clock: Clock, showLegends: boolean, upFilter: boolean,
): StatRow {
  const row = newRow(ObjType.Backend, be.iid, 0)
  const f = row.fields
  let scur = 0
  let weight = 0
  let act = 0
  let nbup = 0
  let latSum = 0
  let latCount = 0
  for (const sv of be.servers) {
    const i = sv.index
    scur += cells.server(i, ServerCell.Active)
    // HAProxy's backend weight/act count only servers the balancer may pick right now.
    if (cells.isEligible(i, clock.nowSec)) {
      weight += cells.server(i, ServerCell.Weight)
      act++
    }
    if (isUpish(cells, i)) nbup++
    const lat = latencyTotals(cells, i)
    latSum += lat.sumMs
    latCount += lat.count
  }
  const sum = (c: number): string => {
    let total = 0
    for (const sv of be.servers) total += cells.sumServer(sv.index, c)
    return int(total)
  }
  f[Col.pxname] = be.name
  f[Col.svname] = 'BACKEND'
  f[Col.qcur] = int(cells.upstream(be.upstream, UpstreamCell.Queued))
  f[Col.scur] = String(scur)
  f[Col.stot] = sum(ServerCounter.Requests)
  f[Col.bin] = sum(ServerCounter.BytesIn)
  f[Col.bout] = sum(ServerCounter.BytesOut)
  f[Col.dreq] = '0'
  f[Col.dresp] = '0'
  f[Col.econ] = sum(ServerCounter.ConnectFailures)
  f[Col.eresp] = sum(ServerCounter.ResponseErrors)
  f[Col.wretr] = sum(ServerCounter.Retries)
  f[Col.wredis] = sum(ServerCounter.Redispatches)
  // HAProxy: UP while the usable servers' total weight is > 0, or when there are no servers at all.
  let status = weight > 0 || be.servers.length === 0 ? 'UP' : 'DOWN'
  if (upFilter) status += ` (${nbup}/${be.servers.length})`
  f[Col.status] = status
  f[Col.weight] = String(weight)
  f[Col.act] = String(act)
  f[Col.bck] = '0'
  f[Col.pid] = '1'
  f[Col.iid] = String(be.iid)
  f[Col.sid] = '0'
  f[Col.lbtot] = sum(ServerCounter.Requests)
  f[Col.type] = String(ObjType.Backend)
  for (let k = 0; k < 6; k++) f[Col.hrsp_1xx + k] = sum(SERVER_RESP[k])
  f[Col.req_tot] = sum(ServerCounter.Requests)
  for (let c = Col.comp_in; c <= Col.comp_rsp; c++) f[c] = '0'
  if (latCount > 0) f[Col.rtime] = int(latSum / latCount)
  f[Col.mode] = 'http'
  if (showLegends) f[Col.algo] = algoName(be.config)
  f[Col.wrew] = '0'
  f[Col.connect] = sum(ServerCounter.ConnectionsOpened)
  f[Col.reuse] = sum(ServerCounter.ConnectionsReused)
  f[Col.cache_lookups] = '0'
  f[Col.cache_hits] = '0'
  f[Col.uweight] = String(weight)
  // 2.6 prints 0 in its three aggregate columns.
  f[Col.agg_server_status] = '0'
  f[Col.agg_server_check_status] = '0'
  f[Col.agg_check_status] = '0'
  return row
}

/** `show stat` arguments, parsed as 2.6 cli_parse_show_stat does. */
export interface StatQuery {
  bound: boolean
  /** -1 = every proxy. */
  iid: number
  typeMask: number
  /** -1 = every server. */
  sid: number
  format: 'csv' | 'typed' | 'json'
  desc: boolean
  hideMaint: boolean
  hideDown: boolean
}

/** Parses `show stat …` words (args[0..1] are "show stat"); an error reply for an unknown proxy. */
export function parseStatQuery(topo: Topology, args: readonly string[]): StatQuery | Reply {
  const a = (k: number): string => args[k] ?? ''
  const q: StatQuery = {
    bound: false, iid: -1, typeMask: -1, sid: -1, format: 'csv', desc: false, hideMaint: false, hideDown: false,
  }
  let k = 2
  // The 3-word filter counts only when all three words are there; otherwise they are ignored.
  if (a(2) !== '' && a(3) !== '' && a(4) !== '') {
    const iid = topo.proxyIid(a(2)) || atoi(a(2))
    if (iid === 0) return err('No such proxy.')
    q.bound = true
    q.iid = iid
    q.typeMask = atoi(a(3))
    q.sid = atoi(a(4))
    k = 5
  }
  for (; a(k) !== ''; k++) {
    const w = a(k)
    if (w === 'typed') q.format = 'typed'
    else if (w === 'json') q.format = 'json'
    else if (w === 'desc') q.desc = true
    else if (w === 'no-maint') q.hideMaint = true
    else if (w === 'up') q.hideDown = true
  }
  return q
}

/** The rows `show stat` prints for a query, in output order. */
export function statRows(topo: Topology, cells: Cells, q: StatQuery, showLegends: boolean, startedAtMs: number): StatRow[] {
  const rows: StatRow[] = []
  const clock = clockOf(cells, startedAtMs)
  const wants = (iid: number, type: ObjType): boolean =>
    !q.bound || ((q.iid === -1 || q.iid === iid) && (q.typeMask & (1 << type)) !== 0)
  for (const fe of topo.frontends) {
    if (wants(fe.iid, ObjType.Frontend)) rows.push(frontendRow(topo, cells, fe))
  }
  for (const be of topo.backends) {
    if (wants(be.iid, ObjType.Server)) {
      for (const sv of be.servers) {
        if (q.bound && q.sid !== -1 && sv.sid !== q.sid) continue
        if (!keepServer(cells, sv, q)) continue
        rows.push(serverRow(cells, sv, clock, showLegends))
      }
    }
    if (wants(be.iid, ObjType.Backend)) rows.push(backendRow(cells, be, clock, showLegends, q.hideDown || q.hideMaint))
  }
  return rows
}

/** The `no-maint` and `up` filters (2.6: `up` drops MAINT and DOWN servers but keeps "DOWN 1/2"). */
function keepServer(cells: Cells, sv: ServerEntry, q: StatQuery): boolean {
  const i = sv.index
  const maint = cells.server(i, ServerCell.Admin) === Admin.Maint
  if (q.hideMaint && maint) return false
  if (q.hideDown) {
    if (maint) return false
    if (cells.server(i, ServerCell.Health) === Health.Down) {
      if (cells.server(i, ServerCell.CheckEnabled) !== 1) return false
      const { rise, fall } = riseFall(sv.backend.config.health)
      if (checkHealth(Health.Down, cells.server(i, ServerCell.CheckCount), rise, fall) === 0) return false
    }
  }
  return true
}

/** A CSV field: quoted when it holds a comma, quote or line break (HAProxy csv_enc). */
function csvField(v: string): string {
  if (!/[",\r\n]/.test(v)) return v
  return '"' + v.replaceAll('"', '""') + '"'
}

export const CSV_HEADER = '# ' + STAT_FIELDS.map((f) => f.name).join(',') + ',\n'

export function formatCsv(rows: readonly StatRow[]): string {
  let out = CSV_HEADER
  for (const r of rows) out += r.fields.map(csvField).join(',') + ',\n'
  return out
}

function fieldTags(col: number, type: ObjType): string {
  const fd = STAT_FIELDS[col]
  return type === ObjType.Backend && fd.beTags !== undefined ? fd.beTags : fd.tags
}

/** Position in typed/json output: the marker has none, later fields shift down by one. */
function typedPos(col: number): number {
  return col > MARKER_COL ? col - 1 : col
}

export function formatTyped(rows: readonly StatRow[], desc: boolean): string {
  let out = ''
  for (const r of rows) {
    const prefix = `${OBJ_CHAR[r.type]}.${r.iid}.${r.sid}.`
    for (let c = 0; c < r.fields.length; c++) {
      const v = r.fields[c]
      if (v === '' || c === MARKER_COL) continue
      out += `${prefix}${typedPos(c)}.${STAT_FIELDS[c].name}.1:${fieldTags(c, r.type)}:${v}`
      if (desc) out += `:"${STAT_FIELDS[c].desc}"`
      out += '\n'
    }
  }
  return out
}

export function formatJson(rows: readonly StatRow[]): string {
  const objs: string[] = []
  for (const r of rows) {
    const items: string[] = []
    const head = `{"objType":"${OBJ_JSON[r.type]}","proxyId":${r.iid},"id":${r.sid},"field":{"pos":`
    for (let c = 0; c < r.fields.length; c++) {
      const v = r.fields[c]
      if (v === '' || c === MARKER_COL) continue
      const [tags, type] = fieldTags(c, r.type).split(':')
      const value = type === 'str' ? JSON.stringify(v) : v
      items.push(`${head}${typedPos(c)},"name":"${STAT_FIELDS[c].name}"},"processNum":1,"tags":${jsonTags(tags)},` +
        `"value":{"type":"${type}","value":${value}}}`)
    }
    objs.push('[' + items.join(',') + ']')
  }
  return '[' + objs.join(',') + ']\n'
}

/** The `show stat` verb. */
export function showStat(session: Session, args: readonly string[]): Reply {
  const { config, cells } = session.ctx.current()
  const topo = topologyOf(config)
  const q = parseStatQuery(topo, args)
  if (!('bound' in q)) return q
  // 2.6 decides "show legends" (addr, cookie, algo) by the socket's level, not the session's.
  const rows = statRows(topo, cells, q, session.socketLevel >= Level.Operator, session.ctx.startedAtMs)
  if (q.format === 'typed') return raw(formatTyped(rows, q.desc))
  if (q.format === 'json') return raw(formatJson(rows))
  return raw(formatCsv(rows))
}
