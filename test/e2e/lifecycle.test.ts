// The process's life end to end: SIGTERM drains (a slow request finishes, new connections are
// refused, exit 0; drain_timeout bounds it), SIGINT stops at once, SIGUSR1 reopens a rotated access
// log without losing a line, a crashed worker thread is replaced while the process serves on, and
// as root portico drops to global.user / global.group (or refuses to run as root without them).

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLI, basicConfig, canConnect, freePort, request, sleep, startOrigin, startPortico, writeConfig } from './harness.ts'
import type { Origin } from './harness.ts'

// Each test starts a process and waits for its threads (the binary test builds it first).
t.setTimeout(300_000)

/** An origin that answers `/slow` after `slowMs`, everything else at once. */
function slowOrigin(name: string, slowMs: number): Promise<Origin> {
  return startOrigin(name, (req, res) => {
    req.resume()
    const answer = (): void => { res.setHeader('x-server', name); res.end(`${name} ${req.url}`) }
    if (req.url === '/slow') setTimeout(answer, slowMs)
    else answer()
  })
}

/** Resolves when `cond()` holds, polling every 10 ms; rejects after `timeoutMs`. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** One command on a runtime socket: write a line, read until the server closes. */
function runtimeCommand(path: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`${path}: no answer to "${command}"`)) }, timeoutMs)
    s.on('connect', () => s.write(command + '\n'))
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()) })
    s.on('error', (e) => { clearTimeout(timer); reject(e) })
  })
}

t.test('SIGTERM during a slow request: new connections are refused, the request completes with 200, exit 0', async (t) => {
  const a = await slowOrigin('s1', 1500)
  const p = await startPortico(basicConfig([a], { global: 'drain_timeout = "10s"' }))
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  let answeredAtMs = 0
  const slow = request(p.port, { path: '/slow' }).then((r) => { answeredAtMs = Date.now(); return r })
  await until(() => a.inFlight === 1, 'the slow request to reach the origin')
  const signalledAtMs = Date.now()
  p.proc.kill('SIGTERM')
  let exitedAtMs = 0
  const exited = p.exited.then((code) => { exitedAtMs = Date.now(); return code })
  await p.waitFor(/"event":"stopping"/)
  t.notOk(await canConnect(p.port), 'a new connection is refused once stopping')
  t.equal(answeredAtMs, 0, 'the slow request was still in flight when new connections were refused')
  const r = await slow
  t.equal(r.status, 200, 'the in-flight request completes')
  t.equal(r.text, 's1 /slow')
  t.ok(answeredAtMs - signalledAtMs >= 1000, `it was answered after the origin's delay (${answeredAtMs - signalledAtMs}ms after SIGTERM)`)
  t.equal(await exited, 0, 'exit code 0')
  t.ok(exitedAtMs >= answeredAtMs, 'the process exited after the response')
  t.ok(exitedAtMs - signalledAtMs < 8000, `well within drain_timeout (${exitedAtMs - signalledAtMs}ms)`)
})

t.test('SIGTERM does not wait drain_timeout for an idle keep-alive connection', async (t) => {
  const a = await startOrigin('s1')
  const p = await startPortico(basicConfig([a], { global: 'drain_timeout = "20s"' }))
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  t.equal((await request(p.port, { agent })).status, 200)
  const startMs = Date.now()
  p.proc.kill('SIGTERM')
  const code = await p.exited
  t.equal(code, 0)
  t.ok(Date.now() - startMs < 5000, `exited in ${Date.now() - startMs}ms with a keep-alive connection open`)
})

t.test('drain_timeout bounds a graceful stop: a request slower than it is cut, exit 0', async (t) => {
  const a = await slowOrigin('s1', 8000)
  const p = await startPortico(basicConfig([a], { global: 'drain_timeout = "1s"' }))
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  const slow = request(p.port, { path: '/slow' }).then((r) => `status ${r.status}`, (err: Error) => `error ${err.message}`)
  await until(() => a.inFlight === 1, 'the slow request to reach the origin')
  const startMs = Date.now()
  p.proc.kill('SIGTERM')
  t.equal(await p.exited, 0)
  const tookMs = Date.now() - startMs
  t.ok(tookMs >= 900 && tookMs < 6000, `stopped after drain_timeout, not after the request (${tookMs}ms)`)
  t.match(await slow, /^error/, 'the request still running at drain_timeout was cut')
  t.ok(p.stderr.some((l) => /"event":"drain_timeout".*"connections":1/.test(l)), 'the cut is logged with the connection count')
})

