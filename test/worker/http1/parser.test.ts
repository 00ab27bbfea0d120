// Unit tests for src/worker/http1/parser.ts: every strictness rule with accept and reject cases,
// offsets, incomplete input, limits, and the response parser.

import t from 'tap'
import {
  DEFAULT_LIMITS, HOP_BY_HOP, KNOWN_METHODS, ParseError, RequestHead, ResponseHead, headerNameIs,
  parseRequestHead, parseResponseHead,
} from '../../../src/worker/http1/parser.ts'
import type { HeadLimits } from '../../../src/worker/http1/parser.ts'

const { BadRequest, HeadTooLarge, UriTooLong, NotImplemented } = ParseError

const head = new RequestHead()
const resHead = new ResponseHead()

function req(raw: string, limits: HeadLimits = DEFAULT_LIMITS): number {
  const buf = Buffer.from(raw, 'latin1')
  return parseRequestHead(buf, 0, buf.length, head, limits)
}

function res(raw: string, limits: HeadLimits = DEFAULT_LIMITS): number {
  const buf = Buffer.from(raw, 'latin1')
  return parseResponseHead(buf, 0, buf.length, resHead, limits)
}

/** A GET with Host and the given extra field lines. */
function get(...fields: string[]): string {
  return ['GET / HTTP/1.1', 'Host: a', ...fields].join('\r\n') + '\r\n\r\n'
}

/** A POST with Host and the given extra field lines. */
function post(...fields: string[]): string {
  return ['POST / HTTP/1.1', 'Host: a', ...fields].join('\r\n') + '\r\n\r\n'
}

/** Header i as [name, value] strings, read back through the offsets. */
function field(buf: Buffer, h: RequestHead | ResponseHead, i: number): [string, string] {
  const o = h.offsets
  return [buf.toString('latin1', o[i * 4], o[i * 4 + 1]), buf.toString('latin1', o[i * 4 + 2], o[i * 4 + 3])]
}

t.test('a typical GET parses with method, target, version, host and head length', async (t) => {
  const raw = get('User-Agent: x', 'Accept: */*')
  t.equal(req(raw), raw.length)
  t.equal(head.method, 'GET')
  t.equal(head.target, '/')
  t.equal(head.versionMinor, 1)
  t.equal(head.host, 'a')
  t.equal(head.headerCount, 3)
  t.equal(head.headLength, raw.length)
  t.equal(head.contentLength, -1)
  t.equal(head.isChunked, false)
  t.equal(head.hasClose, false)
  t.equal(head.hasKeepAlive, false)
  t.equal(head.connectionTokens, null)
  t.equal(head.upgrade, null)
  t.equal(head.expectContinue, false)
})

