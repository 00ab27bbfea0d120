// The parsed TOML object → a typed, checked Config. Main thread (start, --check, SIGHUP reload).
//
// `validate` is the only converter from config keys to Config fields: it applies every default
// (DESIGN.md "Config contract"), turns durations and sizes into numbers, resolves relative paths
// against the config file's directory, and collects every problem of the file (not the first
// one) with its key path and line, so one `portico --check` run lists everything to fix.
// It reads the TLS certificate and key files to prove they exist, parse and belong together, and
// the CA files of TLS upstreams to prove they hold PEM certificates.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { indexPath, keyPath } from './parse.ts'
import type {
  Balance, Config, ConfigProblem, GlobalConfig, HashKeyKind, HealthConfig, ListenerConfig,
  ListenerTls, LogConfig, Protocol, RouteConfig, RuntimeConfig, ServerConfig, Timeouts, TlsCert,
  UpstreamConfig, UpstreamTls,
} from './types.ts'
import {
  UNLIMITED_BYTES, isHostname, isIPv4, isIPv6, parseDuration, parseHostPort,
  parseSize, type HostPort,
} from './units.ts'

export interface ValidateResult {
  /** null when there is at least one problem. */
  config: Config | null
  /** Sorted by line; problems without a line (0) come last. */
  problems: ConfigProblem[]
}

type Table = Record<string, unknown>

/** The tls* keys of one table as written; null = absent (inherit, then default). */
interface TlsKeys {
  isOn: boolean | null
  sni: string | null
  caFile: string | null
  verify: boolean | null
}

const TOP_KEYS = ['global', 'log', 'runtime', 'timeouts', 'listeners', 'routes', 'upstreams'] as const
const GLOBAL_KEYS = ['workers', 'user', 'group', 'allow_root', 'max_connections', 'drain_timeout', 'max_header_bytes', 'max_headers', 'max_request_line', 'idle_gc'] as const
const LOG_KEYS = ['level', 'access', 'error'] as const
const RUNTIME_KEYS = ['stats_socket', 'admin_socket', 'metrics'] as const
const TIMEOUT_KEYS = [
  'client_header', 'client_idle', 'client_send', 'upstream_connect', 'upstream_response', 'upstream_idle', 'queue', 'tunnel_idle',
] as const
const LISTENER_KEYS = ['name', 'bind', 'protocols', 'tls', 'accept'] as const
const ACCEPT_MODES = ['main', 'workers'] as const
const TLS_KEYS = ['cert', 'key', 'certs', 'min_version', 'ciphers'] as const
const CERT_KEYS = ['cert', 'key', 'server_names'] as const
const ROUTE_KEYS = [
  'name', 'listeners', 'host', 'path_prefix', 'path', 'path_regex', 'headers', 'methods', 'upstream',
  'request_buffering', 'max_body', 'max_buffered_body', 'timeouts',
] as const
const UPSTREAM_KEYS = [
  'name', 'balance', 'hash_key', 'max_connections_per_server', 'keepalive', 'retries', 'eject_after',
  'eject_base', 'eject_max', 'health', 'servers', 'tls', 'tls_sni', 'tls_ca', 'tls_verify',
] as const
const HEALTH_KEYS = ['path', 'interval', 'timeout', 'rise', 'fall', 'expect_status', 'host'] as const
const SERVER_KEYS = ['name', 'address', 'weight', 'tls', 'tls_sni', 'tls_ca', 'tls_verify'] as const

/**
 * Every valid key, by the table header it goes under ("" = top level). The contract in one place:
 * a test checks that conf/portico.toml documents each of them.
 */
export const CONFIG_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': TOP_KEYS,
  global: GLOBAL_KEYS,
  log: LOG_KEYS,
  runtime: RUNTIME_KEYS,
  timeouts: TIMEOUT_KEYS,
  listeners: LISTENER_KEYS,
  'listeners.tls': TLS_KEYS,
  'listeners.tls.certs': CERT_KEYS,
  routes: ROUTE_KEYS,
  'routes.timeouts': TIMEOUT_KEYS,
  upstreams: UPSTREAM_KEYS,
  'upstreams.health': HEALTH_KEYS,
  'upstreams.servers': SERVER_KEYS,
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const PROTOCOLS = ['http/1.1', 'h2', 'h2c'] as const
const BALANCES = ['round_robin', 'least_conn', 'random', 'p2c', 'hash'] as const
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const
const HASH_KEY_FORMAT = '"header:NAME", "cookie:NAME", "client_ip" or "path"'

/** Timeout keys → Timeouts fields, with the defaults of DESIGN.md. */
const TIMEOUT_FIELDS: ReadonlyArray<readonly [typeof TIMEOUT_KEYS[number], keyof Timeouts, number]> = [
  ['client_header', 'clientHeaderMs', 10_000],
  ['client_idle', 'clientIdleMs', 60_000],
  ['client_send', 'clientSendMs', 60_000],
  ['upstream_connect', 'upstreamConnectMs', 3_000],
  ['upstream_response', 'upstreamResponseMs', 30_000],
  ['upstream_idle', 'upstreamIdleMs', 60_000],
  ['queue', 'queueMs', 5_000],
  ['tunnel_idle', 'tunnelIdleMs', 3_600_000],
]

const MAX_WORKERS = 256
const MAX_WEIGHT = 256
const DEFAULT_WEIGHT = 100
const DEFAULT_MAX_BUFFERED_BODY_BYTES = 1024 * 1024

// RFC 9110 token: header field names, method names, cookie names.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Checks the object `toml.parse` returned and builds the Config.
 * `file` is the config file's path (relative paths inside resolve against its directory);
 * `locate` maps a key path to its line (parse.ts `buildLocator`), 0 when unknown.
 * Never throws on bad input: every problem is returned, and `config` is null if there are any.
 */
