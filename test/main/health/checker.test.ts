import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { startHealthChecker } from '../../../src/main/health/checker.ts'
import type { HealthLog } from '../../../src/main/health/checker.ts'
import { nowSeconds } from '../../../src/shared/cells.ts'
import type { Cells } from '../../../src/shared/cells.ts'
import { Admin, Health, ServerCell, ServerCounter } from '../../../src/shared/layout.ts'
import { HEALTH_STOPPING } from '../../../src/main/health/state.ts'
import { closedPort, testCells, testConfig } from './fixture.ts'
import type { TestUpstream } from './fixture.ts'

const INTERVAL_MS = 50
/** Room for timer lateness on a loaded 2-core machine; the bounds below stay far from "never". */
const SLACK_MS = 400

type Mode = 'ok' | 'fail' | 'hang' | 'reset' | 'garbage'

/** A health endpoint on 127.0.0.1:0 whose answer the test switches. */
class Origin {
  server: Server
  mode: Mode = 'ok'
  port = 0
  checks = 0
  hosts: string[] = []
  onCheck: (() => void) | null = null
  sockets = new Set<Socket>()

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.checks++
      this.hosts.push(String(req.headers.host))
      if (this.onCheck !== null) this.onCheck()
      if (this.mode === 'ok') res.end('ok')
      else if (this.mode === 'fail') { res.statusCode = 500; res.end('no') }
      else if (this.mode === 'reset') req.socket.resetAndDestroy()
      else if (this.mode === 'garbage') req.socket.end('SSH-2.0-OpenSSH_9.2\r\n')
      // 'hang': never answer
    })
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
  }

  async listen(t: Test): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    t.teardown(() => this.close())
    return this
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

class LogCapture implements HealthLog {
  lines: Array<{ level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }> = []
  info(obj: object, msg: string): void { this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }) }
  warn(obj: object, msg: string): void { this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }) }
}

/** Poll `cond` every 5 ms for at most `limitMs`; resolves to the elapsed ms, or -1 on time-out. */
async function waitFor(cond: () => boolean, limitMs: number): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < limitMs / 5 + 1; i++) {
    if (cond()) return performance.now() - start
    if (performance.now() - start > limitMs) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return cond() ? performance.now() - start : -1
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function start(t: Test, upstreams: TestUpstream[], prepare?: (cells: Cells) => void) {
  const config = testConfig(upstreams)
  const cells = testCells(config)
  if (prepare !== undefined) prepare(cells)
  const log = new LogCapture()
  const checker = startHealthChecker(config, cells, log)
  t.teardown(() => checker.stop())
  return { config, cells, log, checker }
}

const health = (cells: Cells, i = 0) => cells.server(i, ServerCell.Health)

t.test('a failing server goes DOWN after fall checks and back UP after rise checks', async (t) => {
  const origin = await new Origin().listen(t)
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, rise: 2, fall: 3 }, servers: [{ name: 's1', port: origin.port }] }])
  t.equal(cells.server(0, ServerCell.CheckEnabled), 1, 'checks are enabled on the server')
  t.ok(await waitFor(() => origin.checks >= 2, INTERVAL_MS * 2 + SLACK_MS) >= 0, 'checks start at once')
  t.equal(health(cells), Health.Up)
  t.equal(log.lines.length, 0, 'no transition while passing')

  origin.mode = 'fail'
  const downMs = await waitFor(() => health(cells) === Health.Down, INTERVAL_MS * 3 + SLACK_MS)
  t.ok(downMs >= 0, `DOWN within interval × fall (+ slack): ${downMs.toFixed(0)} ms`)
  t.ok(Math.abs(cells.server(0, ServerCell.LastChange) - nowSeconds()) <= 1, 'LastChange is now')
  t.equal(cells.server(0, ServerCell.CheckCount), 0, 'the streak restarts at DOWN')
  t.equal(cells.sumServer(0, ServerCounter.HealthTransitionsDown), 1)
  t.ok(cells.sumServer(0, ServerCounter.ChecksFailed) >= 3)
  t.match(log.lines, [{ level: 'warn', obj: { upstream: 'app', server: 's1', reason: 'status 500', checkMs: Number }, msg: 'server app/s1 is DOWN (status 500, 3/3 checks failed)' }])

  origin.mode = 'ok'
  const upMs = await waitFor(() => health(cells) === Health.Up, INTERVAL_MS * 2 + SLACK_MS)
  t.ok(upMs >= 0, `UP within interval × rise (+ slack): ${upMs.toFixed(0)} ms`)
  t.equal(log.lines.length, 2, 'each transition logged once')
  t.match(log.lines[1], { level: 'info', obj: { upstream: 'app', server: 's1', reason: 'status 200' }, msg: 'server app/s1 is UP (status 200, 2/2 checks passed)' })
  t.equal(cells.sumServer(0, ServerCounter.HealthTransitionsDown), 1, 'going UP is not counted as a down transition')
  t.ok(origin.hosts.every((h) => h === `127.0.0.1:${origin.port}`), 'Host is the server address by default')
})

