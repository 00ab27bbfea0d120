// Hot reload end to end (SIGHUP and the admin socket's `reload`): a steady keep-alive load through
// ten reloads that each change a route and a weight, with nothing failed; listeners kept, added and
// removed by bind address; an invalid config refused with its key path while the old one serves.

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canConnect, freePort, request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin, Portico } from './harness.ts'

// Reloads wait for each new generation's threads: on a busy 2-core machine that is seconds each.
t.setTimeout(300_000)

/**
 * TODO(issue 6): remove once src/worker/session.ts has the drain change from the issue 6 report.
 * Today a draining worker closes every idle keep-alive connection at once, so a client's next
 * request, already on its way, meets the FIN ("socket hang up", which node's http does not retry),
 * and it closes fresh connections whose first request has not been read yet. The change closes an
 * idle connection only after 1 s of quiet (a busy one gets `connection: close` on its next
 * response) and serves a fresh connection once. With it both checks pass (15k requests, 0 errors).
 */

/** Generation `gen`'s config: route `/v<gen>/` exists only in it; s2's weight alternates 0 / 100. */
function reloadConfig(port: number | string, a: Origin, b: Origin, gen: number): string {
  return `
[global]
workers = 2
drain_timeout = "5s"
[log]
access = "off"
[[listeners]]
name = "web"
bind = "127.0.0.1:${port}"
[[routes]]
name = "v${gen}"
path_prefix = "/v${gen}/"
upstream = "app"
[[routes]]
name = "load"
path_prefix = "/load/"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${a.port}"
weight = 100
[[upstreams.servers]]
name = "s2"
address = "127.0.0.1:${b.port}"
weight = ${gen % 2 === 0 ? 0 : 100}
`
}

/** Wait for the log line that says generation `gen` took over. */
function reloaded(p: Portico, gen: number): Promise<string> {
  return p.waitFor(new RegExp(`"event":"reloaded".*"generation":${gen}\\b`), 10_000)
}

interface LoadStats {
  ok: number
  badStatus: Map<number, number>
  /** Errors on a connection that had already carried a request (the keep-alive close race). */
  reusedErrors: string[]
  /** Errors on a fresh connection: refused, reset, hang-ups. */
  freshErrors: string[]
}

/**
 * `clients` loops, each sending GETs one after the other on a shared keep-alive agent until
 * `until()` is true. Every outcome is counted; nothing is retried.
 */
