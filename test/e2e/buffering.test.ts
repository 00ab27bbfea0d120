// request_buffering = true: the body is collected (up to max_buffered_body) before a server is
// chosen, so a POST whose server resets the connection is sent again to another server; a larger
// body falls back to streaming and is not retried.

import t from 'tap'
import { basicConfig, request, startOrigin, startPortico } from './harness.ts'

t.test('a buffered POST is retried on the other server after a reset; too large a body is not', async (t) => {
  const resetting = await startOrigin('bad', (req) => { req.socket.destroy() })
  const good = await startOrigin('good', (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { res.setHeader('x-server', 'good'); res.end(`got ${Buffer.concat(chunks).length}`) })
  })
  const toml = basicConfig([resetting, good], {
    upstream: 'retries = 1\neject_after = 0',
    route: 'request_buffering = true\nmax_buffered_body = "64KB"',
  }).replace('workers = 2', 'workers = 1')
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await resetting.close(); await good.close() })
  const body = 'x'.repeat(10_000)
  for (let i = 0; i < 6; i++) {
    const r = await request(p.port, { method: 'POST', path: `/b${i}`, body, headers: { 'content-type': 'text/plain' } })
    t.equal(r.status, 200, `buffered POST ${i} answered`)
    t.equal(r.text, 'got 10000', 'the whole body reached the good server')
  }
  t.ok(resetting.requests.length >= 2, `the resetting server was tried too (${resetting.requests.length} times) and each was retried`)

  // 200 KB > max_buffered_body: streamed, so a reset can't be retried.
  const large = 'y'.repeat(200_000)
  const statuses = new Set<number>()
  for (let i = 0; i < 4; i++) {
    const r = await request(p.port, { method: 'POST', path: `/l${i}`, body: large })
    statuses.add(r.status)
  }
  t.ok(statuses.has(502), 'a streamed body that hit the resetting server got 502')
  t.ok(statuses.has(200), 'and the good server still answered the others')
})
