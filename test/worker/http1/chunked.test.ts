// Unit tests for src/worker/http1/chunked.ts: framing, extensions, trailers, resumption at every
// split, limits, and the end of the body with the next message's bytes after it.

import t from 'tap'
import { ChunkedFramer, MAX_CHUNK_LINE_BYTES, MAX_EXT_BYTES, MAX_TRAILER_BYTES } from '../../../src/worker/http1/chunked.ts'
import { ParseError } from '../../../src/worker/http1/parser.ts'

const framer = new ChunkedFramer()

/** Feeds raw in one call; returns what feed returned. */
function once(raw: string): number {
  framer.reset()
  const buf = Buffer.from(raw, 'latin1')
  return framer.feed(buf, 0, buf.length)
}

/** Feeds raw in pieces of `step` bytes; returns total consumed or the error. */
function stepwise(raw: string, step: number): number {
  framer.reset()
  const buf = Buffer.from(raw, 'latin1')
  let used = 0
  for (let p = 0; p < buf.length && !framer.done; p += step) {
    const n = framer.feed(buf, p, Math.min(p + step, buf.length))
    if (n < 0) return n
    used += n
  }
  return used
}

t.test('a chunked body ends after the last chunk and the empty trailer section', async (t) => {
  const body = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'
  t.equal(once(body + 'GET / HTTP/1.1\r\n'), body.length)
  t.equal(framer.done, true)
  t.equal(framer.dataBytes, 11)
  t.equal(once('0\r\n\r\n'), 5, 'empty body')
  t.equal(framer.dataBytes, 0)
  t.equal(once('A\r\n0123456789\r\na\r\n0123456789\r\nfF\r\n' + 'x'.repeat(255) + '\r\n0\r\n\r\n') > 0, true, 'hex in both cases')
  t.equal(framer.dataBytes, 275)
  t.equal(once('000\r\n\r\n'), 7, 'last chunk with leading zeros')
})

t.test('an unfinished body consumes everything and is not done', async (t) => {
  t.equal(once('5\r\nhel'), 6)
  t.equal(framer.done, false)
  t.equal(framer.dataBytes, 3)
  const buf = Buffer.from('lo\r\n0\r\n\r\nNEXT')
  t.equal(framer.feed(buf, 0, buf.length), 9)
  t.equal(framer.done, true)
  t.equal(framer.feed(buf, 9, buf.length), 0, 'nothing is consumed after the end')
})

t.test('the framer resumes at every split point and byte by byte', async (t) => {
  const body = '3;a=b;c="q \\" ;"\r\nabc\r\n10\r\n' + 'y'.repeat(16) + '\r\n0;last\r\nX-T: 1\r\nY: a b\r\n\r\n'
  for (const step of [1, 2, 3, 5, 7, 11, 64]) {
    t.equal(stepwise(body + 'NEXT', step), body.length, `step ${step}`)
    t.equal(framer.dataBytes, 19)
  }
  const buf = Buffer.from(body + 'NEXT', 'latin1')
  for (let cut = 0; cut <= body.length; cut++) {
    framer.reset()
    const a = framer.feed(buf, 0, cut)
    const b = framer.done ? 0 : framer.feed(buf, cut, buf.length)
    if (a + b !== body.length || !framer.done) { t.fail(`split at ${cut}: ${a} + ${b}`); return }
  }
})

t.test('chunk sizes: hex only, at most 15 digits, at most 2^53-1', async (t) => {
  const { BadRequest } = ParseError
  t.equal(once('\r\n'), BadRequest, 'empty size')
  t.equal(once('g\r\n'), BadRequest)
  t.equal(once('-1\r\n'), BadRequest)
  t.equal(once('+1\r\n'), BadRequest)
  t.equal(once('0x5\r\nhello\r\n0\r\n\r\n'), BadRequest)
  t.equal(once(' 5\r\nhello\r\n0\r\n\r\n'), BadRequest, 'leading space')
  t.equal(once('5 \r\nhello\r\n0\r\n\r\n'), BadRequest, 'trailing space')
  t.equal(once('5\t\r\nhello\r\n0\r\n\r\n'), BadRequest)
  t.equal(once('5\nhello\r\n0\r\n\r\n'), BadRequest, 'bare LF after size')
  t.equal(once('5\rhello\r\n0\r\n\r\n'), BadRequest, 'bare CR after size')
  t.equal(once('1fffffffffffff\r\n') > 0, true, '14 digits, 2^53-1')
  t.equal(framer.done, false)
  t.equal(once('20000000000000\r\n'), BadRequest, '2^53')
  t.equal(once('000000000000005\r\n') > 0, true, '15 digits')
  t.equal(once('0000000000000005\r\n'), BadRequest, '16 digits even when small')
  t.equal(once('ffffffffffffffff\r\n'), BadRequest, '2^64-1: would wrap to 0 in a 64-bit parser')
  t.equal(once('10000000000000000\r\n'), BadRequest, '2^64: wraps to 0 in a 64-bit parser')
})

