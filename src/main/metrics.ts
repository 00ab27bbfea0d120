// The metrics HTTP listener ([runtime] metrics = "host:port"), main thread only:
//   GET /           the dashboard (dashboard.ts), one self-contained page
//   GET /api/stats  the same numbers as JSON (StatsSnapshot), what the dashboard polls
//   GET /metrics    Prometheus text format, from a private prom-client Registry
// Everything is read from the current generation's cells when someone asks: workers do no extra
// work per request for metrics, and the main thread does none between scrapes.

import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry, collectDefaultMetrics } from 'prom-client'
import type { Metric } from 'prom-client'
import { nowSeconds } from '../shared/cells.ts'
import type { Cells } from '../shared/cells.ts'
import {
  Header, Health, LATENCY_BUCKETS_MS, ListenerCell, ListenerCounter, MiscCounter, ServerCell,
  ServerCounter, UpstreamCell,
} from '../shared/layout.ts'
import type { Config } from '../shared/config/types.ts'
import { serverState, serverStatus } from './health/status.ts'
import type { ServerState } from './health/status.ts'
import { DASHBOARD_HTML } from './dashboard.ts'

export interface WorkerSummary { threadId: number; slot: number; generation: number; connections: number }

/** What the metrics server reads; main.ts's runtime context satisfies it. */
export interface MetricsContext {
  current(): { config: Config; cells: Cells; generation: number }
  /** Worker threads of every live generation (a draining one included). */
  workers(): WorkerSummary[]
  startedAtMs: number
  version: string
  /** Where a failure to build a reply is reported (the reply is a 500). */
  log?: { warn(obj: object, msg: string): void }
}

export interface MetricsServer {
  /** Stop listening and close open connections. */
  close(): Promise<void>
  /** The bound port (useful with port 0). */
  port: number
}

// ── the snapshot: GET /api/stats, and the source of every portico_* family ─────────────────────

/** Responses by class, as the cells count them; "other" = no response (connect error, abort). */
export interface ResponseCounts { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number; other: number }

export interface ServerStats {
  name: string
  address: string
  /** HAProxy's status string: "UP", "UP 2/3", "DOWN 1/2", "DRAIN", "MAINT", "no check". */
  status: string
  /** The status reduced to one word, for colour: MAINT > DOWN > NOLB > DRAIN > UP. */
  state: ServerState
  isUp: boolean
  admin: 'ready' | 'drain' | 'maint'
  isChecked: boolean
  /** Passively ejected by the workers (EjectUntil in the future). */
  isEjected: boolean
  weight: number
  initialWeight: number
  activeRequests: number
  maxActiveRequests: number
  queuedRequests: number
  requests: number
  responses: ResponseCounts
  connectFailures: number
  responseErrors: number
  retries: number
  redispatches: number
  queueTimeouts: number
  connectionsOpened: number
  connectionsReused: number
  /** Bytes portico sent to the server (request side; HAProxy's bin for a server row). */
  bytesSent: number
  /** Bytes portico received from the server (response side; HAProxy's bout). */
  bytesReceived: number
  checksFailed: number
  downTransitions: number
  /** Unix seconds of the last health/admin change. */
  lastChangeSeconds: number
  latencySumMs: number
  /** Cumulative counts per LATENCY_BUCKETS_MS bound, then the +Inf bucket (= all observations). */
  latencyBuckets: number[]
}

export interface UpstreamStats {
  name: string
  balance: string
  /** HAProxy backend status: UP while some usable server has weight > 0 (or there are no servers). */
  status: 'UP' | 'DOWN'
  queuedRequests: number
  serversUsable: number
  servers: ServerStats[]
}

export interface ListenerStats {
  name: string
  bind: string
  status: 'OPEN' | 'STOP'
  activeConnections: number
  maxActiveConnections: number
  connections: number
  requests: number
  responses: ResponseCounts
  /** Bytes received from clients. */
  bytesReceived: number
  /** Bytes sent to clients. */
  bytesSent: number
  denied: number
  refused: number
  tlsErrors: number
}

/** The JSON of GET /api/stats. Counters are totals since the process started (reloads carry them). */
export interface StatsSnapshot {
  version: string
  generation: number
  nowMs: number
  startedAtMs: number
  workers: WorkerSummary[]
  listeners: ListenerStats[]
  upstreams: UpstreamStats[]
  ringDroppedRecords: number
  requestErrors: number
  workerErrors: number
  latencyBucketsMs: readonly number[]
}

const ADMIN_WORDS = ['ready', 'drain', 'maint'] as const

