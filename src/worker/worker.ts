// The piscina task module of a worker thread. Loading it builds this thread's WorkerContext for its
// generation (workerData) and its ClientFront (TLS servers, h2c), and gives the main thread a
// MessagePort of this thread's own: accepted connections arrive on it, one message each, and are
// adopted here. A piscina task carries a connection only while no thread's port has reached the
// main thread yet; it settles as soon as the connection is adopted. Worker threads only; nothing
// here imports main/.

import { MessageChannel, parentPort, threadId, workerData } from 'node:worker_threads'
import net from 'node:net'
import { DISPATCH_PORT } from '../shared/worker-init.ts'
import { detachHandle } from '../shared/socket-handle.ts'
import type { ConnectionTask, DispatchPortMessage, WorkerInit } from '../shared/worker-init.ts'
import { WorkerContext } from './context.ts'
import { Session, ownReadSocket } from './session.ts'
import { H2Connection } from './http2/connection.ts'
import { ClientFront } from './http2/front.ts'
import { WorkerListeners } from './accept.ts'
import { startIdleGc } from '../shared/idle-gc.ts'

const init = workerData as WorkerInit
const ctx = new WorkerContext(init)
// Certificates are read here, once per worker per generation: a reload re-reads them.
const front = new ClientFront(ctx, init.ticketKeys)
// Listeners with accept = "workers": this thread also accepts on its own SO_REUSEPORT socket.
const ownListeners = new WorkerListeners(ctx, (socket, listener) => {
  const handle = detachHandle(socket)
  if (handle !== null) serve(handle, listener, false)
})
// A generation's threads live as long as it serves; each gives memory back once quiet (shared/idle-gc.ts).
startIdleGc(() => ctx.config.global.idleGc, (pauseMs, freedBytes) => {
  const ms = Math.round(pauseMs)
  const mib = Math.round(freedBytes / 1048576)
  ctx.event('debug', { event: 'idle_gc', pauseMs: ms, freedMiB: mib }, `worker thread quiet after a burst: full GC, ${mib} MiB of heap given back in ${ms} ms`)
})
ctx.onDrain = () => {
  ownListeners.close()
  for (const s of ctx.sessions) {
    // HTTP/1.1: idle keep-alive connections close now; HTTP/2: GOAWAY, open streams finish.
    if (s instanceof Session) s.drainIfIdle()
    else if (s instanceof H2Connection) s.drain()
  }
}

// An error thrown outside any request's handlers is a bug: let the thread die loudly (piscina
// replaces it and the main thread logs it) rather than serve on in an unknown state.

// Why not one piscina task per connection: a task lives until it settles, so the task record (and
// its promise) would sit on both threads for the connection's whole life, about 1.6 KiB per idle
// connection, and every close would cost a "task done" message that wakes the main thread. The
// port carries one message per connection and nothing comes back: the main thread counted the
// connection in this thread's slot (cells) when it sent it, and the count goes down on close.
const dispatch = new MessageChannel()
dispatch.port1.on('message', onDispatched)
const portMessage: DispatchPortMessage = { kind: DISPATCH_PORT, threadId, slot: ctx.slot, port: dispatch.port2 }
;(parentPort as NonNullable<typeof parentPort>).postMessage(portMessage, [dispatch.port2])

function onDispatched(task: ConnectionTask): void {
  serve(task.handle, task.listener, true)
}

/** A connection sent as a piscina task (no thread's port had reached the main thread yet). */
export default function serveConnection(task: ConnectionTask): void {
  serve(task.handle, task.listener, false)
  // The task settles now; piscina must not keep the handle's wrapper until then.
  task.handle = null as never
}

/**
 * Serve a connection on a Socket built here from its handle: one the main thread sent (its
 * TCPWrap, see main/generation.ts dispatch) or one this thread accepted itself (accept.ts), so
 * that cleartext HTTP/1.1 reads into portico's buffers either way. The main thread sends the
 * handle, not the Socket: a Socket that comes through postMessage is rebuilt by Node in
 * dictionary mode (1.6 KiB more per connection, slower property access on every read and
 * write), and building it is wasted when a fresh one has to be made anyway. The handle is open
 * and not yet read (accepted paused); the new Socket takes it over and reads as an accepted one.
 */
function serve(handle: object, listener: number, isCounted: boolean): void {
  const l = init.config.listeners[listener]
  // Cleartext HTTP/1.1 reads into portico's own buffers (session.ts CLIENT_READ_BYTES). Not TLS
  // (node:tls reads the handle itself), not h2c (the sniffer reads the first bytes with 'data'),
  // and not with the test fault hooks, which listen for 'data' (not emitted with onread).
  const isOwnRead = l.tls === null && !l.protocols.includes('h2c') && !IS_TEST_FAULTS
  const socket = isOwnRead ? ownReadSocket(handle) : new net.Socket({ handle } as unknown as net.SocketConstructorOpts)
  front.adopt(socket, listener, isCounted)
  if (IS_TEST_FAULTS && l.tls === null) socket.once('data', crashOnTestPath)
}

// ── TEST-ONLY fault hooks (test/e2e/lifecycle.test.ts, test/e2e/dispatch.test.ts) ───────────────
// With PORTICO_TEST_FAULTS=1 in the environment, a cleartext connection whose first request is
// `GET /__portico_test_crash__` makes this thread throw an uncaught error on the next turn (the
// crash-recovery test needs a real dying thread), and one whose first request is
// `GET /__portico_test_block__` stalls this thread's event loop for 3 s (a slow thread, for the
// dispatch test). Off (one boolean read per connection) otherwise.
const IS_TEST_FAULTS = process.env.PORTICO_TEST_FAULTS === '1'
const CRASH_REQUEST = 'GET /__portico_test_crash__ '
const BLOCK_REQUEST = 'GET /__portico_test_block__ '
const BLOCK_MS = 3000

function crashOnTestPath(chunk: Buffer): void {
  const line = chunk.latin1Slice(0, CRASH_REQUEST.length)
  if (line === CRASH_REQUEST) {
    setImmediate(() => { throw new Error('test fault: worker thread crash requested by PORTICO_TEST_FAULTS') })
  } else if (line === BLOCK_REQUEST) {
    setImmediate(() => {
      const until = Date.now() + BLOCK_MS
      while (Date.now() < until) { /* a thread busy with something slow */ }
    })
  }
}