export function validate(raw: unknown, file: string, locate: (path: string) => number): ValidateResult {
  const absFile = path.resolve(file)
  const c = new Checker(locate, path.dirname(absFile))
  const config = c.config(raw, absFile)
  const problems = c.problems
  // Stable sort: file order; problems with no known line after them.
  const order = (p: ConfigProblem): number => (p.line === 0 ? Number.MAX_SAFE_INTEGER : p.line)
  const sorted = problems.map((p, i) => ({ p, i }))
    .sort((a, b) => order(a.p) - order(b.p) || a.i - b.i)
    .map((e) => e.p)
  return { config: sorted.length === 0 ? config : null, problems: sorted }
}

/**
 * A value as TOML would spell it, shortened for one-line messages: 300, "web", [200, 399].
 */
export function renderValue(value: unknown): string {
  const s = render(value, 0)
  return s.length > 80 ? s.slice(0, 77) + '...' : s
}

function render(value: unknown, depth: number): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan'
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf'
    return String(value)
  }
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (value instanceof Date) return value.toISOString()
  if (depth > 2) return '...'
  if (Array.isArray(value)) return `[${value.map((v) => render(v, depth + 1)).join(', ')}]`
  if (value !== null && typeof value === 'object') {
    const parts = Object.entries(value).map(([k, v]) => `${keyPath('', k)} = ${render(v, depth + 1)}`)
    return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`
  }
  return String(value)
}

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (v instanceof Date) return 'a date'
  if (isTable(v)) return 'a table'
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float'
  if (typeof v === 'string') return 'a string'
  if (typeof v === 'boolean') return 'a boolean'
  return typeof v
}

/** Optimal string alignment distance (Levenshtein plus transpositions), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2] + 1)
      d[i * cols + j] = v
    }
  }
  return d[rows * cols - 1]
}

/** The allowed key nearest to a typo, if it is close enough to be a likely meaning. */
export function nearestKey(key: string, allowed: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  const lower = key.toLowerCase().replaceAll('-', '_')
  for (const k of allowed) {
    const dist = editDistance(lower, k)
    if (dist < bestDistance) { best = k; bestDistance = dist }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 3)))
  return bestDistance <= limit ? best : null
}

function quoteList(items: readonly string[]): string {
  return items.map((s) => JSON.stringify(s)).join(', ')
}

// Sentinel for report(): the problem is about a missing key, there is no value to show.
const NO_VALUE = Symbol('no value')

class Checker {
  problems: ConfigProblem[]
  locate: (path: string) => number
  baseDir: string
  /** Key paths offered as "did you mean": that key is then not also reported as missing. */
  suggested: Set<string>

  constructor(locate: (path: string) => number, baseDir: string) {
    this.problems = []
    this.locate = locate
    this.baseDir = baseDir
    this.suggested = new Set()
  }

  report(p: string, value: unknown, message: string): void {
    const problem: ConfigProblem = { path: p, line: this.locate(p), message }
    if (value !== NO_VALUE) problem.value = renderValue(value)
    this.problems.push(problem)
  }

  // ---- generic readers: each reports its own problems and falls back to the default -------

  /** A table (or absent → null); reports unknown keys, suggesting the nearest valid one. */
  table(parent: Table, parentPath: string, key: string, allowed: readonly string[], hint: string): Table | null {
    const p = keyPath(parentPath, key)
    const v = parent[key]
    if (v === undefined) return null
    if (!isTable(v)) {
      this.report(p, v, `expected a table (${hint}), got ${typeName(v)}`)
      return null
    }
    this.unknownKeys(v, p, allowed)
    return v
  }

  unknownKeys(t: Table, p: string, allowed: readonly string[]): void {
    for (const k of Object.keys(t)) {
      if (allowed.includes(k)) continue
      const near = nearestKey(k, allowed)
      const hint = near === null ? '' : ` (did you mean "${near}"?)`
      if (near !== null && t[near] === undefined) this.suggested.add(keyPath(p, near))
      this.report(keyPath(p, k), t[k], `unknown key "${k}"${hint}, expected one of ${allowed.join(', ')}`)
    }
  }

  /** An array of tables ([[key]]); each element checked for unknown keys. Absent → []. */
  tableArray(parent: Table, parentPath: string, key: string, allowed: readonly string[], header: string): Array<[Table, string]> {
    const p = keyPath(parentPath, key)
    const v = parent[key]
    if (v === undefined) return []
    if (!Array.isArray(v)) {
      this.report(p, v, `expected an array of tables (write [[${header}]] for each entry), got ${typeName(v)}`)
      return []
    }
    const out: Array<[Table, string]> = []
    for (let i = 0; i < v.length; i++) {
      const ep = indexPath(p, i)
      const e: unknown = v[i]
      if (!isTable(e)) {
        this.report(ep, e, `expected a table, got ${typeName(e)}`)
        continue
      }
      this.unknownKeys(e, ep, allowed)
      out.push([e, ep])
    }
    return out
  }

  /** A required key is absent; one typo gives one problem, so not when a typo of it was reported. */
  missing(p: string, message: string): void {
    if (!this.suggested.has(p)) this.report(p, NO_VALUE, message)
  }

  string(t: Table, tp: string, key: string, def: string): string
  string(t: Table, tp: string, key: string, def: null): string | null
  string(t: Table, tp: string, key: string, def: string | null): string | null {
    const v = t[key]
    if (v === undefined) return def
    if (typeof v !== 'string') {
      this.report(keyPath(tp, key), v, `expected a string, got ${typeName(v)}`)
      return def
    }
    if (v === '') {
      this.report(keyPath(tp, key), v, `${key} must not be empty`)
      return def
    }
    return v
  }

  /** A required non-empty string; `what` completes "… needs a <key>" for the missing case. */
  required(t: Table, tp: string, key: string, what: string): string | null {
    if (t[key] === undefined) {
      this.missing(keyPath(tp, key), `missing ${key}: every ${what} needs one`)
      return null
    }
    return this.string(t, tp, key, null)
  }

  integer(t: Table, tp: string, key: string, def: number, min: number, max: number): number {
    const v = t[key]
    if (v === undefined) return def
    const p = keyPath(tp, key)
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.report(p, v, `expected an integer ${min}..${max}, got ${typeName(v)}`)
      return def
    }
    if (v < min || v > max) {
      this.report(p, v, `${key} must be ${min}..${max}`)
      return def
    }
    return v
  }

  boolean(t: Table, tp: string, key: string, def: boolean): boolean {
    const v = t[key]
    if (v === undefined) return def
    if (typeof v !== 'boolean') {
      this.report(keyPath(tp, key), v, `expected true or false, got ${typeName(v)}`)
      return def
    }
    return v
  }

  oneOf<T extends string>(t: Table, tp: string, key: string, def: T, choices: readonly T[]): T {
    const v = t[key]
    if (v === undefined) return def
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      this.report(keyPath(tp, key), v, `expected one of ${quoteList(choices)}`)
      return def
    }
    return v as T
  }

  duration(t: Table, tp: string, key: string, defMs: number, minMs: number): number {
    const v = t[key]
    if (v === undefined) return defMs
    const p = keyPath(tp, key)
    const r = parseDuration(v)
    if (!r.ok) {
      this.report(p, v, r.error)
      return defMs
    }
    if (r.value < minMs) {
      this.report(p, v, `${key} must be at least ${minMs}ms`)
      return defMs
    }
    return r.value
  }

  size(t: Table, tp: string, key: string, defBytes: number, allowUnlimited: boolean): number {
    const v = t[key]
    if (v === undefined) return defBytes
    const r = parseSize(v, allowUnlimited)
    if (!r.ok) {
      this.report(keyPath(tp, key), v, r.error)
      return defBytes
    }
    return r.value
  }

  /** An array of strings, or null when absent. Bad elements are reported and dropped. */
  stringArray(t: Table, tp: string, key: string): string[] | null {
    const v = t[key]
    if (v === undefined) return null
    const p = keyPath(tp, key)
    if (!Array.isArray(v)) {
      this.report(p, v, `expected an array of strings, got ${typeName(v)}`)
      return null
    }
    const out: string[] = []
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i]
      if (typeof e !== 'string' || e === '') {
        this.report(indexPath(p, i), e, typeof e === 'string' ? 'must not be empty' : `expected a string, got ${typeName(e)}`)
        continue
      }
      out.push(e)
    }
    return out
  }

  /** "host:port" or "[v6]:port". */
  hostPort(t: Table, tp: string, key: string): HostPort | null {
    const v = t[key]
    if (v === undefined) return null
    const r = parseHostPort(v)
    if (!r.ok) {
      this.report(keyPath(tp, key), v, r.error)
      return null
    }
    return r.value
  }

  /** A file path, resolved against the config file's directory. */
  filePath(t: Table, tp: string, key: string): string | null {
    const s = this.string(t, tp, key, null)
    return s === null ? null : path.resolve(this.baseDir, s)
  }

  // ---- sections ----------------------------------------------------------------------------

  config(raw: unknown, absFile: string): Config {
    let root: Table = {}
    if (isTable(raw)) {
      root = raw
      this.unknownKeys(root, '', TOP_KEYS)
    } else {
      this.report('', raw, 'expected a toml document')
    }
    const global = this.global(root)
    const log = this.log(root)
    const runtime = this.runtime(root)
    const timeouts = this.timeouts(root, '', DEFAULT_TIMEOUTS, '[timeouts]')
    const listeners = this.listeners(root)
    this.checkMetricsBind(root, listeners)
    const upstreams = this.upstreams(root)
    const routes = this.routes(root, timeouts, listeners, upstreams)
    return { file: absFile, global, log, runtime, timeouts, listeners, routes, upstreams }
  }

  global(root: Table): GlobalConfig {
    const t = this.table(root, '', 'global', GLOBAL_KEYS, '[global]') ?? {}
    let workers = Math.min(os.availableParallelism(), MAX_WORKERS)
    const w = t.workers
    if (w !== undefined && w !== 'auto') {
      if (typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= MAX_WORKERS) workers = w
      else this.report('global.workers', w, `workers must be "auto" or 1..${MAX_WORKERS}`)
    }
    const user = this.string(t, 'global', 'user', null)
    const group = this.string(t, 'global', 'group', null)
    if (group !== null && t.user === undefined) {
      this.report('global.group', group, 'group needs user: portico switches group only when it switches user')
    }
    return {
      workers,
      user,
      group,
      allowRoot: this.boolean(t, 'global', 'allow_root', false),
      maxConnections: this.integer(t, 'global', 'max_connections', 100_000, 1, 10_000_000),
      drainTimeoutMs: this.duration(t, 'global', 'drain_timeout', 30_000, 0),
      maxHeaderBytes: this.limitSize(t, 'max_header_bytes', 16 * 1024, 1024, 1024 * 1024),
      maxHeaders: this.integer(t, 'global', 'max_headers', 100, 1, 1000),
      maxRequestLineBytes: this.limitSize(t, 'max_request_line', 8 * 1024, 256, 1024 * 1024),
      idleGc: this.boolean(t, 'global', 'idle_gc', true),
    }
  }

  /** A head-size limit in [global]: a size within [min, max] bytes. */
  private limitSize(t: Table, key: string, defBytes: number, min: number, max: number): number {
    const bytes = this.size(t, 'global', key, defBytes, false)
    if (bytes < min || bytes > max) {
      this.report(`global.${key}`, t[key], `${key} must be between ${min} and ${max} bytes`)
      return defBytes
    }
    return bytes
  }

  log(root: Table): LogConfig {
    const t = this.table(root, '', 'log', LOG_KEYS, '[log]') ?? {}
    const level = this.oneOf(t, 'log', 'level', 'info', LOG_LEVELS)
    let access = this.string(t, 'log', 'access', 'stdout')
    if (access === 'stderr') {
      this.report('log.access', access, 'expected "stdout", "off" or a file path')
      access = 'stdout'
    } else if (access !== 'stdout' && access !== 'off') {
      access = path.resolve(this.baseDir, access)
    }
    let error = this.string(t, 'log', 'error', 'stderr')
    if (error === 'stdout' || error === 'off') {
      this.report('log.error', error, 'expected "stderr" or a file path')
      error = 'stderr'
    } else if (error !== 'stderr') {
      error = path.resolve(this.baseDir, error)
    }
    return { level, access, error }
  }

  runtime(root: Table): RuntimeConfig {
    const t = this.table(root, '', 'runtime', RUNTIME_KEYS, '[runtime]') ?? {}
    const statsSocket = this.filePath(t, 'runtime', 'stats_socket')
    const adminSocket = this.filePath(t, 'runtime', 'admin_socket')
    if (statsSocket !== null && statsSocket === adminSocket) {
      this.report('runtime.admin_socket', t.admin_socket, 'admin_socket must differ from stats_socket')
    }
    const metricsAddress = this.hostPort(t, 'runtime', 'metrics')
    return { statsSocket, adminSocket, metrics: metricsAddress === null ? null : (t.metrics as string) }
  }

  timeouts(parent: Table, parentPath: string, base: Timeouts, hint: string): Timeouts {
    const t = this.table(parent, parentPath, 'timeouts', TIMEOUT_KEYS, hint)
    const out: Timeouts = { ...base }
    if (t === null) return out
    const tp = keyPath(parentPath, 'timeouts')
    for (const [key, field] of TIMEOUT_FIELDS) out[field] = this.duration(t, tp, key, base[field], 1)
    return out
  }

  // ---- listeners ---------------------------------------------------------------------------

  listeners(root: Table): ListenerConfig[] {
    const entries = this.tableArray(root, '', 'listeners', LISTENER_KEYS, 'listeners')
    if (root.listeners === undefined || (Array.isArray(root.listeners) && root.listeners.length === 0)) {
      this.missing('listeners', 'no listeners: at least one [[listeners]] with name and bind is required')
    }
    const out: ListenerConfig[] = []
    const names = new Map<string, string>()
    const binds: Array<{ host: string; port: number; path: string; bind: string }> = []
    for (const [t, lp] of entries) {
      const name = this.required(t, lp, 'name', '[[listeners]]')
      if (name !== null) this.unique(names, name, keyPath(lp, 'name'), 'listener name')
      const bind = this.required(t, lp, 'bind', '[[listeners]]')
      const hp = bind === null ? null : this.hostPort(t, lp, 'bind')
      if (hp !== null && bind !== null) {
        const bp = keyPath(lp, 'bind')
        for (const other of binds) {
          if (bindsConflict(hp, other)) {
            this.report(bp, bind, `bind conflicts with ${other.path} = ${JSON.stringify(other.bind)}`)
            break
          }
        }
        binds.push({ host: hp.host, port: hp.port, path: bp, bind })
      }
      const tls = this.tls(t, lp)
      const protocols = this.protocols(t, lp, tls !== null)
      out.push({
        name: name ?? '',
        bind: bind ?? '',
        host: hp?.host ?? '',
        port: hp?.port ?? 0,
        protocols,
        tls,
        accept: this.oneOf(t, lp, 'accept', 'main', ACCEPT_MODES),
      })
    }
    return out
  }

  protocols(t: Table, lp: string, hasTls: boolean): Protocol[] {
    const list = this.stringArray(t, lp, 'protocols')
    if (list === null) return ['http/1.1']
    const p = keyPath(lp, 'protocols')
    if (list.length === 0 && (t.protocols as unknown[]).length === 0) {
      this.report(p, t.protocols, `expected at least one of ${quoteList(PROTOCOLS)}`)
      return ['http/1.1']
    }
    const out: Protocol[] = []
    for (let i = 0; i < list.length; i++) {
      const proto = list[i]
      const ep = indexPath(p, i)
      if (!(PROTOCOLS as readonly string[]).includes(proto)) {
        this.report(ep, proto, `unknown protocol, expected one of ${quoteList(PROTOCOLS)}`)
      } else if (out.includes(proto as Protocol)) {
        this.report(ep, proto, 'protocol listed twice')
      } else if (proto === 'h2' && !hasTls) {
        this.report(ep, proto, 'h2 needs tls: add [listeners.tls], or use "h2c" for cleartext HTTP/2')
      } else if (proto === 'h2c' && hasTls) {
        this.report(ep, proto, 'h2c is cleartext HTTP/2; with tls use "h2"')
      } else {
        out.push(proto as Protocol)
      }
    }
    return out
  }

  tls(t: Table, lp: string): ListenerTls | null {
    const tt = this.table(t, lp, 'tls', TLS_KEYS, '[listeners.tls]')
    if (tt === null) return null
    const tp = keyPath(lp, 'tls')
    const certs: TlsCert[] = []
    const hasPair = tt.cert !== undefined || tt.key !== undefined
    if (hasPair && tt.certs !== undefined) {
      this.report(keyPath(tp, 'certs'), tt.certs, 'use either cert and key, or [[listeners.tls.certs]] entries, not both')
    } else if (hasPair) {
      const pair = this.certPair(tt, tp, '[listeners.tls]')
      if (pair !== null) certs.push({ certFile: pair[0], keyFile: pair[1], serverNames: [] })
    } else if (tt.certs === undefined) {
      this.missing(keyPath(tp, 'cert'), 'tls needs cert and key, or [[listeners.tls.certs]] entries')
    } else {
      const entries = this.tableArray(tt, tp, 'certs', CERT_KEYS, 'listeners.tls.certs')
      if (Array.isArray(tt.certs) && tt.certs.length === 0) {
        this.report(keyPath(tp, 'certs'), tt.certs, 'expected at least one [[listeners.tls.certs]] entry')
      }
      const seenNames = new Map<string, string>()
      let defaultPath: string | null = null
      for (const [ct, cp] of entries) {
        const pair = this.certPair(ct, cp, '[[listeners.tls.certs]]')
        const serverNames = this.serverNames(ct, cp, seenNames)
        if (serverNames.length === 0 && ct.server_names === undefined) {
          if (defaultPath !== null) {
            this.missing(keyPath(cp, 'server_names'), `only one certificate may leave out server_names (the default); ${defaultPath} does too`)
          }
          defaultPath = cp
        }
        if (pair !== null) certs.push({ certFile: pair[0], keyFile: pair[1], serverNames })
      }
    }
    return {
      certs,
      minVersion: this.oneOf(tt, tp, 'min_version', 'TLSv1.2', TLS_VERSIONS),
      ciphers: this.string(tt, tp, 'ciphers', null),
    }
  }

  serverNames(ct: Table, cp: string, seen: Map<string, string>): string[] {
    const list = this.stringArray(ct, cp, 'server_names')
    if (list === null) return []
    const p = keyPath(cp, 'server_names')
    const out: string[] = []
    for (let i = 0; i < list.length; i++) {
      const name = list[i].toLowerCase()
      const ep = indexPath(p, i)
      const error = hostPatternError(name)
      if (error !== null) this.report(ep, list[i], error)
      else if (this.unique(seen, name, ep, 'server name')) out.push(name)
    }
    if (list.length === 0 && Array.isArray(ct.server_names) && ct.server_names.length === 0) {
      this.report(p, ct.server_names, 'expected at least one name; leave server_names out for the default certificate')
    }
    return out
  }

  // cert + key of one certificate: both present, readable, parseable and matching.
  certPair(t: Table, tp: string, what: string): [string, string] | null {
    const certFile = t.cert === undefined ? null : this.filePath(t, tp, 'cert')
    const keyFile = t.key === undefined ? null : this.filePath(t, tp, 'key')
    if (t.cert === undefined) this.missing(keyPath(tp, 'cert'), `missing cert: ${what} needs cert and key`)
    if (t.key === undefined) this.missing(keyPath(tp, 'key'), `missing key: ${what} needs cert and key`)
    if (certFile === null || keyFile === null) return null
    let cert: X509Certificate | null = null
    let key: KeyObject | null = null
    const certPem = this.readFile(keyPath(tp, 'cert'), t.cert, certFile, 'certificate')
    if (certPem !== null) {
      try {
        cert = new X509Certificate(certPem)
      } catch {
        this.report(keyPath(tp, 'cert'), t.cert, `${certFile} is not a PEM certificate`)
      }
      // Out of its validity period every client refuses it: better refused here (on reload the
      // running certificate keeps serving) than handshakes failing at the clients.
      const nowMs = Date.now()
      if (cert !== null && Date.parse(cert.validTo) < nowMs) {
        this.report(keyPath(tp, 'cert'), t.cert, `${certFile} expired on ${new Date(cert.validTo).toISOString()}`)
        cert = null
      } else if (cert !== null && Date.parse(cert.validFrom) > nowMs) {
        this.report(keyPath(tp, 'cert'), t.cert, `${certFile} is not valid before ${new Date(cert.validFrom).toISOString()}`)
        cert = null
      }
    }
    const keyPem = this.readFile(keyPath(tp, 'key'), t.key, keyFile, 'key')
    if (keyPem !== null) {
      try {
        key = createPrivateKey(keyPem)
      } catch (err) {
        // OpenSSL 3 reports a missing passphrase as "interrupted or cancelled"; the PEM says it plainly
        const encrypted = (err as { code?: string }).code === 'ERR_MISSING_PASSPHRASE' ||
          /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem.toString('latin1'))
        this.report(keyPath(tp, 'key'), t.key, encrypted
          ? `${keyFile} is encrypted; portico needs an unencrypted private key`
          : `${keyFile} is not a PEM private key`)
      }
    }
    if (cert !== null && key !== null && !cert.checkPrivateKey(key)) {
      this.report(keyPath(tp, 'key'), t.key, `${keyFile} is not the private key of ${certFile}`)
      return null
    }
    return cert !== null && key !== null ? [certFile, keyFile] : null
  }

  readFile(p: string, value: unknown, file: string, what: string): Buffer | null {
    try {
      const st = fs.statSync(file)
      if (!st.isFile()) {
        this.report(p, value, `${what} file ${file} is not a regular file`)
        return null
      }
      return fs.readFileSync(file)
    } catch (err) {
      const code = (err as { code?: string }).code
      const why = code === 'ENOENT' ? 'no such file'
        : code === 'EACCES' ? 'permission denied'
        : code ?? String(err)
      this.report(p, value, `cannot read ${what} file ${file}: ${why}`)
      return null
    }
  }

  checkMetricsBind(root: Table, listeners: ListenerConfig[]): void {
    const rt = root.runtime
    if (!isTable(rt) || typeof rt.metrics !== 'string') return
    const r = parseHostPort(rt.metrics)
    if (!r.ok) return
    for (let i = 0; i < listeners.length; i++) {
      const l = listeners[i]
      if (l.port !== 0 && bindsConflict(r.value, l)) {
        this.report('runtime.metrics', rt.metrics, `metrics address conflicts with listeners[${i}].bind = ${JSON.stringify(l.bind)}`)
        return
      }
    }
  }

  // ---- upstreams ---------------------------------------------------------------------------

  upstreams(root: Table): UpstreamConfig[] {
    const entries = this.tableArray(root, '', 'upstreams', UPSTREAM_KEYS, 'upstreams')
    const names = new Map<string, string>()
    const out: UpstreamConfig[] = []
    for (const [t, up] of entries) {
      const name = this.required(t, up, 'name', '[[upstreams]]')
      if (name !== null) this.unique(names, name, keyPath(up, 'name'), 'upstream name')
      const balance = this.oneOf<Balance>(t, up, 'balance', 'round_robin', BALANCES)
      const hashKey = this.hashKey(t, up, balance)
      const ejectBaseMs = this.duration(t, up, 'eject_base', 10_000, 1)
      const ejectMaxMs = this.duration(t, up, 'eject_max', 300_000, 1)
      if (ejectMaxMs < ejectBaseMs) {
        this.report(keyPath(up, 'eject_max'), t.eject_max ?? '5m', `eject_max must not be shorter than eject_base (${String(t.eject_base ?? '10s')})`)
      }
      out.push({
        name: name ?? '',
        balance,
        hashKey,
        maxConnectionsPerServer: this.integer(t, up, 'max_connections_per_server', 0, 0, 1_000_000),
        keepalive: this.integer(t, up, 'keepalive', 64, 0, 100_000),
        retries: this.integer(t, up, 'retries', 1, 0, 16),
        ejectAfter: this.integer(t, up, 'eject_after', 5, 0, 1000),
        ejectBaseMs,
        ejectMaxMs,
        health: this.health(t, up),
        servers: this.servers(t, up, this.tlsKeys(t, up)),
      })
    }
    return out
  }

  hashKey(t: Table, up: string, balance: Balance): { kind: HashKeyKind; name: string } | null {
    const v = t.hash_key
    const p = keyPath(up, 'hash_key')
    if (v === undefined) {
      if (balance === 'hash' && !this.suggested.has(p)) {
        this.report(keyPath(up, 'balance'), t.balance, `balance = "hash" needs hash_key = ${HASH_KEY_FORMAT}`)
      }
      return null
    }
    if (balance !== 'hash') {
      this.report(p, v, `hash_key is used only with balance = "hash" (balance is "${balance}")`)
      return null
    }
    if (v === 'client_ip' || v === 'path') return { kind: v, name: '' }
    if (typeof v === 'string') {
      const m = /^(header|cookie):(.*)$/.exec(v)
      if (m !== null && TOKEN_RE.test(m[2])) {
        const kind = m[1] as HashKeyKind
        // header names are case-insensitive, cookie names are not
        return { kind, name: kind === 'header' ? m[2].toLowerCase() : m[2] }
      }
      if (m !== null) {
        this.report(p, v, `"${m[2]}" is not a valid ${m[1]} name, expected ${HASH_KEY_FORMAT}`)
        return null
      }
    }
    this.report(p, v, `expected ${HASH_KEY_FORMAT}`)
    return null
  }

  health(t: Table, up: string): HealthConfig | null {
    const h = this.table(t, up, 'health', HEALTH_KEYS, '[upstreams.health]')
    if (h === null) return null
    const hp = keyPath(up, 'health')
    let checkPath = this.string(h, hp, 'path', '/')
    if (!checkPath.startsWith('/')) {
      this.report(keyPath(hp, 'path'), checkPath, 'health check path must start with "/"')
      checkPath = '/'
    }
    const intervalMs = this.duration(h, hp, 'interval', 5_000, 1)
    const timeoutMs = this.duration(h, hp, 'timeout', 2_000, 1)
    if (timeoutMs > intervalMs) {
      this.report(keyPath(hp, 'timeout'), h.timeout ?? '2s', `timeout must not be longer than interval (${String(h.interval ?? '5s')})`)
    }
    let host = this.string(h, hp, 'host', null)
    if (host !== null) {
      const error = hostPatternError(host.toLowerCase())
      if (error !== null || host.startsWith('*')) {
        this.report(keyPath(hp, 'host'), host, 'expected a host name for the Host header of checks')
        host = null
      }
    }
    return {
      path: checkPath,
      intervalMs,
      timeoutMs,
      rise: this.integer(h, hp, 'rise', 2, 1, 100),
      fall: this.integer(h, hp, 'fall', 3, 1, 100),
      expectStatus: this.expectStatus(h, hp),
      host,
    }
  }

  expectStatus(h: Table, hp: string): [number, number] {
    const v = h.expect_status
    if (v === undefined) return [200, 399]
    const p = keyPath(hp, 'expect_status')
    const isStatus = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 599
    if (isStatus(v)) return [v, v]
    if (Array.isArray(v) && v.length === 2 && isStatus(v[0]) && isStatus(v[1])) {
      if (v[0] <= v[1]) return [v[0], v[1]]
      this.report(p, v, 'expected [low, high] with low <= high')
      return [200, 399]
    }
    this.report(p, v, 'expected an inclusive status range [low, high] such as [200, 399] (100..599), or one status')
    return [200, 399]
  }

  // The tls* keys of one [[upstreams]] or [[upstreams.servers]] table, as written (null = absent).
  tlsKeys(t: Table, tp: string): TlsKeys {
    const isOn = t.tls === undefined ? null : this.boolean(t, tp, 'tls', false)
    let sni = this.string(t, tp, 'tls_sni', null)
    if (sni !== null) {
      sni = sni.toLowerCase()
      // RFC 6066 §3: SNI carries a DNS name, never an address literal.
      if (!isHostname(sni) || isIPv4(sni)) {
        this.report(keyPath(tp, 'tls_sni'), t.tls_sni, 'expected a dns host name to send as sni (not an ip address)')
        sni = null
      }
    }
    let caFile = this.filePath(t, tp, 'tls_ca')
    if (caFile !== null) {
      const pem = this.readFile(keyPath(tp, 'tls_ca'), t.tls_ca, caFile, 'ca')
      if (pem === null) {
        caFile = null
      } else {
        try {
          new X509Certificate(pem) // the first certificate of the bundle; tls.connect reads them all
        } catch {
          this.report(keyPath(tp, 'tls_ca'), t.tls_ca, `${caFile} is not a PEM certificate`)
          caFile = null
        }
      }
    }
    const verify = t.tls_verify === undefined ? null : this.boolean(t, tp, 'tls_verify', true)
    return { isOn, sni, caFile, verify }
  }

  // A tls_* key is meaningless without TLS: say so rather than silently ignore it.
  tlsKeysUnused(t: Table, tp: string, where: string): void {
    for (const key of ['tls_sni', 'tls_ca', 'tls_verify'] as const) {
      if (t[key] !== undefined) this.report(keyPath(tp, key), t[key], `${key} is used only with tls = true (${where})`)
    }
  }

  // One server's TLS: its own keys over the upstream's; the SNI defaults to its host when a name.
  serverTls(host: string, own: TlsKeys, upstream: TlsKeys): UpstreamTls | null {
    if (!(own.isOn ?? upstream.isOn ?? false)) return null
    const sni = own.sni ?? upstream.sni ?? (isIPv4(host) || isIPv6(host) || host === '' ? null : host.toLowerCase())
    return { sni, caFile: own.caFile ?? upstream.caFile, verify: own.verify ?? upstream.verify ?? true }
  }

  servers(t: Table, up: string, upstreamTls: TlsKeys): ServerConfig[] {
    const entries = this.tableArray(t, up, 'servers', SERVER_KEYS, 'upstreams.servers')
    if (t.servers === undefined || (Array.isArray(t.servers) && t.servers.length === 0)) {
      this.missing(keyPath(up, 'servers'), 'an upstream needs at least one [[upstreams.servers]]')
    }
    const names = new Map<string, string>()
    const out: ServerConfig[] = []
    let isAnyTls = upstreamTls.isOn === true
    for (const [st, sp] of entries) {
      const name = this.required(st, sp, 'name', '[[upstreams.servers]]')
      if (name !== null) this.unique(names, name, keyPath(sp, 'name'), 'server name in this upstream')
      const address = this.required(st, sp, 'address', '[[upstreams.servers]]')
      const hp = address === null ? null : this.hostPort(st, sp, 'address')
      out.push({
        name: name ?? '',
        address: address ?? '',
        host: hp?.host ?? '',
        port: hp?.port ?? 0,
        weight: this.integer(st, sp, 'weight', DEFAULT_WEIGHT, 0, MAX_WEIGHT),
        tls: null,
      })
      const server = out[out.length - 1]
      const own = this.tlsKeys(st, sp)
      server.tls = this.serverTls(server.host, own, upstreamTls)
      if (server.tls !== null) isAnyTls = true
      else this.tlsKeysUnused(st, sp, own.isOn === false ? 'tls = false here' : 'tls is off for this server and its upstream')
    }
    if (!isAnyTls) this.tlsKeysUnused(t, up, 'tls is off for this upstream and all its servers')
    return out
  }

  // ---- routes ------------------------------------------------------------------------------

  routes(root: Table, timeouts: Timeouts, listeners: ListenerConfig[], upstreams: UpstreamConfig[]): RouteConfig[] {
    const entries = this.tableArray(root, '', 'routes', ROUTE_KEYS, 'routes')
    const names = new Map<string, string>()
    // unnamed entries are reported already; leave them out of "listeners are ..." lists
    const listenerNames = new Set(listeners.map((l) => l.name).filter((n) => n !== ''))
    const upstreamNames = new Set(upstreams.map((u) => u.name).filter((n) => n !== ''))
    const out: RouteConfig[] = []
    for (const [t, rp] of entries) {
      const name = this.required(t, rp, 'name', '[[routes]]')
      if (name !== null) this.unique(names, name, keyPath(rp, 'name'), 'route name')

      const routeListeners = this.stringArray(t, rp, 'listeners') ?? []
      if (Array.isArray(t.listeners) && t.listeners.length === 0) {
        this.report(keyPath(rp, 'listeners'), t.listeners, 'expected at least one listener name; leave listeners out for all listeners')
      }
      for (let i = 0; i < routeListeners.length; i++) {
        if (!listenerNames.has(routeListeners[i])) {
          this.report(indexPath(keyPath(rp, 'listeners'), i), routeListeners[i],
            `no listener named "${routeListeners[i]}"; listeners are ${quoteList([...listenerNames])}`)
        }
      }

      let host = this.string(t, rp, 'host', null)
      if (host !== null) {
        host = host.toLowerCase()
        const error = host === '*' ? '"*" would match any host: leave host out instead' : hostPatternError(host)
        if (error !== null) {
          this.report(keyPath(rp, 'host'), t.host, error)
          host = null
        }
      }

      const upstream = this.required(t, rp, 'upstream', '[[routes]]')
      if (upstream !== null && !upstreamNames.has(upstream)) {
        this.report(keyPath(rp, 'upstream'), upstream,
          upstreamNames.size === 0 ? 'no upstream by that name; there are no [[upstreams]]'
            : `no upstream named "${upstream}"; upstreams are ${quoteList([...upstreamNames])}`)
      }

      const [pathPrefix, exactPath, pathRegex] = this.pathMatch(t, rp)
      const maxBodyBytes = this.size(t, rp, 'max_body', UNLIMITED_BYTES, true)
      const maxBufferedBodyBytes = this.size(t, rp, 'max_buffered_body', DEFAULT_MAX_BUFFERED_BODY_BYTES, false)
      out.push({
        name: name ?? '',
        listeners: routeListeners,
        host,
        pathPrefix,
        path: exactPath,
        pathRegex,
        headers: this.headers(t, rp),
        methods: this.methods(t, rp),
        upstream: upstream ?? '',
        requestBuffering: this.boolean(t, rp, 'request_buffering', false),
        maxBodyBytes,
        maxBufferedBodyBytes,
        timeouts: this.timeouts(t, rp, timeouts, '[routes.timeouts]'),
      })
    }
    return out
  }

  // At most one of path_prefix / path / path_regex.
  pathMatch(t: Table, rp: string): [string | null, string | null, string | null] {
    const pathPrefix = this.string(t, rp, 'path_prefix', null)
    const exact = this.string(t, rp, 'path', null)
    const regex = this.string(t, rp, 'path_regex', null)
    const set = (['path_prefix', 'path', 'path_regex'] as const).filter((k) => t[k] !== undefined)
    if (set.length > 1) {
      for (const k of set.slice(1)) {
        this.report(keyPath(rp, k), t[k], `only one of path_prefix, path, path_regex may be set (${set[0]} is set too)`)
      }
      return [null, null, null]
    }
    if (pathPrefix !== null && !pathPrefix.startsWith('/')) {
      this.report(keyPath(rp, 'path_prefix'), pathPrefix, 'path_prefix must start with "/"')
      return [null, null, null]
    }
    if (exact !== null && !exact.startsWith('/')) {
      this.report(keyPath(rp, 'path'), exact, 'path must start with "/"')
      return [null, null, null]
    }
    if (regex !== null) {
      try {
        new RegExp(regex)
      } catch (err) {
        this.report(keyPath(rp, 'path_regex'), regex, `invalid regular expression: ${(err as Error).message}`)
        return [null, null, null]
      }
    }
    return [pathPrefix, exact, regex]
  }

  headers(t: Table, rp: string): Record<string, string> {
    const h = t.headers
    const out: Record<string, string> = {}
    if (h === undefined) return out
    const hp = keyPath(rp, 'headers')
    if (!isTable(h)) {
      this.report(hp, h, `expected a table of header name = "value", got ${typeName(h)}`)
      return out
    }
    for (const [name, value] of Object.entries(h)) {
      const p = keyPath(hp, name)
      const lower = name.toLowerCase()
      if (!TOKEN_RE.test(name)) this.report(p, value, `"${name}" is not a valid header name`)
      else if (typeof value !== 'string') this.report(p, value, `expected a string (the exact header value), got ${typeName(value)}`)
      else if (/[\r\n\0]/.test(value)) this.report(p, value, 'header value must not contain CR, LF or NUL')
      else if (lower in out) this.report(p, value, `header "${lower}" is listed twice`)
      else out[lower] = value
    }
    return out
  }

  methods(t: Table, rp: string): string[] {
    const list = this.stringArray(t, rp, 'methods')
    if (list === null) return []
    const p = keyPath(rp, 'methods')
    if (list.length === 0 && Array.isArray(t.methods) && t.methods.length === 0) {
      this.report(p, t.methods, 'expected at least one method; leave methods out for any method')
    }
    const out: string[] = []
    for (let i = 0; i < list.length; i++) {
      const m = list[i].toUpperCase()
      if (!TOKEN_RE.test(m)) this.report(indexPath(p, i), list[i], 'not a valid method name')
      else if (out.includes(m)) this.report(indexPath(p, i), list[i], `method ${m} is listed twice`)
      else out.push(m)
    }
    return out
  }

  /** Records a name; reports it (and returns false) when already seen. */
  unique(seen: Map<string, string>, name: string, p: string, what: string): boolean {
    const first = seen.get(name)
    if (first !== undefined) {
      const line = this.locate(first)
      this.report(p, name, `duplicate ${what} "${name}" (first at ${first}${line > 0 ? `, line ${line}` : ''})`)
      return false
    }
    seen.set(name, p)
    return true
  }
}

const DEFAULT_TIMEOUTS: Timeouts = Object.freeze(Object.fromEntries(
  TIMEOUT_FIELDS.map(([, field, ms]) => [field, ms]),
)) as unknown as Timeouts

// Host patterns of routes and SNI names: "example.com" or "*.example.com", lowercase.
function hostPatternError(host: string): string | null {
  const bare = host.startsWith('*.') ? host.slice(2) : host
  if (bare.includes(':') && !bare.startsWith('[')) return 'expected a host name without a port, such as "example.com" or "*.example.com"'
  if (bare.startsWith('[') && bare.endsWith(']') && isIPv6(bare.slice(1, -1)) && !host.startsWith('*.')) return null
  if (isIPv4(bare) && !host.startsWith('*.')) return null
  if (isHostname(bare) && !bare.endsWith('.')) return null
  return 'expected a host name such as "example.com" or "*.example.com"'
}

// Two listen addresses collide when they are the same, or when one is a wildcard covering the
// other (Node binds "::" dual-stack, so it also covers every ipv4 address).
function bindsConflict(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false
  const ha = normalizeHost(a.host)
  const hb = normalizeHost(b.host)
  if (ha === hb) return true
  const isIp = (h: string): boolean => isIPv4(h) || h.startsWith('[')
  if (ha === '[::]' && isIp(hb)) return true
  if (hb === '[::]' && isIp(ha)) return true
  if (ha === '0.0.0.0' && isIPv4(hb)) return true
  if (hb === '0.0.0.0' && isIPv4(ha)) return true
  return false
}

function normalizeHost(host: string): string {
  if (isIPv6(host)) return new URL(`http://[${host}]/`).hostname
  return host.toLowerCase()
}