/**
 * Responses by class from the six counters starting at `first` (Resp1xx): both the server and the
 * listener blocks keep them in the order 1xx, 2xx, 3xx, 4xx, 5xx, other (layout.ts).
 */
function responseCounts(read: (counter: number) => number, first: number): ResponseCounts {
  return { '1xx': read(first), '2xx': read(first + 1), '3xx': read(first + 2), '4xx': read(first + 3), '5xx': read(first + 4), other: read(first + 5) }
}

/** Read everything once from the current generation. */
export function collectStats(ctx: MetricsContext): StatsSnapshot {
  const { config, cells, generation } = ctx.current()
  const nowSec = nowSeconds()
  const epochSec = cells.header(Header.EpochSeconds)
  const upstreams: UpstreamStats[] = []
  let i = 0
  for (let u = 0; u < config.upstreams.length; u++) {
    const up = config.upstreams[u]
    const servers: ServerStats[] = []
    let usable = 0
    for (const s of up.servers) {
      if (cells.isEligible(i, nowSec)) usable++
      const latencyBuckets: number[] = []
      let cumulative = 0
      for (let b = 0; b <= LATENCY_BUCKETS_MS.length; b++) {
        cumulative += cells.sumServer(i, ServerCounter.LatencyBucket0 + b)
        latencyBuckets.push(cumulative)
      }
      servers.push({
        name: s.name,
        address: s.address,
        status: serverStatus(cells, i, up.health),
        state: serverState(cells, i),
        isUp: cells.server(i, ServerCell.Health) === Health.Up,
        admin: ADMIN_WORDS[cells.server(i, ServerCell.Admin)] ?? 'ready',
        isChecked: up.health !== null && cells.server(i, ServerCell.CheckEnabled) === 1,
        isEjected: cells.server(i, ServerCell.EjectUntil) > nowSec,
        weight: cells.weight(i),
        initialWeight: cells.server(i, ServerCell.InitialWeight),
        activeRequests: cells.active(i),
        maxActiveRequests: cells.maxOfServer(i, ServerCounter.MaxActive),
        queuedRequests: cells.server(i, ServerCell.Queued),
        requests: cells.sumServer(i, ServerCounter.Requests),
        responses: responseCounts((k) => cells.sumServer(i, k), ServerCounter.Resp1xx),
        connectFailures: cells.sumServer(i, ServerCounter.ConnectFailures),
        responseErrors: cells.sumServer(i, ServerCounter.ResponseErrors),
        retries: cells.sumServer(i, ServerCounter.Retries),
        redispatches: cells.sumServer(i, ServerCounter.Redispatches),
        queueTimeouts: cells.sumServer(i, ServerCounter.QueueTimeouts),
        connectionsOpened: cells.sumServer(i, ServerCounter.ConnectionsOpened),
        connectionsReused: cells.sumServer(i, ServerCounter.ConnectionsReused),
        bytesSent: cells.sumServer(i, ServerCounter.BytesIn),
        bytesReceived: cells.sumServer(i, ServerCounter.BytesOut),
        checksFailed: cells.sumServer(i, ServerCounter.ChecksFailed),
        downTransitions: cells.sumServer(i, ServerCounter.HealthTransitionsDown),
        lastChangeSeconds: cells.server(i, ServerCell.LastChange) || epochSec,
        latencySumMs: cells.sumServer(i, ServerCounter.LatencySumMs),
        latencyBuckets,
      })
      i++
    }
    upstreams.push({
      name: up.name,
      balance: up.balance,
      status: usable > 0 || up.servers.length === 0 ? 'UP' : 'DOWN',
      queuedRequests: cells.upstream(u, UpstreamCell.Queued),
      serversUsable: usable,
      servers,
    })
  }
  const listeners = config.listeners.map((l, li): ListenerStats => ({
    name: l.name,
    bind: l.bind,
    status: cells.listener(li, ListenerCell.Enabled) === 1 ? 'OPEN' : 'STOP',
    activeConnections: cells.listener(li, ListenerCell.Active),
    maxActiveConnections: cells.maxOfListener(li, ListenerCounter.MaxActive),
    connections: cells.sumListener(li, ListenerCounter.Connections),
    requests: cells.sumListener(li, ListenerCounter.Requests),
    responses: responseCounts((k) => cells.sumListener(li, k), ListenerCounter.Resp1xx),
    bytesReceived: cells.sumListener(li, ListenerCounter.BytesIn),
    bytesSent: cells.sumListener(li, ListenerCounter.BytesOut),
    denied: cells.sumListener(li, ListenerCounter.Denied),
    refused: cells.sumListener(li, ListenerCounter.Refused),
    tlsErrors: cells.sumListener(li, ListenerCounter.TlsErrors),
  }))
  return {
    version: ctx.version,
    generation,
    nowMs: Date.now(),
    startedAtMs: ctx.startedAtMs,
    workers: ctx.workers(),
    listeners,
    upstreams,
    ringDroppedRecords: cells.sumMisc(MiscCounter.RingDrops),
    requestErrors: cells.sumMisc(MiscCounter.RequestErrors),
    workerErrors: cells.sumMisc(MiscCounter.WorkerErrors),
    latencyBucketsMs: LATENCY_BUCKETS_MS,
  }
}

