import t from 'tap'
import type { Test } from 'tap'
import { request } from 'node:http'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { collectStats, parseHostPort, startMetricsServer } from '../../src/main/metrics.ts'
import type { MetricsContext, StatsSnapshot } from '../../src/main/metrics.ts'
import type { Cells } from '../../src/shared/cells.ts'
import { nowSeconds } from '../../src/shared/cells.ts'
import type { Config } from '../../src/shared/config/types.ts'
import {
  Admin, Header, Health, LATENCY_BUCKETS_MS, ListenerCell, ListenerCounter, MiscCounter, ServerCell, ServerCounter, UpstreamCell,
} from '../../src/shared/layout.ts'
import { testCells, testConfig } from './health/fixture.ts'

// ── a strict parser for the Prometheus text format (version 0.0.4) ─────────────────────────────

interface Family { name: string; type: string; help: string; samples: Sample[] }
interface Sample { name: string; labels: Record<string, string>; value: number }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

// Prometheus reads values with Go's strconv.ParseFloat, which takes NaN and Inf in any case;
// prom-client writes NaN as "Nan" (a default event-loop gauge before its first sample).
function parseValue(text: string, line: string): number {
  if (/^nan$/i.test(text)) return NaN
  if (/^\+?inf$/i.test(text)) return Infinity
  if (/^-inf$/i.test(text)) return -Infinity
  if (!/^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/.test(text)) throw new Error(`bad value in ${JSON.stringify(line)}`)
  return Number(text)
}

