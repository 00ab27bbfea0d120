// `npm run bench`: portico side by side with HAProxy and nginx behind the same upstream, on
// the same machine, scenarios interleaved target by target so noise hits all alike; prints a
// markdown table with ratios to HAProxy and writes the raw runs as JSON. See perf/README.md.
// Runs on the main thread of its own process; every process it starts is killed on exit.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { parseArgs, USAGE } from './lib/args.ts'
import type { BenchOptions } from './lib/args.ts'
import { ensureTools } from './lib/install.ts'
import { fdHardLimit, installCleanup, machineBusySeconds, runSync, sleep, stopAll } from './lib/procs.ts'
import { PORTICO_ENTRY, startTarget, startUpstream } from './lib/targets.ts'
import type { Target, TargetSpec } from './lib/targets.ts'
import { failedRun, runScenario, scenariosFor, writeWrkScripts } from './lib/load.ts'
import type { LoadContext, RunResult, Scenario } from './lib/load.ts'
import { measureIdle } from './lib/idle.ts'
import type { IdleResult } from './lib/idle.ts'
import { idleTable, machineDescription, mainThreadTable, markdownTable, median, summarize } from './lib/report.ts'

const log = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`)
}

/**
 * A multi-line reason as one line: its first line, plus the first line that names an error
 * (nginx "[emerg]", HAProxy "[ALERT]", a Node "Error:"), which is usually the useful one.
 */
function oneLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const telling = lines.slice(1).find((l) => /error|emerg|alert|fatal|cannot|invalid|problem|expected/i.test(l))
  return (telling === undefined ? lines.slice(0, 2) : [lines[0], telling]).join(' ').slice(0, 400)
}

/** CPUs this process may run on (its affinity list, e.g. "0-3,6" → [0,1,2,3,6]). */
function allowedCpus(): number[] {
  const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))
  if (m === null) throw new Error('/proc/self/status has no Cpus_allowed_list: cannot --pin')
  const out: number[] = []
  for (const part of m[1].split(',')) {
    const [a, b] = part.split('-').map(Number)
    for (let c = a; c <= (b ?? a); c++) out.push(c)
  }
  return out
}

/**
 * --pin layout: a proxy working on `threads` threads gets the first `threads` CPUs; the load
 * generator gets the CPUs left over, or the last CPU when the proxy takes them all (then they
 * share it: on 2 cores, workers = 2 cannot be isolated from the load generator).
 */
function pinLayout(threads: number, cpus: number[]): { proxyCpus: string; loadCpus: string } {
  const proxy = cpus.slice(0, Math.min(threads, cpus.length))
  const rest = cpus.slice(proxy.length)
  return { proxyCpus: proxy.join(','), loadCpus: (rest.length > 0 ? rest : cpus.slice(-1)).join(',') }
}

function targetSpecs(opts: BenchOptions, cpus: number[] | null): TargetSpec[] {
  const specs: TargetSpec[] = []
  const pin = (threads: number): { proxyCpus: string | null; loadCpus: string | null } =>
    cpus === null ? { proxyCpus: null, loadCpus: null } : pinLayout(threads, cpus)
  // HAProxy first: it is the reference every ratio divides by.
  if (opts.targets.includes('haproxy')) specs.push({ kind: 'haproxy', workers: 1, label: 'haproxy', accept: 'main', ...pin(1) })
  if (opts.targets.includes('nginx')) specs.push({ kind: 'nginx', workers: 1, label: 'nginx', accept: 'main', ...pin(1) })
  if (opts.targets.includes('portico')) {
    for (const w of opts.porticoWorkers) {
      for (const accept of opts.porticoAccept) {
        const label = `portico${w === 1 ? '' : `-w${w}`}${accept === 'workers' ? '-acc' : ''}`
        specs.push({ kind: 'portico', workers: w, label, accept, ...pin(w) })
      }
    }
  }
  return specs
}

/** Self-signed ECDSA P-256 certificate for 127.0.0.1 (and a cert+key PEM for HAProxy). */
function makeCert(dir: string): { certFile: string; keyFile: string; pemFile: string } {
  const certFile = `${dir}/cert.pem`
  const keyFile = `${dir}/key.pem`
  const pemFile = `${dir}/haproxy.pem`
  const r = runSync([
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ])
  if (r.code !== 0) throw new Error(`openssl could not make a test certificate: ${r.out}`)
  const both = runSync(['bash', '-c', `cat ${certFile} ${keyFile} > ${pemFile}`])
  if (both.code !== 0) throw new Error(`could not write ${pemFile}: ${both.out}`)
  return { certFile, keyFile, pemFile }
}

function versions(): Record<string, string> {
  const first = (argv: string[]): string => runSync(argv, 10_000).out.trim().split('\n')[0] ?? ''
  return {
    node: process.version,
    haproxy: first(['haproxy', '-v']),
    nginx: first(['nginx', '-v']),
    wrk: first(['wrk', '-v']),
    h2load: first(['h2load', '--version']),
    openssl: first(['openssl', 'version']),
    // The harness runs the working tree, which may hold changes not yet committed.
    portico:
      first(['git', '-C', dirname(PORTICO_ENTRY), 'log', '-1', '--format=%h (%cI)']) +
      (runSync(['git', '-C', dirname(PORTICO_ENTRY), 'status', '--porcelain', '--', '.'], 10_000).out.trim() !== '' ? ' + uncommitted changes in src/' : ''),
  }
}

/** The run's scratch dir (configs, cert, logs); removed at the end unless --keep. */
let tempDir = ''
let isKeepTemp = false

async function main(): Promise<number> {
  try {
    return await bench()
  } finally {
    await stopAll()
    if (tempDir !== '' && !isKeepTemp) rmSync(tempDir, { recursive: true, force: true })
    else if (tempDir !== '') log(`kept ${tempDir}`)
  }
}

async function bench(): Promise<number> {
  let opts: BenchOptions | 'help'
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`)
    return 2
  }
  if (opts === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  const startedMs = Date.now()
  const command = `node perf/bench.ts ${process.argv.slice(2).join(' ')}`.trim()
  const dir = mkdtempSync(`${tmpdir()}/portico-bench-`)
  tempDir = dir
  isKeepTemp = opts.isKeep
  installCleanup(() => {
    if (!opts.isKeep) rmSync(dir, { recursive: true, force: true })
  })

  const groups = opts.scenarios
  const scenarios: Scenario[] = groups.flatMap((g) => scenariosFor(g))
  const needsTls = scenarios.some((s) => s.isTls)
  const needsH2load = scenarios.some((s) => s.tool === 'h2load')
  const needed = ['wrk', 'nginx', ...(opts.targets.includes('haproxy') ? ['haproxy'] : []), ...(needsH2load ? ['h2load'] : []), ...(needsTls ? ['openssl'] : [])]
  const stillMissing = ensureTools(needed, log)
  if (stillMissing.includes('wrk') || stillMissing.includes('nginx')) {
    log(`cannot run without ${stillMissing.join(', ')} (wrk drives the load, nginx is the upstream)`)
    return 1
  }

  const skipped: string[] = []
  const wwwDir = `${dir}/www`
  mkdirSync(wwwDir, { recursive: true })
  writeFileSync(`${wwwDir}/1m`, randomBytes(1024 * 1024))
  const scripts = writeWrkScripts(dir)
  const cert = needsTls && !stillMissing.includes('openssl') ? makeCert(dir) : null

  log(`temp dir ${dir}`)
  // Other work on the machine skews every figure; measure it before starting anything.
  const busy0 = machineBusySeconds()
  await sleep(1000)
  const busyBeforeCores = machineBusySeconds() - busy0
  if (busyBeforeCores > 0.2) log(`warning: the machine is already busy (${busyBeforeCores.toFixed(2)} cores of other work); figures will be noisy`)
  const cpus = opts.isPin ? allowedCpus() : null
  // The upstream stays off every proxy's CPUs where the machine allows it (the load side).
  const up = await startUpstream(dir, wwwDir, cpus === null ? null : pinLayout(Math.max(1, ...opts.porticoWorkers), cpus).loadCpus)
  log(`upstream nginx :${up.upstreamPort}, upload origin :${up.uploadPort}`)

  // HAProxy refuses to start unless 2 × maxconn + ~250 fds fit under the hard fd limit (a
  // proxied connection needs two), so the idle count must fit under that for all to compare.
  const fdLimit = fdHardLimit()
  const idleCap = Math.floor(((fdLimit - 400) / 2 - 100) / 1000) * 1000
  if (groups.includes('idle') && opts.idleConns > idleCap) {
    skipped.push(`idle: ${opts.idleConns} connections lowered to ${idleCap}: the hard fd limit is ${fdLimit} and HAProxy needs 2 fds per allowed connection`)
    log(skipped[skipped.length - 1])
    opts.idleConns = idleCap
  }
  const maxConns = groups.includes('idle') ? opts.idleConns + 100 : 2000
  const targets: Target[] = []
  for (const spec of targetSpecs(opts, cpus)) {
    if (spec.kind === 'haproxy' && stillMissing.includes('haproxy')) {
      skipped.push(`${spec.label}: haproxy is not installed`)
      continue
    }
    const t = await startTarget(spec, dir, up, cert, maxConns)
    if (typeof t === 'string') {
      const why = `${spec.label}: skipped, it did not start: ${t}`
      skipped.push(oneLine(why))
      log(why)
      continue
    }
    if (cert !== null && t.tlsSkipReason !== null) {
      skipped.push(oneLine(`${t.label} tls scenarios: ${t.tlsSkipReason}`))
      log(`${t.label}: TLS scenarios skipped: ${t.tlsSkipReason}`)
    }
    if (cert !== null && t.tlsSkipReason === null && t.h2SkipReason !== null && groups.includes('h2')) {
      skipped.push(oneLine(`${t.label} h2: ${t.h2SkipReason}`))
      log(`${t.label}: h2 skipped: ${t.h2SkipReason}`)
    }
    log(`${t.label} up (pid ${t.proc.pid}) on :${t.plainPort}${t.tlsPort > 0 ? ` and TLS :${t.tlsPort}` : ''}`)
    targets.push(t)
  }
  if (targets.length === 0) {
    log('no target started; nothing to measure')
    return 1
  }

  const runs: RunResult[] = []
  const upstreamPids = [up.nginx.pid, up.upload.pid]
  const loadScenarios = scenarios.filter((s) => !(s.tool === 'h2load' && stillMissing.includes('h2load')))
  if (loadScenarios.length < scenarios.length) skipped.push('h2: h2load is not installed')
  const ctxFor = (t: Target, s: Scenario): LoadContext | null => {
    const port = s.isTls ? t.tlsPort : t.plainPort
    if (port === 0) return null
    if (s.tool === 'h2load' && t.h2SkipReason !== null) return null
    return { scripts, proxyPid: t.proc.pid, upstreamPids, port, loadCpus: t.loadCpus }
  }

  const warmed = new Set<string>()
  const runsTotal = loadScenarios.reduce((n, s) => n + targets.filter((t) => ctxFor(t, s) !== null).length, 0) * opts.rounds
  let runNo = 0
  for (let round = 1; round <= opts.rounds; round++) {
    // Rotate who goes first each round, so no target always runs right after the same one.
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length])
    for (const s of loadScenarios) {
      for (const t of order) {
        const ctx = ctxFor(t, s)
        if (ctx === null) continue
        if (t.proc.hasExited) {
          runs.push(failedRun(s, t.label, round, `${t.label} ${t.proc.describeExit()}: ${t.proc.tail(3)}`))
          continue
        }
        // Warm-up (JIT, pools, page cache): before each scenario's first run; --quick does it
        // once per target, on the first scenario, to stay near a minute.
        const isWarmup = round === 1 && opts.warmupMs > 0 && (!opts.isQuick || !warmed.has(t.label))
        if (isWarmup) {
          warmed.add(t.label)
          await runScenario(s, t.label, 0, ctx, opts.warmupMs)
        }
        runNo++
        const r = await runScenario(s, t.label, round, ctx, opts.durationMs)
        runs.push(r)
        log(
          `[${runNo}/${runsTotal}] round ${round} ${s.name.padEnd(8)} ${t.label.padEnd(10)} ` +
            (r.failure !== null
              ? `FAILED: ${r.failure}`
              : `${Math.round(r.reqPerS)} req/s ${r.mibPerS.toFixed(1)} MiB/s cpu ${r.proxyCpuS.toFixed(2)}s ${Math.round(r.reqPerCpuS)} req/cpu-s errors ${r.errors}`),
        )
        await sleep(300)
      }
    }
  }

  const idle: IdleResult[] = []
  if (groups.includes('idle')) {
    for (const t of targets) {
      if (t.proc.hasExited) continue
      log(`idle: ${opts.idleConns} keep-alive connections to ${t.label}`)
      const r = await measureIdle(t.label, t.proc.pid, t.plainPort, opts.idleConns, opts.isQuick ? 400 : 1000)
      log(
        r.failure !== null
          ? `idle ${t.label}: FAILED: ${r.failure}`
          : `idle ${t.label}: ${r.stillOpen} held, ${(r.bytesPerConn / 1024).toFixed(2)} KiB each just opened, ${(r.bytesPerConnRest / 1024).toFixed(2)} at rest (setup ${r.setupMs} ms, ${r.failed} failed${r.failed > 0 ? `: ${JSON.stringify(r.failures)}` : ''})`,
      )
      idle.push(r)
    }
  }

  // What each proxy printed while under test (before the stop adds its shutdown lines).
  const targetInfo = targets.map((t) => ({ label: t.label, kind: t.kind, workers: t.workers, proxyCpus: t.proxyCpus, loadCpus: t.loadCpus, tls: t.tlsPort > 0, state: t.proc.describeExit(), outputTail: t.proc.tail(40) }))
  await stopAll()

  const machine = machineDescription()
  const rows = summarize(
    runs,
    loadScenarios.map((s) => s.name),
    targets.map((t) => t.label),
  )
  const measured = runs.filter((r) => r.failure === null && r.durationS > 0)
  const foreignCores = median(measured.map((r) => r.foreignCpuS / r.durationS))
  const foreignMaxCores = Math.max(0, ...measured.map((r) => r.foreignCpuS / r.durationS))
  const porticoLabels = targets.filter((t) => t.kind === 'portico').map((t) => t.label)
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const ver = versions()
  const md = [
    `Command: \`${command}\` — ${date}, ${Math.round((Date.now() - startedMs) / 1000)} s`,
    `Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.memGiB.toFixed(1)} GiB, Linux ${machine.kernel}; load generator, upstream and proxy share these cores.`,
    `Other work on the machine: ${busyBeforeCores.toFixed(2)} cores busy just before the start; during runs, median ${foreignCores.toFixed(2)} cores not used by proxy, upstream or load generator (max ${foreignMaxCores.toFixed(2)}).`,
    `Runs: ${opts.durationMs / 1000} s each, ${opts.rounds} round(s), targets interleaved; figures are medians over rounds, ratios are per-round ratios to HAProxy (median).`,
    ...(cpus !== null
      ? [`Pinned (taskset): ${targets.map((t) => `${t.label} on CPU ${t.proxyCpus} with its load generator on CPU ${t.loadCpus}`).join('; ')}; upstream on CPU ${pinLayout(Math.max(1, ...opts.porticoWorkers), cpus).loadCpus}.`]
      : []),
    `Versions: ${ver.haproxy}; ${ver.nginx}; portico ${ver.portico} on node ${ver.node}; ${ver.wrk.split(' [')[0]}; ${ver.h2load}.`,
    '',
    rows.length > 0 ? markdownTable(rows) : '(no load scenario ran)',
    ...(porticoLabels.length > 0 && rows.length > 0
      ? ['', 'portico main thread (accepts and hands out connections with accept = "main"):', '', mainThreadTable(runs, loadScenarios.map((s) => s.name), porticoLabels)]
      : []),
    ...(idle.length > 0 ? ['', `Idle keep-alive memory (${opts.idleConns} connections, one request each, then silent):`, '', idleTable(idle)] : []),
    ...(skipped.length > 0 ? ['', 'Skipped:', ...skipped.map((s) => `- ${s}`)] : []),
    '',
  ].join('\n')
  process.stdout.write(`\n${md}`)

  mkdirSync(dirname(opts.jsonOut), { recursive: true })
  writeFileSync(
    opts.jsonOut,
    `${JSON.stringify({ command, date, machine, busyBeforeCores, foreignCores, versions: ver, options: opts, scenarios: loadScenarios, targets: targetInfo, skipped, runs, idle, rows }, null, 2)}\n`,
  )
  writeFileSync(opts.jsonOut.replace(/\.json$/, '') + '.md', md)
  log(`raw results: ${opts.jsonOut} (table: ${opts.jsonOut.replace(/\.json$/, '')}.md)`)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  },
)