// ── Prometheus families over a snapshot ───────────────────────────────────────────────────────

type Labels = Record<string, string>
interface Sample { labels: Labels; value: number; metricName?: string }
type FamilyType = 'counter' | 'gauge' | 'histogram'

/**
 * One metric family computed from the latest snapshot. prom-client's Registry accepts any object
 * with name/help/type/get() (it is how its own metrics are read); building values directly keeps
 * label sets from a previous config out of the output and lets the histogram take the cells'
 * buckets as they are, which prom-client's Histogram cannot be given.
 */
class SnapshotFamily {
  readonly name: string
  readonly help: string
  readonly type: FamilyType
  readonly aggregator = 'sum'
  readonly source: ScrapeSource
  readonly values: (snap: StatsSnapshot) => Sample[]

  constructor(source: ScrapeSource, name: string, help: string, type: FamilyType, values: (snap: StatsSnapshot) => Sample[]) {
    this.source = source
    this.name = name
    this.help = help
    this.type = type
    this.values = values
  }

  get(): Promise<{ name: string; help: string; type: FamilyType; aggregator: string; values: Sample[] }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values(this.source.snapshot()) })
  }
}

/** The snapshot of the scrape in progress; taken once per scrape, not once per family. */
class ScrapeSource {
  readonly ctx: MetricsContext
  current: StatsSnapshot | null

  constructor(ctx: MetricsContext) {
    this.ctx = ctx
    this.current = null
  }

  snapshot(): StatsSnapshot {
    if (this.current === null) this.current = collectStats(this.ctx)
    return this.current
  }
}

const RESPONSE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const

function perServer(snap: StatsSnapshot, value: (s: ServerStats) => number): Sample[] {
  const out: Sample[] = []
  for (const u of snap.upstreams) {
    for (const s of u.servers) out.push({ labels: { upstream: u.name, server: s.name }, value: value(s) })
  }
  return out
}

function perListener(snap: StatsSnapshot, value: (l: ListenerStats) => number): Sample[] {
  return snap.listeners.map((l) => ({ labels: { listener: l.name }, value: value(l) }))
}

function latencySamples(snap: StatsSnapshot, name: string): Sample[] {
  const out: Sample[] = []
  for (const u of snap.upstreams) {
    for (const s of u.servers) {
      const labels = { upstream: u.name, server: s.name }
      for (let b = 0; b < s.latencyBuckets.length; b++) {
        const le = b < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[b] / 1000) : '+Inf'
        out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: s.latencyBuckets[b] })
      }
      out.push({ metricName: `${name}_sum`, labels, value: s.latencySumMs / 1000 })
      out.push({ metricName: `${name}_count`, labels, value: s.latencyBuckets[s.latencyBuckets.length - 1] })
    }
  }
  return out
}

