// Do slow clients slow everyone else down? Normal keep-alive traffic through portico is measured
// (wrk --latency when installed, else a Node load loop) three times: alone, with 1,000 slow clients
// connected, and alone again. Half the slow clients are slowloris (a request head trickled one
// byte per second, reconnecting when cut), half slow readers (a 2 MiB response requested and
// never read; reconnecting when cut).
//
// The response size is bounded on purpose: every slow reader parks its unread response in kernel
// socket buffers (client receive, portico send, portico receive, origin send: up to ~8 MB per
// reader on loopback). 1,000 readers of 8 MiB exceed net.ipv4.tcp_mem and put the whole machine
// under TCP memory pressure, stalling every TCP connection, portico's or not. The table prints the
// kernel's TCP memory so such a run can be recognised. Prints the comparison and portico's RSS and fds per phase.
// Runs on the script's main thread; the origin runs in its own process so it competes with
// neither the slow clients nor the load loop.
//
//   node perf/slow-clients.ts [--slow 1000] [--seconds 10] [--conns 50] [--workers 2] [--settle 5] [--kinds both|loris|readers] [--node]
//
// --settle: seconds between attaching the slow clients and measuring (their first bytes, and the
// slow readers filling the socket buffers, happen then).

import http from 'node:http'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { whichBin } from './lib/install.ts'
import { installCleanup, startProc, stopProc } from './lib/procs.ts'

const ROOT = new URL('../', import.meta.url).pathname

interface Options { slow: number; seconds: number; conns: number; workers: number; settleSeconds: number; kinds: 'both' | 'loris' | 'readers'; isNodeLoad: boolean }

function parseOptions(argv: string[]): Options {
  const o: Options = { slow: 1000, seconds: 10, conns: 50, workers: 2, settleSeconds: 5, kinds: 'both', isNodeLoad: false }
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1])
    switch (argv[i]) {
      case '--slow': o.slow = value; i++; break
      case '--seconds': o.seconds = value; i++; break
      case '--conns': o.conns = value; i++; break
      case '--workers': o.workers = value; i++; break
      case '--settle': o.settleSeconds = value; i++; break
      case '--kinds': {
        const k = argv[++i]
        if (k !== 'both' && k !== 'loris' && k !== 'readers') throw new Error(`--kinds ${k}: expected both, loris or readers`)
        o.kinds = k
        break
      }
      case '--node': o.isNodeLoad = true; break
      case '--help': case '-h':
        process.stdout.write('usage: node perf/slow-clients.ts [--slow 1000] [--seconds 10] [--conns 50] [--workers 2] [--settle 5] [--kinds both|loris|readers] [--node]\n')
        process.exit(0)
        break
      default: throw new Error(`unknown option ${argv[i]}: expected --slow, --seconds, --conns, --workers, --settle, --kinds or --node`)
    }
  }
  for (const k of ['slow', 'seconds', 'conns', 'workers'] as const) if (!(o[k] > 0)) throw new Error(`--${k} must be a positive number, got ${o[k]}`)
  return o
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

// ── the origin, in a child process ──────────────────────────────────────────────────────────────

const ORIGIN_SOURCE = `
import http from 'node:http'
const small = Buffer.from('x'.repeat(63) + '\\n')
const big = Buffer.alloc(2 * 1024 * 1024, 0x62)
const server = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
  req.resume()
  res.end(req.url === '/big' ? big : small)
})
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'))
`

// ── slow clients ────────────────────────────────────────────────────────────────────────────────

class SlowClients {
  readonly port: number
  readonly sockets = new Set<net.Socket>()
  /** Connections portico closed (each then replaced by a new one while running). */
  cuts = 0
  isRunning = true
  private readonly trickle: NodeJS.Timeout

  constructor(port: number, count: number, kinds: 'both' | 'loris' | 'readers') {
    this.port = port
    for (let i = 0; i < count; i++) this.open(kinds === 'loris' || (kinds === 'both' && i % 2 === 0) ? 'loris' : 'reader')
    // One timer for all slowloris sockets: one more byte of the head per second.
    this.trickle = setInterval(() => {
      for (const s of this.sockets) if ((s as SlowSocket).kind === 'loris' && !s.destroyed) s.write('x')
    }, 1000)
  }

  private open(kind: 'loris' | 'reader'): void {
    const s = net.connect(this.port, '127.0.0.1') as SlowSocket
    s.kind = kind
    this.sockets.add(s)
    s.on('error', () => {})
    s.on('connect', () => {
      if (kind === 'loris') {
        // Read (and drop) what comes back: a socket that doesn't read never sees portico close it.
        s.resume()
        s.write('GET /loris HTTP/1.1\r\nHost: a\r\nX-Slow: ')
      } else {
        // Never read: the response backs up through the socket buffers into portico and the
        // origin. (Not reading, it also never notices portico cutting it: it is not replaced.)
        s.pause()
        s.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n')
      }
    })
    s.on('close', () => {
      this.sockets.delete(s)
      if (!this.isRunning) return
      this.cuts++
      // Bounded churn: reconnect after a pause, so a refusing proxy is not hammered.
      setTimeout(() => { if (this.isRunning) this.open(kind) }, 100)
    })
  }

