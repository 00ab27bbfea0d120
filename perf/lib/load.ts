// Load generation and measurement of one run: wrk (HTTP/1.1, plain or TLS) with a Lua done()
// that prints exact figures as JSON, or h2load for HTTP/2; around it, the proxy's CPU seconds
// from /proc (all threads, all processes of its tree) and its peak RSS, sampled every 250 ms.
// Runs on the harness main thread.

import { writeFileSync } from 'node:fs'
import { machineBusySeconds, mainThreadCpuSeconds, runBounded, treeCpuSeconds, treeRssBytes } from './procs.ts'

/** One scenario line of the table. */
export interface Scenario {
  /** Row name: ka, newconn, download, upload, tls-ka, tls-hs, h2. */
  name: string
  /** What the row means, for the README and the table legend. */
  describe: string
  tool: 'wrk' | 'h2load'
  isTls: boolean
  path: string
  conns: number
  threads: number
  /** h2load streams per connection. */
  streams: number
  isConnClose: boolean
  isUpload: boolean
}

export const UPLOAD_BYTES = 10 * 1024 * 1024

/** The scenario rows behind each `--scenarios` word. */
export function scenariosFor(group: string): Scenario[] {
  const base = { tool: 'wrk' as const, isTls: false, path: '/', conns: 50, threads: 2, streams: 1, isConnClose: false, isUpload: false }
  switch (group) {
    case 'ka':
      return [{ ...base, name: 'ka', describe: 'keep-alive GET 64 B, wrk -c50 -t2' }]
    case 'newconn':
      return [{ ...base, name: 'newconn', describe: 'new connection per request, GET 64 B, wrk -c50 -t2 -H "Connection: close"', isConnClose: true }]
    case 'download':
      return [{ ...base, name: 'download', describe: 'GET 1 MiB, keep-alive, wrk -c10 -t2', path: '/1m', conns: 10 }]
    case 'upload':
      return [{ ...base, name: 'upload', describe: 'POST 10 MiB, keep-alive, wrk -c4 -t2 (Lua body)', path: '/upload', conns: 4, isUpload: true }]
    case 'tls':
      return [
        { ...base, name: 'tls-ka', describe: 'TLS 1.3 keep-alive GET 64 B, wrk -c50 -t2', isTls: true },
        { ...base, name: 'tls-hs', describe: 'TLS 1.3 full handshake per request (no resumption), wrk -c50 -t2 -H "Connection: close"', isTls: true, isConnClose: true },
      ]
    case 'h2':
      return [{ ...base, name: 'h2', describe: 'HTTP/2 over TLS 1.3, GET 64 B, h2load -c10 -m10 -t1', tool: 'h2load', isTls: true, conns: 10, threads: 1, streams: 10 }]
    default:
      return []
  }
}

/** Figures of one measured run. */
export interface RunResult {
  scenario: string
  target: string
  round: number
  durationS: number
  requests: number
  errors: number
  /** Details: wrk's connect/read/write/status/timeout counts or h2load's failed/errored. */
  errorDetail: Record<string, number>
  reqPerS: number
  mibPerS: number
  latencyMeanMs: number
  /** null where the tool does not give it (h2load prints no percentiles). */
  latencyP99Ms: number | null
  proxyCpuS: number
  /** CPU seconds of the proxy's main thread alone (portico: accepting and handing out connections). */
  proxyMainThreadCpuS: number
  upstreamCpuS: number
  /** CPU seconds of wrk / h2load (bash `times` of its children: exact). */
  loadgenCpuS: number
  /** Busy CPU seconds of the whole machine (2 cores) during the run. */
  machineCpuS: number
  /** Machine busy time not explained by proxy + upstream + load generator: other people's work. */
  foreignCpuS: number
  proxyRssPeakBytes: number
  reqPerCpuS: number
  cpuUsPerReq: number
  /** Set when the run produced no figures. */
  failure: string | null
}

const WRK_DONE_LUA = `
-- Exact figures for the harness (perf/lib/load.ts parses the WRKJSON line).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"lat_mean_us":%.1f,"lat_p99_us":%d,"lat_max_us":%d}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(99), latency.max))
end
`

