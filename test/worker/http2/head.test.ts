// Unit tests for src/worker/http2/head.ts: reading an HTTP/2 request's pseudo-headers and fields
// (and refusing what HTTP/1.1 could not carry), the HTTP/1.1 request head built from them, the
// HTTP/2 response header list built from a parsed HTTP/1.1 response, and the chunked-body decoder
// at every split of its input.

import t from 'tap'
import {
  Dechunker, HeadError, RequestInfo, UpFraming, buildRequestHead, readRequest, responseHeaders,
} from '../../../src/worker/http2/head.ts'
import { DEFAULT_LIMITS, KNOWN_METHODS, ParseError, ResponseHead, parseResponseHead } from '../../../src/worker/http1/parser.ts'

const BASE = [':method', 'GET', ':scheme', 'https', ':path', '/a?b=1', ':authority', 'Example.COM:8443']

function read(raw: string[]): { r: number; info: RequestInfo } {
  const info = new RequestInfo()
  return { r: readRequest(raw, info, KNOWN_METHODS), info }
}

t.test('readRequest takes method, path, authority (lowercased), content-length and joined cookies', async (t) => {
  const { r, info } = read([...BASE, 'cookie', 'a=1', 'content-length', '12', 'cookie', 'b=2'])
  t.equal(r, 0)
  t.equal(info.method, 'GET')
  t.equal(info.path, '/a?b=1')
  t.equal(info.authority, 'example.com:8443')
  t.equal(info.contentLength, 12)
  t.equal(info.cookie, 'a=1; b=2', 'cookie crumbs joined with "; " (RFC 9113 §8.2.3)')
  const host = read([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'h.test'])
  t.equal(host.info.authority, 'h.test', 'Host stands in for a missing :authority')
  t.equal(read([':method', 'OPTIONS', ':scheme', 'https', ':path', '*', ':authority', 'x']).r, 0, 'OPTIONS *')
})

t.test('readRequest refuses what is malformed or cannot become an HTTP/1.1 request', async (t) => {
  const cases: Array<[string, string[], number]> = [
    ['connection', [...BASE, 'connection', 'close'], HeadError.Malformed],
    ['keep-alive', [...BASE, 'keep-alive', '5'], HeadError.Malformed],
    ['proxy-connection', [...BASE, 'proxy-connection', 'x'], HeadError.Malformed],
    ['transfer-encoding', [...BASE, 'transfer-encoding', 'chunked'], HeadError.Malformed],
    ['upgrade', [...BASE, 'upgrade', 'websocket'], HeadError.Malformed],
    ['te: gzip', [...BASE, 'te', 'gzip'], HeadError.Malformed],
    ['CR LF in a value', [...BASE, 'x-a', 'b\r\nx-b: c'], HeadError.Malformed],
    ['NUL in a value', [...BASE, 'x-a', 'b\u0000'], HeadError.Malformed],
    ['a char above U+00FF', [...BASE, 'x-a', 'ā'], HeadError.Malformed],
    ['two Host fields', [...BASE, 'host', 'a', 'host', 'b'], HeadError.Malformed],
    ['content-length not digits', [...BASE, 'content-length', '1e3'], HeadError.Malformed],
    ['two content-lengths', [...BASE, 'content-length', '1', 'content-length', '1'], HeadError.Malformed],
    ['space in :path', [':method', 'GET', ':scheme', 'https', ':path', '/a b', ':authority', 'x'], HeadError.Malformed],
    ['relative :path', [':method', 'GET', ':scheme', 'https', ':path', 'a', ':authority', 'x'], HeadError.Malformed],
    ['* for GET', [':method', 'GET', ':scheme', 'https', ':path', '*', ':authority', 'x'], HeadError.Malformed],
    ['no :path', [':method', 'GET', ':scheme', 'https', ':authority', 'x'], HeadError.Malformed],
    ['no :method', [':scheme', 'https', ':path', '/', ':authority', 'x'], HeadError.Malformed],
    ['"/" in :authority', [':method', 'GET', ':scheme', 'https', ':path', '/', ':authority', 'a/b'], HeadError.Malformed],
    ['userinfo in :authority', [':method', 'GET', ':scheme', 'https', ':path', '/', ':authority', 'u@h'], HeadError.Malformed],
    ['CONNECT', [':method', 'CONNECT', ':authority', 'x:443'], HeadError.NotImplemented],
    ['unknown method', [':method', 'BREW', ':scheme', 'https', ':path', '/', ':authority', 'x'], HeadError.NotImplemented],
  ]
  for (const [what, raw, want] of cases) t.equal(read(raw).r, want, what)
  t.equal(read([...BASE, 'te', 'trailers']).r, 0, 'te: trailers is allowed')
})