/** Which family a sample name belongs to: itself, or a histogram/summary with a known suffix. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name)
  if (direct !== undefined) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length))
      if (f !== undefined && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f
    }
  }
  return undefined
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`bad labels in ${JSON.stringify(line)}`)
    const name = text.slice(i, eq)
    if (!LABEL_NAME.test(name) || name in labels) throw new Error(`bad or repeated label ${name} in ${JSON.stringify(line)}`)
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in ${JSON.stringify(line)}`)
    let j = eq + 2
    let value = ''
    for (;;) {
      if (j >= text.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`)
      const c = text[j]
      if (c === '"') break
      if (c === '\\') {
        const e = text[j + 1]
        if (e === 'n') value += '\n'
        else if (e === '\\' || e === '"') value += e
        else throw new Error(`bad escape in ${JSON.stringify(line)}`)
        j += 2
      } else {
        value += c
        j++
      }
    }
    labels[name] = value
    i = j + 1
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected , in ${JSON.stringify(line)}`)
      i++
    }
  }
  return labels
}

/** Parse an exposition, throwing on anything the format does not allow. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline')
  const families = new Map<string, Family>()
  const series = new Set<string>()
  let last: Family | null = null
  const closed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
      if (m === null) continue // a plain comment
      const [, kind, name, rest] = m
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`)
      let f = families.get(name)
      if (f === undefined) {
        f = { name, type: 'untyped', help: '', samples: [] }
        families.set(name, f)
      } else if (f.samples.length > 0) {
        throw new Error(`${kind} for ${name} after its samples`)
      }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type ${rest}`)
        if (f.type !== 'untyped') throw new Error(`second TYPE for ${name}`)
        f.type = rest
      } else {
        if (f.help !== '') throw new Error(`second HELP for ${name}`)
        f.help = rest
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?[0-9]+))?$/.exec(line)
    if (m === null) throw new Error(`bad sample line ${JSON.stringify(line)}`)
    const [, name, labelText, valueText] = m
    const f = familyOf(name, families)
    if (f === undefined) throw new Error(`sample ${name} without a TYPE`)
    if (last !== f) {
      if (closed.has(f.name)) throw new Error(`samples of ${f.name} are not together`)
      if (last !== null) closed.add(last.name)
      last = f
    }
    const labels = labelText === undefined ? {} : parseLabels(labelText, line)
    const key = name + JSON.stringify(Object.entries(labels).sort())
    if (series.has(key)) throw new Error(`duplicate series ${line}`)
    series.add(key)
    f.samples.push({ name, labels, value: parseValue(valueText, line) })
  }
  return families
}

/** The value of one series; fails the test when it is missing. */
function valueOf(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = familyOf(name, fams)
  const s = f?.samples.find((x) => x.name === name && Object.keys(labels).every((k) => x.labels[k] === labels[k]) &&
    Object.keys(x.labels).length === Object.keys(labels).length)
  if (s === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`)
  return s.value
}

// ── fixtures ───────────────────────────────────────────────────────────────────────────────────

function fixture(): { config: Config; cells: Cells; ctx: MetricsContext & { generation: number } } {
  const config = testConfig([
    { name: 'api', health: { rise: 2, fall: 3 }, servers: [{ name: 's1', port: 9001 }, { name: 's2', port: 9002, weight: 50 }] },
    { name: 'static', servers: [{ name: 'c1', port: 9101 }] },
  ], ['web', 'admin'])
  const cells = testCells(config, 2)
  cells.setHeader(Header.EpochSeconds, nowSeconds() - 100)
  for (let i = 0; i < 3; i++) cells.setServer(i, ServerCell.CheckEnabled, i < 2 ? 1 : 0)
  const ctx = {
    generation: 4,
    current: () => ({ config, cells, generation: ctx.generation }),
    workers: () => [{ threadId: 11, slot: 0, generation: 4, connections: 5 }, { threadId: 12, slot: 1, generation: 4, connections: 7 }],
    startedAtMs: Date.now() - 5000,
    version: '0.1.0',
  }
  return { config, cells, ctx }
}

async function serve(t: Test, ctx: MetricsContext): Promise<string> {
  const server = await startMetricsServer('127.0.0.1:0', ctx)
  t.teardown(() => server.close())
  return `http://127.0.0.1:${server.port}`
}

async function scrape(base: string): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`)
  if (res.status !== 200) throw new Error(`status ${res.status}`)
  return parseExposition(await res.text())
}

/** One raw request without a pooled agent, so nothing stays open afterwards. */
function rawRequest(base: string, method: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

// ── tests ──────────────────────────────────────────────────────────────────────────────────────

t.test('the strict parser rejects what the format forbids', async (t) => {
  t.throws(() => parseExposition('x 1\n'), /without a TYPE/)
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'), /duplicate/)
  t.throws(() => parseExposition('# TYPE x gauge\nx{a=1} 1\n'), /unquoted/)
  t.throws(() => parseExposition('# TYPE x gauge\nx one\n'), /bad value/)
  t.throws(() => parseExposition('# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="b"} 1\n'), /not together/)
  t.throws(() => parseExposition('# TYPE x gauge\nx 1'), /newline/)
  t.same(parseExposition('# TYPE x gauge\nx{a="q\\"\\\\\\n"} 1.5e3\n').get('x')?.samples[0], { name: 'x', labels: { a: 'q"\\\n' }, value: 1500 })
})

t.test('GET /metrics is valid Prometheus text with portico families and process metrics', async (t) => {
  const { ctx } = fixture()
  const base = await serve(t, ctx)
  const res = await fetch(`${base}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const fams = parseExposition(await res.text())
  for (const [name, f] of fams) {
    t.ok(f.help.length > 0, `${name} has HELP`)
    if (f.type === 'counter') t.match(name, /_total$/, `counter ${name} ends in _total`)
    t.ok(name.startsWith('portico_'), `${name} has the portico_ prefix`)
  }
  for (const name of ['portico_server_requests_total', 'portico_server_responses_total', 'portico_server_active_requests',
    'portico_server_up', 'portico_server_admin_state', 'portico_server_weight', 'portico_server_connect_failures_total',
    'portico_server_retries_total', 'portico_server_bytes_received_total', 'portico_server_bytes_sent_total',
    'portico_server_response_latency_seconds', 'portico_upstream_queue_length', 'portico_listener_connections_active',
    'portico_listener_connections_total', 'portico_listener_requests_total', 'portico_listener_responses_total',
    'portico_ring_dropped_records_total', 'portico_worker_threads', 'portico_config_generation',
    'portico_process_cpu_seconds_total', 'portico_process_resident_memory_bytes', 'portico_nodejs_eventloop_lag_seconds']) {
    t.ok(fams.has(name), `has ${name}`)
  }
  t.equal(fams.get('portico_server_response_latency_seconds')?.type, 'histogram')
  t.equal(fams.get('portico_server_up')?.type, 'gauge')
  t.equal(fams.get('portico_server_requests_total')?.type, 'counter')
})

