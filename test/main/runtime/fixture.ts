// Test fixture for the Runtime API: a real Config shaped like the HAProxy 2.6 transcripts' setup
// (reference/haproxy-2.6-transcripts/haproxy.cfg), real Cells, a fake RuntimeContext, the
// transcripts themselves, and a Unix-socket client. Not a test file (tap runs *.test.ts only).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { allocateCells, Cells, Admin, Header, Health, ListenerCell, nowSeconds, ServerCell } from '../../../src/shared/cells.ts'
import type { Config, HealthConfig, ServerConfig, Timeouts, UpstreamConfig } from '../../../src/shared/config/types.ts'
import type { RuntimeContext, RuntimeOptions, RuntimeSockets } from '../../../src/main/runtime/context.ts'
import { startRuntimeSockets } from '../../../src/main/runtime/server.ts'

export const TRANSCRIPTS = '/work/shared/reference/haproxy-2.6-transcripts'
/** The fake context reports HAProxy's version string so `show version` replies match byte for byte. */
export const HAPROXY_VERSION = '2.6.12-1+deb12u4'

const timeouts: Timeouts = {
  clientHeaderMs: 10_000, clientIdleMs: 60_000, upstreamConnectMs: 2000, upstreamResponseMs: 10_000,
  upstreamIdleMs: 60_000, queueMs: 5000, tunnelIdleMs: 60_000, clientSendMs: 60_000,
}

const health: HealthConfig = {
  path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectStatus: [200, 399], host: null,
}

function server(name: string, port: number, weight = 1): ServerConfig {
  return { name, address: `127.0.0.1:${port}`, host: '127.0.0.1', port, weight, tls: null }
}

function upstream(name: string, servers: ServerConfig[], h: HealthConfig | null, extra: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name, balance: 'round_robin', hashKey: null, maxConnectionsPerServer: 0, keepalive: 64, retries: 1,
    ejectAfter: 0, ejectBaseMs: 1000, ejectMaxMs: 30_000, health: h, servers, ...extra,
  }
}

/**
 * Upstreams as the transcripts' backends (stats, be_app, be_static, be_track → iids 1..4; HAProxy
 * had 3..6), one listener fe_main (iid 5). be_app's s3 runs unchecked and s4 is down, as in the
 * recordings; bk1 is an ordinary server (portico has no backups).
 */
export function makeConfig(): Config {
  return {
    file: '/etc/portico/portico.toml',
    global: { workers: 2, user: null, group: null, allowRoot: false, maxConnections: 200, drainTimeoutMs: 30_000, maxHeaderBytes: 16384, maxHeaders: 100, maxRequestLineBytes: 8192, idleGc: true },
    log: { level: 'info', access: 'off', error: 'stderr' },
    runtime: { statsSocket: null, adminSocket: null, metrics: null },
    timeouts,
    listeners: [{ name: 'fe_main', bind: '127.0.0.1:23000', host: '127.0.0.1', port: 23000, protocols: ['http/1.1'], tls: null, accept: 'main' }],
    routes: [],
    upstreams: [
      upstream('stats', [], null),
      upstream('be_app', [
        server('s1', 23011, 100), server('s2', 23012), server('s3', 23013), server('s4', 23019), server('bk1', 23013),
      ], health, { maxConnectionsPerServer: 0 }),
      upstream('be_static', [server('st1', 23011, 10), server('st2', 23012, 10)], health, { balance: 'hash', hashKey: { kind: 'client_ip', name: '' } }),
      upstream('be_track', [server('t1', 23011)], null),
    ],
  }
}

/** Global server index by "backend/server". */
export function serverIndex(config: Config, name: string): number {
  const [be, sv] = name.split('/')
  let index = 0
  for (const up of config.upstreams) {
    for (const s of up.servers) {
      if (up.name === be && s.name === sv) return index
      index++
    }
  }
  throw new Error(`no server ${name}`)
}

/** Cells initialised the way a generation starts: weights from the config, health up, checks per upstream. */
export function makeCells(config: Config): Cells {
  let servers = 0
  for (const up of config.upstreams) servers += up.servers.length
  const cells = new Cells(allocateCells({ servers, upstreams: config.upstreams.length, listeners: config.listeners.length, workers: 2 }))
  const now = nowSeconds()
  cells.setHeader(Header.EpochSeconds, now)
  let i = 0
  for (const up of config.upstreams) {
    for (const s of up.servers) {
      cells.setServer(i, ServerCell.Health, Health.Up)
      cells.setServer(i, ServerCell.Admin, Admin.Ready)
      cells.setServer(i, ServerCell.Weight, s.weight)
      cells.setServer(i, ServerCell.InitialWeight, s.weight)
      cells.setServer(i, ServerCell.MaxConn, up.maxConnectionsPerServer)
      cells.setServer(i, ServerCell.CheckEnabled, up.health === null ? 0 : 1)
      cells.setServer(i, ServerCell.LastChange, now)
      i++
    }
  }
  for (let l = 0; l < config.listeners.length; l++) cells.setListener(l, ListenerCell.Enabled, 1)
  // The transcripts' particulars: s2 has maxconn 50, s3 no check, s4 down (nothing listens on 23019).
  cells.setServer(serverIndex(config, 'be_app/s2'), ServerCell.MaxConn, 50)
  cells.setServer(serverIndex(config, 'be_app/s3'), ServerCell.CheckEnabled, 0)
  cells.setServer(serverIndex(config, 'be_app/s4'), ServerCell.Health, Health.Down)
  cells.setServer(serverIndex(config, 'be_static/st2'), ServerCell.CheckEnabled, 0)
  return cells
}