t.test('buildRequestHead writes an HTTP/1.1 head with Host, forwarding fields and the chosen framing', async (t) => {
  const raw = [...BASE, 'x-forwarded-for', '10.0.0.1', 'accept', '*/*', 'te', 'trailers', 'cookie', 'a=1', 'cookie', 'b=2',
    'x-forwarded-proto', 'spoofed', 'x-forwarded-host', 'spoofed', 'host', 'ignored', 'content-length', '3']
  const { info } = read(raw)
  const chunked = buildRequestHead(raw, info, '192.0.2.7', 'https', UpFraming.Chunked)
  t.equal(chunked, [
    'GET /a?b=1 HTTP/1.1',
    'host: example.com:8443',
    'accept: */*',
    'cookie: a=1; b=2',
    'x-forwarded-for: 10.0.0.1, 192.0.2.7',
    'x-forwarded-proto: https',
    'x-forwarded-host: example.com:8443',
    'transfer-encoding: chunked',
    '', '',
  ].join('\r\n'))
  const sized = buildRequestHead(raw, info, '192.0.2.7', 'http', UpFraming.Length)
  t.match(sized, /\r\ncontent-length: 3\r\n\r\n$/, 'the length the client declared')
  t.notMatch(sized, /transfer-encoding/)
  const none = buildRequestHead(BASE, read(BASE).info, '::1', 'http', UpFraming.None)
  t.notMatch(none, /content-length|transfer-encoding/, 'no body: no framing field')
  t.match(none, /x-forwarded-for: ::1\r\n/)
})

function parsed(text: string): { buf: Buffer; res: ResponseHead } {
  const buf = Buffer.from(text, 'latin1')
  const res = new ResponseHead()
  const r = parseResponseHead(buf, 0, buf.length, res, DEFAULT_LIMITS)
  if (r <= 0) throw new Error(`test response did not parse: ${r}`)
  return { buf, res }
}

t.test('responseHeaders lowercases, drops hop-by-hop and Connection-named fields, keeps one of a single-value field', async (t) => {
  const { buf, res } = parsed('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: 5\r\n' +
    'X-Hop: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nVary: a\r\n\r\n')
  t.same(responseHeaders(buf, res, false), [
    ':status', '200', 'content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'vary', 'a',
  ])
  const sized = parsed('HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n\r\n')
  t.same(responseHeaders(sized.buf, sized.res, true), [':status', '404', 'content-length', '5'])
  t.same(responseHeaders(sized.buf, sized.res, false), [':status', '404'], 'content-length left out on request')
  // Common names come from a table, others are sliced: a near miss of a common name is not taken for it.
  const named = parsed('HTTP/1.1 200 OK\r\nSERVER: a\r\nVarx: b\r\nDate: c\r\nX-Cache-Status: d\r\n\r\n')
  t.same(responseHeaders(named.buf, named.res, false), [':status', '200', 'server', 'a', 'varx', 'b', 'date', 'c', 'x-cache-status', 'd'])
})

/** Decode `wire` fed in pieces of `step` bytes; returns the data and the bytes consumed, or the error. */
function dechunk(wire: string, step: number): { data: string; used: number } {
  const d = new Dechunker()
  const buf = Buffer.from(wire, 'latin1')
  const out: string[] = []
  let used = 0
  for (let p = 0; p < buf.length && !d.done; p += step) {
    const n = d.feed(buf, p, Math.min(p + step, buf.length), out, (o, b, from, to) => { o.push(b.latin1Slice(from, to)) })
    if (n < 0) return { data: '', used: n }
    used += n
  }
  return { data: out.join(''), used }
}

t.test('Dechunker hands out exactly the data bytes at every split, stopping at the end of the body', async (t) => {
  const body = '5;ext=1;q="a\\"b"\r\nhello\r\n1a\r\n' + 'x'.repeat(26) + '\r\n000\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n'
  const next = 'HTTP/1.1 200 OK\r\n'
  for (let step = 1; step <= body.length + next.length; step++) {
    const r = dechunk(body + next, step)
    if (r.data !== 'hello' + 'x'.repeat(26) || r.used !== body.length) {
      t.fail(`split ${step}: ${JSON.stringify(r)}`)
      return
    }
  }
  t.pass(`same data and end at every split of ${body.length + next.length} bytes`)
  t.same(dechunk('0\r\n\r\n', 1), { data: '', used: 5 }, 'empty body')
  t.equal(dechunk('5\r\nhel', 100).data, 'hel', 'a partial chunk hands out what arrived')
  t.equal(dechunk('5 \r\nhello\r\n0\r\n\r\n', 100).used, ParseError.BadRequest, 'bad framing is refused (by the framer)')
  t.equal(dechunk('3\r\nabcX\r\n0\r\n\r\n', 100).used, ParseError.BadRequest, 'missing CRLF after data')
})