  stop(): void {
    this.isRunning = false
    clearInterval(this.trickle)
    for (const s of this.sockets) s.destroy()
  }
}

type SlowSocket = net.Socket & { kind: 'loris' | 'reader' }

// ── load measurement ────────────────────────────────────────────────────────────────────────────

interface LoadResult { rps: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; errors: number; errorText: string }

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim())
  if (m === null) return Number.NaN
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000
}

function runWrk(port: number, conns: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-c', String(conns), '-t', '2', '-d', `${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    const hard = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000)
    child.on('exit', () => {
      clearTimeout(hard)
      const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '')
      const max = /Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? ''
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
      if (!(rps > 0)) { reject(new Error(`wrk failed:\n${out}`)); return }
      resolve({
        rps, p50Ms: pct('50'), p90Ms: pct('90'), p99Ms: pct('99'), maxMs: toMs(max),
        errors: non2xx + (errs === null ? 0 : errs.slice(1).reduce((n, x) => n + Number(x), 0)),
        errorText: [errs?.[0] ?? '', non2xx > 0 ? `non-2xx ${non2xx}` : ''].filter((x) => x !== '').join('; '),
      })
    })
    child.on('error', reject)
  })
}

/** The same figures from `conns` Node keep-alive clients in this process (when wrk is missing). */
async function runNodeLoad(port: number, conns: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = []
  let errors = 0
  const endMs = Date.now() + seconds * 1000
  await Promise.all(Array.from({ length: conns }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; i < 10_000_000 && Date.now() < endMs; i++) {
      const started = performance.now()
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode === 200))
        })
        req.setTimeout(10_000, () => req.destroy())
        req.on('error', () => resolve(false))
      })
      if (ok) latencies.push(performance.now() - started)
      else errors++
    }
    agent.destroy()
  }))
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  return { rps: latencies.length / seconds, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: latencies[latencies.length - 1] ?? Number.NaN, errors, errorText: errors > 0 ? `${errors} failed requests` : '' }
}

