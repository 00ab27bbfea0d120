// Unit tests for src/shared/ring.ts on one thread: framing, wrap-around, full/drop accounting,
// the waiting protocol. The two-thread stress test is ring-threads.test.ts.

import t from 'tap'
import { Ring } from '../../src/shared/ring.ts'

function bytes(len: number, fill: number): Uint8Array {
  return new Uint8Array(len).fill(fill)
}

function pair(capacity: number): { producer: Ring; consumer: Ring } {
  const sab = Ring.allocate(capacity)
  return { producer: new Ring(sab), consumer: new Ring(sab) }
}

t.test('allocate refuses a capacity that is not a power of two in range', async (t) => {
  t.throws(() => Ring.allocate(100), /ring capacity 100: must be a power of two/)
  t.throws(() => Ring.allocate(32), /ring capacity 32/)
  t.throws(() => Ring.allocate(1.5), /ring capacity 1.5/)
  t.equal(new Ring(Ring.allocate(64)).capacity, 64)
  t.equal(new Ring(Ring.allocate(64)).maxRecordBytes, 28)
})

t.test('constructor refuses a buffer not made by allocate', async (t) => {
  t.throws(() => new Ring(new SharedArrayBuffer(1024)), /not made by Ring.allocate/)
})

t.test('an empty ring reads null and drains nothing', async (t) => {
  const { consumer } = pair(64)
  t.equal(consumer.read(), null)
  t.equal(consumer.drain(() => t.fail('no record expected')), 0)
  t.equal(consumer.usedBytes(), 0)
})

t.test('records come out whole, in order, with their lengths (including empty ones)', async (t) => {
  const { producer, consumer } = pair(256)
  t.ok(producer.write(bytes(5, 1)))
  t.ok(producer.write(new Uint8Array(0)))
  t.ok(producer.write(bytes(8, 3)))
  t.same(consumer.read(), bytes(5, 1))
  t.same(consumer.read(), new Uint8Array(0))
  t.same(consumer.read(), bytes(8, 3))
  t.equal(consumer.read(), null)
})

t.test('read returns a copy that stays valid after the space is reused', async (t) => {
  const { producer, consumer } = pair(64)
  producer.write(bytes(20, 7))
  const r = consumer.read()
  for (let i = 0; i < 10; i++) {
    producer.write(bytes(20, 9))
    consumer.read()
  }
  t.same(r, bytes(20, 7))
  t.not(r!.buffer, undefined)
  t.notOk(r!.buffer instanceof SharedArrayBuffer)
})

t.test('exactly full: records filling every byte fit, the next one is dropped', async (t) => {
  const { producer, consumer } = pair(64)
  // 4 records × (4-byte length + 12 bytes) = 64 bytes = capacity.
  for (let i = 0; i < 4; i++) t.ok(producer.write(bytes(12, i)), `record ${i} fits`)
  t.equal(producer.usedBytes(), 64)
  t.notOk(producer.write(new Uint8Array(0)), 'even an empty record does not fit')
  t.equal(producer.dropped(), 1)
  t.same(consumer.read(), bytes(12, 0))
  t.ok(producer.write(bytes(12, 4)), 'space freed by the consumer is reused')
  for (let i = 1; i <= 4; i++) t.same(consumer.read(), bytes(12, i))
  t.equal(consumer.read(), null)
})

t.test('a record larger than capacity, or than half of it, is rejected and counted', async (t) => {
  const { producer, consumer } = pair(64)
  t.notOk(producer.write(bytes(100, 1)))
  t.notOk(producer.write(bytes(64, 1)))
  t.notOk(producer.write(bytes(29, 1)), 'maxRecordBytes + 1')
  t.notOk(producer.writeString('x'.repeat(29)))
  t.equal(producer.dropped(), 4)
  t.equal(consumer.read(), null, 'nothing was written')
  t.ok(producer.write(bytes(28, 2)), 'maxRecordBytes fits')
  t.same(consumer.read(), bytes(28, 2))
})

t.test('a maximum-size record fits in an empty ring wherever head is', async (t) => {
  for (let shift = 0; shift < 64; shift += 4) {
    const r = pair(64)
    // Move head/tail to `shift` with records of 0 bytes (4 bytes each).
    for (let i = 0; i < shift / 4; i++) {
      r.producer.write(new Uint8Array(0))
      r.consumer.read()
    }
    t.ok(r.producer.write(bytes(28, shift)), `fits at offset ${shift}`)
    t.same(r.consumer.read(), bytes(28, shift))
    t.equal(r.producer.dropped(), 0)
  }
})

