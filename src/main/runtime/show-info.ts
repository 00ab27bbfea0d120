// `show info [typed|json] [desc] [float]`: process figures in HAProxy 2.6's field order. hatop
// aborts unless Name, Version, Release_date, Nbproc, Process_num, Pid, Uptime, Maxconn, CurrConns,
// Maxpipes, PipesUsed, Tasks, Run_queue and node are present (numbers as digits, no spaces in the
// strings); haproxy_exporter reads Version, Release_date and Idle_pct. Figures portico does not
// have (SSL, pipes, compression, rates) are 0, as HAProxy prints for features not in use.
// Main thread only.

import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { EventLoopUtilization } from 'node:perf_hooks'
import { ListenerCell, ListenerCounter } from '../../shared/cells.ts'
import { MiscCounter } from '../../shared/layout.ts'
import { INFO_FIELDS, jsonTags } from './fields.ts'
import { raw } from './context.ts'
import type { Reply, Session } from './context.ts'

/** "0d 0h00m48s", HAProxy's human uptime. */
export function formatUptime(sec: number): string {
  const s = Math.max(0, Math.floor(sec))
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  return `${d}d ${h}h${String(m).padStart(2, '0')}m${String(r).padStart(2, '0')}s`
}

/** Soft limit on open files (Ulimit-n / Maxsock); Node has no getrlimit, Linux has /proc. 0 if unknown. */
function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}

/**
 * Idle_pct: the main thread's idle share since the previous `show info` (or since start). HAProxy
 * measures its own thread over the last second; the main thread is the one running this code.
 */
let lastElu: EventLoopUtilization | null = null
function idlePct(): number {
  const now = performance.eventLoopUtilization()
  const delta = lastElu === null ? now : performance.eventLoopUtilization(now, lastElu)
  lastElu = now
  const pct = Math.round((1 - delta.utilization) * 100)
  return Number.isFinite(pct) ? Math.min(100, Math.max(0, pct)) : 100
}

/** Field name → value, for every INFO_FIELDS entry. */
export function infoValues(session: Session, float: boolean): Map<string, string> {
  const ctx = session.ctx
  const { config, cells } = ctx.current()
  const nowMs = Date.now()
  const upSec = Math.max(0, (nowMs - ctx.startedAtMs) / 1000)
  let currConns = 0
  let cumConns = 0
  let cumReq = 0
  let bytesOut = 0
  let listeners = 0
  for (let l = 0; l < config.listeners.length; l++) {
    currConns += cells.listener(l, ListenerCell.Active)
    cumConns += cells.sumListener(l, ListenerCounter.Connections)
    cumReq += cells.sumListener(l, ListenerCounter.Requests)
    bytesOut += cells.sumListener(l, ListenerCounter.BytesOut)
    if (cells.listener(l, ListenerCell.Enabled) !== 0) listeners++
  }
  const mem = process.memoryUsage()
  const fds = openFilesLimit()
  const jobs = currConns + listeners
  const v = new Map<string, string>()
  const set = (name: string, value: number | string): void => {
    v.set(name, typeof value === 'number' ? String(Math.round(value)) : value)
  }
  set('Name', 'portico')
  set('Version', ctx.version)
  set('Release_date', session.options.releaseDate)
  set('Nbthread', config.global.workers)
  set('Nbproc', 1)
  set('Process_num', 1)
  set('Pid', process.pid)
  set('Uptime', formatUptime(upSec))
  set('Uptime_sec', float ? upSec.toFixed(6) : String(Math.floor(upSec)))
  set('Memmax_MB', 0)
  set('PoolAlloc_MB', Math.floor(mem.heapTotal / 1048576))
  set('PoolUsed_MB', Math.floor(mem.heapUsed / 1048576))
  set('PoolFailed', 0)
  set('Ulimit-n', fds)
  set('Maxsock', fds)
  set('Maxconn', config.global.maxConnections)
  set('Hard_maxconn', config.global.maxConnections)
  set('CurrConns', currConns)
  set('CumConns', cumConns)
  set('CumReq', cumReq)
  for (const name of [
    'MaxSslConns', 'CurrSslConns', 'CumSslConns', 'Maxpipes', 'PipesUsed', 'PipesFree', 'ConnRate',
    'ConnRateLimit', 'MaxConnRate', 'SessRate', 'SessRateLimit', 'MaxSessRate', 'SslRate', 'SslRateLimit',
    'MaxSslRate', 'SslFrontendKeyRate', 'SslFrontendMaxKeyRate', 'SslFrontendSessionReuse_pct',
    'SslBackendKeyRate', 'SslBackendMaxKeyRate', 'SslCacheLookups', 'SslCacheMisses', 'CompressBpsIn',
    'CompressBpsOut', 'CompressBpsRateLim', 'Run_queue', 'Stopping', 'Unstoppable Jobs', 'ActivePeers',
    'ConnectedPeers', 'BusyPolling', 'FailedResolutions', 'TotalSplicdedBytesOut', 'BytesOutRate',
    'DebugCommandsIssued', 'CumRecvLogs', 'Memmax_bytes', 'Tainted',
  ]) set(name, 0)
  // Tasks: what the process is juggling (connections + listeners + worker threads); hatop shows it.
  set('Tasks', jobs + ctx.workers().length)
  set('Idle_pct', idlePct())
  set('node', hostname().replace(/\s/g, '_'))
  set('Jobs', jobs)
  set('Listeners', listeners)
  set('DroppedLogs', cells.sumMisc(MiscCounter.RingDrops))
  set('TotalBytesOut', bytesOut)
  set('Build info', `${ctx.version}-node${process.versions.node}`)
  set('PoolAlloc_bytes', mem.heapTotal)
  set('PoolUsed_bytes', mem.heapUsed)
  set('Start_time_sec', float ? (ctx.startedAtMs / 1000).toFixed(6) : String(Math.floor(ctx.startedAtMs / 1000)))
  return v
}

/** The `show info` verb: plain by default; `typed`, `json`, `desc`, `float` as in 2.6; other words ignored. */
export function showInfo(session: Session, args: readonly string[]): Reply {
  let format: 'plain' | 'typed' | 'json' = 'plain'
  let desc = false
  let float = false
  for (let k = 2; k < args.length; k++) {
    const w = args[k]
    if (w === 'typed') format = 'typed'
    else if (w === 'json') format = 'json'
    else if (w === 'desc') desc = true
    else if (w === 'float') float = true
  }
  const values = infoValues(session, float)
  // In float mode the two times become floating point ("flt"), as 2.6 does.
  const typeOf = (name: string, tags: string): string =>
    float && (name === 'Uptime_sec' || name === 'Start_time_sec') ? tags.slice(0, 3) + ':flt' : tags
  if (format === 'json') {
    const items = INFO_FIELDS.map((f) => {
      const [tags, type] = typeOf(f.name, f.tags).split(':')
      const value = values.get(f.name) ?? ''
      const json = type === 'str' ? JSON.stringify(value) : value
      return `{"field":{"pos":${f.pos},"name":"${f.name}"},"processNum":1,"tags":${jsonTags(tags)},` +
        `"value":{"type":"${type}","value":${json}}}`
    })
    return raw('[' + items.join(',') + ']\n')
  }
  let out = ''
  for (const f of INFO_FIELDS) {
    const value = values.get(f.name) ?? ''
    if (format === 'typed') out += `${f.pos}.${f.name}.1:${typeOf(f.name, f.tags)}:${value}`
    else out += `${f.name}: ${value}`
    if (desc) out += `:"${f.desc}"`
    out += '\n'
  }
  return raw(out)
}