t.test('CheckCount counts failures while up and passes while down', async (t) => {
  const origin = await new Origin().listen(t)
  // At each request the cells show the effect of every earlier check.
  const seen: string[] = []
  origin.mode = 'fail'
  const { cells } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, rise: 3, fall: 3 }, servers: [{ name: 's1', port: origin.port }] }])
  origin.onCheck = () => {
    seen.push(`${health(cells) === Health.Up ? 'UP' : 'DOWN'}:${cells.server(0, ServerCell.CheckCount)}`)
    if (seen.length === 4) origin.mode = 'ok'
  }
  t.ok(await waitFor(() => seen.length >= 8, INTERVAL_MS * 8 + SLACK_MS * 2) >= 0, 'eight checks ran')
  //            fail    fail    fail    (down) pass pass  pass   (up)
  t.same(seen.slice(0, 8), ['UP:0', 'UP:1', 'UP:2', 'DOWN:0', 'DOWN:1', 'DOWN:2', 'UP:0', 'UP:0'])
})

t.test('each kind of failure is logged with its reason', async (t) => {
  const cases: Array<[Mode | 'closed', string]> = [['hang', 'timeout'], ['reset', 'reset'], ['garbage', 'invalid response'], ['closed', 'refused']]
  for (const [mode, reason] of cases) {
    const origin = await new Origin().listen(t)
    const port = mode === 'closed' ? await closedPort() : origin.port
    if (mode !== 'closed') origin.mode = mode
    const { cells, log, checker } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, timeoutMs: 100, fall: 2 }, servers: [{ name: 's1', port }] }])
    t.ok(await waitFor(() => health(cells) === Health.Down, (INTERVAL_MS + 100) * 2 + SLACK_MS) >= 0, `${mode}: DOWN`)
    t.match(log.lines, [{ level: 'warn', obj: { reason }, msg: `server app/s1 is DOWN (${reason}, 2/2 checks failed)` }], `${mode}: reason ${reason}`)
    checker.stop()
  }
})

t.test('a server in maintenance is not checked and keeps its state', async (t) => {
  const a = await new Origin().listen(t)
  const b = await new Origin().listen(t)
  b.mode = 'fail'
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, fall: 1 }, servers: [{ name: 's1', port: a.port }, { name: 's2', port: b.port }] }],
    (cells) => cells.setServer(1, ServerCell.Admin, Admin.Maint))
  t.ok(await waitFor(() => a.checks >= 5, INTERVAL_MS * 5 + SLACK_MS) >= 0, 's1 is checked')
  t.equal(b.checks, 0, 's2 in maintenance got no check')
  t.equal(health(cells, 1), Health.Up, 's2 keeps its state')

  // Leaving maintenance resumes the checks from the kept state.
  cells.setServer(1, ServerCell.Admin, Admin.Ready)
  t.ok(await waitFor(() => health(cells, 1) === Health.Down, INTERVAL_MS * 2 + SLACK_MS) >= 0, 's2 checked again after maintenance')
  t.match(log.lines, [{ obj: { server: 's2', reason: 'status 500' } }])
})

t.test('the result of a probe in flight when maintenance starts is ignored', async (t) => {
  const origin = await new Origin().listen(t)
  origin.mode = 'hang'
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, timeoutMs: 150, fall: 1 }, servers: [{ name: 's1', port: origin.port }] }])
  t.ok(await waitFor(() => origin.sockets.size === 1, INTERVAL_MS + SLACK_MS) >= 0, 'a probe is in flight')
  cells.setServer(0, ServerCell.Admin, Admin.Maint)
  t.ok(await waitFor(() => origin.sockets.size === 0, 150 + SLACK_MS) >= 0, 'the probe timed out')
  await sleep(INTERVAL_MS)
  t.equal(health(cells), Health.Up, 'fall 1, yet still UP')
  t.same(log.lines, [])
  t.equal(cells.sumServer(0, ServerCounter.ChecksFailed), 1, 'the failed check is still counted')
})

t.test('a health state written by the runtime API is where the checks continue from', async (t) => {
  const origin = await new Origin().listen(t)
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, rise: 2, fall: 3 }, servers: [{ name: 's1', port: origin.port }] }])
  t.ok(await waitFor(() => origin.checks >= 1, INTERVAL_MS + SLACK_MS) >= 0)
  // set server app/s1 health down
  cells.setServer(0, ServerCell.Health, Health.Down)
  cells.setServer(0, ServerCell.CheckCount, 0)
  const checksAtForce = origin.checks
  t.ok(await waitFor(() => health(cells) === Health.Up, INTERVAL_MS * 2 + SLACK_MS) >= 0, 'passing checks bring it back')
  // rise = 2 passing checks (the log line says 2/2); one of them may already have been on its way
  // to the origin when the state was forced, so the origin may count only one after it.
  t.ok(origin.checks - checksAtForce >= 1, 'after passing checks that followed the change')
  t.match(log.lines, [{ level: 'info', msg: 'server app/s1 is UP (status 200, 2/2 checks passed)' }])
})