export interface FakeContext extends RuntimeContext {
  config: Config
  cells: Cells
  logs: Array<{ obj: object; msg: string }>
  reloads: number
}

export function makeContext(config = makeConfig(), cells = makeCells(config)): FakeContext {
  const ctx: FakeContext = {
    config,
    cells,
    logs: [],
    reloads: 0,
    current: () => ({ config: ctx.config, cells: ctx.cells, generation: 1 }),
    reload: async () => {
      ctx.reloads++
      return { ok: true, message: 'reloaded: generation 2' }
    },
    workers: () => [{ threadId: 11, slot: 0, generation: 1, connections: 3 }, { threadId: 12, slot: 1, generation: 1, connections: 0 }],
    startedAtMs: Date.now() - 48_000,
    version: HAPROXY_VERSION,
    log: {
      info: (obj, msg) => ctx.logs.push({ obj, msg }),
      warn: (obj, msg) => ctx.logs.push({ obj, msg }),
    },
  }
  return ctx
}

/** A transcript: what the client sent (escapes \n \r \\ decoded for the framing files) and the reply bytes. */
export function transcript(name: string): { request: string; reply: string } {
  const text = readFileSync(join(TRANSCRIPTS, `${name}.txt`), 'latin1')
  const nl = text.indexOf('\n')
  const first = text.slice(0, nl)
  const escaped = /^(interactive|noninteractive|severity-output)-/.test(name)
  const request = escaped ? first.replace(/\\(n|r|\\)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\')) : first
  return { request, reply: text.slice(nl + 1) }
}

export interface Sockets {
  dir: string
  stats: string
  admin: string
  ctx: FakeContext
  sockets: RuntimeSockets
  close(): Promise<void>
}

/** Starts both sockets in a fresh temp dir. */
export async function startSockets(ctx = makeContext(), options: RuntimeOptions = {}): Promise<Sockets> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-rt-'))
  const stats = join(dir, 'stats.sock')
  const admin = join(dir, 'admin.sock')
  const sockets = await startRuntimeSockets(ctx, { statsSocket: stats, adminSocket: admin }, options)
  return {
    dir, stats, admin, ctx, sockets,
    async close() {
      await sockets.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface ExchangeOptions {
  /** Send each line ('\n'-terminated piece) separately, this many ms apart (transcripts used 200). */
  lineDelayMs?: number
  /** Half-close after sending (default true). */
  halfClose?: boolean
  /** Give up after this long (default 3000 ms). */
  timeoutMs?: number
}

/**
 * Connects, sends `input`, and collects everything until the server closes. Resolves with the bytes
 * as latin1 text and how the connection ended.
 */
export function exchange(path: string, input: string, opts: ExchangeOptions = {}): Promise<{ reply: string; reset: boolean; timedOut: boolean }> {
  const { lineDelayMs = 0, halfClose = true, timeoutMs = 3000 } = opts
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let reset = false
    let timedOut = false
    const sock = createConnection(path)
    const timers: NodeJS.Timeout[] = []
    const guard = setTimeout(() => {
      timedOut = true
      sock.destroy()
    }, timeoutMs)
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', () => {
      reset = true
    })
    sock.on('close', () => {
      clearTimeout(guard)
      for (const t of timers) clearTimeout(t)
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), reset, timedOut })
    })
    sock.on('connect', () => {
      if (lineDelayMs === 0) {
        sock.write(input)
        if (halfClose) sock.end()
        return
      }
      const pieces = input.match(/[^\n]*\n|[^\n]+$/g) ?? []
      pieces.forEach((p, k) => {
        timers.push(setTimeout(() => {
          if (sock.destroyed || !sock.writable) return
          sock.write(p)
          if (k === pieces.length - 1 && halfClose) sock.end()
        }, k * lineDelayMs))
      })
    })
  })
}

/** One command on a socket, the usual way (`echo cmd | socat`). */
export async function ask(path: string, command: string): Promise<string> {
  return (await exchange(path, command + '\n')).reply
}

/** The three 2.6 error texts printed without their own '\n' (so no blank line followed them). */
const NO_LF_ERRORS = [
  'Empty weight string empty or preceded by garbage',
  'Trailing garbage in weight string',
  'maxconn string empty or preceded by garbage',
]

/**
 * A 2.6 transcript reply as portico must send it: the same bytes, except that (1) the three error
 * texts 2.6 printed without a terminator get their blank line (runtime-api.md §1: "Portico should
 * always emit the blank line"), and (2) the full command list after an empty command is portico's.
 */
export function asPortico(reply: string, fullListing: string): string {
  let out = reply
  for (const e of NO_LF_ERRORS) out = out.replaceAll(`${e}\n`, `${e}\n\n`)
  const head = 'Unknown command. Please enter one of the following commands only:\n'
  const tail = '  quit                                    : disconnect\n'
  let from = out.indexOf(head)
  while (from >= 0) {
    const to = out.indexOf(tail, from) + tail.length
    out = out.slice(0, from) + fullListing + out.slice(to)
    from = out.indexOf(head, from + fullListing.length)
  }
  return out
}
