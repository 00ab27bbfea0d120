// The dashboard of a running portico in headless Chromium: GET / on the metrics listener, with
// real traffic, real health checks and runtime-API state changes behind it. The DOM Chromium
// built must show the listener, both upstreams and every server with the status the runtime API
// reports (UP, no check, DRAIN, MAINT, DOWN) and the request counts the test sent; a screenshot
// is taken too (kept at $PORTICO_DASHBOARD_PNG when set, to look at).
// Needs Debian's `chromium`; skipped with a message without it.

import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, request, sleep, startOrigin, startPortico } from './harness.ts'
import { rows, text } from '../fixtures/dashboard-dom.ts'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p))

function chromium(url: string, flags: string[]): Promise<{ stdout: string; stderr: string }> {
  const profile = mkdtempSync(join(tmpdir(), 'portico-chromium-'))
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
    '--window-size=1280,1000', '--virtual-time-budget=5000', '--enable-logging=stderr', '--v=0', ...flags, url]
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM as string, args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true })
      if (err !== null) reject(new Error(`chromium failed: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

/** One command on a runtime socket. */
function cli(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no reply to "${command}"`)) }, 5000)
    s.on('connect', () => s.write(command + '\n'))
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()) })
    s.on('error', (e) => { clearTimeout(timer); reject(e) })
  })
}

async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

t.test('the dashboard of a running portico shows its listener, upstreams and servers with live status and counts', {
  skip: CHROMIUM === undefined ? 'chromium not found: apt-get install -y chromium' : false,
}, async (t) => {
  const origins = await Promise.all(['s1', 's2', 's3', 'a1'].map((n) => startOrigin(n)))
  t.teardown(() => Promise.all(origins.map((o) => o.close())))
  const [s1, s2, s3, a1] = origins
  const dead = await closedPort()
  const metricsPort = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'portico-dash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const admin = join(dir, 'admin.sock')
  const p = await startPortico(`
[global]
workers = 2
[log]
access = "off"
[runtime]
admin_socket = "${admin}"
metrics = "127.0.0.1:${metricsPort}"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"

[[routes]]
name = "api"
path_prefix = "/api/"
upstream = "api"

[[routes]]
name = "all"
upstream = "app"

[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${s1.port}"
[[upstreams.servers]]
name = "s2"
address = "127.0.0.1:${s2.port}"
[[upstreams.servers]]
name = "s3"
address = "127.0.0.1:${s3.port}"

[[upstreams]]
name = "api"
balance = "least_conn"
[upstreams.health]
path = "/health"
interval = "500ms"
timeout = "400ms"
rise = 1
fall = 2
[[upstreams.servers]]
name = "a1"
address = "127.0.0.1:${a1.port}"
[[upstreams.servers]]
name = "a2"
address = "127.0.0.1:${dead}"
`)
  t.teardown(() => p.stop())
  await p.waitFor(/"event":"started"/)

  t.equal(await cli(admin, 'set server app/s2 state drain'), '\n')
  t.equal(await cli(admin, 'disable server app/s3'), '\n')
  t.equal(await cli(admin, 'set weight app/s1 50'), '\n')
  // Wait for the health checker to find a2 dead and a1 alive.
  const deadline = Date.now() + 10_000
  let stats: { upstreams: Array<{ name: string; servers: Array<{ name: string; state: string }> }> } = { upstreams: [] }
  for (;;) {
    stats = JSON.parse((await request(metricsPort, { path: '/api/stats' })).text) as typeof stats
    const api = stats.upstreams.find((u) => u.name === 'api')
    if (api?.servers.map((s) => s.state).join() === 'UP,DOWN' || Date.now() > deadline) break
    await sleep(100)
  }
  for (let i = 0; i < 12; i++) t.equal((await request(p.port, { path: `/x${i}` })).headers['x-server'], 's1')
  for (let i = 0; i < 5; i++) t.equal((await request(p.port, { path: `/api/${i}` })).headers['x-server'], 'a1')
  t.equal((await request(p.port, { path: '/api/zz' })).status, 200)
  await sleep(200)

  const url = `http://127.0.0.1:${metricsPort}/`
  const { stdout: dom, stderr } = await chromium(url, ['--dump-dom'])
  t.match(dom, /<main id="app" data-state="ready" data-renders="[1-9]/, 'the page rendered from /api/stats')
  t.notMatch(dom, /<body[^>]*data-js-error/, 'no uncaught script error')
  t.notMatch(stderr, /Uncaught|Refused to (?:execute|load|connect)/, 'no script error or CSP violation')
  t.match(dom, /<div class="banner" id="banner" hidden=""><\/div>/, 'no problem banner')
  t.match(text(dom), /portico v0\.1\.0 generation 1/, 'version and generation')
  t.match(text(dom), /workers 2/, 'two worker threads')

  const listeners = rows(dom, 'data-listener')
  t.same(listeners.map((r) => r.key), ['web'])
  const web = listeners[0].cells
  t.same(web.slice(0, 3), ['web', `127.0.0.1:${p.port}`, 'OPEN'], 'listener name, bind and status')
  t.equal(web[5], '18', 'listener: the 18 requests sent')
  t.equal(web[7], '18', 'all 2xx')

  const servers = rows(dom, 'data-server')
  t.same(servers.map((r) => [r.key, r.state]), [
    ['app/s1', 'UP'], ['app/s2', 'DRAIN'], ['app/s3', 'MAINT'], ['api/a1', 'UP'], ['api/a2', 'DOWN'],
  ], 'every server, in config order, with its state')
  const cell = new Map(servers.map((r) => [r.key, r.cells]))
  t.equal(cell.get('app/s1')?.[0], `s1 127.0.0.1:${s1.port}`, 'name and address')
  t.equal(cell.get('app/s1')?.[1], 'no check', 'status as show stat says it')
  t.equal(cell.get('app/s1')?.[2], '50 / 100', 'weight changed at runtime, and the initial one')
  t.equal(cell.get('app/s1')?.[4], '12', 's1 answered the 12 requests to /')
  t.equal(cell.get('app/s2')?.[1], 'DRAIN')
  t.equal(cell.get('app/s2')?.[4], '0')
  t.equal(cell.get('app/s3')?.[1], 'MAINT')
  t.equal(cell.get('api/a1')?.[1], 'UP')
  t.equal(cell.get('api/a1')?.[4], '6', 'a1 answered the 6 requests to /api/')
  t.match(cell.get('api/a2')?.[1] ?? '', /^DOWN/)
  t.match(cell.get('api/a2')?.[12] ?? '', /^[1-9][0-9]* \/ [1-9]/, 'a2: failed checks and a down transition')
  t.match(dom, /data-upstream="app"/)
  t.match(dom, /data-upstream="api"/)
  t.match(text(dom), /Servers up 3 \/ 5/, 'summary card: s1, s2 (draining) and a1 up, of 5')

  const shotDir = mkdtempSync(join(tmpdir(), 'portico-shot-'))
  t.teardown(() => rmSync(shotDir, { recursive: true, force: true }))
  const png = join(shotDir, 'dashboard.png')
  await chromium(url, [`--screenshot=${png}`])
  const image = readFileSync(png)
  t.equal(image.subarray(1, 4).toString('latin1'), 'PNG')
  t.same([image.readUInt32BE(16), image.readUInt32BE(20)], [1280, 1000], 'a 1280×1000 screenshot')
  t.ok(image.length > 20_000, `a page with content, not a blank one: ${image.length} bytes`)
  const keep = process.env.PORTICO_DASHBOARD_PNG
  if (keep !== undefined && keep !== '') copyFileSync(png, keep)
})
