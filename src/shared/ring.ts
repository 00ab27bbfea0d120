// Single-producer/single-consumer byte ring over a SharedArrayBuffer: carries records (access-log
// lines, events) from one worker thread (the producer) to the main thread (the consumer). The
// producer never blocks: a record that does not fit is dropped and counted. The consumer reads
// whole records and sleeps with Atomics.waitAsync, so its event loop is never blocked.
//
// Layout (Int32 cells; the three hot cells sit on separate 64-byte cache lines so the producer's
// stores to HEAD do not invalidate the line the consumer stores TAIL into, and vice versa):
//
//   byte 0    64        128        192       256                               256 + capacity
//   ┌─────────┬─────────┬──────────┬─────────┬──────────────────────────────────────────────┐
//   │ HEAD    │ TAIL    │ WAITING  │ (spare) │ data: records, each 4-byte aligned           │
//   │ DROPPED │         │          │         │ [ len:i32 | bytes… | pad to 4 ] [ -1 ] …     │
//   │ CAPACITY│         │          │         │                                              │
//   └─────────┴─────────┴──────────┴─────────┴──────────────────────────────────────────────┘
//
// HEAD and TAIL are free-running byte counters (wrapping at 2^32, compared with `>>> 0`); the
// offset in the data area is `pos & (capacity - 1)`. Only the producer writes HEAD and DROPPED,
// only the consumer writes TAIL. A record never straddles the end of the data area: when it does
// not fit before the end, the producer writes a padding marker (length -1) and starts the record
// at offset 0, so the consumer can hand out contiguous views without copying. Because a record
// plus the padding before it must fit in an empty ring wherever HEAD happens to be, a record may
// take at most half the capacity (`maxRecordBytes`).
//
// Ordering: JS Atomics are sequentially consistent. The producer fills the data bytes with plain
// stores, then publishes with Atomics.store(HEAD); a consumer that Atomics.loads the new HEAD sees
// the bytes. Symmetrically the consumer frees space with Atomics.store(TAIL) only after it is done
// with the bytes (drain stores TAIL every 32 records and when it returns).
//
// Wake-up without a notify per record: before sleeping the consumer stores a fresh nonzero
// epoch in WAITING, re-reads HEAD, and sleeps on HEAD (Atomics.waitAsync compares HEAD under the
// same lock Atomics.notify takes). After every publish the producer reads WAITING; when it is set
// it notifies, and only if that woke the sleeper does it clear WAITING — with a compare-exchange
// on the epoch it read, so it can never clear a newer sleep's flag. The consumer clears WAITING
// itself once awake (on its next read/drain). Why not "producer exchanges WAITING to 0, then
// notifies": a publish whose records the consumer has already read can take the flag of the
// consumer's next sleep and notify before that sleep is registered; the next publish then sees 0
// and the consumer sleeps with data in the ring (seen in ring-threads.test.ts as a timed-out wait).
// Here, with SC atomics: if the consumer's HEAD check passes, any later publish stores HEAD after
// it, then reads WAITING — still the sleep's epoch, because only a notify that woke the sleeper
// clears it — and notifies a waiter that is already registered.

const HEAD = 0
const DROPPED = 1
const CAPACITY = 2
const TAIL = 16
const WAITING = 32
const HEADER_BYTES = 256
const PADDING = -1
const MIN_CAPACITY = 64
const MAX_CAPACITY = 1 << 30
/** drain gives space back (stores TAIL) every 32 records, not after each: one store less per record. */
const TAIL_BATCH_MASK = 31

/** Bytes a record of `len` payload bytes occupies: length prefix + payload, rounded up to 4. */
function footprint(len: number): number {
  return 4 + ((len + 3) & ~3)
}

