// Soak test: portico (the real CLI, its own process) under mixed traffic for a configurable time,
// printing its RSS, open fd count and thread count every 10 s, then whether memory stayed flat
// after warm-up. Origins and clients run in this process. Runs on the soak script's main thread.
//
//   node perf/soak.ts [--minutes 10] [--clients 20] [--workers 2] [--sample-seconds 10]
//
// The mix, per client request (weights in MIX): keep-alive GETs, 1 MiB downloads, Content-Length
// and chunked uploads, slow responses, a new connection per request, pipelined requests, 502s from
// a dead server, 500s, 400s for malformed heads, 413s, and clients that abort a download midway.
// Every outcome is checked against what that kind must get; anything else counts as unexpected.

import http from 'node:http'
import net from 'node:net'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installCleanup, startProc, stopProc } from './lib/procs.ts'

const ROOT = new URL('../', import.meta.url).pathname

interface Options { minutes: number; clients: number; workers: number; sampleSeconds: number }

function parseOptions(argv: string[]): Options {
  const o: Options = { minutes: 10, clients: 20, workers: 2, sampleSeconds: 10 }
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1])
    switch (argv[i]) {
      case '--minutes': o.minutes = value; i++; break
      case '--clients': o.clients = value; i++; break
      case '--workers': o.workers = value; i++; break
      case '--sample-seconds': o.sampleSeconds = value; i++; break
      case '--help': case '-h':
        process.stdout.write('usage: node perf/soak.ts [--minutes 10] [--clients 20] [--workers 2] [--sample-seconds 10]\n')
        process.exit(0)
        break
      default: throw new Error(`unknown option ${argv[i]}: expected --minutes, --clients, --workers or --sample-seconds`)
    }
  }
  for (const [k, v] of Object.entries(o)) if (!(v > 0)) throw new Error(`--${k} must be a positive number, got ${v}`)
  return o
}

// ── origins ─────────────────────────────────────────────────────────────────────────────────────

const MIB = 1024 * 1024
const BIG = Buffer.alloc(MIB, 0x62)

function originHandler(name: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('x-server', name)
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/big') { res.end(BIG); return }
    if (path === '/slow') { setTimeout(() => res.end('slow'), 200); return }
    if (path === '/500') { res.statusCode = 500; res.end('boom'); return }
    if (path === '/chunked') {
      let i = 0
      const tick = () => { if (i++ < 8) { res.write(`chunk ${i}\n`); setImmediate(tick) } else res.end() }
      tick()
      return
    }
    if (path === '/echo') {
      let n = 0
      req.on('data', (c: Buffer) => { n += c.length })
      req.on('end', () => res.end(`echo ${n}`))
      return
    }
    req.resume()
    req.on('end', () => res.end(`${name} ok`))
  }
}

async function listen(server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  const port = await listen(s)
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

// ── clients ─────────────────────────────────────────────────────────────────────────────────────

interface Outcome { status: number; bytes: number }

function httpRequest(port: number, agent: http.Agent | false, method: string, path: string, body: Buffer | null, isChunked = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: 'soak.test' }
    if (body !== null && !isChunked) headers['content-length'] = String(body.length)
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }))
      res.on('error', reject)
    })
    req.setTimeout(10_000, () => req.destroy(new Error('timeout after 10s')))
    req.on('error', reject)
    if (body === null) req.end()
    else if (isChunked) { req.write(body.subarray(0, body.length >> 1)); req.end(body.subarray(body.length >> 1)) } else req.end(body)
  })
}

/** Raw bytes on a fresh connection; resolves with what came back when the server closes (or after 5 s). */
function rawRequest(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let text = ''
    const hard = setTimeout(() => s.destroy(), 5000)
    s.on('connect', () => { s.write(data); s.end() })
    s.on('data', (d: Buffer) => { text += d.toString('latin1') })
    s.on('close', () => { clearTimeout(hard); resolve(text) })
    s.on('error', () => {})
  })
}

