// Turning raw runs into the markdown table: medians over rounds per scenario × target, and
// ratios to HAProxy computed round by round (same round = same machine noise) before taking
// the median. Runs on the harness main thread.

import { cpus, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import type { RunResult } from './load.ts'
import type { IdleResult } from './idle.ts'

export interface Row {
  scenario: string
  target: string
  rounds: number
  reqPerS: number
  mibPerS: number
  latencyP99Ms: number | null
  latencyMeanMs: number
  /** Proxy CPU seconds per wall second: 1.0 = one core busy. */
  proxyCores: number
  reqPerCpuS: number
  cpuUsPerReq: number
  rssMiB: number
  errors: number
  requests: number
  /** Median over rounds of (this target ÷ HAProxy) in the same round; null without HAProxy. */
  reqPerSVsHaproxy: number | null
  reqPerCpuSVsHaproxy: number | null
  failure: string | null
}

export function median(values: number[]): number {
  if (values.length === 0) return 0
  const v = [...values].sort((a, b) => a - b)
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

export function summarize(runs: RunResult[], scenarioOrder: string[], targetOrder: string[]): Row[] {
  const rows: Row[] = []
  for (const scenario of scenarioOrder) {
    for (const target of targetOrder) {
      const mine = runs.filter((r) => r.scenario === scenario && r.target === target)
      if (mine.length === 0) continue
      const ok = mine.filter((r) => r.failure === null)
      const failure = ok.length === 0 ? (mine[0].failure ?? 'failed') : null
      const ratio = (pick: (r: RunResult) => number): number | null => {
        const values: number[] = []
        for (const r of ok) {
          const ref = runs.find((h) => h.scenario === scenario && h.target === 'haproxy' && h.round === r.round && h.failure === null)
          if (ref !== undefined && pick(ref) > 0) values.push(pick(r) / pick(ref))
        }
        return values.length > 0 ? median(values) : null
      }
      const p99s = ok.map((r) => r.latencyP99Ms).filter((v): v is number => v !== null)
      rows.push({
        scenario,
        target,
        rounds: ok.length,
        reqPerS: median(ok.map((r) => r.reqPerS)),
        mibPerS: median(ok.map((r) => r.mibPerS)),
        latencyP99Ms: p99s.length > 0 ? median(p99s) : null,
        latencyMeanMs: median(ok.map((r) => r.latencyMeanMs)),
        proxyCores: median(ok.map((r) => (r.durationS > 0 ? r.proxyCpuS / r.durationS : 0))),
        reqPerCpuS: median(ok.map((r) => r.reqPerCpuS)),
        cpuUsPerReq: median(ok.map((r) => r.cpuUsPerReq)),
        rssMiB: Math.max(0, ...ok.map((r) => r.proxyRssPeakBytes)) / 1048576,
        errors: ok.reduce((s, r) => s + r.errors, 0),
        requests: ok.reduce((s, r) => s + r.requests, 0),
        reqPerSVsHaproxy: ratio((r) => r.reqPerS),
        reqPerCpuSVsHaproxy: ratio((r) => r.reqPerCpuS),
        failure,
      })
    }
  }
  return rows
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function ratioText(v: number | null): string {
  return v === null ? '–' : `${v.toFixed(2)}×`
}

export function markdownTable(rows: Row[]): string {
  const head = [
    '| scenario | target | req/s | MiB/s | p99 ms | proxy CPU (cores) | req per CPU-s | CPU µs/req | peak RSS MiB | errors | req/s ÷ HAProxy | req/CPU-s ÷ HAProxy |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  const lines = rows.map((r) => {
    if (r.failure !== null) return `| ${r.scenario} | ${r.target} | failed: ${r.failure.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 120)} |||||||||| `
    const errPct = r.requests > 0 ? (100 * r.errors) / r.requests : 0
    const errText = r.errors === 0 ? '0' : `${fmt(r.errors)} (${errPct.toFixed(errPct < 1 ? 2 : 0)}%)`
    return `| ${r.scenario} | ${r.target} | ${fmt(r.reqPerS)} | ${fmt(r.mibPerS, 1)} | ${r.latencyP99Ms === null ? `~${r.latencyMeanMs.toFixed(2)} (mean)` : r.latencyP99Ms.toFixed(2)} | ${r.proxyCores.toFixed(2)} | ${fmt(r.reqPerCpuS)} | ${r.cpuUsPerReq.toFixed(1)} | ${r.rssMiB.toFixed(1)} | ${errText} | ${ratioText(r.reqPerSVsHaproxy)} | ${ratioText(r.reqPerCpuSVsHaproxy)} |`
  })
  return [...head, ...lines].join('\n')
}

export function idleTable(results: IdleResult[]): string {
  const ref = results.find((r) => r.target === 'haproxy' && r.failure === null)
  const head = [
    '| target | idle conns held | RSS before MiB | RSS just opened MiB | KiB per conn just opened | RSS after 10 s at rest MiB | KiB per conn at rest | ÷ HAProxy (at rest) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ]
  const lines = results.map((r) => {
    if (r.failure !== null) return `| ${r.target} | failed: ${r.failure.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 120)} ||||||| `
    const ratio = ref !== undefined && ref.bytesPerConnRest > 0 ? `${(r.bytesPerConnRest / ref.bytesPerConnRest).toFixed(2)}×` : '–'
    const mib = (bytes: number): string => (bytes / 1048576).toFixed(1)
    return `| ${r.target} | ${fmt(r.stillOpen)} of ${fmt(r.asked)} | ${mib(r.rssBeforeBytes)} | ${mib(r.rssAfterBytes)} | ${(r.bytesPerConn / 1024).toFixed(2)} | ` +
      `${mib(r.rssRestBytes)} | ${(r.bytesPerConnRest / 1024).toFixed(2)} | ${ratio} |`
  })
  return [...head, ...lines].join('\n')
}

/** "2 × AMD EPYC, 23.4 GiB" and the kernel, for RESULTS.md. */
export function machineDescription(): { nproc: number; cpuModel: string; memGiB: number; kernel: string } {
  let kernel = ''
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  } catch {
    kernel = 'unknown'
  }
  let cpuModel = cpus()[0]?.model ?? 'unknown'
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m !== null) cpuModel = m[1].trim()
  } catch {
    // keep os.cpus()
  }
  return { nproc: cpus().length, cpuModel, memGiB: totalmem() / 2 ** 30, kernel }
}