function procFigures(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return { rssMb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
}

/** Kernel TCP memory in pages (/proc/net/sockstat) and the pressure threshold (tcp_mem, middle value). */
function tcpMemPages(): { pages: number; pressure: number } {
  const pages = Number(/TCP:.* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0)
  const pressure = Number(readFileSync('/proc/sys/net/ipv4/tcp_mem', 'utf8').trim().split(/\s+/)[1] ?? 0)
  return { pages, pressure }
}

/** CPU seconds (user + system, all threads) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  installCleanup()
  const useWrk = !opts.isNodeLoad && whichBin('wrk') !== null
  const originPort = await freePort()
  const origin = startProc('origin', [process.execPath, '--input-type=module', '-e', ORIGIN_SOURCE, String(originPort)])
  for (let i = 0; i < 100 && !origin.output.includes('ready'); i++) await sleep(50)
  if (!origin.output.includes('ready')) throw new Error(`origin did not start:\n${origin.output}`)

  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'portico-slow-'))
  const file = join(dir, 'portico.toml')
  // Default timeouts on purpose: what a slow client costs out of the box.
  writeFileSync(file, `
[global]
workers = ${opts.workers}
[log]
level = "error"
access = "off"
[[listeners]]
name = "web"
bind = "127.0.0.1:${port}"
[[routes]]
name = "all"
upstream = "app"
[[upstreams]]
name = "app"
keepalive = 128
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${originPort}"
`)
  const proc = startProc('portico', [process.execPath, join(ROOT, 'src/portico.ts'), '-c', file], { env: { ...process.env, PORTICO_ALLOW_ROOT: '1' } })
  for (let i = 0; i < 200; i++) {
    if (proc.hasExited) throw new Error(`portico ${proc.describeExit()}:\n${proc.output}`)
    const ok = await new Promise<boolean>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => { res.resume(); resolve(res.statusCode === 200) }).on('error', () => resolve(false))
    })
    if (ok) break
    await sleep(100)
  }
  /**
   * One measured run, with portico's CPU use during it (% of one core) and, as a control, the
   * latency of requests sent straight to the origin meanwhile (a new connection every 200 ms): when
   * those slow down too, the machine (kernel, other processes) is slow, not portico.
   */
  const load = async (): Promise<LoadResult & { cpuPct: number; directP50Ms: number; directMaxMs: number }> => {
    const cpu0 = cpuSeconds(proc.pid)
    const t0 = Date.now()
    let isLoading = true
    const direct: number[] = []
    const control = (async () => {
      for (let i = 0; isLoading && i < 10_000; i++) {
        const started = performance.now()
        await new Promise<void>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port: originPort, path: '/', agent: false }, (res) => { res.resume(); res.on('end', () => resolve()) })
          req.setTimeout(10_000, () => req.destroy())
          req.on('error', () => resolve())
        })
        direct.push(performance.now() - started)
        await sleep(200)
      }
    })()
    const r = await (useWrk ? runWrk(port, opts.conns, opts.seconds) : runNodeLoad(port, opts.conns, opts.seconds))
    isLoading = false
    await control
    direct.sort((a, b) => a - b)
    return {
      ...r, cpuPct: ((cpuSeconds(proc.pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100,
      directP50Ms: direct[direct.length >> 1] ?? Number.NaN, directMaxMs: direct[direct.length - 1] ?? Number.NaN,
    }
  }
  process.stdout.write(`slow clients: ${opts.slow} (${opts.kinds === 'both' ? 'half slowloris, half slow readers' : opts.kinds === 'loris' ? 'slowloris' : 'slow readers'}), normal load ${useWrk ? 'wrk' : 'Node loop'} -c${opts.conns} ${opts.seconds}s, ${opts.workers} workers\n`)
  // Warm up (JIT, pools), unmeasured.
  await (useWrk ? runWrk(port, opts.conns, 2) : runNodeLoad(port, opts.conns, 2))

  const rows: Array<{ phase: string; r: Awaited<ReturnType<typeof load>>; rssMb: number; fds: number; slowOpen: number; cuts: number }> = []
  const baseline = await load()
  rows.push({ phase: 'alone', r: baseline, ...procFigures(proc.pid), slowOpen: 0, cuts: 0 })

  const slow = new SlowClients(port, opts.slow, opts.kinds)
  // Let them all connect and send what they send.
  for (let i = 0; i < 50 && slow.sockets.size < opts.slow; i++) await sleep(100)
  const settleCpu0 = cpuSeconds(proc.pid)
  await sleep(opts.settleSeconds * 1000)
  const settleCpuPct = ((cpuSeconds(proc.pid) - settleCpu0) / opts.settleSeconds) * 100
  // An unmeasured run first: wrk's new connections at its start are what suffers most while the
  // slow readers' responses fill the socket buffers; the measured run then shows the steady state.
  await (useWrk ? runWrk(port, opts.conns, 3) : runNodeLoad(port, opts.conns, 3)).catch(() => null)
  const openAtStart = slow.sockets.size
  // Portico's figures in the middle of the measured run, when every slow client is attached.
  let figures = procFigures(proc.pid)
  let openMid = openAtStart
  let tcpMem = tcpMemPages()
  const mid = setTimeout(() => { figures = procFigures(proc.pid); openMid = slow.sockets.size; tcpMem = tcpMemPages() }, (opts.seconds * 1000) / 2)
  const withSlow = await load()
  clearTimeout(mid)
  rows.push({ phase: `+${opts.slow} slow`, r: withSlow, ...figures, slowOpen: Math.min(openAtStart, openMid), cuts: slow.cuts })
  slow.stop()
  await sleep(2000)

  const after = await load()
  rows.push({ phase: 'alone again', r: after, ...procFigures(proc.pid), slowOpen: 0, cuts: 0 })
  await stopProc(proc)
  await stopProc(origin)

  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
  process.stdout.write('\nphase           req/s    p50 ms   p90 ms   p99 ms    max ms  errors  cpu %  rss MB   fds  slow open  slow cut  origin direct p50/max ms\n')
  for (const row of rows) {
    process.stdout.write(`${row.phase.padEnd(14)} ${f(row.r.rps, 0).padStart(6)} ${f(row.r.p50Ms).padStart(9)} ${f(row.r.p90Ms).padStart(8)} ${f(row.r.p99Ms).padStart(8)} ${f(row.r.maxMs).padStart(9)} ${String(row.r.errors).padStart(7)} ${f(row.r.cpuPct, 0).padStart(6)} ${f(row.rssMb, 0).padStart(7)} ${String(row.fds).padStart(5)} ${String(row.slowOpen).padStart(10)} ${String(row.cuts).padStart(9)}  ${f(row.r.directP50Ms, 1)}/${f(row.r.directMaxMs, 0)}\n`)
  }
  for (const row of rows) if (row.r.errorText !== '') process.stdout.write(`${row.phase}: ${row.r.errorText}\n`)
  process.stdout.write(`kernel TCP memory with the slow clients: ${tcpMem.pages} pages (pressure at ${tcpMem.pressure})` +
    `${tcpMem.pages >= tcpMem.pressure ? ': UNDER PRESSURE, every TCP connection on the machine suffers; use fewer --slow' : ''}\n`)
  process.stdout.write(`portico CPU while the slow clients attached (${opts.settleSeconds}s settle, no normal load): ${f(settleCpuPct, 0)}% of a core\n`)
  const base = (baseline.p99Ms + after.p99Ms) / 2
  process.stdout.write(`\np99 with ${opts.slow} slow clients: ${f(withSlow.p99Ms)} ms vs ${f(base)} ms alone (×${f(withSlow.p99Ms / base)}); ` +
    `throughput ${f(withSlow.rps, 0)} vs ${f((baseline.rps + after.rps) / 2, 0)} req/s (×${f(withSlow.rps / ((baseline.rps + after.rps) / 2))})\n`)
  process.exit(0)
}

main().catch((err) => {
  process.stderr.write(`slow-clients: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})
