// Dispatch: the main thread hands each new connection to the least busy worker thread (piscina's
// least-busy balancer), so a thread that is stuck does not get an equal share of new connections.

import t from 'tap'
import { basicConfig, rawExchange, request, startOrigin, startPortico } from './harness.ts'

t.test('a stalled worker thread gets no new connections while another is free', async (t) => {
  const a = await startOrigin('s1')
  const p = await startPortico(basicConfig([a]), { env: { PORTICO_TEST_FAULTS: '1' } })
  t.teardown(async () => { await p.stop(); await a.close() })
  // Warm both threads up.
  for (let i = 0; i < 4; i++) await request(p.port)
  // One thread stalls for 1.5 s (its connection stays open meanwhile, so that thread looks busy).
  const stalled = rawExchange(p.port, 'GET /__portico_test_block__ HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 4000, timeoutMs: 6000 })
  await new Promise((resolve) => setTimeout(resolve, 150))
  const started = Date.now()
  const latencies: number[] = []
  for (let i = 0; i < 20 && Date.now() - started < 1200; i++) {
    const t0 = Date.now()
    const r = await request(p.port, { path: `/d${i}` })
    if (r.status !== 200) t.fail(`request ${i}: ${r.status}`)
    latencies.push(Date.now() - t0)
  }
  t.ok(latencies.length >= 5, `${latencies.length} requests went through while one thread was stalled`)
  const slow = latencies.filter((ms) => ms > 700)
  t.same(slow, [], `none waited for the stalled thread (latencies: ${latencies.join(', ')} ms)`)
  const blocked = await stalled
  t.match(blocked.text, /^HTTP\/1\.1 200/, 'the stalled thread answers its own connection afterwards')
})