/**
 * portico's main thread against the whole process, per scenario × target (medians over rounds):
 * with accept = "main" it accepts and hands every connection to a worker thread, so its share
 * is what that costs.
 */
export function mainThreadTable(runs: RunResult[], scenarioOrder: string[], targets: string[]): string {
  const head = [
    '| scenario | target | main thread CPU (cores) | whole process CPU (cores) | main thread share | main thread µs/req |',
    '|---|---|--:|--:|--:|--:|',
  ]
  const lines: string[] = []
  for (const scenario of scenarioOrder) {
    for (const target of targets) {
      const ok = runs.filter((r) => r.scenario === scenario && r.target === target && r.failure === null && r.durationS > 0)
      if (ok.length === 0) continue
      const mainCores = median(ok.map((r) => r.proxyMainThreadCpuS / r.durationS))
      const allCores = median(ok.map((r) => r.proxyCpuS / r.durationS))
      const share = median(ok.map((r) => (r.proxyCpuS > 0 ? r.proxyMainThreadCpuS / r.proxyCpuS : 0)))
      const usPerReq = median(ok.map((r) => (r.requests > 0 ? (r.proxyMainThreadCpuS * 1e6) / r.requests : 0)))
      lines.push(`| ${scenario} | ${target} | ${mainCores.toFixed(2)} | ${allCores.toFixed(2)} | ${(share * 100).toFixed(0)}% | ${usPerReq.toFixed(1)} |`)
    }
  }
  return [...head, ...lines].join('\n')
}
