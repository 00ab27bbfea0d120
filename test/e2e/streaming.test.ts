// Large bodies stream through portico in both directions with backpressure: 50 MB upload and
// download, checksummed at both ends, with portico's memory staying far below the body size;
// and concurrent downloads of distinct, non-repeating bodies through one worker thread, which
// reads upstream bytes into reused buffers (worker/upstream/pool.ts): a buffer overwritten while
// its bytes were still queued for a slow client would show as a checksum mismatch.

import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { basicConfig, startOrigin, startPortico } from './harness.ts'

const SIZE = 50 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024)
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31 + 7) & 0xff

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024
}

t.test('50 MB download and upload stream with matching checksums', async (t) => {
  const expected = createHash('sha256')
  for (let sent = 0; sent < SIZE; sent += CHUNK.length) expected.update(CHUNK)
  const expectedHex = expected.digest('hex')

  const origin = await startOrigin('s1', (req, res) => {
    if (req.method === 'GET') {
      res.setHeader('content-length', String(SIZE))
      let sent = 0
      const pump = (): void => {
        while (sent < SIZE) {
          sent += CHUNK.length
          if (!res.write(CHUNK)) { res.once('drain', pump); return }
        }
        res.end()
      }
      pump()
      return
    }
    const h = createHash('sha256')
    let n = 0
    req.on('data', (c: Buffer) => { h.update(c); n += c.length })
    req.on('end', () => res.end(JSON.stringify({ bytes: n, sha: h.digest('hex'), te: req.headers['transfer-encoding'] ?? null })))
  })
  const p = await startPortico(basicConfig([origin]))
  t.teardown(async () => { await p.stop(); await origin.close() })
  const pid = p.proc.pid as number
  let peakRss = 0
  const sampler = setInterval(() => { try { peakRss = Math.max(peakRss, rssOf(pid)) } catch { /* exited */ } }, 50)
  t.teardown(() => clearInterval(sampler))

  // Download, read slowly at first so backpressure has to hold the upstream back.
  const down = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: p.port, path: '/big' }, (res) => {
      const h = createHash('sha256')
      let bytes = 0
      res.pause()
      setTimeout(() => res.resume(), 300)
      res.on('data', (c: Buffer) => { h.update(c); bytes += c.length })
      res.on('end', () => resolve({ bytes, sha: h.digest('hex') }))
      res.on('error', reject)
    }).on('error', reject)
  })
  t.equal(down.bytes, SIZE, 'download: every byte')
  t.equal(down.sha, expectedHex, 'download: checksum')

  for (const chunked of [false, true]) {
    const up = await new Promise<{ bytes: number; sha: string; te: string | null }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: p.port, path: '/upload', method: 'POST',
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(SIZE) },
      }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => { body += c })
        res.on('end', () => resolve(JSON.parse(body)))
      })
      req.on('error', reject)
      let sent = 0
      const pump = (): void => {
        while (sent < SIZE) {
          sent += CHUNK.length
          if (!req.write(CHUNK)) { req.once('drain', pump); return }
        }
        req.end()
      }
      pump()
    })
    t.equal(up.bytes, SIZE, `upload ${chunked ? 'chunked' : 'content-length'}: every byte`)
    t.equal(up.sha, expectedHex, `upload ${chunked ? 'chunked' : 'content-length'}: checksum`)
    t.equal(up.te, chunked ? 'chunked' : null, 'framing kept')
  }
  t.ok(peakRss < 250 * 1024 * 1024, `portico RSS stayed bounded while 150 MB passed (peak ${(peakRss / 1048576).toFixed(0)} MB)`)
})

/** `size` bytes that never repeat with any period a read buffer could hide: SHA-256 in counter mode. */
function distinctBody(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off)
  }
  return out
}

