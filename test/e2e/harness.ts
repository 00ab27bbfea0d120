// End-to-end test helpers: real origin servers on 127.0.0.1, portico started through its CLI
// with a TOML file, and small HTTP clients. Every wait is bounded in time.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const ROOT = new URL('../../', import.meta.url).pathname
export const CLI = join(ROOT, 'src/portico.ts')

export interface Origin {
  name: string
  port: number
  server: http.Server
  /** Requests seen, in order: method, url, headers. */
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>
  /** TCP connections accepted so far. */
  connections: number
  /** Requests being handled right now, and the most at once. */
  inFlight: number
  maxInFlight: number
  close(): Promise<void>
}

export type OriginHandler = (req: http.IncomingMessage, res: http.ServerResponse, origin: Origin) => void

/** Answers every request with 200, `x-server: <name>`, body "<name> <method> <url>". */
export function defaultHandler(req: http.IncomingMessage, res: http.ServerResponse, origin: Origin): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    res.setHeader('x-server', origin.name)
    res.end(`${origin.name} ${req.method} ${req.url}`)
  })
}

export async function startOrigin(name: string, handler: OriginHandler = defaultHandler, port = 0): Promise<Origin> {
  const origin: Origin = {
    name, port: 0, server: null as unknown as http.Server, requests: [], connections: 0, inFlight: 0, maxInFlight: 0,
    close: async () => {},
  }
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    origin.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    origin.inFlight++
    origin.maxInFlight = Math.max(origin.maxInFlight, origin.inFlight)
    res.on('close', () => { origin.inFlight-- })
    handler(req, res, origin)
  })
  server.on('connection', () => { origin.connections++ })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  origin.server = server
  origin.port = (server.address() as net.AddressInfo).port
  origin.close = () => new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
  return origin
}

/** A port that was free a moment ago (bind :0, read it, close). */
export async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

export interface Portico {
  proc: ChildProcess
  port: number
  dir: string
  file: string
  stdout: string[]
  stderr: string[]
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Wait until a stderr/stdout line matches, bounded. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>
}

/**
 * portico processes started by this test file. If the file is killed (tap's timeout sends
 * SIGTERM), they go with it instead of lingering on the machine.
 */
const children = new Set<ChildProcess>()
function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}
process.on('exit', killChildren)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(1)
  })
}

export function writeConfig(toml: string, dir = mkdtempSync(join(tmpdir(), 'portico-test-'))): { dir: string; file: string } {
  const file = join(dir, 'portico.toml')
  writeFileSync(file, toml)
  return { dir, file }
}

/** Run the CLI with arbitrary args, to completion (for --check and bad configs). */
export function runCli(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PORTICO_ALLOW_ROOT: '1' } })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d })
    proc.stderr.on('data', (d: Buffer) => { stderr += d })
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
    proc.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }) })
  })
}

/**
 * Start portico on a TOML text. `{{PORT}}` in the text is replaced by a free port, which is what
 * `port` then holds. Resolves once that port accepts connections.
 */