export class Ring {
  /**
   * A new, empty ring buffer with `capacityBytes` of data (a power of two, 64 B .. 1 GiB) plus
   * a 256-byte header. Hand the buffer to both threads and wrap it with `new Ring(sab)` on each.
   */
  static allocate(capacityBytes: number): SharedArrayBuffer {
    if (!Number.isInteger(capacityBytes) || capacityBytes < MIN_CAPACITY || capacityBytes > MAX_CAPACITY ||
      (capacityBytes & (capacityBytes - 1)) !== 0) {
      throw new RangeError(`ring capacity ${capacityBytes}: must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY} bytes`)
    }
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacityBytes)
    new Int32Array(sab, 0, HEADER_BYTES >> 2)[CAPACITY] = capacityBytes
    return sab
  }

  /** Largest payload `write`/`writeString` accept for a ring of `capacityBytes`. */
  static maxRecordBytes(capacityBytes: number): number {
    return (capacityBytes >> 1) - 4
  }

  readonly capacity: number
  /** Largest payload accepted: half the capacity minus the length prefix. Larger records are dropped. */
  readonly maxRecordBytes: number
  private readonly header: Int32Array
  private readonly data32: Int32Array
  private readonly data: Buffer
  private readonly bytes: Uint8Array
  private readonly mask: number
  // Producer-side state (meaningful only in the producer's Ring instance).
  private head: number
  private cachedTail: number
  private reservedOffset: number
  private reservedBytes: number
  // Consumer-side state (meaningful only in the consumer's Ring instance).
  private tail: number
  private cachedHead: number
  private recordStart: number
  private recordEnd: number
  private sleepEpoch: number
  private isWaitFlagSet: boolean

  constructor(sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER_BYTES >> 2)
    const capacity = Atomics.load(this.header, CAPACITY)
    if (capacity < MIN_CAPACITY || (capacity & (capacity - 1)) !== 0 || sab.byteLength !== HEADER_BYTES + capacity) {
      throw new RangeError(`ring buffer of ${sab.byteLength} bytes with capacity cell ${capacity}: not made by Ring.allocate`)
    }
    this.capacity = capacity
    this.maxRecordBytes = Ring.maxRecordBytes(capacity)
    this.data32 = new Int32Array(sab, HEADER_BYTES, capacity >> 2)
    // A Buffer view (not a copy): Buffer#write encodes UTF-8 straight into the ring, and the
    // views `drain` hands out can be decoded with toString() without copying.
    this.data = Buffer.from(sab, HEADER_BYTES, capacity)
    // Plain view for `read`: Uint8Array#slice copies (Buffer#slice would return a view).
    this.bytes = new Uint8Array(sab, HEADER_BYTES, capacity)
    this.mask = capacity - 1
    this.head = Atomics.load(this.header, HEAD)
    this.cachedTail = Atomics.load(this.header, TAIL)
    this.reservedOffset = 0
    this.reservedBytes = 0
    this.tail = this.cachedTail
    this.cachedHead = this.head
    this.recordStart = 0
    this.recordEnd = 0
    this.sleepEpoch = 0
    this.isWaitFlagSet = false
  }

  // ── producer ────────────────────────────────────────────────────────────────────────────────

  /**
   * Append one record. Never blocks: returns false and counts a drop when the ring has no room
   * or the record is larger than `maxRecordBytes`. Producer thread only.
   */
  write(record: Uint8Array): boolean {
    const len = record.length
    if (len > this.maxRecordBytes || !this.reserve(footprint(len))) return this.drop()
    const off = this.reservedOffset
    this.data32[off >> 2] = len
    this.data.set(record, off + 4)
    this.publish(this.reservedBytes)
    return true
  }

  /**
   * Append `s` as one UTF-8 record, encoded straight into the ring (no intermediate buffer).
   * Same drop rules as `write`. Producer thread only.
   */
  writeString(s: string): boolean {
    // Fast path: encode into whatever contiguous free space there is. UTF-8 needs at least one
    // byte per UTF-16 unit, so s.length bytes is a lower bound on the size.
    const off = this.head & this.mask
    const free = this.capacity - ((this.head - this.cachedTail) >>> 0)
    let window = this.capacity - off
    if (free < window) window = free
    if (window > this.maxRecordBytes + 4) window = this.maxRecordBytes + 4
    window -= 4
    if (s.length <= window) {
      const written = this.data.write(s, off + 4, window, 'utf8')
      // Buffer#write stops before a character that does not fit whole, and a character is at
      // most 4 bytes: 4 or more bytes left over means the whole string went in.
      if (written + 4 <= window || written === Buffer.byteLength(s, 'utf8')) {
        this.data32[off >> 2] = written
        this.publish(footprint(written))
        return true
      }
    }
    // Slow path (near the end of the data area, or the cached tail was stale): size it exactly.
    const len = Buffer.byteLength(s, 'utf8')
    if (len > this.maxRecordBytes || !this.reserve(footprint(len))) return this.drop()
    const at = this.reservedOffset
    this.data.write(s, at + 4, len, 'utf8')
    this.data32[at >> 2] = len
    this.publish(this.reservedBytes)
    return true
  }

  /**
   * Find room for `need` contiguous bytes, writing a padding marker when the record must wrap to
   * offset 0. Sets reservedOffset (data offset of the record) and reservedBytes (HEAD advance,
   * padding included). Re-reads TAIL only when the cached value says there is no room.
   */
  private reserve(need: number): boolean {
    const off = this.head & this.mask
    const untilEnd = this.capacity - off
    const total = need <= untilEnd ? need : untilEnd + need
    if (total > this.capacity - ((this.head - this.cachedTail) >>> 0)) {
      this.cachedTail = Atomics.load(this.header, TAIL)
      if (total > this.capacity - ((this.head - this.cachedTail) >>> 0)) return false
    }
    if (need <= untilEnd) {
      this.reservedOffset = off
    } else {
      // untilEnd >= 4 because every record is 4-byte aligned, so the marker always fits.
      this.data32[off >> 2] = PADDING
      this.reservedOffset = 0
    }
    this.reservedBytes = total
    return true
  }

  private publish(bytes: number): void {
    this.head = (this.head + bytes) | 0
    Atomics.store(this.header, HEAD, this.head)
    // A single load on the common path (nobody sleeping). See the header comment for why the
    // flag is cleared only after a notify that woke someone, and only if it is the same epoch.
    const epoch = Atomics.load(this.header, WAITING)
    if (epoch !== 0 && Atomics.notify(this.header, HEAD) !== 0) {
      Atomics.compareExchange(this.header, WAITING, epoch, 0)
    }
  }

  private drop(): false {
    Atomics.add(this.header, DROPPED, 1)
    return false
  }

  // ── consumer ────────────────────────────────────────────────────────────────────────────────

  /** The next whole record as a copy (safe to keep), or null when the ring is empty. Consumer only. */
  read(): Uint8Array | null {
    if (this.isWaitFlagSet) this.clearWaitFlag()
    if (!this.nextRecord()) return null
    const copy = this.bytes.slice(this.recordStart, this.recordEnd)
    Atomics.store(this.header, TAIL, this.tail)
    return copy
  }

  /**
   * Hand up to `max` records (default: all there are) to `onRecord`, oldest first; returns how
   * many. `bytes` is a view into the ring, valid only until `onRecord` returns (decode it with
   * `bytes.toString()`, or copy it). Consumer only; `onRecord` must not read from this ring.
   * A record whose `onRecord` throws counts as read.
   */
  drain(onRecord: (bytes: Buffer) => void, max = Infinity): number {
    if (this.isWaitFlagSet) this.clearWaitFlag()
    let n = 0
    while (n < max && this.nextRecord()) {
      onRecord(this.data.subarray(this.recordStart, this.recordEnd))
      if ((++n & TAIL_BATCH_MASK) === 0) Atomics.store(this.header, TAIL, this.tail)
    }
    if (n !== 0) Atomics.store(this.header, TAIL, this.tail)
    return n
  }

  /**
   * `drain` without creating a view per record (a typed-array view costs more than a small
   * record's copy): the record is `data[start, end)`, e.g. `data.toString('utf8', start, end)`.
   * `data` is the whole data area, valid only until `onRecord` returns. Consumer only.
   */
  drainRanges(onRecord: (data: Buffer, start: number, end: number) => void, max = Infinity): number {
    if (this.isWaitFlagSet) this.clearWaitFlag()
    let n = 0
    while (n < max && this.nextRecord()) {
      onRecord(this.data, this.recordStart, this.recordEnd)
      if ((++n & TAIL_BATCH_MASK) === 0) Atomics.store(this.header, TAIL, this.tail)
    }
    if (n !== 0) Atomics.store(this.header, TAIL, this.tail)
    return n
  }

  /**
   * Find the next record: set recordStart/recordEnd (data offsets) and move the local tail past
   * it (and past a padding marker before it). TAIL itself is stored by the caller once the bytes
   * are no longer needed. False when the ring is empty.
   */
  private nextRecord(): boolean {
    if (this.tail === this.cachedHead) {
      this.cachedHead = Atomics.load(this.header, HEAD)
      if (this.tail === this.cachedHead) return false
    }
    let off = this.tail & this.mask
    let len = this.data32[off >> 2]
    let skipped = 0
    if (len === PADDING) {
      skipped = this.capacity - off
      off = 0
      len = this.data32[0]
    }
    this.recordStart = off + 4
    this.recordEnd = off + 4 + len
    this.tail = (this.tail + skipped + footprint(len)) | 0
    return true
  }

  /**
   * Sleep until the producer may have written. Returns null when records are there already
   * (drain now), else a promise that resolves ('ok') on the producer's next record or on
   * `wake()`, or ('timed-out') after `timeoutMs` (default: no timeout). Never blocks the event
   * loop. A pending wait, even a timed one, does not keep a Node process alive: something else
   * (a listener, a timer) must. Consumer only; one wait at a time.
   */
  waitAsync(timeoutMs = Infinity): Promise<'ok' | 'timed-out'> | null {
    this.sleepEpoch = (this.sleepEpoch + 1) | 0 || 1
    Atomics.store(this.header, WAITING, this.sleepEpoch)
    this.isWaitFlagSet = true
    const head = Atomics.load(this.header, HEAD)
    if (head !== this.tail) {
      this.clearWaitFlag()
      return null
    }
    const result = Atomics.waitAsync(this.header, HEAD, head, timeoutMs)
    if (!result.async) {
      this.clearWaitFlag()
      return null
    }
    return result.value
  }

  /** Awake again: stop the producer's notifies (it may have cleared the flag already). */
  private clearWaitFlag(): void {
    Atomics.store(this.header, WAITING, 0)
    this.isWaitFlagSet = false
  }

  /** Resolve a pending `waitAsync` now (for shutdown). Any thread. */
  wake(): void {
    Atomics.notify(this.header, HEAD)
  }

  /** Records dropped so far because they did not fit. Any thread. */
  dropped(): number {
    return Atomics.load(this.header, DROPPED) >>> 0
  }

  /** Bytes in use (records and padding not yet consumed). Any thread; a snapshot. */
  usedBytes(): number {
    return (Atomics.load(this.header, HEAD) - Atomics.load(this.header, TAIL)) >>> 0
  }
}
