// What the main thread hands each worker thread of a generation (piscina workerData), what it
// sends per connection (on the thread's dispatch port, or as a piscina task) and the message that
// gives it that port. Plain, structured-clonable data; both threads import it.

import type { CellBuffers } from './cells.ts'
import type { Config } from './config/types.ts'
import type { MessagePort } from 'node:worker_threads'

export interface WorkerInit {
  config: Config
  generation: number
  buffers: CellBuffers
  /** One SPSC ring per worker slot (ring.ts): worker → main access-log records and events. */
  rings: SharedArrayBuffer[]
  /** TLS session-ticket keys shared by every thread, so resumption works whichever thread gets the connection. */
  ticketKeys: Buffer | null
}

export interface ConnectionTask {
  /**
   * The handle (libuv TCP wrap, net.Socket's `_handle`) of a freshly accepted socket, never read
   * on the main thread (accepted with pauseOnConnect). Transferred: the receiving thread gets its
   * own copy of the descriptor, this thread's is closed.
   */
  handle: object
  /** Index of the listener in this generation's config. */
  listener: number
}

/** `kind` of the message that gives the main thread a worker thread's dispatch port. */
export const DISPATCH_PORT = 'portico.dispatch-port'

/**
 * Sent once by each worker thread (parentPort; piscina re-emits it as the pool's 'message'):
 * connections for this thread go to `port` from now on. `slot` is the thread's worker slot, where
 * its open connections are counted.
 */
export interface DispatchPortMessage {
  kind: typeof DISPATCH_PORT
  threadId: number
  slot: number
  port: MessagePort
}

export function isDispatchPortMessage(m: unknown): m is DispatchPortMessage {
  return typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === DISPATCH_PORT
}

/** Record kinds on the ring: the first byte of every record. */
export const RecordKind = {
  /** An access-log line: JSON, no trailing newline. */
  Access: 0x41,
  /** An event for the error log: JSON with level, msg and fields. */
  Event: 0x45,
} as const
