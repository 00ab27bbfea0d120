// The piscina task module of a worker thread. Loading it builds this thread's WorkerContext for its
// generation (workerData) and its ClientFront (TLS servers, h2c); each task is one accepted
// connection, adopted here and served until it closes, when the task settles. Worker threads
// only; nothing here imports main/.

import { workerData } from 'node:worker_threads'
import net from 'node:net'
import type { Socket } from 'node:net'
import type { ConnectionTask, WorkerInit } from '../shared/worker-init.ts'
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
const ownListeners = new WorkerListeners(ctx, (socket, listener) => { void front.adopt(socket, listener) })
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

export default function serveConnection(task: ConnectionTask): Promise<void> {
  const socket = rewrap(task.socket)
  // piscina's task loop holds `task` until the connection closes; it must not hold the husk.
  task.socket = null as never
  const closed = front.adopt(socket, task.listener)
  if (IS_TEST_FAULTS && init.config.listeners[task.listener].tls === null) socket.once('data', crashOnTestPath)
  return closed
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
