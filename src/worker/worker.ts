// The piscina task module of a worker thread. Loading it builds this thread's WorkerContext for its
// generation (workerData) and its ClientFront (TLS servers, h2c), and gives the main thread a
// MessagePort of this thread's own: accepted connections arrive on it, one message each, and are
// adopted here. A piscina task carries a connection only while no thread's port has reached the
// main thread yet; it settles as soon as the connection is adopted. Worker threads only; nothing
// here imports main/.

import { MessageChannel, parentPort, threadId, workerData } from 'node:worker_threads'
import net from 'node:net'
import type { Socket } from 'node:net'
import { DISPATCH_PORT } from '../shared/worker-init.ts'
import type { ConnectionTask, DispatchPortMessage, WorkerInit } from '../shared/worker-init.ts'
import { WorkerContext } from './context.ts'
import { Session } from './session.ts'
import { H2Connection } from './http2/connection.ts'
import { ClientFront } from './http2/front.ts'
import { WorkerListeners } from './accept.ts'
import { startIdleGc } from '../shared/idle-gc.ts'

const init = workerData as WorkerInit
const ctx = new WorkerContext(init)
// Certificates are read here, once per worker per generation: a reload re-reads them.
const front = new ClientFront(ctx, init.ticketKeys)
// Listeners with accept = "workers": this thread also accepts on its own SO_REUSEPORT socket.
const ownListeners = new WorkerListeners(ctx, (socket, listener) => front.adopt(socket, listener, false))
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
  serve(task.socket, task.listener, true)
}

/** A connection sent as a piscina task (no thread's port had reached the main thread yet). */
export default function serveConnection(task: ConnectionTask): void {
  serve(task.socket, task.listener, false)
  // The task settles now; piscina must not keep the husk until then.
  task.socket = null as never
}

function serve(transferred: Socket, listener: number, isCounted: boolean): void {
  const socket = rewrap(transferred)
  front.adopt(socket, listener, isCounted)
  if (IS_TEST_FAULTS && init.config.listeners[listener].tls === null) socket.once('data', crashOnTestPath)
}

/**
 * A socket that came through postMessage is rebuilt by Node in dictionary mode (its properties
 * in a hash table): 1.6 KiB more per connection than an accepted one, and slower property access
 * on every read and write. A fresh Socket around the same handle is an ordinary one. The handle
 * is open and not yet read (the main thread accepted it paused and nothing has run since it
 * arrived); the new Socket takes it over (owner, onread) and starts reading as an accepted one.
 * `_handle` is net.Socket's internal field (the one Node's own cluster code hands around); the
 * Node version is pinned in package.json, and every e2e test with accept = "main" goes through here.
 */
function rewrap(transferred: Socket): Socket {
  const husk = transferred as unknown as { _handle: object | null }
  const handle = husk._handle
  if (handle === null) return transferred
  husk._handle = null
  return new net.Socket({ handle } as unknown as net.SocketConstructorOpts)
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
