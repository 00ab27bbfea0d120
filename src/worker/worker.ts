// The piscina task module of a worker thread. Loading it builds this thread's WorkerContext for its
// generation (workerData); each task is one accepted connection, adopted here and served until it
// closes, when the task settles. Worker threads only; nothing here imports main/.

import { workerData } from 'node:worker_threads'
import type { Socket } from 'node:net'
import type { ConnectionTask, WorkerInit } from '../shared/worker-init.ts'
import { WorkerContext } from './context.ts'
import { Session } from './session.ts'

const ctx = new WorkerContext(workerData as WorkerInit)
ctx.onDrain = () => {
  for (const s of ctx.sessions) (s as Session).drainIfIdle()
}

// An error thrown outside any request's handlers is a bug: let the thread die loudly (piscina
// replaces it and the main thread logs it) rather than serve on in an unknown state.

export default function serveConnection(task: ConnectionTask): Promise<void> {
  const socket: Socket = task.socket
  const session = new Session(ctx, socket, task.listener, false)
  if (IS_TEST_FAULTS) socket.once('data', crashOnTestPath)
  return session.promise
}

// ── TEST-ONLY fault hook (test/e2e/lifecycle.test.ts, issue 6) ─────────────────────────────────
// With PORTICO_TEST_FAULTS=1 in the environment, a connection whose first request is
// `GET /__portico_test_crash__` makes this thread throw an uncaught error on the next turn: the
// crash-recovery test needs a real dying thread. Off (one boolean read per connection) otherwise.
const IS_TEST_FAULTS = process.env.PORTICO_TEST_FAULTS === '1'
const CRASH_REQUEST = 'GET /__portico_test_crash__ '

function crashOnTestPath(chunk: Buffer): void {
  if (chunk.latin1Slice(0, CRASH_REQUEST.length) !== CRASH_REQUEST) return
  setImmediate(() => { throw new Error('test fault: worker thread crash requested by PORTICO_TEST_FAULTS') })
}
