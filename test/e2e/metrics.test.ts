// GET /metrics of a running portico, fetched with curl (or node:http without it): the whole
// output is valid Prometheus text format, and the counters say exactly what the test sent —
// 200s and 500s from a live server, 404s with no route, 502s from a dead server — with nothing
// left in flight afterwards.

import t from 'tap'
import { execFile } from 'node:child_process'
import net from 'node:net'
import { basicConfig, freePort, request, sleep, startOrigin, startPortico } from './harness.ts'

/** A port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

const hasCurl = await new Promise<boolean>((resolve) => execFile('curl', ['--version'], (err) => resolve(err === null)))

/** The text of GET /metrics, and its Content-Type. */
function scrape(port: number): Promise<{ text: string; type: string }> {
  if (!hasCurl) {
    return request(port, { path: '/metrics' }).then((r) => ({ text: r.text, type: String(r.headers['content-type']) }))
  }
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', '-w', '\n%{content_type}', `http://127.0.0.1:${port}/metrics`], { maxBuffer: 8 << 20 }, (err, stdout) => {
      if (err !== null) { reject(err); return }
      const cut = stdout.lastIndexOf('\n')
      resolve({ text: stdout.slice(0, cut), type: stdout.slice(cut + 1) })
    })
  })
}

interface Sample { name: string; labels: Record<string, string>; value: number }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)(?: (-?[0-9]+))?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y
const VALUE = /^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/**
 * Parse Prometheus text format 0.0.4 strictly; returns samples and every problem found (with the
 * line number) instead of throwing, so one run shows them all.
 */
function parsePrometheus(text: string): { samples: Sample[]; problems: string[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const problems: string[] = []
  const types = new Map<string, string>()
  const seen = new Set<string>()
  const lines = text.split('\n')
  if (lines[lines.length - 1] !== '') problems.push('the text does not end with a newline')
  lines.forEach((line, i) => {
    const at = `line ${i + 1}: ${line}`
    if (line === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) return // a plain comment
      if (!NAME.test(m[2])) problems.push(`${at}: bad metric name`)
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3])) problems.push(`${at}: unknown type`)
        if (types.has(m[2])) problems.push(`${at}: second TYPE for ${m[2]}`)
        types.set(m[2], m[3])
      }
      return
    }
    const m = SAMPLE.exec(line)
    if (m === null) { problems.push(`${at}: not "name{labels} value"`); return }
    if (!VALUE.test(m[3])) problems.push(`${at}: bad value`)
    const labels: Record<string, string> = {}
    if (m[2] !== undefined && m[2] !== '') {
      LABEL.lastIndex = 0
      let end = 0
      for (let lm = LABEL.exec(m[2]); lm !== null; lm = LABEL.exec(m[2])) {
        if (lm[1] in labels) problems.push(`${at}: label ${lm[1]} twice`)
        labels[lm[1]] = lm[2]
        end = LABEL.lastIndex
        if (lm[3] === '') break
      }
      if (end !== m[2].length) problems.push(`${at}: bad label set`)
    }
    const key = `${m[1]}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`
    if (seen.has(key)) problems.push(`${at}: duplicate sample`)
    seen.add(key)
    const family = m[1].replace(/_(bucket|sum|count)$/, '')
    if (!types.has(m[1]) && !types.has(family)) problems.push(`${at}: sample before its TYPE line`)
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  })
  return { samples, problems, types }
}

