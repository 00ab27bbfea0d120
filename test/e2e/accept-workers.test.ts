// accept = "workers": every worker thread accepts on its own SO_REUSEPORT socket beside the main
// thread's. Traffic is served whichever socket the kernel picks, the threads' own connections are
// counted like the others, and a stop still drains them.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { basicConfig, request, startOrigin, startPortico } from './harness.ts'

t.test('accept = "workers": worker threads accept themselves and serve every request', async (t) => {
  const a = await startOrigin('s1')
  const toml = basicConfig([a]).replace('bind = "127.0.0.1:{{PORT}}"', 'bind = "127.0.0.1:{{PORT}}"\naccept = "workers"')
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await a.close() })
  await p.waitFor(/"event":"started"/)
  const statuses: number[] = []
  for (let i = 0; i < 60; i++) statuses.push((await request(p.port, { path: `/n${i}` })).status)
  t.equal(statuses.filter((s) => s === 200).length, 60, 'all 60 new-connection requests answered')
  t.equal(a.requests.length, 60)
  t.notOk(p.stderr.some((l) => l.includes('worker_listen_failed')), 'every thread could bind its own socket')
  // Once both threads listen, the main thread closes its own socket: one per worker thread remains.
  await p.waitFor(/"event":"worker_listeners"/)
  const sockets = (): number => {
    const ss = spawnSync('ss', ['-Htln', `sport = :${p.port}`], { encoding: 'utf8' })
    return ss.status === 0 ? ss.stdout.trim().split('\n').filter((l) => l.length > 0).length : -1
  }
  const before = sockets()
  if (before >= 0) t.equal(before, 2, 'two listen sockets on the port, the worker threads\'')
  else t.comment('ss (iproute2) not available: listen sockets not counted')
  for (let i = 0; i < 20; i++) statuses.push((await request(p.port, { path: `/m${i}` })).status)
  t.equal(statuses.filter((s) => s === 200).length, 80, 'served by the threads alone')

  // A reload: the main thread holds the port while the new threads start, then steps out again.
  const steppedOut = p.stderr.filter((l) => l.includes('"event":"worker_listeners"')).length
  p.proc.kill('SIGHUP')
  await p.waitFor(/configuration reloaded/)
  const deadline = Date.now() + 15_000
  while (p.stderr.filter((l) => l.includes('"event":"worker_listeners"')).length === steppedOut && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(p.stderr.filter((l) => l.includes('"event":"worker_listeners"')).length > steppedOut, 'the new generation\'s threads took the port over')
  for (let i = 0; i < 20; i++) statuses.push((await request(p.port, { path: `/r${i}` })).status)
  t.equal(statuses.filter((s) => s === 200).length, 100, 'and serve after the reload')
  if (before >= 0) {
    // The old generation's sockets close as it drains.
    const until = Date.now() + 5000
    while (sockets() !== 2 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(sockets(), 2, 'two listen sockets again')
  }
  // The tcp_migrate_req advice: given once when the setting is 0, never when it is 1 or absent.
  let migrate: string | null = null
  try { migrate = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() } catch { /* not Linux ≥ 5.14 */ }
  const advice = p.stderr.filter((l) => l.includes('"event":"reload_may_reset"'))
  if (migrate === '0') {
    t.equal(advice.length, 1, 'net.ipv4.tcp_migrate_req is 0 here: the advice is logged once, not on every reload')
    t.match(advice[0], /"level":40.*set net\.ipv4\.tcp_migrate_req = 1/, 'as a warning that says what to set')
  } else {
    t.equal(advice.length, 0, `net.ipv4.tcp_migrate_req is ${migrate ?? 'absent'}: nothing to advise`)
  }
})

t.test('accept = "workers": SIGTERM lets a slow request on a thread-accepted connection finish', async (t) => {
  const slow = await startOrigin('slow', (req, res) => { setTimeout(() => res.end('done'), 800) })
  const toml = basicConfig([slow]).replace('workers = 2', 'workers = 1')
    .replace('bind = "127.0.0.1:{{PORT}}"', 'bind = "127.0.0.1:{{PORT}}"\naccept = "workers"')
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await slow.close() })
  await p.waitFor(/"event":"started"/)
  // Several in flight, so some land on the worker's own socket whatever the kernel's hash does.
  const pending = Array.from({ length: 6 }, (_, i) => request(p.port, { path: `/s${i}` }))
  await new Promise((resolve) => setTimeout(resolve, 300))
  p.proc.kill('SIGTERM')
  const replies = await Promise.all(pending)
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200], 'every in-flight request completed')
  t.equal(await p.exited, 0, 'then exit 0')
})
