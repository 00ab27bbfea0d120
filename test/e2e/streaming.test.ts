// Large bodies stream through portico in both directions with backpressure: 50 MB upload and
// download, checksummed at both ends, with portico's memory staying far below the body size.

import t from 'tap'
import { createHash } from 'node:crypto'
import http from 'node:http'
import { readFileSync } from 'node:fs'
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