t.test('a stopping server is brought back UP by the next passing check', async (t) => {
  const origin = await new Origin().listen(t)
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, rise: 3, fall: 3 }, servers: [{ name: 's1', port: origin.port }] }])
  t.ok(await waitFor(() => origin.checks >= 1, INTERVAL_MS + SLACK_MS) >= 0)
  // set server app/s1 health stopping
  cells.setServer(0, ServerCell.Health, HEALTH_STOPPING)
  cells.setServer(0, ServerCell.CheckCount, 0)
  const checksAtForce = origin.checks
  t.ok(await waitFor(() => health(cells) === Health.Up, INTERVAL_MS * 2 + SLACK_MS) >= 0, 'UP again')
  t.ok(origin.checks - checksAtForce <= 2, 'after one passing check, not rise')
  t.match(log.lines, [{ level: 'info', msg: 'server app/s1 is UP (status 200, was stopping)' }])
})

t.test('a passing check ends a passive ejection, a failing one does not', async (t) => {
  const ok = await new Origin().listen(t)
  const bad = await new Origin().listen(t)
  bad.mode = 'fail'
  const until = nowSeconds() + 60
  const { cells, log } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS, fall: 100 }, servers: [{ name: 's1', port: ok.port }, { name: 's2', port: bad.port }] }],
    (cells) => {
      for (const i of [0, 1]) {
        cells.setServer(i, ServerCell.EjectUntil, until)
        cells.setServer(i, ServerCell.Fails, 5)
      }
    })
  t.ok(await waitFor(() => cells.server(0, ServerCell.EjectUntil) === 0, INTERVAL_MS + SLACK_MS) >= 0, 's1 ejection cleared')
  t.equal(cells.server(0, ServerCell.Fails), 0)
  t.ok(await waitFor(() => bad.checks >= 3, INTERVAL_MS * 3 + SLACK_MS) >= 0)
  t.equal(cells.server(1, ServerCell.EjectUntil), until, 's2 stays ejected')
  t.equal(cells.server(1, ServerCell.Fails), 5)
  t.match(log.lines.filter((l) => l.obj.server === 's1'), [{ level: 'info', msg: 'server app/s1 is back from ejection (status 200)' }])
})

t.test('upstreams without health are not checked', async (t) => {
  const checked = await new Origin().listen(t)
  const unchecked = await new Origin().listen(t)
  const { cells } = start(t, [
    { name: 'plain', servers: [{ name: 'p1', port: unchecked.port }] },
    { name: 'app', health: { intervalMs: INTERVAL_MS, host: 'health.example' }, servers: [{ name: 's1', port: checked.port }] },
  ], (cells) => cells.setServer(0, ServerCell.CheckEnabled, 1))
  t.ok(await waitFor(() => checked.checks >= 3, INTERVAL_MS * 3 + SLACK_MS) >= 0)
  t.equal(unchecked.checks, 0)
  t.equal(cells.server(0, ServerCell.CheckEnabled), 0, 'CheckEnabled is 0 without a health section')
  t.equal(cells.server(1, ServerCell.CheckEnabled), 1, 'global server index 1 is app/s1')
  t.equal(health(cells, 0), Health.Up)
  t.same([...new Set(checked.hosts)], ['health.example'], 'health.host is the Host header')
})

t.test('checks disabled at runtime (CheckEnabled 0) are paused', async (t) => {
  const origin = await new Origin().listen(t)
  const { cells } = start(t, [{ name: 'app', health: { intervalMs: INTERVAL_MS }, servers: [{ name: 's1', port: origin.port }] }])
  t.ok(await waitFor(() => origin.checks >= 1, INTERVAL_MS + SLACK_MS) >= 0)
  cells.setServer(0, ServerCell.CheckEnabled, 0)
  await sleep(INTERVAL_MS * 2)
  const paused = origin.checks
  await sleep(INTERVAL_MS * 4)
  t.equal(origin.checks, paused, 'no check while disabled')
})

t.test('stop() clears every timer and destroys probes in flight', async (t) => {
  const origin = await new Origin().listen(t)
  origin.mode = 'hang'
  const ports = [origin.port, origin.port, origin.port]
  await sleep(10)
  const before = process.getActiveResourcesInfo().sort()
  const config = testConfig([{ name: 'app', health: { intervalMs: INTERVAL_MS, timeoutMs: 5000 }, servers: ports.map((port, i) => ({ name: `s${i}`, port })) }])
  const checker = startHealthChecker(config, testCells(config), new LogCapture())
  t.ok(await waitFor(() => origin.sockets.size === 3, INTERVAL_MS + SLACK_MS) >= 0, 'three probes in flight')
  t.ok(process.getActiveResourcesInfo().length > before.length)
  checker.stop()
  checker.stop()
  t.ok(await waitFor(() => origin.sockets.size === 0, SLACK_MS) >= 0, 'the origin saw every probe connection close')
  await sleep(20)
  t.same(process.getActiveResourcesInfo().sort(), before, 'no socket or timer left behind')
})
