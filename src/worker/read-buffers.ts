// Two read buffers used in turn by a socket whose bytes are written on as they are read: an
// upstream response relayed to its client (upstream/pool.ts), a request body streamed to its
// upstream (session.ts). The buffer read into last may still be queued on the socket it was
// written to. The other is read into again only if that socket had nothing queued when the last
// read arrived (so its bytes have gone); otherwise a fresh buffer takes its place and the old one
// is left to the write queue and GC. Worker threads only.

export class ReadBufferPair {
  private readonly size: number
  private last: Buffer | null = null
  private other: Buffer | null = null
  /** The socket the bytes go to had nothing queued when the last read arrived: `other` is free. */
  private isOtherFree = true

  constructor(size: number) {
    this.size = size
  }

  /** A read has arrived; `queuedBytes`: what the socket its bytes are written to holds right now. */
  noteRead(queuedBytes: number): void {
    this.isOtherFree = queuedBytes === 0
  }

  /** `buf` is the buffer handed out last (the read just made went into it). */
  isLast(buf: Buffer): boolean {
    return buf === this.last
  }

  /** The buffer for the next read. */
  next(): Buffer {
    const next = this.other !== null && this.isOtherFree ? this.other : Buffer.allocUnsafeSlow(this.size)
    this.other = this.last
    this.last = next
    return next
  }

  /** Forget both buffers (whatever still holds one keeps it alive). */
  clear(): void {
    this.last = null
    this.other = null
    this.isOtherFree = true
  }
}
