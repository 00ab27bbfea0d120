// Writes of one event-loop iteration leave together (worker/write-batch.ts): nothing is sent
// before the iteration's check phase, everything is sent after it, in order, and a socket that
// closed in between does no harm. Real loopback sockets.

import t from 'tap'
import net from 'node:net'
import type { Socket } from 'node:net'
import { once } from 'node:events'
import { WriteBatch } from '../../src/worker/write-batch.ts'

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0]

/** A connected pair: `client` writes, `server` reads everything into `received`. */
async function pair(t: TapTest): Promise<{ client: Socket; received: () => string; closed: Promise<unknown> }> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const client = net.connect({ port, host: '127.0.0.1' })
  const [accepted] = (await once(server, 'connection')) as [Socket]
  await once(client, 'connect')
  let text = ''
  accepted.setEncoding('latin1')
  accepted.on('data', (s: string) => { text += s })
  const closed = once(accepted, 'close')
  t.teardown(() => { client.destroy(); accepted.destroy(); server.close() })
  return { client, received: () => text, closed }
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
}

t.test('writes wait for the check phase, then go out in order, one uncork per socket', async (t) => {
  const a = await pair(t)
  const b = await pair(t)
  const batch = new WriteBatch()
  t.ok(batch.write(a.client, Buffer.from('one,')))
  batch.write(b.client, 'x-')
  batch.write(a.client, 'two,')
  a.client.write('three') // a direct write after batched ones still comes after them
  batch.write(b.client, Buffer.from('y'))
  t.equal(a.client.writableCorked, 1, 'corked once however many writes')
  t.equal(a.client.writableLength, 'one,two,three'.length, 'held, not sent')
  await new Promise((r) => setImmediate(r))
  t.equal(a.client.writableCorked, 0)
  t.equal(b.client.writableCorked, 0)
  await until(() => a.received() === 'one,two,three' && b.received() === 'x-y')
  t.equal(a.received(), 'one,two,three')
  t.equal(b.received(), 'x-y')
  // A later iteration corks afresh.
  batch.write(a.client, '!')
  t.equal(a.client.writableCorked, 1)
  await until(() => a.received().endsWith('!'))
  t.equal(a.received(), 'one,two,three!')
})

t.test('end() and destroy() before the flush: no throw, ended data still delivered', async (t) => {
  const a = await pair(t)
  const b = await pair(t)
  const batch = new WriteBatch()
  batch.write(a.client, 'last words')
  a.client.end() // end uncorks: the data goes out, then FIN
  batch.write(b.client, 'never')
  b.client.destroy()
  await new Promise((r) => setImmediate(r))
  await a.closed
  t.equal(a.received(), 'last words')
  await b.closed
  t.equal(b.received(), '')
})

t.test('the write return value reports a full socket as socket.write does', async (t) => {
  const a = await pair(t)
  const batch = new WriteBatch()
  t.ok(batch.write(a.client, Buffer.alloc(1024)))
  t.notOk(batch.write(a.client, Buffer.alloc(64 * 1024)), 'past the 16 KiB high-water mark')
  t.equal(a.client.writableLength, 65 * 1024)
  await new Promise((r) => setImmediate(r))
  await until(() => a.received().length === 65 * 1024)
  t.equal(a.received().length, 65 * 1024)
})