t.test('a record that would straddle the end wraps to the start behind a padding marker', async (t) => {
  const { producer, consumer } = pair(64)
  // [ 0..40: record A (4+36) ] then B needs 24 bytes but only 24 remain → fits exactly at 40..64.
  t.ok(producer.write(bytes(20, 0xa)))
  t.ok(producer.write(bytes(20, 0xb)))
  t.same(consumer.read(), bytes(20, 0xa))
  t.same(consumer.read(), bytes(20, 0xb))
  // head = tail = 48. C needs 4+20 = 24 > 16 left: padding (16) + C at 0 → head = 88.
  t.ok(producer.write(bytes(20, 0xc)))
  t.equal(producer.usedBytes(), 16 + 24)
  t.same(consumer.read(), bytes(20, 0xc))
  t.equal(consumer.usedBytes(), 0)
  // The padding is counted as used space: with tail at 48, a wrapping record needs 16 + its size.
  const r = pair(64)
  r.producer.write(bytes(20, 1))
  r.producer.write(bytes(20, 2))
  r.consumer.read() // tail 24, head 48: free = 40, untilEnd = 16
  t.notOk(r.producer.write(bytes(24, 3)), '16 padding + 28 record = 44 > 40 free')
  t.ok(r.producer.write(bytes(20, 3)), '16 padding + 24 record = 40 = free')
  t.same(r.consumer.read(), bytes(20, 2))
  t.same(r.consumer.read(), bytes(20, 3))
  t.equal(r.consumer.read(), null)
})

t.test('many records of varying sizes survive thousands of wrap-arounds intact', async (t) => {
  const { producer, consumer } = pair(128)
  let written = 0
  let readBack = 0
  let bad = 0
  for (let i = 0; i < 20_000; i++) {
    const len = (i * 7) % 61 // 0..60, max is 60 = maxRecordBytes
    const rec = new Uint8Array(len)
    for (let j = 0; j < len; j++) rec[j] = (i + j) & 0xff
    while (!producer.write(rec)) {
      const got = consumer.read()!
      if (got.length !== (readBack * 7) % 61) bad++
      for (let j = 0; j < got.length; j++) if (got[j] !== ((readBack + j) & 0xff)) bad++
      readBack++
    }
    written++
  }
  consumer.drain((b) => {
    if (b.length !== (readBack * 7) % 61) bad++
    for (let j = 0; j < b.length; j++) if (b[j] !== ((readBack + j) & 0xff)) bad++
    readBack++
  })
  t.equal(readBack, written)
  t.equal(bad, 0)
})

t.test('positions keep working across the 2^31 and 2^32 wrap of head and tail', async (t) => {
  const sab = Ring.allocate(64)
  // Start both counters just below 2^31 (as signed int32) to cross the sign boundary and, via
  // the unsigned arithmetic, the 2^32 wrap as well.
  const header = new Int32Array(sab, 0, 64)
  header[0] = 0x7fffffe0 | 0
  header[16] = 0x7fffffe0 | 0
  const producer = new Ring(sab)
  const consumer = new Ring(sab)
  for (let i = 0; i < 100; i++) {
    t.ok(producer.write(bytes(12, i)), `write ${i}`)
    t.ok(producer.write(bytes(12, i + 1)))
    t.same(consumer.read(), bytes(12, i))
    t.same(consumer.read(), bytes(12, i + 1))
  }
  const header2 = new Int32Array(sab, 0, 64)
  header2[0] = -32 // 0xffffffe0
  header2[16] = -32
  const p2 = new Ring(sab)
  const c2 = new Ring(sab)
  for (let i = 0; i < 10; i++) {
    t.ok(p2.write(bytes(28, i)))
    t.same(c2.read(), bytes(28, i))
  }
  t.equal(p2.dropped(), 0)
})

t.test('drain hands out views in order, honours max, and frees space', async (t) => {
  const { producer, consumer } = pair(256)
  for (let i = 0; i < 10; i++) producer.writeString(`line ${i}`)
  const seen: string[] = []
  t.equal(consumer.drain((b) => seen.push(b.toString()), 3), 3)
  t.same(seen, ['line 0', 'line 1', 'line 2'])
  t.equal(consumer.drain((b) => seen.push(b.toString())), 7)
  t.equal(seen.length, 10)
  t.equal(seen[9], 'line 9')
  t.equal(consumer.usedBytes(), 0)
  t.equal(consumer.drain(() => t.fail('nothing left')), 0)
})