function families(src: ScrapeSource): SnapshotFamily[] {
  const f = (name: string, help: string, type: FamilyType, values: (snap: StatsSnapshot) => Sample[]) =>
    new SnapshotFamily(src, name, help, type, values)
  const server = (name: string, help: string, type: FamilyType, value: (s: ServerStats) => number) =>
    f(name, help, type, (snap) => perServer(snap, value))
  const listener = (name: string, help: string, type: FamilyType, value: (l: ListenerStats) => number) =>
    f(name, help, type, (snap) => perListener(snap, value))
  const latency = 'portico_server_response_latency_seconds'
  return [
    server('portico_server_up', 'Health of the server: 1 up, 0 down or stopping (active checks or set server health).', 'gauge', (s) => (s.isUp ? 1 : 0)),
    f('portico_server_admin_state', 'Administrative state of the server: 1 for the current one of ready, drain, maint.', 'gauge', (snap) => {
      const out: Sample[] = []
      for (const u of snap.upstreams) {
        for (const s of u.servers) {
          for (const state of ADMIN_WORDS) out.push({ labels: { upstream: u.name, server: s.name, state }, value: s.admin === state ? 1 : 0 })
        }
      }
      return out
    }),
    server('portico_server_check_enabled', 'Whether active health checks run for the server (1) or not (0).', 'gauge', (s) => (s.isChecked ? 1 : 0)),
    server('portico_server_ejected', 'Whether the workers have passively ejected the server after failures (1) or not (0).', 'gauge', (s) => (s.isEjected ? 1 : 0)),
    server('portico_server_weight', 'Current weight of the server, 0..256.', 'gauge', (s) => s.weight),
    server('portico_server_active_requests', 'Requests in flight at the server, all worker threads.', 'gauge', (s) => s.activeRequests),
    server('portico_server_max_active_requests', 'Highest number of requests in flight at the server seen by one worker thread.', 'gauge', (s) => s.maxActiveRequests),
    server('portico_server_queued_requests', 'Requests waiting for a free slot, attributed to the server.', 'gauge', (s) => s.queuedRequests),
    server('portico_server_last_change_timestamp_seconds', 'Unix time of the last health or admin state change of the server.', 'gauge', (s) => s.lastChangeSeconds),
    server('portico_server_requests_total', 'Requests sent to the server.', 'counter', (s) => s.requests),
    f('portico_server_responses_total', 'Responses from the server by status class; code="other" counts requests that got none.', 'counter', (snap) => {
      const out: Sample[] = []
      for (const u of snap.upstreams) {
        for (const s of u.servers) {
          for (const code of RESPONSE_CLASSES) out.push({ labels: { upstream: u.name, server: s.name, code }, value: s.responses[code] })
        }
      }
      return out
    }),
    server('portico_server_connect_failures_total', 'Failed attempts to connect to the server.', 'counter', (s) => s.connectFailures),
    server('portico_server_response_errors_total', 'Responses that failed after the request was sent (reset, invalid response).', 'counter', (s) => s.responseErrors),
    server('portico_server_retries_total', 'Retries after a failure at the server.', 'counter', (s) => s.retries),
    server('portico_server_redispatches_total', 'Requests sent to another server after failing at this one.', 'counter', (s) => s.redispatches),
    server('portico_server_queue_timeouts_total', 'Requests that gave up waiting in the queue (503).', 'counter', (s) => s.queueTimeouts),
    server('portico_server_connections_opened_total', 'New TCP connections opened to the server.', 'counter', (s) => s.connectionsOpened),
    server('portico_server_connections_reused_total', 'Requests sent on a pooled keep-alive connection.', 'counter', (s) => s.connectionsReused),
    server('portico_server_bytes_received_total', 'Bytes received from the server (response side).', 'counter', (s) => s.bytesReceived),
    server('portico_server_bytes_sent_total', 'Bytes sent to the server (request side).', 'counter', (s) => s.bytesSent),
    server('portico_server_health_check_failures_total', 'Failed active health checks.', 'counter', (s) => s.checksFailed),
    server('portico_server_health_down_transitions_total', 'Times active health checks took the server from UP to DOWN.', 'counter', (s) => s.downTransitions),
    f(latency, 'Time from sending the request to receiving the response head.', 'histogram', (snap) => latencySamples(snap, latency)),
    f('portico_upstream_queue_length', 'Requests waiting for a free server slot in the upstream.', 'gauge',
      (snap) => snap.upstreams.map((u) => ({ labels: { upstream: u.name }, value: u.queuedRequests }))),
    f('portico_upstream_usable_servers', 'Servers that may take new requests: up, ready, weight > 0, not ejected.', 'gauge',
      (snap) => snap.upstreams.map((u) => ({ labels: { upstream: u.name }, value: u.serversUsable }))),
    listener('portico_listener_up', 'Whether the listener accepts connections (1) or is disabled (0).', 'gauge', (l) => (l.status === 'OPEN' ? 1 : 0)),
    listener('portico_listener_connections_active', 'Open client connections on the listener.', 'gauge', (l) => l.activeConnections),
    listener('portico_listener_connections_total', 'Client connections accepted on the listener.', 'counter', (l) => l.connections),
    listener('portico_listener_refused_connections_total', 'Connections closed at once because global.max_connections was reached.', 'counter', (l) => l.refused),
    listener('portico_listener_tls_errors_total', 'TLS handshakes that failed on the listener.', 'counter', (l) => l.tlsErrors),
    listener('portico_listener_requests_total', 'Requests received on the listener.', 'counter', (l) => l.requests),
    listener('portico_listener_denied_requests_total', 'Requests refused by portico itself: bad request, no route, limits.', 'counter', (l) => l.denied),
    f('portico_listener_responses_total', 'Responses sent to clients by status class; code="other" counts requests that got none.', 'counter', (snap) => {
      const out: Sample[] = []
      for (const l of snap.listeners) {
        for (const code of RESPONSE_CLASSES) out.push({ labels: { listener: l.name, code }, value: l.responses[code] })
      }
      return out
    }),
    listener('portico_listener_bytes_received_total', 'Bytes received from clients.', 'counter', (l) => l.bytesReceived),
    listener('portico_listener_bytes_sent_total', 'Bytes sent to clients.', 'counter', (l) => l.bytesSent),
    f('portico_ring_dropped_records_total', 'Log records dropped because a worker ring was full.', 'counter', (snap) => [{ labels: {}, value: snap.ringDroppedRecords }]),
    f('portico_request_errors_total', 'Requests that ended in an error inside portico.', 'counter', (snap) => [{ labels: {}, value: snap.requestErrors }]),
    f('portico_worker_errors_total', 'Errors that ended a worker task.', 'counter', (snap) => [{ labels: {}, value: snap.workerErrors }]),
    f('portico_worker_threads', 'Worker threads alive, draining generations included.', 'gauge', (snap) => [{ labels: {}, value: snap.workers.length }]),
    f('portico_worker_connections', 'Open client connections per worker thread.', 'gauge',
      (snap) => snap.workers.map((w) => ({ labels: { generation: String(w.generation), slot: String(w.slot) }, value: w.connections }))),
    f('portico_config_generation', 'Number of the config generation taking new connections (1 at start, +1 per reload).', 'gauge', (snap) => [{ labels: {}, value: snap.generation }]),
    f('portico_build_info', 'Always 1; the version is a label.', 'gauge', (snap) => [{ labels: { version: snap.version }, value: 1 }]),
  ]
}