/** Start a 1 MiB download and drop the connection after the first bytes. */
function abortedDownload(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    const hard = setTimeout(() => s.destroy(), 5000)
    s.on('connect', () => s.write('GET /big HTTP/1.1\r\nHost: soak.test\r\n\r\n'))
    s.once('data', () => s.destroy())
    s.on('close', () => { clearTimeout(hard); resolve() })
    s.on('error', () => {})
  })
}

type Kind = 'get' | 'big' | 'upload' | 'chunkedUpload' | 'chunkedDownload' | 'slow' | 'newConn' | 'pipelined' | 'dead' | 'error500' | 'malformed' | 'tooLarge' | 'abort'

/** Relative weights of the request kinds. */
const MIX: Array<[Kind, number]> = [
  ['get', 40], ['big', 6], ['upload', 6], ['chunkedUpload', 4], ['chunkedDownload', 5], ['slow', 4], ['newConn', 8],
  ['pipelined', 4], ['dead', 3], ['error500', 3], ['malformed', 3], ['tooLarge', 3], ['abort', 3],
]
const MIX_TOTAL = MIX.reduce((n, [, w]) => n + w, 0)

function pickKind(): Kind {
  let r = Math.random() * MIX_TOTAL
  for (const [k, w] of MIX) { if ((r -= w) < 0) return k }
  return 'get'
}

const UPLOAD = Buffer.alloc(64 * 1024, 0x75)
const TOO_LARGE = Buffer.alloc(32 * 1024, 0x78)

class Stats {
  requests = 0
  unexpected = 0
  lastUnexpected = ''
  byKind = new Map<Kind, number>()

  note(kind: Kind, isOk: boolean, what: string): void {
    this.requests++
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
    if (!isOk) { this.unexpected++; this.lastUnexpected = `${kind}: ${what}` }
  }
}

