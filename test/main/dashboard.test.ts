// The dashboard in a real browser: headless Chromium loads GET / from the metrics listener, runs its
// script for 5 s of virtual time (three polls of /api/stats) and we read the DOM it built.
// Needs Debian's `chromium` (apt-get install -y chromium); skipped with a message without it.

import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMetricsServer } from '../../src/main/metrics.ts'
import type { MetricsContext } from '../../src/main/metrics.ts'
import { nowSeconds } from '../../src/shared/cells.ts'
import { Admin, Health, ListenerCell, ListenerCounter, ServerCell, ServerCounter } from '../../src/shared/layout.ts'
import { testCells, testConfig } from './health/fixture.ts'
import { rows, text } from '../fixtures/dashboard-dom.ts'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p))

/** Run headless Chromium on `url` with extra flags; resolves to its stdout (and stderr). */
function chromium(url: string, flags: string[]): Promise<{ stdout: string; stderr: string }> {
  const profile = mkdtempSync(join(tmpdir(), 'portico-chromium-'))
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
    '--window-size=1280,900', '--virtual-time-budget=5000', '--enable-logging=stderr', '--v=0', ...flags, url]
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM as string, args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true })
      if (err !== null) reject(new Error(`chromium failed: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

function fixture(): MetricsContext & { isBroken: boolean } {
  const config = testConfig([
    { name: 'api', health: { rise: 2, fall: 3 }, servers: [{ name: 'api-1', port: 9001 }, { name: 'api-2', port: 9002 }, { name: 'api-3', port: 9003 }, { name: 'api-4', port: 9004 }] },
    { name: 'static', servers: [{ name: 'cdn-<b>', port: 9101 }] },
  ], ['web'])
  const cells = testCells(config)
  for (let i = 0; i < 4; i++) cells.setServer(i, ServerCell.CheckEnabled, 1)
  cells.setServer(0, ServerCell.CheckCount, 1)
  cells.setServer(1, ServerCell.Health, Health.Down)
  cells.setServer(2, ServerCell.Admin, Admin.Drain)
  cells.setServer(3, ServerCell.Admin, Admin.Maint)
  cells.setServer(4, ServerCell.EjectUntil, nowSeconds() + 600)
  cells.setServer(0, ServerCell.Active, 4)
  cells.setServer(0, ServerCell.LastChange, nowSeconds() - 125)
  cells.setListener(0, ListenerCell.Active, 17)
  const ctx = {
    isBroken: false,
    // Every poll sees 100 more requests on api-1 (5 of them 5xx), so the page has rates to show.
    current: () => {
      if (ctx.isBroken) throw new Error('broken on purpose')
      cells.countServer(0, 0, ServerCounter.Requests, 100)
      cells.countServer(0, 0, ServerCounter.Resp2xx, 95)
      cells.countServer(0, 0, ServerCounter.Resp5xx, 5)
      cells.countServer(0, 0, ServerCounter.BytesOut, 3 << 20)
      cells.observeLatency(0, 0, 12)
      cells.countListener(0, 0, ListenerCounter.Requests, 100)
      return { config, cells, generation: 2 }
    },
    workers: () => [{ threadId: 1, slot: 0, generation: 2, connections: 17 }],
    startedAtMs: Date.now() - 3_600_000,
    version: '0.1.0',
  }
  return ctx
}

t.test('the dashboard renders listeners and servers with their status', { skip: CHROMIUM === undefined ? 'chromium not found: apt-get install -y chromium' : false }, async (t) => {
  const ctx = fixture()
  const server = await startMetricsServer('127.0.0.1:0', ctx)
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${server.port}/`

  const { stdout: dom, stderr } = await chromium(url, ['--dump-dom'])
  t.match(dom, /<main id="app" data-state="ready" data-renders="[2-9]"/, 'rendered from at least two polls')
  t.notMatch(dom, /<body[^>]*data-js-error/, 'no uncaught script error')
  t.notMatch(stderr, /Uncaught|Refused to (?:execute|load|connect)/, 'no script error or CSP violation in the console')
  t.match(dom, /<div class="banner" id="banner" hidden=""><\/div>/, 'no problem banner')
  t.match(text(dom), /portico v0\.1\.0 generation 2 uptime 1h 0m workers 1/)

  const servers = rows(dom, 'data-server')
  t.same(servers.map((r) => [r.key, r.state]), [
    ['api/api-1', 'UP'], ['api/api-2', 'DOWN'], ['api/api-3', 'DRAIN'], ['api/api-4', 'MAINT'], ['static/cdn-<b>', 'UP'],
  ])
  const [s1, s2, s3, s4, c1] = servers.map((r) => r.cells)
  t.equal(s1[0], 'api-1 127.0.0.1:9001')
  t.equal(s1[1], 'UP 2/3', 'HAProxy status with the failure streak')
  t.equal(s1[3], '4', 'active requests')
  t.match(s1[5], /^[0-9][0-9,.]*$/, `requests per second computed from two polls: ${s1[5]}`)
  t.not(s1[5], '0')
  t.match(s1[7], /^5\.0%$/, 'error rate: 5 of every 100 responses')
  t.match(s1[10], /^12\.0 ms$/, 'average latency')
  t.match(s1[11], /MiB$/, 'bytes in binary units')
  t.match(s1[13], /^2m [0-5]?[0-9]s$/, 'last change, 125 s ago when the test started')
  t.equal(s2[1], 'DOWN')
  t.equal(s3[1], 'DRAIN')
  t.equal(s4[1], 'MAINT')
  t.equal(c1[1], 'no check ejected', 'unchecked server, passively ejected')
  t.match(dom, /cdn-&lt;b&gt;/, 'names are text, not markup')
  t.match(dom, /<span class="badge b-DOWN">DOWN<\/span>/, 'status badges are colour-coded by state')

  const listeners = rows(dom, 'data-listener')
  t.same(listeners.map((r) => r.key), ['web'])
  t.same(listeners[0].cells.slice(0, 4), ['web', '127.0.0.1:8080', 'OPEN', '17'])

  const png = join(mkdtempSync(join(tmpdir(), 'portico-shot-')), 'dashboard.png')
  t.teardown(() => rmSync(join(png, '..'), { recursive: true, force: true }))
  await chromium(url, [`--screenshot=${png}`])
  const image = readFileSync(png)
  t.equal(image.subarray(1, 4).toString('latin1'), 'PNG')
  t.same([image.readUInt32BE(16), image.readUInt32BE(20)], [1280, 900], 'a 1280×900 screenshot')
})

t.test('the dashboard says so when the stats cannot be read', { skip: CHROMIUM === undefined ? 'chromium not found: apt-get install -y chromium' : false }, async (t) => {
  const ctx = fixture()
  ctx.isBroken = true
  const server = await startMetricsServer('127.0.0.1:0', ctx)
  t.teardown(() => server.close())
  const { stdout: dom } = await chromium(`http://127.0.0.1:${server.port}/`, ['--dump-dom'])
  t.match(dom, /<div class="banner" id="banner">stats unavailable: HTTP 500<\/div>/)
  t.match(dom, /<main id="app" data-state="loading">/, 'nothing rendered')
  t.notMatch(dom, /<body[^>]*data-js-error/)
})