t.test('SIGINT stops at once, cutting what is in flight', async (t) => {
  const a = await slowOrigin('s1', 5000)
  const p = await startPortico(basicConfig([a], { global: 'drain_timeout = "30s"' }))
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  const slow = request(p.port, { path: '/slow' }).then((r) => `status ${r.status}`, (err: Error) => `error ${err.message}`)
  await until(() => a.inFlight === 1, 'the slow request to reach the origin')
  const startMs = Date.now()
  p.proc.kill('SIGINT')
  const code = await p.exited
  t.ok(Date.now() - startMs < 2000, `exited in ${Date.now() - startMs}ms`)
  t.equal(code, 130, 'exit code 130 (128 + SIGINT)')
  t.match(await slow, /^error/, 'the in-flight request was cut')
})

t.test('SIGUSR1 reopens the access log: after a rename, new lines go to a new file and none is lost', async (t) => {
  const a = await startOrigin('s1')
  const logDir = mkdtempSync(join(tmpdir(), 'portico-log-'))
  t.teardown(() => rmSync(logDir, { recursive: true, force: true }))
  const accessFile = join(logDir, 'access.log')
  const p = await startPortico(basicConfig([a]).replace('access = "off"', `access = "${accessFile}"`))
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())
  const burst = async (tag: string, n: number): Promise<void> => {
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      const r = await request(p.port, { path: `/${tag}/${i}`, agent })
      if (r.status !== 200) throw new Error(`/${tag}/${i}: ${r.status}`)
    }))
  }
  await burst('before', 40)
  // Every line of the first burst is in the file before it is moved (they travel worker → ring →
  // main thread → file, a few ms behind the responses).
  await until(() => existsSync(accessFile) && readFileSync(accessFile, 'utf8').split('\n').length > 40, 'the 40 first access lines in the file')
  renameSync(accessFile, accessFile + '.1')
  // Lines written between the rename and the reopen still land in the renamed file: that is fine.
  await burst('between', 20)
  p.proc.kill('SIGUSR1')
  await p.waitFor(/"event":"logs_reopened"/)
  await burst('after', 40)
  p.proc.kill('SIGTERM')
  t.equal(await p.exited, 0)
  t.ok(existsSync(accessFile), 'a new access.log was created')
  const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '')
  const rotated = lines(accessFile + '.1')
  const fresh = lines(accessFile)
  const paths = [...rotated, ...fresh].map((l) => (JSON.parse(l) as Record<string, unknown>))
  t.equal(paths.length, 100, `every request has exactly one line (${rotated.length} rotated + ${fresh.length} new)`)
  const text = (ls: string[]): string => ls.join('\n')
  t.ok(fresh.length > 0 && /\/after\//.test(text(fresh)), 'requests after the reopen are in the new file')
  t.notOk(/\/after\//.test(text(rotated)), 'no request after the reopen went to the rotated file')
  t.notOk(/\/before\//.test(text(fresh)), 'requests from before the rename stay in the rotated file')
})

t.test('a worker thread that crashes is replaced; the process serves on and logs the error with its stack', async (t) => {
  const a = await startOrigin('s1')
  const adminDir = mkdtempSync(join(tmpdir(), 'portico-admin-'))
  t.teardown(() => rmSync(adminDir, { recursive: true, force: true }))
  const admin = join(adminDir, 'admin.sock')
  const metricsPort = await freePort()
  const p = await startPortico(basicConfig([a], {
    tail: `[runtime]\nadmin_socket = "${admin}"\nmetrics = "127.0.0.1:${metricsPort}"\n`,
  }), { env: { PORTICO_TEST_FAULTS: '1' } })
  t.teardown(async () => { await p.stop('SIGKILL'); await a.close() })
  await p.waitFor(/"event":"started"/)
  const threads = async (): Promise<string[]> =>
    (await runtimeCommand(admin, 'show workers')).split('\n').filter((l) => /^\d+ /.test(l)).map((l) => l.split(' ')[0])
  const before = await threads()
  t.equal(before.length, 2, `two worker threads: ${before}`)
  const crash = await request(p.port, { path: '/__portico_test_crash__' }).then((r) => `status ${r.status}`, (err: Error) => `error ${err.message}`)
  t.comment(`the crashing request: ${crash}`)
  const logged = await p.waitFor(/"event":"worker_error"/)
  const rec = JSON.parse(logged) as { err?: { stack?: string }; lostConnections?: number }
  t.match(rec.err?.stack ?? '', /test fault[\s\S]*worker\.ts/, 'the error is logged with its stack')
  const replaced = JSON.parse(await p.waitFor(/"event":"worker_replaced"/)) as { lostConnections?: number; msg?: string }
  // The crashing request's own connection was open on the thread (counted in its slot since the main thread sent it).
  t.ok((replaced.lostConnections ?? 0) >= 1, `the connections lost with the thread are counted: ${replaced.msg}`)
  let after: string[] = []
  for (let i = 0; i < 100; i++) {
    after = await threads()
    if (after.length === 2 && after.some((id) => !before.includes(id))) break
    await sleep(100)
  }
  t.equal(after.length, 2, `two worker threads again: ${after}`)
  t.equal(after.filter((id) => !before.includes(id)).length, 1, 'exactly one of them is new')
  for (let i = 0; i < 10; i++) {
    const r = await request(p.port, { path: `/after/${i}` })
    t.equal(r.status, 200, `request ${i} after the crash`)
  }
  const stats = JSON.parse((await request(metricsPort, { path: '/api/stats' })).text) as { workerErrors?: number }
  t.equal(stats.workerErrors, 1, 'the crash is counted (workerErrors)')
  // The connections the dead thread held leave the listener's gauge (its slot's share is taken back);
  // the requests above have closed theirs. Bounded: 50 polls, 100 ms apart.
  let active = -1
  for (let i = 0; i < 50; i++) {
    const s = JSON.parse((await request(metricsPort, { path: '/api/stats' })).text) as { listeners: Array<{ activeConnections: number }> }
    active = s.listeners.reduce((sum, l) => sum + l.activeConnections, 0)
    if (active === 0) break
    await sleep(100)
  }
  t.equal(active, 0, 'no connection is still counted as open on the listener once all have closed')
  t.equal(p.proc.exitCode, null, 'the process is still running')
})

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/** A free port below 1024 (only root can bind it). */
async function lowPort(): Promise<number> {
  for (let port = 900; port < 1000; port++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port in 900..999')
}

function idsOf(status: string): { uid: string[]; gid: string[] } {
  const uid = /^Uid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/) ?? []
  const gid = /^Gid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/) ?? []
  return { uid, gid }
}