t.test('server counters are summed over every shard at scrape time', async (t) => {
  const { cells, ctx } = fixture()
  const base = await serve(t, ctx)
  t.equal(valueOf(await scrape(base), 'portico_server_requests_total', { upstream: 'api', server: 's2' }), 0)
  // worker slots 0 and 1 and the main shard (2)
  cells.countServer(0, 1, ServerCounter.Requests, 10)
  cells.countServer(1, 1, ServerCounter.Requests, 5)
  cells.countServer(cells.mainShard, 1, ServerCounter.Requests, 2)
  cells.countServer(0, 1, ServerCounter.Resp2xx, 12)
  cells.countServer(1, 1, ServerCounter.Resp5xx, 3)
  cells.countServer(1, 1, ServerCounter.RespOther, 2)
  cells.countServer(0, 1, ServerCounter.ConnectFailures, 4)
  cells.countServer(0, 1, ServerCounter.Retries, 6)
  cells.countServer(0, 1, ServerCounter.BytesIn, 1000)
  cells.countServer(1, 1, ServerCounter.BytesOut, 250_000)
  cells.countServer(cells.mainShard, 1, ServerCounter.ChecksFailed, 7)
  cells.countServer(cells.mainShard, 1, ServerCounter.HealthTransitionsDown, 1)
  const fams = await scrape(base)
  const s2 = { upstream: 'api', server: 's2' }
  t.equal(valueOf(fams, 'portico_server_requests_total', s2), 17)
  t.equal(valueOf(fams, 'portico_server_requests_total', { upstream: 'api', server: 's1' }), 0, 'other servers untouched')
  t.equal(valueOf(fams, 'portico_server_responses_total', { ...s2, code: '2xx' }), 12)
  t.equal(valueOf(fams, 'portico_server_responses_total', { ...s2, code: '5xx' }), 3)
  t.equal(valueOf(fams, 'portico_server_responses_total', { ...s2, code: 'other' }), 2)
  t.equal(valueOf(fams, 'portico_server_responses_total', { ...s2, code: '4xx' }), 0)
  t.equal(valueOf(fams, 'portico_server_connect_failures_total', s2), 4)
  t.equal(valueOf(fams, 'portico_server_retries_total', s2), 6)
  t.equal(valueOf(fams, 'portico_server_bytes_sent_total', s2), 1000, 'BytesIn = request bytes sent to the server')
  t.equal(valueOf(fams, 'portico_server_bytes_received_total', s2), 250_000, 'BytesOut = response bytes received')
  t.equal(valueOf(fams, 'portico_server_health_check_failures_total', s2), 7)
  t.equal(valueOf(fams, 'portico_server_health_down_transitions_total', s2), 1)
})

