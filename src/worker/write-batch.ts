// Writes made while the worker handles one batch of socket events go out together, at the end
// of that event-loop iteration, rather than one by one as each read is handled. Worker threads
// only; one WriteBatch per worker thread.
//
// Why: every write to a loopback (or any) socket whose reader sleeps in epoll_wait wakes that
// reader. Written one by one, interleaved with our own reads, the peer (client or upstream
// server) is woken, handles one message and sleeps again, once per message; in a VM each
// wake-up is an inter-processor interrupt, and the profile showed it as the largest kernel cost
// per keep-alive request (perf/RESULTS.md). Corking each socket on its first write and
// uncorking all of them in one setImmediate (the check phase, right after the poll phase that
// delivered the reads) sends the same bytes with the same number of write syscalls, in one
// burst per loop iteration, as event-driven C proxies do. Latency cost: none beyond the rest of
// the current iteration.

import type { Socket } from 'node:net'

export class WriteBatch {
  /** Sockets corked since the last flush; two arrays, swapped by `flush`, reused, never shrunk. */
  private corked: Socket[] = []
  private flushing: Socket[] = []
  private count = 0
  private isScheduled = false

  constructor() {
    this.flush = this.flush.bind(this)
  }

  /**
   * Queue `data` (a string is latin1) on `socket` for this iteration's flush; returns what
   * `socket.write` returned (false: past the stream's high-water mark). Ordering with direct
   * `socket.write` calls is kept: a corked socket queues those too, and `end()` uncorks first.
   */
  write(socket: Socket, data: Buffer | string): boolean {
    if (socket.writableCorked === 0) {
      socket.cork()
      this.corked[this.count++] = socket
      if (!this.isScheduled) {
        this.isScheduled = true
        setImmediate(this.flush)
      }
    }
    return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data)
  }

  /** Uncork every socket corked since the last flush: each sends what it holds in one write(v). */
  flush(): void {
    // Swap first: a write made while we uncork (none is expected, the stream defers its
    // callbacks) lands in the other array and the next flush, never over one not yet uncorked.
    const sockets = this.corked
    const n = this.count
    this.corked = this.flushing
    this.flushing = sockets
    this.count = 0
    this.isScheduled = false
    for (let i = 0; i < n; i++) {
      const socket = sockets[i]
      sockets[i] = undefined as unknown as Socket
      if (socket.writableCorked > 0) socket.uncork()
    }
  }
}