t.test('as root with global.user/group: binds a port below 1024, then every thread runs as nobody:nogroup', { skip: !isRoot && 'needs root' }, async (t) => {
  const a = await startOrigin('s1')
  const port = await lowPort()
  const toml = basicConfig([a], { global: 'user = "nobody"\ngroup = "nogroup"' }).replace('{{PORT}}', String(port))
  const { dir, file } = writeConfig(toml)
  // Reloads read the file as nobody: it must be readable by that user, as in a real deployment.
  chmodSync(dir, 0o755)
  chmodSync(file, 0o644)
  const proc = spawn(process.execPath, [CLI, '-c', file], { env: { ...process.env, PORTICO_ALLOW_ROOT: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  t.teardown(async () => { proc.kill('SIGKILL'); await exited; await a.close() })
  await until(() => /"event":"started"/.test(stderr) || proc.exitCode !== null, 'portico to start', 20_000)
  t.equal(proc.exitCode, null, `running: ${stderr}`)
  const r = await request(port, { path: '/as-nobody' })
  t.equal(r.status, 200, `served on port ${port}`)
  const nobody = '65534'
  const main = idsOf(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))
  t.same(main.uid, [nobody, nobody, nobody, nobody], 'process Uid: real, effective, saved, fs = nobody')
  t.same(main.gid, [nobody, nobody, nobody, nobody], 'process Gid = nogroup')
  const tasks = readdirSync(`/proc/${proc.pid}/task`)
  const rootThreads = tasks.filter((tid) => {
    try {
      return idsOf(readFileSync(`/proc/${proc.pid}/task/${tid}/status`, 'utf8')).uid.some((id) => id !== nobody)
    } catch { return false }
  })
  t.same(rootThreads, [], `none of the ${tasks.length} threads (workers included) kept root`)
  // A reload starts new worker threads as nobody: they must still be able to load the code.
  proc.kill('SIGHUP')
  await until(() => /"event":"reloaded"/.test(stderr) || /"event":"reload_failed"/.test(stderr), 'the reload', 20_000)
  t.match(stderr, /"event":"reloaded"/, 'a reload works after dropping privileges')
  t.equal((await request(port, { path: '/after-reload' })).status, 200)
})

t.test('as root without global.user: refuses to run, says how to fix it, exit 1', { skip: !isRoot && 'needs root' }, async (t) => {
  const a = await startOrigin('s1')
  t.teardown(() => a.close())
  const { file } = writeConfig(basicConfig([a]).replace('{{PORT}}', String(await freePort())))
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (k !== 'PORTICO_ALLOW_ROOT' && v !== undefined) env[k] = v
  const proc = spawn(process.execPath, [CLI, '-c', file], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => { stderr += d })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)))
  clearTimeout(timer)
  t.equal(code, 1, 'exit 1')
  t.match(stderr, /running as root without global\.user/, 'the message names the problem')
  t.match(stderr, /global\.allow_root/, 'and the way to run as root on purpose')
})