t.test('server state gauges follow the state cells', async (t) => {
  const { cells, ctx } = fixture()
  const base = await serve(t, ctx)
  cells.setServer(0, ServerCell.Health, Health.Down)
  cells.setServer(1, ServerCell.Admin, Admin.Drain)
  cells.setServer(1, ServerCell.Weight, 20)
  cells.setServer(1, ServerCell.Active, 9)
  cells.setServer(2, ServerCell.Admin, Admin.Maint)
  cells.setServer(2, ServerCell.EjectUntil, nowSeconds() + 30)
  cells.setServer(1, ServerCell.LastChange, 1_700_000_000)
  cells.addUpstream(0, UpstreamCell.Queued, 3)
  const fams = await scrape(base)
  const s1 = { upstream: 'api', server: 's1' }
  const s2 = { upstream: 'api', server: 's2' }
  const c1 = { upstream: 'static', server: 'c1' }
  t.equal(valueOf(fams, 'portico_server_up', s1), 0)
  t.equal(valueOf(fams, 'portico_server_up', s2), 1)
  t.same(['ready', 'drain', 'maint'].map((state) => valueOf(fams, 'portico_server_admin_state', { ...s2, state })), [0, 1, 0])
  t.same(['ready', 'drain', 'maint'].map((state) => valueOf(fams, 'portico_server_admin_state', { ...c1, state })), [0, 0, 1])
  t.same(['ready', 'drain', 'maint'].map((state) => valueOf(fams, 'portico_server_admin_state', { ...s1, state })), [1, 0, 0])
  t.equal(valueOf(fams, 'portico_server_weight', s2), 20)
  t.equal(valueOf(fams, 'portico_server_weight', s1), 100)
  t.equal(valueOf(fams, 'portico_server_active_requests', s2), 9)
  t.equal(valueOf(fams, 'portico_server_ejected', c1), 1)
  t.equal(valueOf(fams, 'portico_server_ejected', s1), 0)
  t.equal(valueOf(fams, 'portico_server_check_enabled', s1), 1)
  t.equal(valueOf(fams, 'portico_server_check_enabled', c1), 0)
  t.equal(valueOf(fams, 'portico_server_last_change_timestamp_seconds', s2), 1_700_000_000)
  t.equal(valueOf(fams, 'portico_upstream_queue_length', { upstream: 'api' }), 3)
  t.equal(valueOf(fams, 'portico_upstream_usable_servers', { upstream: 'api' }), 0, 's1 down, s2 draining')
  t.equal(valueOf(fams, 'portico_upstream_usable_servers', { upstream: 'static' }), 0, 'c1 in maintenance')
})

t.test('the latency histogram is cumulative, in seconds, with +Inf equal to the count', async (t) => {
  const { cells, ctx } = fixture()
  const base = await serve(t, ctx)
  cells.observeLatency(0, 0, 0.5)
  cells.observeLatency(0, 0, 3)
  cells.observeLatency(1, 0, 3)
  cells.observeLatency(1, 0, 60)
  cells.observeLatency(cells.mainShard, 0, 20_000)
  const fams = await scrape(base)
  const h = fams.get('portico_server_response_latency_seconds')
  const buckets = h?.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.server === 's1') ?? []
  t.same(buckets.map((b) => b.labels.le), [...LATENCY_BUCKETS_MS.map((ms) => String(ms / 1000)), '+Inf'])
  //                           1ms 2ms 5ms 10  25  50  100 250 500 1s 2.5s 5s 10s +Inf
  t.same(buckets.map((b) => b.value), [1, 1, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5])
  const s1 = { upstream: 'api', server: 's1' }
  t.equal(valueOf(fams, 'portico_server_response_latency_seconds_count', s1), 5)
  t.equal(valueOf(fams, 'portico_server_response_latency_seconds_sum', s1), 20.0665)
  t.equal(valueOf(fams, 'portico_server_response_latency_seconds_count', { upstream: 'api', server: 's2' }), 0)
})