t.test('drainRanges hands out the same records as offsets into one buffer', async (t) => {
  const { producer, consumer } = pair(512)
  const seen: string[] = []
  let total = 0
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 3; i++) producer.writeString(`r${round}.${i}:` + 'x'.repeat((round * 7 + i) % 40))
    total += consumer.drainRanges((data, start, end) => seen.push(data.toString('utf8', start, end)), round % 2 === 0 ? 2 : Infinity)
  }
  total += consumer.drainRanges((data, start, end) => seen.push(data.toString('utf8', start, end)))
  t.equal(total, 150)
  let bad = 0
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 3; i++) if (seen[round * 3 + i] !== `r${round}.${i}:` + 'x'.repeat((round * 7 + i) % 40)) bad++
  }
  t.equal(bad, 0)
  t.equal(producer.dropped(), 0)
})

t.test('drain gives the space back even for long batches', async (t) => {
  const { producer, consumer } = pair(4096)
  for (let i = 0; i < 100; i++) producer.write(bytes(4, i)) // 800 bytes
  t.equal(consumer.drain(() => {}, 33), 33)
  t.equal(producer.usedBytes(), 800 - 33 * 8, 'all 33 freed, not only the first 32')
  t.equal(consumer.drain(() => {}), 67)
  t.equal(producer.usedBytes(), 0)
})

t.test('writeString encodes UTF-8, multi-byte characters included, at any position', async (t) => {
  const { producer, consumer } = pair(128)
  const samples = ['', 'a', 'héllo', '日本語テキスト', 'emoji 😀 pair', '\ud800 lone surrogate', 'x'.repeat(60)]
  let bad = 0
  for (let round = 0; round < 200; round++) {
    const s = samples[round % samples.length]
    t.ok(producer.writeString(s) || false, 'fits') // maximum 60 bytes = maxRecordBytes
    const got = Buffer.from(consumer.read()!).toString('utf8')
    if (got !== Buffer.from(s, 'utf8').toString('utf8')) bad++
  }
  t.equal(bad, 0)
  t.equal(producer.dropped(), 0)
})

t.test('writeString fills exactly to the end and to capacity, then drops', async (t) => {
  const { producer, consumer } = pair(64)
  // 'é' is 2 bytes: 14 of them = 28 bytes = maxRecordBytes, footprint 32.
  t.ok(producer.writeString('é'.repeat(14)))
  t.ok(producer.writeString('é'.repeat(14)))
  t.equal(producer.usedBytes(), 64)
  t.notOk(producer.writeString(''))
  t.equal(producer.dropped(), 1)
  t.equal(Buffer.from(consumer.read()!).toString(), 'é'.repeat(14))
  // 15 'é' = 30 bytes > 28: dropped even though there is room.
  t.notOk(producer.writeString('é'.repeat(15)))
  t.equal(producer.dropped(), 2)
  // Head at 64 (offset 0), 32 free: a 3-byte char string of 27 bytes fits (footprint 32).
  t.ok(producer.writeString('日'.repeat(9)))
  t.equal(Buffer.from(consumer.read()!).toString(), 'é'.repeat(14))
  t.equal(Buffer.from(consumer.read()!).toString(), '日'.repeat(9))
})

t.test('an empty string fits in the last 4 bytes before the end', async (t) => {
  const { producer, consumer } = pair(64)
  for (let i = 0; i < 3; i++) producer.write(bytes(16, i)) // 3 × 20 = 60
  consumer.drain(() => {})
  t.ok(producer.writeString(''))
  t.equal(producer.usedBytes(), 4, 'no padding needed')
  t.same(consumer.read(), new Uint8Array(0))
  t.ok(producer.writeString('after'), 'and the next record starts at offset 0')
  t.equal(Buffer.from(consumer.read()!).toString(), 'after')
})