// ── HTTP ──────────────────────────────────────────────────────────────────────────────────────

/** "127.0.0.1:9901" → host and port; "[::1]:9901" → "::1"; ":9901" → every address. */
export function parseHostPort(address: string): { host: string | undefined; port: number } {
  const colon = address.lastIndexOf(':')
  const portText = address.slice(colon + 1)
  const port = Number(portText)
  if (colon < 0 || !/^[0-9]{1,5}$/.test(portText) || port > 65535) {
    throw new Error(`metrics address ${JSON.stringify(address)} is not host:port`)
  }
  let host = address.slice(0, colon)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  return { host: host === '' ? undefined : host, port }
}

// The page only talks to its own origin and carries its script and style inline.
const HTML_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"

function send(res: ServerResponse, status: number, contentType: string, body: string, extra?: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  })
  res.end(body) // Node drops the body itself for HEAD
}

/**
 * Listen on `address` ("host:port", port 0 for any) and serve /metrics, / and /api/stats from
 * `ctx`. Rejects when the address cannot be bound. Only GET and HEAD (405 otherwise); other
 * paths get 404.
 */
export async function startMetricsServer(address: string, ctx: MetricsContext): Promise<MetricsServer> {
  const { host, port } = parseHostPort(address)
  const registry = new Registry()
  const source = new ScrapeSource(ctx)
  for (const family of families(source)) registry.registerMetric(family as unknown as Metric)
  collectDefaultMetrics({ register: registry, prefix: 'portico_' })

  async function metricsText(): Promise<string> {
    // Every family's get() runs when metrics() starts, before its first await, so they all read one
    // snapshot; a concurrent scrape taking a newer one in between would be harmless anyway.
    source.current = null
    try {
      return await registry.metrics()
    } finally {
      source.current = null
    }
  }

  function fail(res: ServerResponse, err: unknown): void {
    ctx.log?.warn({ err, path: res.req.url }, 'metrics: cannot build the reply')
    send(res, 500, 'text/plain; charset=utf-8', 'internal error\n')
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET or HEAD\n', { allow: 'GET, HEAD' })
      return
    }
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    if (path === '/metrics') {
      metricsText().then(
        (text) => send(res, 200, registry.contentType, text),
        (err: unknown) => fail(res, err),
      )
    } else if (path === '/api/stats') {
      let body: string
      try {
        body = JSON.stringify(collectStats(ctx))
      } catch (err) {
        fail(res, err)
        return
      }
      send(res, 200, 'application/json; charset=utf-8', body)
    } else if (path === '/') {
      send(res, 200, 'text/html; charset=utf-8', DASHBOARD_HTML, { 'content-security-policy': HTML_CSP })
    } else {
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /metrics or /api/stats\n')
    }
  }

  const server: Server = createServer(onRequest)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`metrics: cannot listen on ${address}: ${err.message}`, { cause: err }))
    server.once('error', onError)
    server.listen({ host, port }, () => {
      server.off('error', onError)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}