/** Writes the two Lua scripts into `dir`; returns their paths. */
export function writeWrkScripts(dir: string): { get: string; upload: string } {
  const get = `${dir}/wrk-get.lua`
  const upload = `${dir}/wrk-upload.lua`
  writeFileSync(get, WRK_DONE_LUA)
  writeFileSync(
    upload,
    `-- POST a ${UPLOAD_BYTES}-byte body on every request (wrk adds Content-Length).
wrk.method = "POST"
wrk.body = string.rep("u", ${UPLOAD_BYTES})
wrk.headers["Content-Type"] = "application/octet-stream"
${WRK_DONE_LUA}`,
  )
  return { get, upload }
}

interface Measured {
  proxyCpuS: number
  proxyMainThreadCpuS: number
  upstreamCpuS: number
  machineCpuS: number
  rssPeakBytes: number
}

/** Runs `load` while accounting CPU of the proxy and upstream trees and sampling the proxy's RSS. */
async function measure<T>(proxyPid: number, upstreamPids: number[], load: () => Promise<T>): Promise<{ out: T; m: Measured }> {
  const upCpu = (): number => upstreamPids.reduce((s, p) => s + treeCpuSeconds(p), 0)
  const cpu0 = treeCpuSeconds(proxyPid)
  const main0 = mainThreadCpuSeconds(proxyPid)
  const up0 = upCpu()
  const machine0 = machineBusySeconds()
  let rssPeakBytes = treeRssBytes(proxyPid)
  const sampler = setInterval(() => {
    rssPeakBytes = Math.max(rssPeakBytes, treeRssBytes(proxyPid))
  }, 250)
  try {
    const out = await load()
    rssPeakBytes = Math.max(rssPeakBytes, treeRssBytes(proxyPid))
    return {
      out,
      m: { proxyCpuS: treeCpuSeconds(proxyPid) - cpu0, proxyMainThreadCpuS: mainThreadCpuSeconds(proxyPid) - main0, upstreamCpuS: upCpu() - up0, machineCpuS: machineBusySeconds() - machine0, rssPeakBytes },
    }
  } finally {
    clearInterval(sampler)
  }
}

export interface LoadContext {
  scripts: { get: string; upload: string }
  proxyPid: number
  upstreamPids: number[]
  port: number
  /** taskset CPU list for wrk / h2load (--pin), or null. */
  loadCpus: string | null
}

/** A run that produced no figures, with the reason. */
export function failedRun(s: Scenario, target: string, round: number, failure: string): RunResult {
  return {
    scenario: s.name,
    target,
    round,
    durationS: 0,
    requests: 0,
    errors: 0,
    errorDetail: {},
    reqPerS: 0,
    mibPerS: 0,
    latencyMeanMs: 0,
    latencyP99Ms: null,
    proxyCpuS: 0,
    proxyMainThreadCpuS: 0,
    upstreamCpuS: 0,
    loadgenCpuS: 0,
    machineCpuS: 0,
    foreignCpuS: 0,
    proxyRssPeakBytes: 0,
    reqPerCpuS: 0,
    cpuUsPerReq: 0,
    failure,
  }
}

/** wrk or h2load command line for a scenario against `port`. */
export function loadArgv(s: Scenario, ctx: LoadContext, durationMs: number): string[] {
  const url = `${s.isTls ? 'https' : 'http'}://127.0.0.1:${ctx.port}${s.path}`
  const seconds = Math.max(1, Math.round(durationMs / 1000))
  if (s.tool === 'h2load') {
    return ['h2load', '-c', String(s.conns), '-m', String(s.streams), '-t', String(s.threads), '-D', String(seconds), url]
  }
  const argv = ['wrk', '-c', String(s.conns), '-t', String(s.threads), '-d', `${seconds}s`, '--timeout', '10s', '-s', s.isUpload ? ctx.scripts.upload : ctx.scripts.get]
  if (s.isConnClose) argv.push('-H', 'Connection: close')
  argv.push(url)
  return argv
}

