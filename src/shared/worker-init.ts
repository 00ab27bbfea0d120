// What the main thread hands each worker thread of a generation (piscina workerData) and what it
// sends per connection (a piscina task). Plain, structured-clonable data; both threads import it.

import type { CellBuffers } from './cells.ts'
import type { Config } from './config/types.ts'
import type { Socket } from 'node:net'

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
  /** A freshly accepted socket, never read on the main thread (accepted with pauseOnConnect). */
  socket: Socket
  /** Index of the listener in this generation's config. */
  listener: number
}

/** Record kinds on the ring: the first byte of every record. */
export const RecordKind = {
  /** An access-log line: JSON, no trailing newline. */
  Access: 0x41,
  /** An event for the error log: JSON with level, msg and fields. */
  Event: 0x45,
} as const