t.test('concurrent downloads, slow and fast readers, CL and chunked, small requests between: every byte right', async (t) => {
  const SIZE = 6 * 1024 * 1024
  const bodies = [0, 1, 2, 3, 4, 5].map((seed) => distinctBody(seed, SIZE))
  const origin = await startOrigin('s1', (req, res) => {
    const m = /^\/body\/(\d)(c?)$/.exec(req.url ?? '')
    if (m === null) { res.end('small'); return }
    const body = bodies[Number(m[1])]
    if (m[2] !== 'c') res.setHeader('content-length', String(body.length))
    // Odd-sized writes, so reads and chunk boundaries fall anywhere.
    let at = 0
    const pump = (): void => {
      while (at < body.length) {
        const n = Math.min(body.length - at, 7919 + (at % 50_000))
        const ok = res.write(body.subarray(at, at + n))
        at += n
        if (!ok) { res.once('drain', pump); return }
      }
      res.end()
    }
    pump()
  })
  const p = await startPortico(basicConfig([origin]).replace('workers = 2', 'workers = 1'))
  t.teardown(async () => { await p.stop(); await origin.close() })

  // Small keep-alive requests on another connection all the while: their reads use the shared buffer.
  let small = 0
  let isLoading = true
  const ka = new Promise<void>((resolve) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
    const loop = (): void => {
      if (!isLoading || small >= 5000) { agent.destroy(); resolve(); return }
      http.get({ host: '127.0.0.1', port: p.port, path: '/small', agent }, (res) => {
        res.resume()
        res.on('end', () => { small++; setImmediate(loop) })
      }).on('error', () => { agent.destroy(); resolve() })
    }
    loop()
  })

  const downloads = bodies.map((body, i) => new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
    // Raw sockets, so the slow readers really stop reading (TCP backpressure into portico).
    const path = `/body/${i}${i % 2 === 1 ? 'c' : ''}`
    const socket = net.connect({ host: '127.0.0.1', port: p.port })
    socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
    const parts: Buffer[] = []
    const isSlow = i < 3
    let stalls = 0
    socket.on('data', (c: Buffer) => {
      parts.push(c)
      if (isSlow && stalls < 40 && parts.length % 8 === 0) {
        stalls++
        socket.pause()
        setTimeout(() => socket.resume(), 15)
      }
    })
    socket.on('error', reject)
    socket.on('end', () => {
      const raw = Buffer.concat(parts)
      const headEnd = raw.indexOf('\r\n\r\n')
      let payload: Buffer = raw.subarray(headEnd + 4)
      if (i % 2 === 1) payload = dechunk(payload)
      resolve({ bytes: payload.length, sha: createHash('sha256').update(payload).digest('hex') })
    })
  }))
  const results = await Promise.all(downloads)
  isLoading = false
  await ka
  for (let i = 0; i < bodies.length; i++) {
    t.equal(results[i].bytes, SIZE, `download ${i} (${i % 2 === 1 ? 'chunked' : 'content-length'}, ${i < 3 ? 'slow' : 'fast'}): every byte`)
    t.equal(results[i].sha, createHash('sha256').update(bodies[i]).digest('hex'), `download ${i}: checksum`)
  }
  t.ok(small > 0, `small requests were served alongside (${small})`)
})

/** Decode a complete chunked body (test helper; assumes well-formed input, no trailers). */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (let guard = 0; guard < 1_000_000; guard++) {
    const lineEnd = data.indexOf('\r\n', at)
    const size = parseInt(data.latin1Slice(at, lineEnd).split(';')[0], 16)
    if (size === 0) break
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}

t.test('uploads of non-repeating bytes to a slow origin, CL and chunked, with a request pipelined after the body: every byte right', async (t) => {
  // Client sockets read into reused buffers while a body streams upstream (session.ts
  // CLIENT_READ_BYTES): a buffer read into again while its bytes were still queued for the slow
  // origin would show as a checksum mismatch. Random bytes, so no overwrite can look right.
  const body = randomBytes(6 * 1024 * 1024)
  const expectedHex = createHash('sha256').update(body).digest('hex')
  const origin = await startOrigin('s1', (req, res) => {
    const h = createHash('sha256')
    let n = 0
    let reads = 0
    req.on('data', (c: Buffer) => {
      h.update(c)
      n += c.length
      // Stall now and then, so portico's writes towards the origin queue up.
      if (++reads % 8 === 0) { req.pause(); setTimeout(() => req.resume(), 20) }
    })
    req.on('end', () => res.end(JSON.stringify({ bytes: n, sha: h.digest('hex') })))
  })
  const p = await startPortico(basicConfig([origin]))
  t.teardown(async () => { await p.stop(); await origin.close() })
  for (const chunked of [false, true]) {
    const what = chunked ? 'chunked' : 'content-length'
    const head = chunked
      ? 'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
      : `POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`
    const framed = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body
    const pipelined = Buffer.from('GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(p.port, '127.0.0.1')
      const chunks: Buffer[] = []
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`${what}: no complete answer in 30 s`)) }, 30_000)
      s.on('connect', () => {
        s.write(head)
        // The body in pieces of odd sizes; the last piece and the next request in one write.
        let at = 0
        const step = 100_003
        const pump = (): void => {
          while (at + step < framed.length) {
            const ok = s.write(framed.subarray(at, at + step))
            at += step
            if (!ok) { s.once('drain', pump); return }
          }
          s.write(Buffer.concat([framed.subarray(at), pipelined]))
        }
        pump()
      })
      s.on('data', (c: Buffer) => chunks.push(c))
      s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')) })
      s.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
    const answers = text.split(/(?=HTTP\/1\.1 )/)
    t.equal(answers.length, 2, `${what}: two responses`)
    const upload = JSON.parse(answers[0].slice(answers[0].indexOf('\r\n\r\n') + 4)) as { bytes: number; sha: string }
    t.equal(upload.bytes, body.length, `${what}: every byte reached the origin`)
    t.equal(upload.sha, expectedHex, `${what}: in order and unchanged`)
    // The origin answers every request with what it read: the GET after the body read nothing.
    t.match(answers[1], /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n\{"bytes":0,/, `${what}: the pipelined request after the body is answered`)
  }
})
