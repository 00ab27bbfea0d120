import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { failureOf, parseStatusLine, probe } from '../../../src/main/health/probe.ts'
import type { ProbeResult } from '../../../src/main/health/probe.ts'
import { closedPort } from './fixture.ts'

/** A raw TCP server on 127.0.0.1:0 that hands each connection to `onConn`. */
async function rawServer(t: Test, onConn: (socket: Socket, request: string) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let request = ''
    socket.on('data', (chunk) => {
      request += chunk.toString('latin1')
      if (request.includes('\r\n\r\n')) onConn(socket, request)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

function run(port: number, timeoutMs = 500, hostHeader = 'app.test'): Promise<ProbeResult> {
  return new Promise((resolve) => probe({ host: '127.0.0.1', port, path: '/health', hostHeader, timeoutMs }, resolve))
}

t.test('status lines are parsed strictly', async (t) => {
  t.equal(parseStatusLine('HTTP/1.1 200 OK'), 200)
  t.equal(parseStatusLine('HTTP/1.0 503 Service Unavailable'), 503)
  t.equal(parseStatusLine('HTTP/1.1 204'), 204)
  t.equal(parseStatusLine('HTTP/1.1 404 '), 404)
  t.equal(parseStatusLine('HTTP/1.1 200 caf\xe9'), 200, 'obs-text in the reason phrase')
  for (const bad of ['HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 600 Nope', 'HTTP/1.1 099 x', 'http/1.1 200 OK',
    'HTTP/2 200 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 200OK', ' HTTP/1.1 200 OK', 'HTTP/1.1 200 O\x00K', 'SSH-2.0-OpenSSH', '']) {
    t.equal(parseStatusLine(bad), 0, JSON.stringify(bad))
  }
})

t.test('socket errors map to the reasons we log', async (t) => {
  t.equal(failureOf('ECONNREFUSED'), 'refused')
  t.equal(failureOf('ECONNRESET'), 'reset')
  t.equal(failureOf('EPIPE'), 'reset')
  t.equal(failureOf('ETIMEDOUT'), 'timeout')
  t.equal(failureOf('EHOSTUNREACH'), 'unreachable')
  t.equal(failureOf('ENOTFOUND'), 'unreachable')
})

t.test('a probe sends one raw GET with the health headers and reads the status', async (t) => {
  let seen = ''
  const port = await rawServer(t, (socket, request) => {
    seen = request
    socket.end('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n')
  })
  const r = await run(port, 500, 'api.example.com')
  t.equal(r.statusCode, 204)
  t.equal(r.failure, null)
  t.ok(r.elapsedMs >= 0 && r.elapsedMs < 500)
  t.equal(seen, 'GET /health HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: portico-health\r\nAccept: */*\r\nConnection: close\r\n\r\n')
})

t.test('a status line split over several packets is reassembled', async (t) => {
  const port = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 5')
    setTimeout(() => socket.write('03 Busy\r'), 20)
    setTimeout(() => socket.end('\n\r\n'), 40)
  })
  const r = await run(port)
  t.same([r.statusCode, r.failure], [503, null])
})

t.test('a 500 is a status, not a failure: the checker decides', async (t) => {
  const port = await rawServer(t, (socket) => socket.end('HTTP/1.1 500 Internal Server Error\r\n\r\n'))
  const r = await run(port)
  t.same([r.statusCode, r.failure], [500, null])
})

t.test('garbage, bare LF and an over-long first line are invalid responses', async (t) => {
  for (const answer of ['SSH-2.0-OpenSSH_9.2\r\n', 'HTTP/1.1 200 OK\n\n', 'HTTP/1.1 200 ' + 'x'.repeat(2000)]) {
    const port = await rawServer(t, (socket) => socket.end(answer))
    const r = await run(port)
    t.same([r.statusCode, r.failure], [0, 'invalid response'], JSON.stringify(answer.slice(0, 24)))
  }
})

t.test('a close after a partial line is invalid, a close without a byte is a reset', async (t) => {
  const partial = await rawServer(t, (socket) => socket.end('HTTP/1.1 2'))
  t.equal((await run(partial)).failure, 'invalid response')
  const silent = await rawServer(t, (socket) => socket.end())
  t.equal((await run(silent)).failure, 'reset')
  const rst = await rawServer(t, (socket) => socket.resetAndDestroy())
  t.equal((await run(rst)).failure, 'reset')
})

t.test('a closed port is refused', async (t) => {
  const r = await run(await closedPort())
  t.same([r.statusCode, r.failure], [0, 'refused'])
})

t.test('a server that never answers times out after timeoutMs', async (t) => {
  const port = await rawServer(t, () => {})
  const r = await run(port, 150)
  t.same([r.statusCode, r.failure], [0, 'timeout'])
  t.ok(r.elapsedMs >= 140 && r.elapsedMs < 1000, `elapsed ${r.elapsedMs}`)
})

t.test('cancel destroys the socket and never reports', async (t) => {
  let closed = false
  const port = await rawServer(t, (socket) => socket.on('close', () => { closed = true }))
  let reported = false
  const handle = probe({ host: '127.0.0.1', port, path: '/health', hostHeader: 'x', timeoutMs: 100 }, () => { reported = true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  handle.cancel()
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(reported, false, 'no result after cancel, not even the timeout')
  t.equal(closed, true, 'the server saw the connection close')
})
