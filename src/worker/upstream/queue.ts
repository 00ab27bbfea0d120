// The per-upstream wait queue of one worker thread: requests that found every eligible server at
// max_connections_per_server wait here in arrival order (FIFO) until a slot frees or
// timeouts.queue expires. A ring buffer, not Array#shift. Worker threads only.

export interface Waiter {
  /** False once the waiter gave up (queue timeout, client gone): skipped and dropped. */
  isQueued: boolean
  /** Try to get a server now; true when it did (and has left the queue). */
  tryLeaveQueue(): boolean
}

export class WaitQueue {
  private items: Array<Waiter | null> = new Array(16).fill(null)
  private head = 0
  private tail = 0
  private size = 0

  get length(): number {
    return this.size
  }

  push(w: Waiter): void {
    if (this.size === this.items.length) this.grow()
    this.items[this.tail] = w
    this.tail = (this.tail + 1) & (this.items.length - 1)
    this.size++
    w.isQueued = true
  }

  private grow(): void {
    const old = this.items
    const next: Array<Waiter | null> = new Array(old.length * 2).fill(null)
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & (old.length - 1)]
    this.items = next
    this.head = 0
    this.tail = this.size
  }

  /**
   * Serve waiters in order while they can get a server. Stops at the first one that can't, so a
   * later arrival never overtakes an earlier one.
   */
  retry(): void {
    while (this.size > 0) {
      const w = this.items[this.head] as Waiter
      if (w.isQueued && !w.tryLeaveQueue()) return
      this.items[this.head] = null
      this.head = (this.head + 1) & (this.items.length - 1)
      this.size--
    }
  }
}