t.test('chunk data must be followed by exactly CRLF', async (t) => {
  const { BadRequest } = ParseError
  t.equal(once('5\r\nhello\n0\r\n\r\n'), BadRequest, 'LF only')
  t.equal(once('5\r\nhello\r0\r\n\r\n'), BadRequest, 'CR only')
  t.equal(once('5\r\nhelloX\r\n0\r\n\r\n'), BadRequest, 'one byte more than the size')
  t.equal(once('5\r\nhell\r\n0\r\n\r\n'), BadRequest, 'one byte less: CR is data, then junk')
  t.equal(once('5\r\nhello0\r\n\r\n'), BadRequest, 'no CRLF at all')
  t.equal(once('0\r\n\n'), BadRequest, 'bare LF ending the body')
  t.equal(once('0\r\n\r\r\n'), BadRequest)
  t.equal(once('0\r\n\r\n'), 5)
})

t.test('chunk extensions: token or quoted values, no whitespace, no bare LF', async (t) => {
  const { BadRequest } = ParseError
  for (const ok of [';a', ';a=b', ';a=b;c', ';a="b c"', ';a=""', ';a="\\""', ';a="\\\\"', ';a="\t\x80"', ";!#$%&'*+-.^_`|~=x"]) {
    t.equal(once(`1${ok}\r\nx\r\n0\r\n\r\n`), 11 + ok.length, JSON.stringify(ok))
  }
  for (const bad of [
    ';', ';;a', '; a', ' ;a', ';a =b', ';a= b', ';a=b ', ';=b', ';a=', ';a==b', ';a=b"', ';a="b', ';a="b\nc"',
    ';a="b"c', ';a="\x01"', ';a="\\\x01"', ';a\nb', ';a\r', ';a,b', ';a@b', ';a=b=c', ';a="\x7f"',
  ]) {
    t.equal(once(`1${bad}\r\nx\r\n0\r\n\r\n`), BadRequest, JSON.stringify(bad))
  }
})

t.test('trailers: field lines with the head strictness, framing names refused', async (t) => {
  const { BadRequest } = ParseError
  const body = '0\r\nX-A: 1\r\nx-b:\r\nC: a\tb \x80\r\n\r\n'
  t.equal(once(body + 'NEXT'), body.length)
  t.equal(framer.done, true)
  for (const bad of [
    'X: 1\r\n 2\r\n', ' X: 1\r\n', 'X : 1\r\n', ': 1\r\n', 'X\r\n', 'X: 1\n', 'X: a\rb\r\n', 'X: \x00\r\n', 'X@: 1\r\n',
    'Content-Length: 5\r\n', 'transfer-encoding: chunked\r\n', 'HOST: a\r\n',
  ]) {
    t.equal(once(`0\r\n${bad}\r\n`), BadRequest, JSON.stringify(bad))
  }
  t.equal(once('0\r\nContent-Lengthx: 5\r\nHos: a\r\nhosts: b\r\n\r\n') > 0, true, 'names that only start like a framing name are fine')
})

t.test('limits: size-line length, extension bytes per message, trailer bytes', async (t) => {
  const { BadRequest } = ParseError
  const ext = (n: number): string => ';' + 'e'.repeat(n - 1)
  t.ok(once(`1${ext(MAX_CHUNK_LINE_BYTES - 1)}\r\nx\r\n0\r\n\r\n`) > 0, 'size line at the limit')
  t.equal(once(`1${ext(MAX_CHUNK_LINE_BYTES)}\r\nx\r\n0\r\n\r\n`), BadRequest, 'size line one over')
  const chunk = `1${ext(4000)}\r\nx\r\n`
  const fits = Math.floor(MAX_EXT_BYTES / 4000)
  t.ok(once(chunk.repeat(fits) + '0\r\n\r\n') > 0, 'extensions up to the per-message limit')
  t.equal(once(chunk.repeat(fits + 1) + '0\r\n\r\n'), BadRequest, 'extensions over the per-message limit')
  const line = 'X: ' + 'v'.repeat(1000) + '\r\n'
  const lines = Math.floor((MAX_TRAILER_BYTES - 2) / line.length)
  t.ok(once('0\r\n' + line.repeat(lines) + '\r\n') > 0, 'trailers under the limit')
  t.equal(once('0\r\n' + line.repeat(lines + 1) + '\r\n'), BadRequest, 'trailers over the limit')
})

t.test('an error is sticky until reset; dataBytes counts only chunk data', async (t) => {
  const buf = Buffer.from('5\r\nhelloX')
  framer.reset()
  t.equal(framer.feed(buf, 0, buf.length), ParseError.BadRequest)
  t.equal(framer.feed(Buffer.from('0\r\n\r\n'), 0, 5), ParseError.BadRequest)
  framer.reset()
  t.equal(framer.feed(Buffer.from('0\r\n\r\n'), 0, 5), 5)
  t.equal(once('3;ext=1\r\nabc\r\n0\r\nT: 1\r\n\r\n') > 0, true)
  t.equal(framer.dataBytes, 3)
})

t.test('a chunk larger than the input is skipped in bulk across calls', async (t) => {
  framer.reset()
  const size = 1 << 20
  const head = Buffer.from(size.toString(16) + '\r\n')
  t.equal(framer.feed(head, 0, head.length), head.length)
  const data = Buffer.alloc(64 * 1024, 0x61)
  for (let i = 0; i < size / data.length; i++) t.equal(framer.feed(data, 0, data.length), data.length)
  t.equal(framer.dataBytes, size)
  const tail = Buffer.from('\r\n0\r\n\r\n')
  t.equal(framer.feed(tail, 0, tail.length), tail.length)
  t.equal(framer.done, true)
})