t.test('writeString wraps behind padding when the string does not fit before the end', async (t) => {
  const { producer, consumer } = pair(64)
  producer.writeString('a'.repeat(20)) // 24 bytes
  producer.writeString('b'.repeat(20)) // 24 bytes → head 48
  consumer.read()
  consumer.read()
  // 16 bytes left before the end; a 20-byte string must go to offset 0.
  t.ok(producer.writeString('c'.repeat(20)))
  t.equal(producer.usedBytes(), 16 + 24)
  t.equal(Buffer.from(consumer.read()!).toString(), 'c'.repeat(20))
  // A 4-byte-char string whose char count fits the space but whose bytes do not.
  const r = pair(64)
  r.producer.writeString('a'.repeat(16)) // 20 bytes
  r.producer.writeString('a'.repeat(16)) // 20 bytes → head 40, 24 left before the end
  r.consumer.drain(() => {})
  t.ok(r.producer.writeString('😀'.repeat(6)), '6 × 4 = 24 bytes + 4 prefix > 24 left: wraps')
  t.equal(Buffer.from(r.consumer.read()!).toString(), '😀'.repeat(6))
  t.equal(r.producer.dropped(), 0)
})

t.test('dropped counts every refused record and nothing else', async (t) => {
  const { producer, consumer } = pair(64)
  let refused = 0
  for (let i = 0; i < 50; i++) if (!producer.write(bytes(12, i))) refused++
  t.equal(refused, 46)
  t.equal(producer.dropped(), 46)
  t.equal(consumer.dropped(), 46, 'the consumer sees the same count')
})

t.test('waitAsync returns null when data is there and resolves on the next write', async (t) => {
  const { producer, consumer } = pair(64)
  producer.write(bytes(1, 1))
  t.equal(consumer.waitAsync(), null, 'data already there')
  consumer.read()
  const p = consumer.waitAsync(5000)
  t.ok(p, 'empty: a promise')
  producer.write(bytes(1, 2))
  t.equal(await p, 'ok')
  t.same(consumer.read(), bytes(1, 2))
})

t.test('waitAsync times out when nothing is written, and wake() resolves it early', async (t) => {
  // A pending Atomics.waitAsync, timed or not, does not keep Node's event loop alive: hold it.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(keepAlive))
  const { consumer } = pair(64)
  t.equal(await consumer.waitAsync(20), 'timed-out')
  const started = Date.now()
  const p = consumer.waitAsync(10_000)
  setTimeout(() => consumer.wake(), 10)
  t.equal(await p, 'ok')
  t.ok(Date.now() - started < 5000)
})

t.test('the producer notifies only when the consumer waits', async (t) => {
  const { producer, consumer } = pair(1024)
  const notify = Atomics.notify
  let notifies = 0
  Atomics.notify = function countingNotify(...args: unknown[]): number {
    notifies++
    return Reflect.apply(notify, Atomics, args) as number
  } as typeof Atomics.notify
  t.teardown(() => { Atomics.notify = notify })
  for (let i = 0; i < 20; i++) producer.write(bytes(4, i))
  t.equal(notifies, 0, 'no waiter, no notify')
  consumer.drain(() => {})
  const p = consumer.waitAsync(5000)
  for (let i = 0; i < 20; i++) producer.write(bytes(4, i))
  t.equal(notifies, 1, 'one notify for one wait, not one per record')
  t.equal(await p, 'ok')
})

t.test('a consumer that woke without a notify stops the notifies once it reads', async (t) => {
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(keepAlive))
  const { producer, consumer } = pair(1024)
  const notify = Atomics.notify
  let notifies = 0
  Atomics.notify = function countingNotify(...args: unknown[]): number {
    notifies++
    return Reflect.apply(notify, Atomics, args) as number
  } as typeof Atomics.notify
  t.teardown(() => { Atomics.notify = notify })
  t.equal(await consumer.waitAsync(5), 'timed-out')
  producer.write(bytes(4, 1))
  producer.write(bytes(4, 2))
  t.equal(notifies, 2, 'the flag is still set: the producer cannot know the wait ended')
  t.equal(consumer.drain(() => {}), 2)
  producer.write(bytes(4, 3))
  t.equal(notifies, 2, 'reading cleared the flag')
  t.same(consumer.read(), bytes(4, 3))
  const p = consumer.waitAsync(5000)
  t.ok(p, 'empty again: a promise')
  consumer.wake()
  t.equal(await p, 'ok')
  t.equal(notifies, 3, 'wake() notifies')
  t.equal(consumer.read(), null)
  producer.write(bytes(4, 4))
  t.equal(notifies, 3, 'after wake() and a read, no notify')
})