export async function startPortico(toml: string, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Portico> {
  const port = await freePort()
  const { dir, file } = writeConfig(toml.replaceAll('{{PORT}}', String(port)))
  const proc = spawn(process.execPath, [CLI, '-c', file], {
    env: { ...process.env, PORTICO_ALLOW_ROOT: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(proc)
  const stdout: string[] = []
  const stderr: string[] = []
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = []
  const onLine = (into: string[]) => {
    let partial = ''
    return (d: Buffer) => {
      const text = partial + d.toString()
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        into.push(line)
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i].re.test(line)) { waiters[i].resolve(line); waiters.splice(i, 1) }
        }
      }
    }
  }
  proc.stdout?.on('data', onLine(stdout))
  proc.stderr?.on('data', onLine(stderr))
  // The temp dir (config, sockets, logs) goes with the process.
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    children.delete(proc)
    rmSync(dir, { recursive: true, force: true })
    resolve(code)
  }))
  const p: Portico = {
    proc, port, dir, file, stdout, stderr, exited,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
      proc.kill(signal)
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(t)
      return code
    },
    waitFor(re: RegExp, timeoutMs = 10_000) {
      for (const line of [...stdout, ...stderr]) if (re.test(line)) return Promise.resolve(line)
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in portico output:\n${stderr.join('\n')}`)), timeoutMs)
        waiters.push({ re, resolve: (line) => { clearTimeout(t); resolve(line) } })
      })
    },
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000)
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`portico exited with ${proc.exitCode}:\n${stderr.join('\n')}`)
    // Listening, and the main thread says it serves (runtime sockets and workers are up).
    if (await canConnect(port) && stderr.some((l) => l.includes('"event":"started"'))) break
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`portico did not listen on ${port} in time:\n${stderr.join('\n')}`)
    }
    await sleep(50)
  }
  return p
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  text: string
}

/** One HTTP request through node:http; `agent` false = a new connection. */
export function request(port: number, opts: {
  method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent | false; timeoutMs?: number
} = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers,
      agent: opts.agent ?? false,
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() })
      })
      res.on('error', reject)
    })
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    if (opts.body !== undefined) req.end(opts.body)
    else req.end()
  })
}

/**
 * Send raw bytes on one connection and collect everything that comes back until the server
 * closes, `until` is satisfied, or `idleMs` passes without data.
 */
export function rawExchange(port: number, data: string | Buffer, opts: {
  idleMs?: number; timeoutMs?: number; endAfterWrite?: boolean
  /** Finish as soon as the text received so far satisfies this (instead of waiting to go idle). */
  until?: (text: string) => boolean
} = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let idle: NodeJS.Timeout | null = null
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      if (idle !== null) clearTimeout(idle)
      clearTimeout(hard)
      s.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed })
    }
    const arm = () => {
      if (idle !== null) clearTimeout(idle)
      idle = setTimeout(() => finish(false), opts.idleMs ?? 1000)
    }
    const hard = setTimeout(() => finish(false), opts.timeoutMs ?? 10_000)
    s.on('connect', () => {
      s.write(data)
      if (opts.endAfterWrite === true) s.end()
      arm()
    })
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      if (opts.until !== undefined && opts.until(Buffer.concat(chunks).toString('latin1'))) finish(false)
      else arm()
    })
    s.on('close', () => finish(true))
    s.on('error', () => finish(true))
  })
}

/** A minimal portico config: one listener on {{PORT}}, one upstream with the given servers. */
export function basicConfig(servers: Origin[], extra: { upstream?: string; global?: string; timeouts?: string; route?: string; tail?: string } = {}): string {
  return `
[global]
workers = 2
${extra.global ?? ''}
[log]
level = "info"
access = "off"
${extra.timeouts ? `[timeouts]\n${extra.timeouts}\n` : ''}
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"

[[routes]]
name = "all"
upstream = "app"
${extra.route ?? ''}

[[upstreams]]
name = "app"
${extra.upstream ?? ''}
${servers.map((o) => `[[upstreams.servers]]\nname = "${o.name}"\naddress = "127.0.0.1:${o.port}"\n`).join('\n')}
${extra.tail ?? ''}
`
}

/**
 * One metric family from portico's /metrics (`[runtime] metrics`): its samples as
 * "labels inside the braces" → value ('' for a sample without labels).
 */
export async function scrapeMetric(port: number, family: string): Promise<Map<string, number>> {
  const text = (await request(port, { path: '/metrics' })).text
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(family + '{') && !line.startsWith(family + ' ')) continue
    const sp = line.lastIndexOf(' ')
    const labels = line.charCodeAt(family.length) === 123 /* { */ ? line.slice(family.length + 1, line.lastIndexOf('}', sp)) : ''
    out.set(labels, Number(line.slice(sp + 1)))
  }
  return out
}

/** The sum of a metric family over all its samples. */
export async function metricTotal(port: number, family: string): Promise<number> {
  let n = 0
  for (const v of (await scrapeMetric(port, family)).values()) n += v
  return n
}

/** Poll `cond` every `everyMs` until it holds or `timeoutMs` passes; resolves with its last value. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(everyMs)
  }
  return cond()
}