async function steadyLoad(port: number, clients: number, until: () => boolean, stats: LoadStats): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients })
  const one = (n: number): Promise<void> => new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/load/${n}`, agent }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode === 200) stats.ok++
        else stats.badStatus.set(res.statusCode ?? 0, (stats.badStatus.get(res.statusCode ?? 0) ?? 0) + 1)
        resolve()
      })
      res.on('error', (err) => { stats.freshErrors.push(`response: ${err.message}`); resolve() })
    })
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.on('error', (err: NodeJS.ErrnoException) => {
      (req.reusedSocket ? stats.reusedErrors : stats.freshErrors).push(`${err.code ?? ''} ${err.message}`)
      resolve()
    })
    req.end()
  })
  const loop = async (c: number): Promise<void> => {
    for (let i = 0; i < 1_000_000 && !until(); i++) await one(c * 1_000_000 + i)
  }
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)))
  agent.destroy()
}

t.test('ten reloads under a steady keep-alive load: nothing fails, each new config is in effect', async (t) => {
  const a = await startOrigin('s1')
  const b = await startOrigin('s2')
  const p = await startPortico(reloadConfig('{{PORT}}', a, b, 1))
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  await p.waitFor(/"event":"started"/)
  const live = p.port
  const stats: LoadStats = { ok: 0, badStatus: new Map(), reusedErrors: [], freshErrors: [] }
  let isDone = false
  const load = steadyLoad(live, 50, () => isDone, stats)
  const startedMs = Date.now()
  await sleep(300)
  for (let gen = 2; gen <= 11; gen++) {
    writeFileSync(p.file, reloadConfig(live, a, b, gen))
    const before = stats.ok
    p.proc.kill('SIGHUP')
    await reloaded(p, gen)
    // The new route answers at once on a new connection; the previous generation's is gone.
    const fresh = await request(live, { path: `/v${gen}/x` })
    t.equal(fresh.status, 200, `generation ${gen}: /v${gen}/ answers`)
    const gone = await request(live, { path: `/v${gen - 1}/x` })
    t.equal(gone.status, 404, `generation ${gen}: /v${gen - 1}/ is gone`)
    if (gen % 2 === 0) {
      // s2 has weight 0 in this generation: new connections only reach s1.
      const who = new Set<string>()
      for (let i = 0; i < 6; i++) who.add(String((await request(live, { path: `/v${gen}/w${i}` })).headers['x-server']))
      t.same([...who], ['s1'], `generation ${gen}: weight 0 keeps s2 out`)
    }
    await sleep(Math.max(0, startedMs + (gen - 1) * 900 - Date.now()))
    t.ok(stats.ok > before, `generation ${gen}: the load kept flowing (${stats.ok - before} requests)`)
  }
  await sleep(Math.max(0, startedMs + 10_000 - Date.now()))
  isDone = true
  await load
  t.ok(stats.ok > 2000, `steady load: ${stats.ok} requests answered`)
  t.same(Object.fromEntries(stats.badStatus), {}, 'no request got an error status')
  t.same(stats.freshErrors, [], 'no connection error')
  t.same(stats.reusedErrors, [], 'no keep-alive connection was closed under a request')
  t.notOk(p.stderr.some((l) => /"level":50/.test(l)), 'no error logged')
})

/** Two origins and a config with the given listeners ("name=port"), one route per listener name. */
function listenersConfig(a: Origin, listeners: Array<[string, number | string]>): string {
  return `