/** One run of scenario `s` against one target. Never throws; a failure is in `.failure`. */
export async function runScenario(s: Scenario, target: string, round: number, ctx: LoadContext, durationMs: number): Promise<RunResult> {
  const argv = loadArgv(s, ctx, durationMs)
  // Bounded: the tool's own duration plus slack for connection teardown and slow responses.
  // Through bash so that `times` reports the tool's exact CPU use (its children's line) on stderr.
  const tool = ctx.loadCpus === null ? argv : ['taskset', '-c', ctx.loadCpus, ...argv]
  const wrapped = ['bash', '-c', '"$@"; code=$?; times >&2; exit $code', 'bash', ...tool]
  const { out, m } = await measure(ctx.proxyPid, ctx.upstreamPids, () => runBounded(wrapped, durationMs + 20_000))
  if (out.timedOut) return failedRun(s, target, round, `${argv[0]} did not finish within ${durationMs + 20_000}ms`)
  const r = s.tool === 'h2load' ? parseH2load(out.stdout) : parseWrk(out.stdout)
  if (typeof r === 'string') {
    return failedRun(s, target, round, `${r} (exit ${out.code}): ${(out.stderr + out.stdout).trim().split('\n').slice(-4).join(' | ')}`)
  }
  const reqPerCpuS = m.proxyCpuS > 0 ? r.requests / m.proxyCpuS : 0
  const loadgenCpuS = parseTimes(out.stderr)
  return {
    scenario: s.name,
    target,
    round,
    durationS: r.durationS,
    requests: r.requests,
    errors: r.errors,
    errorDetail: r.errorDetail,
    reqPerS: r.requests / r.durationS,
    // Uploads move their bytes the other way: count the request bodies sent.
    mibPerS: (s.isUpload ? r.requests * UPLOAD_BYTES : r.bytes) / r.durationS / 1048576,
    latencyMeanMs: r.latencyMeanMs,
    latencyP99Ms: r.latencyP99Ms,
    proxyCpuS: m.proxyCpuS,
    proxyMainThreadCpuS: m.proxyMainThreadCpuS,
    upstreamCpuS: m.upstreamCpuS,
    loadgenCpuS,
    machineCpuS: m.machineCpuS,
    foreignCpuS: Math.max(0, m.machineCpuS - m.proxyCpuS - m.upstreamCpuS - loadgenCpuS),
    proxyRssPeakBytes: m.rssPeakBytes,
    reqPerCpuS,
    cpuUsPerReq: r.requests > 0 ? (m.proxyCpuS * 1e6) / r.requests : 0,
    failure: r.requests === 0 ? 'no request completed' : null,
  }
}

/** bash `times`: the last line is the children's "0m1.234s 0m0.567s" (user, system). */
export function parseTimes(stderr: string): number {
  const lines = stderr.trim().split('\n')
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '')
  if (m === null) return 0
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])
}

interface ToolFigures {
  durationS: number
  requests: number
  bytes: number
  errors: number
  errorDetail: Record<string, number>
  latencyMeanMs: number
  latencyP99Ms: number | null
}

export function parseWrk(stdout: string): ToolFigures | string {
  const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (line === undefined) return 'wrk printed no WRKJSON line'
  const j = JSON.parse(line.slice('WRKJSON '.length)) as Record<string, number>
  const errorDetail = { connect: j.connect, read: j.read, write: j.write, status: j.status, timeout: j.timeout }
  return {
    durationS: j.duration_us / 1e6,
    requests: j.requests,
    bytes: j.bytes,
    // wrk counts a non-2xx/3xx answer in `status` but still in `requests`.
    errors: j.connect + j.read + j.write + j.status + j.timeout,
    errorDetail,
    latencyMeanMs: j.lat_mean_us / 1000,
    latencyP99Ms: j.lat_p99_us / 1000,
  }
}

/** h2load's summary: "finished in 2.00s, 41234.50 req/s, 3.10MB/s", "requests: … succeeded, N failed, N errored". */
export function parseH2load(stdout: string): ToolFigures | string {
  const fin = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s, ([\d.]+)([KMG]?B)\/s/.exec(stdout)
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout)
  const traffic = /traffic: ([\d.]+)([KMG]?B) \((\d+)\) total/.exec(stdout)
  const lat = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout)
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout)
  if (fin === null || req === null) return 'h2load printed no summary'
  const durationS = Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1)
  const toMs = (v: string, unit: string): number => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1)
  const non2xx = status !== null ? Number(status[3]) + Number(status[4]) : 0
  const failed = Number(req[5])
  const errored = Number(req[6])
  const timeout = Number(req[7])
  return {
    durationS,
    // "succeeded" = streams that completed, whatever the status (like wrk's `requests`).
    requests: Number(req[4]),
    bytes: traffic !== null ? Number(traffic[3]) : 0,
    errors: failed + errored + timeout + non2xx,
    errorDetail: { failed, errored, timeout, non2xx },
    latencyMeanMs: lat !== null ? toMs(lat[5], lat[6]) : 0,
    latencyP99Ms: null,
  }
}