/** The value of one sample whose labels include `labels`; NaN when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length !== 1) return Number.NaN
  return found[0].value
}

t.test('/metrics is Prometheus text and its counters match the traffic sent: 200, 500, 404 (no route), 502 (dead server)', async (t) => {
  const live = await startOrigin('s1', (req, res) => {
    req.resume()
    res.statusCode = req.url === '/app/fail' ? 500 : 200
    res.setHeader('x-server', 's1')
    res.end('s1')
  })
  t.teardown(() => live.close())
  const deadPort = await closedPort()
  const metricsPort = await freePort()
  const toml = basicConfig([live], {
    route: 'path_prefix = "/app/"',
    tail: `
[[routes]]
name = "dead"
path_prefix = "/dead/"
upstream = "gone"

[[upstreams]]
name = "gone"
retries = 0
[[upstreams.servers]]
name = "d1"
address = "127.0.0.1:${deadPort}"

[runtime]
metrics = "127.0.0.1:${metricsPort}"
`,
  })
  const p = await startPortico(toml)
  t.teardown(() => p.stop())
  await p.waitFor(/"event":"started"/)

  const before = parsePrometheus((await scrape(metricsPort)).text)
  t.same(before.problems, [], 'valid before any traffic')
  t.equal(value(before.samples, 'portico_listener_requests_total', { listener: 'web' }), 0)
  // startPortico's readiness probe is a connection too.
  const connectionsBefore = value(before.samples, 'portico_listener_connections_total', { listener: 'web' })

  // 7 × 200 and 2 × 500 from s1, 3 × 404 (no route), 4 × 502 (connection refused): 16 requests.
  const plan: Array<[string, number]> = [
    ...Array<[string, number]>(7).fill(['/app/ok', 200]), ...Array<[string, number]>(2).fill(['/app/fail', 500]),
    ...Array<[string, number]>(3).fill(['/nowhere', 404]), ...Array<[string, number]>(4).fill(['/dead/x', 502]),
  ]
  const got: number[] = []
  for (const [path] of plan) got.push((await request(p.port, { path })).status)
  t.same(got, plan.map(([, status]) => status), 'every request got the status planned for it')

  // Workers count a request when they finish it, a moment after the client has its response.
  let scraped = await scrape(metricsPort)
  let parsed = parsePrometheus(scraped.text)
  for (let i = 0; i < 20 && value(parsed.samples, 'portico_listener_requests_total', { listener: 'web' }) !== 16; i++) {
    await sleep(100)
    scraped = await scrape(metricsPort)
    parsed = parsePrometheus(scraped.text)
  }
  t.match(scraped.type, /^text\/plain; version=0\.0\.4/, `Content-Type ${scraped.type}`)
  t.same(parsed.problems, [], 'every line is a comment or "name{labels} value"')
  t.ok(parsed.samples.length > 50, `${parsed.samples.length} samples`)
  for (const name of parsed.types.keys()) t.match(name, /^portico_/, `${name} has the portico_ prefix`)
  for (const [name, type] of parsed.types) if (type === 'counter') t.match(name, /_total$/, `counter ${name} ends in _total`)

  const s = parsed.samples
  const s1 = { upstream: 'app', server: 's1' }
  const d1 = { upstream: 'gone', server: 'd1' }
  const web = { listener: 'web' }
  t.equal(value(s, 'portico_server_requests_total', s1), 9, 's1: 9 requests')
  t.equal(value(s, 'portico_server_responses_total', { ...s1, code: '2xx' }), 7, 's1: 7 × 2xx')
  t.equal(value(s, 'portico_server_responses_total', { ...s1, code: '5xx' }), 2, 's1: 2 × 5xx')
  t.equal(value(s, 'portico_server_responses_total', { ...s1, code: '4xx' }), 0, 's1: no 4xx (the 404s never reached it)')
  t.equal(value(s, 'portico_server_requests_total', d1), 4, 'd1: 4 requests tried')
  t.equal(value(s, 'portico_server_connect_failures_total', d1), 4, 'd1: 4 connect failures')
  t.equal(value(s, 'portico_server_responses_total', { ...d1, code: '2xx' }) + value(s, 'portico_server_responses_total', { ...d1, code: '5xx' }), 0,
    'd1 answered nothing')
  t.equal(value(s, 'portico_server_responses_total', { ...d1, code: 'other' }), 4, 'd1: 4 requests without a response')
  t.equal(value(s, 'portico_listener_requests_total', web), 16, 'listener: all 16 requests')
  t.equal(value(s, 'portico_listener_responses_total', { ...web, code: '2xx' }), 7)
  t.equal(value(s, 'portico_listener_responses_total', { ...web, code: '4xx' }), 3)
  t.equal(value(s, 'portico_listener_responses_total', { ...web, code: '5xx' }), 6, 'listener: 2 × 500 + 4 × 502')
  t.equal(value(s, 'portico_listener_connections_total', web) - connectionsBefore, 16, 'one connection per request')
  t.equal(value(s, 'portico_server_response_latency_seconds_count', s1), 9, 'one latency observation per s1 response')
  t.ok(value(s, 'portico_server_bytes_received_total', s1) > 0, 'bytes from s1 counted')
  t.ok(value(s, 'portico_listener_bytes_sent_total', web) > 0, 'bytes to clients counted')
  t.equal(value(s, 'portico_server_up', s1), 1)
  t.equal(value(s, 'portico_server_weight', s1), 100, 'the default weight')
  t.equal(value(s, 'portico_config_generation'), 1)
  t.equal(value(s, 'portico_worker_threads'), 2)
  t.equal(value(s, 'portico_ring_dropped_records_total'), 0)
  const active = s.filter((x) => x.name === 'portico_server_active_requests')
  t.equal(active.length, 2, 'one active-requests gauge per server')
  t.ok(active.every((x) => x.value === 0), 'no request left in flight')
  t.equal(value(s, 'portico_listener_connections_active', web), 0, 'no client connection left open')
})