async function oneRequest(kind: Kind, port: number, agent: http.Agent, stats: Stats): Promise<void> {
  try {
    switch (kind) {
      case 'get': { const r = await httpRequest(port, agent, 'GET', '/', null); stats.note(kind, r.status === 200, `${r.status}`); break }
      case 'big': { const r = await httpRequest(port, agent, 'GET', '/big', null); stats.note(kind, r.status === 200 && r.bytes === MIB, `${r.status} ${r.bytes}`); break }
      case 'upload': { const r = await httpRequest(port, agent, 'POST', '/echo', UPLOAD); stats.note(kind, r.status === 200, `${r.status}`); break }
      case 'chunkedUpload': { const r = await httpRequest(port, agent, 'POST', '/echo', UPLOAD, true); stats.note(kind, r.status === 200, `${r.status}`); break }
      case 'chunkedDownload': { const r = await httpRequest(port, agent, 'GET', '/chunked', null); stats.note(kind, r.status === 200 && r.bytes > 0, `${r.status}`); break }
      case 'slow': { const r = await httpRequest(port, agent, 'GET', '/slow', null); stats.note(kind, r.status === 200, `${r.status}`); break }
      case 'newConn': { const r = await httpRequest(port, false, 'GET', '/new', null); stats.note(kind, r.status === 200, `${r.status}`); break }
      case 'dead': { const r = await httpRequest(port, agent, 'GET', '/dead/x', null); stats.note(kind, r.status === 502 || r.status === 503, `${r.status}`); break }
      case 'error500': { const r = await httpRequest(port, agent, 'GET', '/500', null); stats.note(kind, r.status === 500, `${r.status}`); break }
      case 'tooLarge': { const r = await httpRequest(port, false, 'POST', '/small/upload', TOO_LARGE); stats.note(kind, r.status === 413, `${r.status}`); break }
      case 'pipelined': {
        const text = await rawRequest(port, 'GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\nGET /p3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
        const n = (text.match(/HTTP\/1\.1 200 /g) ?? []).length
        stats.note(kind, n === 3, `${n} responses`)
        break
      }
      case 'malformed': {
        const text = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
        stats.note(kind, text.startsWith('HTTP/1.1 400 '), JSON.stringify(text.slice(0, 20)))
        break
      }
      case 'abort': await abortedDownload(port); stats.note(kind, true, ''); break
    }
  } catch (err) {
    // A 502/413 may come with a reset while the body is still being written; anything else is unexpected.
    stats.note(kind, kind === 'tooLarge', (err as Error).message)
  }
}

// ── measuring the portico process ───────────────────────────────────────────────────────────────

function procStatus(pid: number): { rssBytes: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  return { rssBytes: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024, threads: Number(/Threads:\s+(\d+)/.exec(s)?.[1] ?? 0) }
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

async function metric(port: number, family: string): Promise<number> {
  const text = await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let s = ''
      res.on('data', (d) => { s += d })
      res.on('end', () => resolve(s))
    }).on('error', () => resolve(''))
  })
  let n = 0
  for (const line of text.split('\n')) if (line.startsWith(family + '{') || line.startsWith(family + ' ')) n += Number(line.slice(line.lastIndexOf(' ') + 1))
  return n
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  installCleanup()
  const s1 = http.createServer({ keepAliveTimeout: 30_000 }, originHandler('s1'))
  const s2 = http.createServer({ keepAliveTimeout: 30_000 }, originHandler('s2'))
  const p1 = await listen(s1)
  const p2 = await listen(s2)
  const deadPort = await freePort()
  const port = await freePort()
  const metricsPort = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'portico-soak-'))
  const file = join(dir, 'portico.toml')
  writeFileSync(file, `
[global]
workers = ${opts.workers}
[log]
level = "error"
access = "off"
[runtime]
metrics = "127.0.0.1:${metricsPort}"
[timeouts]
upstream_response = "5s"
[[listeners]]
name = "web"
bind = "127.0.0.1:${port}"
[[routes]]
name = "dead"
path_prefix = "/dead/"
upstream = "dead"
[[routes]]
name = "small"
path_prefix = "/small/"
upstream = "app"
max_body = "16KB"
[[routes]]
name = "all"
upstream = "app"
[[upstreams]]
name = "app"
retries = 1
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${p1}"
[[upstreams.servers]]
name = "s2"
address = "127.0.0.1:${p2}"
[[upstreams]]
name = "dead"
retries = 0
eject_after = 0
[[upstreams.servers]]
name = "d1"
address = "127.0.0.1:${deadPort}"
`)
  const proc = startProc('portico', [process.execPath, join(ROOT, 'src/portico.ts'), '-c', file], { env: { ...process.env, PORTICO_ALLOW_ROOT: '1' } })
  for (let i = 0; i < 200; i++) {
    if (proc.hasExited) throw new Error(`portico ${proc.describeExit()}:\n${proc.output}`)
    const r = await httpRequest(port, false, 'GET', '/', null).catch(() => null)
    if (r !== null && r.status === 200) break
    await sleep(100)
  }
  const pid = proc.pid
  const runMs = opts.minutes * 60_000
  const startedMs = Date.now()
  const endMs = startedMs + runMs
  const stats = new Stats()
  process.stdout.write(`soak: ${opts.minutes} min, ${opts.clients} clients, ${opts.workers} workers, portico pid ${pid}, port ${port}\n`)
  process.stdout.write('  time   requests    req/s  unexpected   rss MB  fds  threads  conns  in-flight\n')

  const clients = Array.from({ length: opts.clients }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    // Bounded in time by endMs and in count, whatever happens.
    for (let i = 0; i < 10_000_000 && Date.now() < endMs; i++) await oneRequest(pickKind(), port, agent, stats)
    agent.destroy()
  })

  const samples: Array<{ atS: number; rssBytes: number; fds: number }> = []
  let lastRequests = 0
  let lastMs = startedMs
  const sampler = (async () => {
    while (Date.now() < endMs && !proc.hasExited) {
      await sleep(Math.min(opts.sampleSeconds * 1000, Math.max(0, endMs - Date.now())))
      if (proc.hasExited) break
      const now = Date.now()
      const st = procStatus(pid)
      const fds = openFds(pid)
      const conns = await metric(metricsPort, 'portico_listener_connections_active')
      const inFlight = await metric(metricsPort, 'portico_server_active_requests')
      const rps = (stats.requests - lastRequests) / ((now - lastMs) / 1000)
      lastRequests = stats.requests
      lastMs = now
      const atS = Math.round((now - startedMs) / 1000)
      samples.push({ atS, rssBytes: st.rssBytes, fds })
      process.stdout.write(`${String(atS).padStart(5)}s ${String(stats.requests).padStart(10)} ${rps.toFixed(0).padStart(8)} ${String(stats.unexpected).padStart(11)} ${(st.rssBytes / MIB).toFixed(1).padStart(8)} ${String(fds).padStart(4)} ${String(st.threads).padStart(8)} ${String(conns).padStart(6)} ${String(inFlight).padStart(10)}\n`)
    }
  })()
  await Promise.all(clients)
  await sampler
  // After the load: every connection and request released?
  await sleep(1500)
  const idleConns = await metric(metricsPort, 'portico_listener_connections_active')
  const idleInFlight = await metric(metricsPort, 'portico_server_active_requests')
  const idleFds = proc.hasExited ? -1 : openFds(pid)
  const crashed = proc.hasExited
  await stopProc(proc)
  s1.closeAllConnections(); s1.close()
  s2.closeAllConnections(); s2.close()

  process.stdout.write(`\nrequests: ${stats.requests} (${[...stats.byKind].map(([k, n]) => `${k} ${n}`).join(', ')})\n`)
  process.stdout.write(`unexpected outcomes: ${stats.unexpected}${stats.unexpected > 0 ? ` (last: ${stats.lastUnexpected})` : ''}\n`)
  process.stdout.write(`after the load: ${idleConns} client connections, ${idleInFlight} requests in flight, ${idleFds} fds${crashed ? ', PORTICO EXITED DURING THE RUN' : ''}\n`)
  // Flat after warm-up: the highest RSS of the last third against the highest of the middle third
  // (maxima, since GC makes single samples jumpy; the final sample is taken as the load stops).
  if (samples.length >= 6) {
    const third = Math.floor(samples.length / 3)
    const middle = samples.slice(third, 2 * third)
    const last = samples.slice(2 * third, samples.length - 1)
    const peak = (xs: typeof samples) => Math.max(...xs.map((x) => x.rssBytes)) / MIB
    const growthMb = peak(last) - peak(middle)
    const spanMin = Math.max(1 / 60, (last[last.length - 1].atS - middle[0].atS) / 60)
    process.stdout.write(`rss peak ${middle[0].atS}-${middle[middle.length - 1].atS}s: ${peak(middle).toFixed(1)} MB; ` +
      `${last[0].atS}-${last[last.length - 1].atS}s: ${peak(last).toFixed(1)} MB (${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MB, ~${(growthMb / spanMin).toFixed(2)} MB/min); ` +
      `fds ${middle[0].fds} → ${last[last.length - 1].fds}\n`)
    const isFlat = growthMb < Math.max(16, peak(middle) * 0.1)
    process.stdout.write(isFlat ? 'memory: flat after warm-up\n' : 'memory: GROWING after warm-up\n')
  } else {
    process.stdout.write('memory: too few samples for a verdict (run longer or lower --sample-seconds)\n')
  }
  process.exit(crashed || stats.unexpected > stats.requests * 0.001 ? 1 : 0)
}

main().catch((err) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})