t.test('every llhttp method is accepted and returned as the same constant', async (t) => {
  for (const m of KNOWN_METHODS) {
    if (m === 'CONNECT') continue
    t.equal(req(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`) > 0, true, m)
    t.equal(head.method, m)
  }
})

t.test('an unknown but valid method token is NotImplemented, a non-token method is BadRequest', async (t) => {
  t.equal(req('FOO / HTTP/1.1\r\nHost: a\r\n\r\n'), NotImplemented)
  t.equal(req('get / HTTP/1.1\r\nHost: a\r\n\r\n'), NotImplemented, 'methods are case-sensitive')
  t.equal(req('GETT / HTTP/1.1\r\nHost: a\r\n\r\n'), NotImplemented)
  t.equal(req('PRI * HTTP/1.1\r\nHost: a\r\n\r\n'), NotImplemented)
  t.equal(req('G@T / HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GE\x00T / HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req(' / HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'empty method')
  t.equal(req('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'), NotImplemented)
})

t.test('the request line needs single spaces and exactly HTTP/1.0 or HTTP/1.1', async (t) => {
  t.equal(req('GET  / HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'two spaces after method')
  t.equal(req('GET /  HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'two spaces after target')
  t.equal(req('GET / HTTP/1.1 \r\nHost: a\r\n\r\n'), BadRequest, 'space after version')
  t.equal(req('GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'tab as separator')
  t.equal(req('GET /\r\n\r\n'), BadRequest, 'HTTP/0.9 simple request')
  t.equal(req('GET / HTTP/0.9\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.2\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/11\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / http/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.10\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.0\r\n\r\n'), 18, 'HTTP/1.0 without Host')
  t.equal(head.versionMinor, 0)
  t.equal(head.host, null)
})

t.test('targets: origin-form, http(s) absolute-form, asterisk only for OPTIONS', async (t) => {
  t.ok(req('GET /a/b?c=d&e=%20#f HTTP/1.1\r\nHost: a\r\n\r\n') > 0)
  t.equal(head.target, '/a/b?c=d&e=%20#f')
  t.ok(req('GET http://Example.com:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n') > 0)
  t.equal(head.target, 'http://Example.com:8080/x?y')
  t.equal(head.host, 'other', 'host comes from the Host header even with absolute-form')
  t.ok(req('GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n') > 0)
  t.ok(req('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n') > 0)
  t.equal(head.target, '*')
  t.equal(req('GET * HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'authority-form outside CONNECT')
  t.equal(req('GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest, 'empty authority')
  t.equal(req('GET http://@a/ HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  t.equal(req('GET x HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
  for (const ok of ['http://a?x', 'http://a:', 'http://[::1]:80/', 'http://a.b:8080/p?q#f', "http://a!$&'()*+,;=b/", 'http://a%41/']) {
    t.ok(req(`GET ${ok} HTTP/1.1\r\nHost: a\r\n\r\n`) > 0, ok)
  }
  for (const bad of ['http://a#f', 'http://a:80#f', 'http://a"b/', 'http://u@a/', 'http://:80/', 'http://a:80x/', 'http://[::1/', 'http://a:b:c/', 'http:']) {
    t.equal(req(`GET ${bad} HTTP/1.1\r\nHost: a\r\n\r\n`), BadRequest, bad)
  }
})

t.test('control bytes, DEL, space-likes and obs-text in the target are refused', async (t) => {
  for (const c of ['\x00', '\x01', '\t', '\x0b', '\x0c', '\r', '\x7f', '\x80', '\xff']) {
    t.equal(req(`GET /a${c}b HTTP/1.1\r\nHost: a\r\n\r\n`), BadRequest, JSON.stringify(c))
  }
  t.equal(req('GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n'), BadRequest)
})

t.test('one leading CRLF is tolerated and counted in headLength, a second is refused', async (t) => {
  const raw = '\r\n' + get()
  t.equal(req(raw), raw.length)
  t.equal(head.headLength, raw.length)
  t.equal(req('\r\n\r\n' + get()), BadRequest)
  t.equal(req('\n' + get()), BadRequest, 'bare LF before the request line')
  t.equal(req('\r' + get()), BadRequest)
  t.equal(req(' ' + get()), BadRequest, 'leading space')
})

t.test('offsets give absolute name and value ranges, values trimmed of OWS', async (t) => {
  const prefix = 'XXXXXXXX' // the head starts inside the buffer: offsets are absolute
  const raw = get('X-A:v1', 'X-B: \t v 2 \t ', 'X-Empty:', 'X-Sp:   ', 'X-Obs: \x80\xff', 'x-tab: a\tb')
  const buf = Buffer.from(prefix + raw + 'BODY', 'latin1')
  const r = parseRequestHead(buf, prefix.length, buf.length, head, DEFAULT_LIMITS)
  t.equal(r, raw.length)
  t.equal(head.headerCount, 7)
  t.same(field(buf, head, 0), ['Host', 'a'])
  t.same(field(buf, head, 1), ['X-A', 'v1'])
  t.same(field(buf, head, 2), ['X-B', 'v 2'])
  t.same(field(buf, head, 3), ['X-Empty', ''])
  t.same(field(buf, head, 4), ['X-Sp', ''])
  t.same(field(buf, head, 5), ['X-Obs', '\x80\xff'])
  t.same(field(buf, head, 6), ['x-tab', 'a\tb'])
  t.equal(head.offsets[0], prefix.length + 'GET / HTTP/1.1\r\n'.length)
  const o = head.offsets
  t.ok(o[3 * 4 + 2] === o[3 * 4 + 3], 'an empty value is an empty range')
})

t.test('bare LF, bare CR and CR CR LF in field lines are refused', async (t) => {
  t.equal(req('GET / HTTP/1.1\nHost: a\r\n\r\n'), BadRequest, 'bare LF after request line')
  t.equal(req('GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.1\r\nHost: a\r\n\n'), BadRequest, 'bare LF as the final empty line')
  t.equal(req('GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n'), BadRequest, 'bare CR inside a value')
  t.equal(req('GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n'), BadRequest)
  t.equal(req('GET / HTTP/1.1\rHost: a\r\n\r\n'), BadRequest, 'bare CR ending the request line')
  t.equal(req('GET / HTTP/1.1\r\nHost: a\r\n\r\r\n'), BadRequest)
})

t.test('obs-fold, whitespace before the colon, empty and non-token names are refused', async (t) => {
  t.equal(req(get('X: 1', ' 2')), BadRequest, 'obs-fold with SP')
  t.equal(req(get('X: 1', '\t2')), BadRequest, 'obs-fold with HTAB')
  t.equal(req('GET / HTTP/1.1\r\n Host: a\r\n\r\n'), BadRequest, 'first field line starting with SP')
  t.equal(req(get('X : 1')), BadRequest)
  t.equal(req(get('X\t: 1')), BadRequest)
  t.equal(req(get(': 1')), BadRequest)
  t.equal(req(get('X@Y: 1')), BadRequest)
  t.equal(req(get('X(Y): 1')), BadRequest)
  t.equal(req(get('X\x00: 1')), BadRequest)
  t.equal(req(get('\xc4: 1')), BadRequest, 'obs-text in a name')
  t.equal(req(get('NoColon')), BadRequest)
  t.ok(req(get("!#$%&'*+-.^_`|~09azAZ: 1")) > 0, 'every tchar is fine in a name')
})

t.test('control bytes other than HTAB in values are refused', async (t) => {
  for (let c = 0; c < 0x20; c++) {
    if (c === 0x09) continue
    t.equal(req(get(`X: a${String.fromCharCode(c)}b`)), BadRequest, `0x${c.toString(16)}`)
  }
  t.equal(req(get('X: a\x7fb')), BadRequest, 'DEL')
  t.ok(req(get('X: a\tb')) > 0)
})

t.test('HTTP/1.1 needs exactly one Host; Host is validated and lowercased', async (t) => {
  t.equal(req('GET / HTTP/1.1\r\n\r\n'), BadRequest, 'missing')
  t.equal(req(get('Host: b')), BadRequest, 'two Host fields')
  t.equal(req(get('host: a')), BadRequest, 'two Host fields, same value')
  t.equal(req('GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n'), BadRequest, 'two in HTTP/1.0 too')
  t.ok(req('GET / HTTP/1.1\r\nhOsT: WWW.Example.COM:8080\r\n\r\n') > 0)
  t.equal(head.host, 'www.example.com:8080')
  t.ok(req('GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n') > 0)
  t.equal(head.host, '[::1]:80')
  t.ok(req('GET / HTTP/1.1\r\nHost:\r\n\r\n') > 0, 'empty Host (RFC 9110 7.2)')
  t.equal(head.host, '')
  t.ok(req('GET / HTTP/1.1\r\nHost: a:\r\n\r\n') > 0, 'empty port')
  for (const bad of ['a b', 'a/b', 'a@b', 'a:b', 'a:80:80', '[::1', '[::1]x', 'a\\b', 'a"b', 'a\x80']) {
    t.equal(req(`GET / HTTP/1.1\r\nHost: ${bad}\r\n\r\n`), BadRequest, JSON.stringify(bad))
  }
})

t.test('Content-Length: one field of digits only, up to 2^53-1', async (t) => {
  t.ok(req(post('Content-Length: 42')) > 0)
  t.equal(head.contentLength, 42)
  t.ok(req(post('content-length: 0')) > 0)
  t.equal(head.contentLength, 0)
  t.ok(req(post('Content-Length: 007')) > 0)
  t.equal(head.contentLength, 7)
  t.ok(req(post('Content-Length:   9   ')) > 0, 'OWS around the value')
  t.equal(head.contentLength, 9)
  t.ok(req(post('Content-Length: 9007199254740991')) > 0)
  t.equal(head.contentLength, Number.MAX_SAFE_INTEGER)
  t.equal(req(post('Content-Length: 9007199254740992')), BadRequest, '2^53')
  t.equal(req(post('Content-Length: 99999999999999999999999')), BadRequest)
  t.equal(req(post('Content-Length: 5', 'Content-Length: 5')), BadRequest, 'duplicate, equal')
  t.equal(req(post('Content-Length: 5', 'Content-Length: 6')), BadRequest)
  for (const bad of ['5, 5', '5,5', '+5', '-5', '5.0', '0x5', '5 5', '', '5a', '\xb5']) {
    t.equal(req(post(`Content-Length: ${bad}`)), BadRequest, JSON.stringify(bad))
  }
})

t.test('Transfer-Encoding in requests: chunked exactly once and alone', async (t) => {
  for (const ok of ['chunked', 'Chunked', 'CHUNKED', '  chunked  ', '\tchunked']) {
    t.ok(req(post(`Transfer-Encoding: ${ok}`)) > 0, JSON.stringify(ok))
    t.equal(head.isChunked, true)
  }
  t.equal(req(post('Transfer-Encoding: gzip, chunked')), NotImplemented)
  t.equal(req(post('Transfer-Encoding: gzip', 'Transfer-Encoding: chunked')), NotImplemented, 'list across fields')
  t.equal(req(post('Transfer-Encoding: identity, chunked')), NotImplemented)
  for (const bad of [
    'chunked, chunked', 'chunked,chunked', 'chunked, gzip', 'gzip', 'identity', 'chunked;x', 'chunked; q=1',
    'xchunked', 'chunkedx', 'chunked\x0b', '\x0bchunked', 'chunked,', ', chunked', ',', '', 'chun ked',
    'chunked , ', 'gzip,, chunked', '"chunked"', 'chunk\x00ed', 'chunked\t', 'chunked \t', 'chunked\t ',
  ]) {
    t.equal(req(post(`Transfer-Encoding: ${bad}`)), BadRequest, JSON.stringify(bad))
  }
  t.equal(req(post('Transfer-Encoding: chunked', 'Transfer-Encoding: chunked')), BadRequest, 'chunked twice across fields')
  t.equal(req(post('Transfer-Encoding: chunked', 'Transfer-Encoding: gzip')), BadRequest, 'chunked not last across fields')
  t.equal(req(post('Transfer-Encoding : chunked')), BadRequest)
  t.equal(req(post('Transfer_Encoding: chunked')) > 0, true, 'a different name is just a field')
  t.equal(head.isChunked, false)
})

t.test('Content-Length with Transfer-Encoding is refused in either order; TE in HTTP/1.0 too', async (t) => {
  t.equal(req(post('Content-Length: 5', 'Transfer-Encoding: chunked')), BadRequest)
  t.equal(req(post('Transfer-Encoding: chunked', 'Content-Length: 5')), BadRequest)
  t.equal(req(post('Transfer-Encoding: gzip, chunked', 'Content-Length: 5')), BadRequest)
  t.equal(req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), BadRequest)
  t.ok(req('POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\n') > 0)
})

t.test('Connection tokens: close, keep-alive, others lowercased and joined', async (t) => {
  t.ok(req(get('Connection: close')) > 0)
  t.equal(head.hasClose, true)
  t.equal(head.connectionTokens, null)
  t.ok(req(get('Connection: Keep-Alive')) > 0)
  t.equal(head.hasKeepAlive, true)
  t.equal(head.hasClose, false)
  t.ok(req(get('Connection: keep-alive, Upgrade', 'connection: X-Foo,, CLOSE ,', 'Upgrade: WebSocket')) > 0)
  t.equal(head.hasKeepAlive, true)
  t.equal(head.hasClose, true)
  t.equal(head.connectionTokens, 'upgrade,x-foo')
  t.equal(head.upgrade, 'websocket')
  t.ok(req(get('Connection:')) > 0, 'empty Connection')
  t.equal(head.connectionTokens, null)
  t.equal(req(get('Connection: close;x')), BadRequest)
  t.equal(req(get('Connection: a b')), BadRequest)
  t.equal(req(get('Connection: "close"')), BadRequest)
})

t.test('Upgrade values are lowercased and joined; Expect: 100-continue is flagged', async (t) => {
  t.ok(req(get('Upgrade: h2c', 'Upgrade: WebSocket')) > 0)
  t.equal(head.upgrade, 'h2c, websocket')
  t.ok(req(post('Expect: 100-Continue', 'Content-Length: 3')) > 0)
  t.equal(head.expectContinue, true)
  t.ok(req(post('Expect: 100-continuex')) > 0)
  t.equal(head.expectContinue, false)
})

t.test('a reused head forgets everything from the previous request', async (t) => {
  t.ok(req(post('Content-Length: 5', 'Connection: close, foo', 'Upgrade: x', 'Expect: 100-continue')) > 0)
  t.ok(req('GET / HTTP/1.0\r\n\r\n') > 0)
  t.equal(head.contentLength, -1)
  t.equal(head.hasClose, false)
  t.equal(head.connectionTokens, null)
  t.equal(head.upgrade, null)
  t.equal(head.expectContinue, false)
  t.equal(head.host, null)
  t.equal(head.headerCount, 0)
  t.ok(req(post('Transfer-Encoding: chunked')) > 0)
  t.ok(req(post('Content-Length: 1')) > 0, 'TE state does not leak into the next parse')
  t.equal(head.isChunked, false)
})

t.test('every prefix of a valid head is incomplete, then the whole head parses', async (t) => {
  const raw = '\r\n' + get('User-Agent: Mozilla/5.0', 'Connection: keep-alive', 'X-Empty:') 
  const full = Buffer.from(raw + 'NEXT', 'latin1')
  for (let n = 0; n < raw.length; n++) {
    const r = parseRequestHead(full, 0, n, head, DEFAULT_LIMITS)
    if (r !== 0) { t.fail(`prefix ${n} gave ${r}`); return }
  }
  t.equal(parseRequestHead(full, 0, raw.length, head, DEFAULT_LIMITS), raw.length)
  t.equal(parseRequestHead(full, 0, full.length, head, DEFAULT_LIMITS), raw.length, 'bytes after the head are left alone')
})

t.test('every prefix of an invalid head is incomplete or the same error, never success', async (t) => {
  for (const raw of [get('X: 1', ' fold'), get('X: a\nb'), 'GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n', post('Content-Length: 1', 'Content-Length: 1')]) {
    const full = req(raw)
    t.equal(full, BadRequest, JSON.stringify(raw))
    const buf = Buffer.from(raw, 'latin1')
    for (let n = 0; n < raw.length; n++) {
      const r = parseRequestHead(buf, 0, n, head, DEFAULT_LIMITS)
      if (r !== 0 && r !== full) { t.fail(`prefix ${n} of ${JSON.stringify(raw)} gave ${r}`); return }
    }
  }
  t.equal(parseRequestHead(Buffer.from('GET / HTTP/1.1\nX', 'latin1'), 0, 16, head, DEFAULT_LIMITS), BadRequest, 'a bare LF is refused before the head is complete')
})

t.test('bytes past end are never read', async (t) => {
  const buf = Buffer.from(get() + get(), 'latin1')
  const len = get().length
  t.equal(parseRequestHead(buf, 0, len - 1, head, DEFAULT_LIMITS), 0)
  t.equal(parseRequestHead(buf, 0, len - 2, head, DEFAULT_LIMITS), 0)
  t.equal(parseRequestHead(buf, len, buf.length, head, DEFAULT_LIMITS), len, 'second pipelined head')
})

const small: HeadLimits = { maxHeadBytes: 128, maxHeaders: 4, maxRequestLineBytes: 40 }

t.test('maxHeaders: exactly the limit parses, one more is HeadTooLarge', async (t) => {
  t.ok(req(get('A: 1', 'B: 2', 'C: 3'), small) > 0)
  t.equal(req(get('A: 1', 'B: 2', 'C: 3', 'D: 4'), small), HeadTooLarge)
  const many = Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)
  t.ok(req(get(...many.slice(0, 99))) > 0, 'DEFAULT_LIMITS allow 100 fields')
  t.equal(req(get(...many)), HeadTooLarge)
})

t.test('maxHeadBytes: a head of exactly the limit parses, one byte more is HeadTooLarge', async (t) => {
  const base = get('X: ')
  const exact = get('X: ' + 'v'.repeat(small.maxHeadBytes - base.length))
  t.equal(exact.length, small.maxHeadBytes)
  t.equal(req(exact, small), small.maxHeadBytes)
  const over = get('X: ' + 'v'.repeat(small.maxHeadBytes - base.length + 1))
  t.equal(req(over, small), HeadTooLarge)
  t.equal(req(over.slice(0, small.maxHeadBytes), small), HeadTooLarge, 'incomplete but already at the limit')
  t.equal(req(over.slice(0, small.maxHeadBytes - 1), small), 0, 'incomplete and under the limit')
  t.equal(req(get('X: ' + 'v'.repeat(20000))), HeadTooLarge, 'DEFAULT_LIMITS: 16 KiB')
})

t.test('maxRequestLineBytes: over it is UriTooLong, complete or not', async (t) => {
  const line = (n: number): string => `GET /${'a'.repeat(n - 'GET / HTTP/1.1'.length)} HTTP/1.1`
  t.equal(line(40).length, 40)
  t.ok(req(line(40) + '\r\nHost: a\r\n\r\n', small) > 0)
  t.equal(req(line(41) + '\r\nHost: a\r\n\r\n', small), UriTooLong)
  t.equal(req('GET /' + 'a'.repeat(60), small), UriTooLong, 'incomplete line already too long')
  t.equal(req('GET /' + 'a'.repeat(30), small), 0)
  t.equal(req('GET /' + 'a'.repeat(9000) + ' HTTP/1.1\r\nHost: a\r\n\r\n'), UriTooLong, 'DEFAULT_LIMITS: 8 KiB')
})

t.test('headerNameIs compares case-insensitively without matching prefixes', async (t) => {
  const buf = Buffer.from('xContent-Typey', 'latin1')
  t.equal(headerNameIs(buf, 1, 13, 'content-type'), true)
  t.equal(headerNameIs(buf, 1, 12, 'content-type'), false)
  t.equal(headerNameIs(buf, 1, 13, 'content-typ'), false)
  t.equal(headerNameIs(buf, 1, 13, 'content_type'), false)
  t.equal(headerNameIs(Buffer.from('\r'), 0, 1, '-'), false, 'CR is not lowercase "-"')
})

t.test('HOP_BY_HOP lists the hop-by-hop names in lowercase', async (t) => {
  t.same([...HOP_BY_HOP].sort(), [
    'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
    'transfer-encoding', 'upgrade',
  ])
})

t.test('response status lines: reason optional, 3 digits, HTTP/1.0 or 1.1', async (t) => {
  t.equal(res('HTTP/1.1 200 OK\r\n\r\n'), 19)
  t.equal(resHead.status, 200)
  t.equal(resHead.versionMinor, 1)
  t.ok(res('HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\n') > 0)
  t.equal(resHead.status, 404)
  t.equal(resHead.versionMinor, 0)
  t.equal(resHead.contentLength, 3)
  t.ok(res('HTTP/1.1 200\r\n\r\n') > 0, 'no SP, no reason')
  t.ok(res('HTTP/1.1 200 \r\n\r\n') > 0, 'empty reason')
  t.ok(res('HTTP/1.1 599 Whatever \t it\xe9s\r\n\r\n') > 0, 'reason with HTAB and obs-text')
  t.ok(res('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n') > 0)
  t.equal(resHead.upgrade, 'websocket')
  t.equal(resHead.connectionTokens, 'upgrade')
  for (const bad of ['HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 099 OK', 'HTTP/1.1 2x0 OK', 'HTTP/1.1  200 OK', 'HTTP/1.2 200 OK',
    'HTTP/2 200', 'http/1.1 200 OK', 'HTTP/1.1 200 O\x01K', 'HTTP/1.1 200 O\x7fK', 'HTTP/1.1 200OK', ' HTTP/1.1 200 OK']) {
    t.equal(res(bad + '\r\n\r\n'), BadRequest, JSON.stringify(bad))
  }
  t.equal(res('HTTP/1.1 200 OK\n\r\n'), BadRequest)
  t.equal(res('\r\nHTTP/1.1 200 OK\r\n\r\n'), BadRequest, 'no leading CRLF for responses')
})

t.test('response framing: CL, chunked after other codings; CL+TE and TE without chunked refused', async (t) => {
  t.ok(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n') > 0)
  t.equal(resHead.isChunked, true)
  t.ok(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n') > 0)
  t.equal(resHead.isChunked, true)
  t.equal(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), BadRequest)
  t.equal(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n'), BadRequest, 'llhttp would read this one until close')
  t.equal(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), BadRequest)
  t.equal(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n'), BadRequest)
  t.equal(res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'), BadRequest)
  t.equal(res('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), BadRequest)
  t.equal(res('HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n'), BadRequest, 'obs-fold')
  t.ok(res('HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n') > 0, 'Host means nothing in a response')
})

t.test('every prefix of a response head is incomplete; limits apply', async (t) => {
  const raw = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n'
  const buf = Buffer.from(raw + 'ok', 'latin1')
  for (let n = 0; n < raw.length; n++) {
    const r = parseResponseHead(buf, 0, n, resHead, DEFAULT_LIMITS)
    if (r !== 0) { t.fail(`prefix ${n} gave ${r}`); return }
  }
  t.equal(parseResponseHead(buf, 0, buf.length, resHead, DEFAULT_LIMITS), raw.length)
  t.same(field(buf, resHead, 0), ['Content-Type', 'text/plain'])
  t.equal(res('HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n', small), HeadTooLarge)
  t.equal(res('HTTP/1.1 200 OK\r\nX: ' + 'v'.repeat(200), small), HeadTooLarge)
})
