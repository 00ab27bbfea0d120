// Throughput of src/shared/ring.ts between two real threads: a producer worker writes N records,
// a consumer worker drains them with drainRanges (sleeping with waitAsync when the ring is empty,
// as the main thread's log sink would; string records are decoded to strings). Prints records/s and MB/s (payload bytes, 10^6) per scenario, plus
// one postMessage-per-record baseline for scale. This file is also the workers' code.
//
//   node perf/ring-bench.ts [records=10000000] [ringBytes=1048576]
//
// The producer retries when the ring is full (so every record is counted); in production a full
// ring drops. "full%" is how many write attempts found it full: high means the consumer is the
// bottleneck.

import { isMainThread, MessageChannel, parentPort, Worker, workerData } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import { Ring } from '../src/shared/ring.ts'

type Kind = 'bytes16' | 'bytes100' | 'string200' | 'postMessage200'

interface Job {
  role: 'producer' | 'consumer'
  kind: Kind
  sab: SharedArrayBuffer | null
  port: MessagePort | null
  records: number
}

interface Done {
  ms: number
  payloadBytes: number
  fullRetries: number
  sleeps: number
}

/** An access-log-like JSON line of about 200 bytes, varied per record. */
function logLine(seq: number): string {
  return `{"t":${1700000000000 + seq},"l":"web","r":"api","m":"GET","p":"/api/v1/items/${seq}?page=2","s":200,` +
    `"u":"s${seq & 7}","ms":${seq % 997},"in":512,"out":${seq % 65536},"ip":"10.0.${(seq >> 8) & 255}.${seq & 255}","ua":"bench/1"}`
}

function produce(job: Job): Done {
  const started = performance.now()
  let payloadBytes = 0
  let fullRetries = 0
  if (job.kind === 'postMessage200') {
    for (let seq = 0; seq < job.records; seq++) {
      const line = logLine(seq)
      job.port!.postMessage(line)
      payloadBytes += line.length
    }
    return { ms: performance.now() - started, payloadBytes, fullRetries, sleeps: 0 }
  }
  const ring = new Ring(job.sab!)
  if (job.kind === 'string200') {
    for (let seq = 0; seq < job.records; seq++) {
      const line = logLine(seq)
      while (!ring.writeString(line)) fullRetries++
      payloadBytes += line.length
    }
  } else {
    const size = job.kind === 'bytes16' ? 16 : 100
    const rec = new Uint8Array(size)
    const view = new DataView(rec.buffer)
    for (let seq = 0; seq < job.records; seq++) {
      view.setUint32(0, seq, true)
      while (!ring.write(rec)) fullRetries++
    }
    payloadBytes = size * job.records
  }
  return { ms: performance.now() - started, payloadBytes, fullRetries, sleeps: 0 }
}

class Counter {
  records = 0
  bytes = 0
  onRange(data: Buffer, start: number, end: number): void {
    this.records++
    this.bytes += end - start
  }

  /** What the log sink does with a record: decode it. */
  onStringRange(data: Buffer, start: number, end: number): void {
    this.records++
    this.bytes += data.toString('utf8', start, end).length
  }
}

async function consume(job: Job): Promise<Done> {
  const started = performance.now()
  const counter = new Counter()
  if (job.kind === 'postMessage200') {
    await new Promise<void>((resolve) => {
      job.port!.on('message', (line: string) => {
        counter.records++
        counter.bytes += line.length
        if (counter.records === job.records) resolve()
      })
    })
    job.port!.close()
    return { ms: performance.now() - started, payloadBytes: counter.bytes, fullRetries: 0, sleeps: 0 }
  }
  const ring = new Ring(job.sab!)
  const onRange = job.kind === 'string200' ? counter.onStringRange.bind(counter) : counter.onRange.bind(counter)
  let sleeps = 0
  const keepAlive = setInterval(() => {}, 1000) // a pending waitAsync does not hold the loop
  while (counter.records < job.records) {
    if (ring.drainRanges(onRange, 4096) !== 0) continue
    const wait = ring.waitAsync(1000)
    if (wait === null) continue
    sleeps++
    await wait
  }
  clearInterval(keepAlive)
  return { ms: performance.now() - started, payloadBytes: counter.bytes, fullRetries: 0, sleeps }
}

function start(job: Job): Promise<Done> {
  const transfer = job.port === null ? [] : [job.port]
  const worker = new Worker(new URL(import.meta.url), { workerData: job, transferList: transfer })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`${job.role} exited with code ${code}`)))
  })
}

async function scenario(kind: Kind, records: number, ringBytes: number): Promise<void> {
  let sab: SharedArrayBuffer | null = null
  let producerPort: MessagePort | null = null
  let consumerPort: MessagePort | null = null
  if (kind === 'postMessage200') {
    const channel = new MessageChannel()
    producerPort = channel.port1
    consumerPort = channel.port2
  } else {
    sab = Ring.allocate(ringBytes)
  }
  const started = performance.now()
  const consumer = start({ role: 'consumer', kind, sab, port: consumerPort, records })
  const producer = start({ role: 'producer', kind, sab, port: producerPort, records })
  const [p, c] = await Promise.all([producer, consumer])
  const seconds = (performance.now() - started) / 1000
  const attempts = records + p.fullRetries
  console.log(
    `${kind.padEnd(15)} ${String(records).padStart(9)} records ${seconds.toFixed(2).padStart(6)} s ` +
    `${(records / seconds / 1e6).toFixed(2).padStart(6)} M records/s ${(c.payloadBytes / seconds / 1e6).toFixed(0).padStart(5)} MB/s ` +
    `full% ${((100 * p.fullRetries) / attempts).toFixed(1).padStart(5)} consumer sleeps ${c.sleeps}`,
  )
  if (c.payloadBytes !== p.payloadBytes) throw new Error(`${kind}: consumer saw ${c.payloadBytes} bytes, producer wrote ${p.payloadBytes}`)
}

if (!isMainThread) {
  const job = workerData as Job
  parentPort!.postMessage(job.role === 'producer' ? produce(job) : await consume(job))
} else {
  const records = Number(process.argv[2] ?? 10_000_000)
  const ringBytes = Number(process.argv[3] ?? 1 << 20)
  console.log(`ring ${ringBytes} bytes, node ${process.version}`)
  await scenario('bytes16', records, ringBytes)
  await scenario('bytes100', records, ringBytes)
  await scenario('string200', records, ringBytes)
  // postMessage queues without limit: keep it smaller so the baseline does not exhaust memory.
  await scenario('postMessage200', Math.min(records, 1_000_000), ringBytes)
}
