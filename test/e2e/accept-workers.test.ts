// accept = "workers": every worker thread accepts on its own SO_REUSEPORT socket beside the main
// thread's. Traffic is served whichever socket the kernel picks, the threads' own connections are
// counted like the others, and a stop still drains them.

import t from 'tap'
import { spawnSync } from 'node:child_process'
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
  // The main thread's socket plus one per worker thread share the port.
  const ss = spawnSync('ss', ['-Htln', `sport = :${p.port}`], { encoding: 'utf8' })
  if (ss.status === 0) t.equal(ss.stdout.trim().split('\n').length, 3, `three listen sockets on the port:\n${ss.stdout}`)
  else t.comment('ss (iproute2) not available: listen sockets not counted')
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