t.test('listener, ring, worker and generation metrics', async (t) => {
  const { cells, ctx } = fixture()
  const base = await serve(t, ctx)
  cells.setListener(0, ListenerCell.Active, 12)
  cells.setListener(1, ListenerCell.Enabled, 0)
  cells.countListener(0, 0, ListenerCounter.Connections, 30)
  cells.countListener(1, 0, ListenerCounter.Connections, 10)
  cells.countListener(0, 0, ListenerCounter.Requests, 100)
  cells.countListener(0, 0, ListenerCounter.Resp4xx, 8)
  cells.countListener(1, 0, ListenerCounter.Resp2xx, 92)
  cells.countListener(cells.mainShard, 1, ListenerCounter.Refused, 2)
  cells.countMisc(0, MiscCounter.RingDrops, 3)
  cells.countMisc(1, MiscCounter.RingDrops, 1)
  const fams = await scrape(base)
  const web = { listener: 'web' }
  t.equal(valueOf(fams, 'portico_listener_connections_active', web), 12)
  t.equal(valueOf(fams, 'portico_listener_connections_total', web), 40)
  t.equal(valueOf(fams, 'portico_listener_requests_total', web), 100)
  t.equal(valueOf(fams, 'portico_listener_responses_total', { ...web, code: '4xx' }), 8)
  t.equal(valueOf(fams, 'portico_listener_responses_total', { ...web, code: '2xx' }), 92)
  t.equal(valueOf(fams, 'portico_listener_refused_connections_total', { listener: 'admin' }), 2)
  t.equal(valueOf(fams, 'portico_listener_up', web), 1)
  t.equal(valueOf(fams, 'portico_listener_up', { listener: 'admin' }), 0)
  t.equal(valueOf(fams, 'portico_ring_dropped_records_total'), 4)
  t.equal(valueOf(fams, 'portico_worker_threads'), 2)
  t.equal(valueOf(fams, 'portico_worker_connections', { generation: '4', slot: '1' }), 7)
  t.equal(valueOf(fams, 'portico_config_generation'), 4)
  t.equal(valueOf(fams, 'portico_build_info', { version: '0.1.0' }), 1)
})

t.test('a scrape reads the generation that is current at that moment', async (t) => {
  const a = fixture()
  const b = testConfig([{ name: 'api', servers: [{ name: 's9', port: 9009 }] }])
  const bCells = testCells(b)
  bCells.countServer(0, 0, ServerCounter.Requests, 42)
  let useB = false
  const ctx: MetricsContext = {
    ...a.ctx,
    current: () => (useB ? { config: b, cells: bCells, generation: 5 } : a.ctx.current()),
  }
  const base = await serve(t, ctx)
  t.ok((await scrape(base)).get('portico_server_requests_total')?.samples.some((s) => s.labels.server === 's1'))
  useB = true
  const fams = await scrape(base)
  t.same(fams.get('portico_server_requests_total')?.samples.map((s) => s.labels.server), ['s9'], 'old servers are gone')
  t.equal(valueOf(fams, 'portico_server_requests_total', { upstream: 'api', server: 's9' }), 42)
  t.equal(valueOf(fams, 'portico_config_generation'), 5)
})

t.test('GET /api/stats is the snapshot as JSON', async (t) => {
  const { cells, ctx } = fixture()
  const base = await serve(t, ctx)
  cells.setServer(0, ServerCell.CheckCount, 1)
  cells.setServer(1, ServerCell.Health, Health.Down)
  cells.setServer(2, ServerCell.Admin, Admin.Maint)
  cells.setServer(2, ServerCell.LastChange, 0)
  cells.countServer(0, 0, ServerCounter.Requests, 20)
  cells.countServer(1, 0, ServerCounter.Resp5xx, 2)
  cells.countServer(0, 0, ServerCounter.BytesOut, 4096)
  cells.observeLatency(0, 0, 7)
  cells.countListener(0, 0, ListenerCounter.Requests, 20)
  const res = await fetch(`${base}/api/stats?x=1`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/json/)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const s = await res.json() as StatsSnapshot
  t.equal(s.version, '0.1.0')
  t.equal(s.generation, 4)
  t.equal(s.workers.length, 2)
  t.match(s.listeners, [{ name: 'web', bind: '127.0.0.1:8080', status: 'OPEN', requests: 20 }, { name: 'admin' }])
  t.match(s.upstreams[0], { name: 'api', balance: 'round_robin', status: 'UP', serversUsable: 1 })
  t.match(s.upstreams[0].servers[0], {
    name: 's1', address: '127.0.0.1:9001', status: 'UP 2/3', state: 'UP', isUp: true, admin: 'ready', isChecked: true,
    weight: 100, requests: 20, responses: { '5xx': 2, '2xx': 0 }, bytesReceived: 4096, latencySumMs: 7,
  })
  t.equal(s.upstreams[0].servers[0].latencyBuckets.at(-1), 1)
  t.match(s.upstreams[0].servers[1], { name: 's2', status: 'DOWN', state: 'DOWN', isUp: false, weight: 50, initialWeight: 50 })
  t.match(s.upstreams[1].servers[0], { name: 'c1', status: 'MAINT', state: 'MAINT', admin: 'maint', isChecked: false })
  t.equal(s.upstreams[1].status, 'DOWN', 'no usable server left')
  t.equal(s.upstreams[1].servers[0].lastChangeSeconds, cells.header(Header.EpochSeconds), 'unset LastChange falls back to the generation start')
  t.same(collectStats(ctx).upstreams[0].servers[0].name, 's1')
})