[global]
workers = 2
drain_timeout = "5s"
[log]
access = "off"
${listeners.map(([name, port]) => `[[listeners]]\nname = "${name}"\nbind = "127.0.0.1:${port}"\n`).join('\n')}
[[routes]]
name = "all"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${a.port}"
`
}

t.test('reload keeps unchanged listeners open throughout, opens added ones and closes removed ones', async (t) => {
  const a = await startOrigin('s1')
  const removedPort = await freePort()
  const addedPort = await freePort()
  const p = await startPortico(listenersConfig(a, [['kept', '{{PORT}}'], ['removed', removedPort]]))
  t.teardown(async () => { await p.stop(); await a.close() })
  await p.waitFor(/"event":"started"/)
  t.equal((await request(removedPort)).status, 200, 'the listener to be removed serves before the reload')
  t.notOk(await canConnect(addedPort), 'the listener to be added is not open yet')
  // Connect to the kept listener in a tight loop across the whole reload: not one refusal.
  let isDone = false
  let connects = 0
  const refusals: string[] = []
  const prober = (async () => {
    for (let i = 0; i < 100_000 && !isDone; i++) {
      if (await canConnect(p.port)) connects++
      else refusals.push(`attempt ${i}`)
    }
  })()
  writeFileSync(p.file, listenersConfig(a, [['kept', p.port], ['added', addedPort]]))
  p.proc.kill('SIGHUP')
  await reloaded(p, 2)
  await sleep(200)
  isDone = true
  await prober
  t.same(refusals, [], `the kept listener never refused a connection (${connects} connects during the reload)`)
  t.ok(connects > 10, 'the probe ran during the reload')
  t.equal((await request(p.port)).status, 200, 'the kept listener serves generation 2')
  t.equal((await request(addedPort)).status, 200, 'the added listener serves')
  t.notOk(await canConnect(removedPort), 'the removed listener is closed')
})

t.test('an invalid config on reload is refused with its key path; the running config keeps serving', async (t) => {
  const a = await startOrigin('s1')
  const b = await startOrigin('s2')
  const p = await startPortico(reloadConfig('{{PORT}}', a, b, 1))
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  await p.waitFor(/"event":"started"/)
  writeFileSync(p.file, reloadConfig(p.port, a, b, 2).replace('weight = 100', 'weight = 300'))
  p.proc.kill('SIGHUP')
  const line = await p.waitFor(/"event":"reload_failed"/)
  const rec = JSON.parse(line) as { level: number; problems: Array<{ path: string; line: number }>; msg: string }
  t.equal(rec.level, 50, 'logged at error level')
  t.same(rec.problems.map((x) => x.path), ['upstreams[0].servers[0].weight'], 'the problem carries its key path')
  t.ok(rec.problems[0].line > 0, 'and its line')
  t.match(rec.msg, /still serving the previous config/)
  t.equal((await request(p.port, { path: '/v1/x' })).status, 200, 'generation 1 still serves its route')
  t.equal((await request(p.port, { path: '/v2/x' })).status, 404, "the refused config's route does not exist")
  // Fixed, the next reload goes through.
  writeFileSync(p.file, reloadConfig(p.port, a, b, 2))
  p.proc.kill('SIGHUP')
  await reloaded(p, 2)
  t.equal((await request(p.port, { path: '/v2/x' })).status, 200, 'the corrected config is in effect')
})

t.test('reload on the admin socket: the reply says which generation, or what is wrong', async (t) => {
  const a = await startOrigin('s1')
  const b = await startOrigin('s2')
  const adminDir = mkdtempSync(join(tmpdir(), 'portico-admin-'))
  t.teardown(() => rmSync(adminDir, { recursive: true, force: true }))
  const admin = join(adminDir, 'admin.sock')
  const runtime = `[runtime]\nadmin_socket = "${admin}"\n`
  const p = await startPortico(reloadConfig('{{PORT}}', a, b, 1) + runtime)
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  await p.waitFor(/"event":"started"/)
  writeFileSync(p.file, reloadConfig(p.port, a, b, 2) + runtime)
  t.match(await adminCommand(admin, 'reload'), /^generation 2\n/, 'a good file: the new generation number')
  t.equal((await request(p.port, { path: '/v2/x' })).status, 200, 'its route answers')
  writeFileSync(p.file, reloadConfig(p.port, a, b, 3).replace('path_prefix = "/v3/"', 'path_prefix = "v3"') + runtime)
  const reply = await adminCommand(admin, 'reload')
  t.match(reply, /routes\[0\]\.path_prefix/, `a bad file: the problem with its key path (${reply.trim()})`)
  t.equal((await request(p.port, { path: '/v2/x' })).status, 200, 'generation 2 keeps serving')
})

t.test('a burst of SIGHUPs runs at most two reloads and ends on the file as last written', async (t) => {
  const a = await startOrigin('s1')
  const b = await startOrigin('s2')
  const p = await startPortico(reloadConfig('{{PORT}}', a, b, 1))
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  await p.waitFor(/"event":"started"/)
  writeFileSync(p.file, reloadConfig(p.port, a, b, 2))
  for (let i = 0; i < 5; i++) p.proc.kill('SIGHUP')
  await reloaded(p, 2)
  // A reload asked for while one runs is queued once; give a queued one time to finish.
  await sleep(3000)
  const reloads = p.stderr.filter((l) => /"event":"reloaded"/.test(l)).length
  t.ok(reloads >= 1 && reloads <= 2, `five signals, ${reloads} reloads`)
  t.equal((await request(p.port, { path: '/v2/x' })).status, 200, 'the last written config is in effect')
  t.notOk(p.stderr.some((l) => /"level":50/.test(l)), 'nothing failed')
})

function adminCommand(path: string, command: string, timeoutMs = 30_000): Promise<string> {
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
