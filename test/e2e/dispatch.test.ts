// Dispatch: the main thread hands each new connection to the worker thread with the fewest open
// connections whose event loop is alive (a heartbeat in the cells), so a thread that is stuck
// does not get an equal share of new connections.

import t from 'tap'
import { basicConfig, rawExchange, request, startOrigin, startPortico } from './harness.ts'

t.test('a stalled worker thread gets no new connections while another is free', async (t) => {
  const a = await startOrigin('s1')
  const p = await startPortico(basicConfig([a]), { env: { PORTICO_TEST_FAULTS: '1' } })
  t.teardown(async () => { await p.stop(); await a.close() })
  // Warm both threads up.
  for (let i = 0; i < 4; i++) await request(p.port)
  // One thread stalls for 3 s (its connection stays open meanwhile, so that thread looks busy).
  const stalled = rawExchange(p.port, 'GET /__portico_test_block__ HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 6000, timeoutMs: 8000 })
  await new Promise((resolve) => setTimeout(resolve, 400))
  const started = Date.now()
  const latencies: number[] = []
  for (let i = 0; i < 12 && Date.now() - started < 2000; i++) {
    const t0 = Date.now()
    const r = await request(p.port, { path: `/d${i}` })
    if (r.status !== 200) t.fail(`request ${i}: ${r.status}`)
    latencies.push(Date.now() - t0)
  }
  t.ok(latencies.length >= 3, `${latencies.length} requests went through while one thread was stalled`)
  // Handing connections out in turn would leave every other one waiting for the stalled thread;
  // dispatch by open connections and heartbeat (generation.ts leastConnections) sends none there.
  // One is tolerated for a machine so loaded that the free thread's own heartbeat looks stale.
  const slow = latencies.filter((ms) => ms > 1000)
  t.ok(slow.length <= 1, `at most one waited for the stalled thread (latencies: ${latencies.join(', ')} ms)`)
  const blocked = await stalled
  t.match(blocked.text, /^HTTP\/1\.1 200/, 'the stalled thread answers its own connection afterwards')
})