t.test('only GET and HEAD on /, /metrics and /api/stats', async (t) => {
  const { ctx } = fixture()
  const base = await serve(t, ctx)
  t.equal((await rawRequest(base, 'GET', '/nope')).status, 404)
  t.equal((await rawRequest(base, 'GET', '/metrics/')).status, 404)
  const post = await rawRequest(base, 'POST', '/metrics')
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  t.equal((await rawRequest(base, 'DELETE', '/')).status, 405)
  const head = await rawRequest(base, 'HEAD', '/metrics')
  t.equal(head.status, 200)
  t.equal(head.body, '', 'HEAD has no body')
  const page = await rawRequest(base, 'GET', '/')
  t.equal(page.status, 200)
  t.match(String(page.headers['content-type']), /^text\/html/)
  t.match(String(page.headers['content-security-policy']), /default-src 'none'/)
  t.match(page.body, /^<!doctype html>/)
  t.notMatch(page.body, /\b(?:src|href)="(?:https?:)?\/\//, 'no external assets')
  t.notMatch(page.body, /<link\b|<script\s+src/, 'no linked stylesheet or script')
})

t.test('addresses are host:port; a taken port is an error', async (t) => {
  t.same(parseHostPort('127.0.0.1:9901'), { host: '127.0.0.1', port: 9901 })
  t.same(parseHostPort('[::1]:9901'), { host: '::1', port: 9901 })
  t.same(parseHostPort(':0'), { host: undefined, port: 0 })
  t.throws(() => parseHostPort('localhost'), /not host:port/)
  t.throws(() => parseHostPort('127.0.0.1:99999'), /not host:port/)
  t.throws(() => parseHostPort('127.0.0.1:http'), /not host:port/)
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())))
  const port = (taken.address() as AddressInfo).port
  await t.rejects(startMetricsServer(`127.0.0.1:${port}`, fixture().ctx), /metrics: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
})

t.test('a failing context gives a 500, not a crash', async (t) => {
  const { ctx } = fixture()
  const warnings: string[] = []
  let isBroken = false
  const base = await serve(t, {
    ...ctx,
    current: () => { if (isBroken) throw new Error('boom'); return ctx.current() },
    log: { warn: (_obj: object, msg: string) => { warnings.push(msg) } },
  })
  isBroken = true
  t.equal((await rawRequest(base, 'GET', '/api/stats')).status, 500)
  t.equal((await rawRequest(base, 'GET', '/metrics')).status, 500)
  t.equal(warnings.length, 2)
  isBroken = false
  t.equal((await rawRequest(base, 'GET', '/metrics')).status, 200, 'still serving')
})

t.test('close() releases the port and every connection', async (t) => {
  await new Promise((resolve) => setTimeout(resolve, 10))
  const before = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').sort()
  const server = await startMetricsServer('127.0.0.1:0', fixture().ctx)
  const base = `http://127.0.0.1:${server.port}`
  t.equal((await rawRequest(base, 'GET', '/metrics')).status, 200)
  await server.close()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').sort(), before)
  await t.rejects(fetch(`${base}/metrics`), 'nothing listens any more')
})
