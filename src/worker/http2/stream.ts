// One HTTP/2 stream of a client connection (connection.ts), server side, on a worker thread: its
// state (RFC 9113 §5.1), its two flow-control windows (§5.2), the request body bytes held while its
// owner is paused, and the response bytes held while the client's window is shut. The owner (an
// H2Exchange) is called directly, through the StreamOwner interface: no EventEmitter, no closure
// per stream.

import type { H2Connection } from './connection.ts'

/** What a stream tells the one that serves it. */
export interface StreamOwner {
  /** Request body bytes (a view of the read buffer: keep a reference, never the memory after return). */
  onRequestData(chunk: Buffer): void
  /** The client ended the request body (END_STREAM), after the last onRequestData. */
  onRequestEnd(): void
  /** write() returned false earlier; the stream can take more now. */
  onStreamDrain(): void
  /** The stream is closed (completed, reset by either side, or its connection went away). Once, asynchronously. */
  onStreamClose(): void
}

/**
 * Response bytes queued on a stream beyond this make write() return false (the owner pauses its
 * upstream). node:http2's stream high-water mark is the same.
 */
const STREAM_HIGH_WATER = 16384

export class H2Stream {
  readonly conn: H2Connection
  readonly id: number
  owner: StreamOwner | null = null
  /** What the client may still send us on this stream (our receive window). */
  recvWindow: number
  /** Bytes handed to the owner that our receive window has not been credited with yet. */
  recvUnacked = 0
  /** What we may still send (the client's window for this stream); may go below 0 (SETTINGS). */
  sendWindow: number
  /** Request content-length, or -1; and the body bytes received so far (RFC 9113 §8.1.1). */
  expectedLength = -1
  receivedLength = 0
  /** The client sent END_STREAM (or the stream was reset). */
  isRemoteEnded = false
  /** The owner called end(); END_STREAM goes out with the last queued byte. */
  isLocalEnded = false
  /** END_STREAM or RST_STREAM has been sent. */
  isLocalDone = false
  hasResponded = false
  isClosed = false
  isPaused = false
  /** Request body held while paused; `heldEnd`: END_STREAM came after them. */
  held: Buffer[] | null = null
  /** The next of `held` to hand over (an index, not shift(): a body may come in many small frames). */
  heldNext = 0
  heldBytes = 0
  heldEnd = false
  /** Response body waiting for window: buffers, and the offset already sent of the first. */
  queue: Buffer[] | null = null
  queueOffset = 0
  queuedBytes = 0
  /** write() returned false: call onStreamDrain when the queue is short again. */
  needsDrain = false
  /** In the connection's list of streams waiting for connection window. */
  isBlocked = false

  constructor(conn: H2Connection, id: number, recvWindow: number, sendWindow: number) {
    this.conn = conn
    this.id = id
    this.recvWindow = recvWindow
    this.sendWindow = sendWindow
  }

  // ── for the owner ───────────────────────────────────────────────────────────────────────────

  /**
   * Send the response head: `list` is [name, value, …] with ':status' first, names lowercase,
   * values free of CR, LF and NUL (they come from the HTTP/1.1 parser or from portico).
   */
  respond(list: readonly string[], endStream: boolean): void {
    if (this.isLocalDone || this.hasResponded) return
    this.hasResponded = true
    if (endStream) {
      this.isLocalEnded = true
      this.isLocalDone = true
    }
    this.conn.sendHeaders(this, list, endStream)
    if (endStream) this.localFinished()
  }

  /** An interim (1xx) response head before the final one. */
  interim(list: readonly string[]): void {
    if (this.isLocalDone || this.hasResponded) return
    this.conn.sendHeaders(this, list, false)
  }

  /** Response body bytes; false when the owner should wait for onStreamDrain. `data` is kept until sent. */
  write(data: Buffer): boolean {
    if (this.isLocalDone || this.isLocalEnded) return true
    if (data.length > 0) this.conn.sendData(this, data, false)
    if (this.mayWrite()) return true
    this.needsDrain = true
    return false
  }

  /** The last response bytes (optional), then END_STREAM. */
  end(data: Buffer | null = null): void {
    if (this.isLocalDone || this.isLocalEnded) return
    this.isLocalEnded = true
    if (!this.hasResponded) this.respond(EMPTY_200, false)
    this.conn.sendData(this, data, true)
  }

  /** RST_STREAM(code): the stream is over for both sides. */
  reset(code: number): void {
    if (this.isClosed) return
    this.conn.resetStream(this, code)
  }

  /** Stop handing request body to the owner; the client's window is not credited meanwhile. */
  pause(): void {
    this.isPaused = true
  }

  resume(): void {
    if (!this.isPaused) return
    this.isPaused = false
    if (this.held !== null || this.heldEnd) this.conn.deliverHeld(this)
  }

  // ── for the connection ──────────────────────────────────────────────────────────────────────

  mayWrite(): boolean {
    return this.queuedBytes < STREAM_HIGH_WATER && !this.conn.isSocketFull
  }

  /** Our END_STREAM is out (with its queued bytes): done on our side. */
  localFinished(): void {
    this.isLocalDone = true
    this.conn.localFinished(this)
  }
}

/** What end() sends when the owner never responded (not expected: owners always respond first). */
const EMPTY_200: readonly string[] = [':status', '200']
