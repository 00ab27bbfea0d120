// The HTTP/1.1 request-smuggling corpus: named raw requests with the outcome portico must give.
// Used at parser level by smuggling-corpus.test.ts and replayed through the real proxy by the
// end-to-end tests. Every case is complete (nothing waits for more bytes or a timeout).
//
// An accepted case gives its framing independently of the parser: the raw bytes are written as
// `first` + `rest`, and messageBytes is first's length, so raw.slice(messageBytes) is where the
// next message starts. `next` says what the following messages get (absent: nothing follows).

export interface CorpusCase {
  name: string
  /** The bytes sent, as a latin1 string (one char = one byte). */
  raw: string
  expect: 'reject' | 'accept'
  /** reject: the status portico answers (400, 414, 431 or 501) before closing. */
  status?: number
  /** accept: payload bytes of the first message (Content-Length, or the sum of chunk sizes). */
  bodyBytes?: number
  /** accept: how the first message's body is framed. */
  framing?: 'none' | 'length' | 'chunked'
  /** accept: wire bytes of the first message (head + body framing). */
  messageBytes?: number
  /**
   * accept with bytes after the first message: 'accept' = every following message is accepted
   * (each complete); 'reject' = the message right after the first is refused with nextStatus.
   */
  next?: 'accept' | 'reject'
  /** next === 'reject': its status. */
  nextStatus?: number
}

const CRLF = '\r\n'

/** A head from its lines, CRLF-terminated, with the empty line. */
function h(...lines: string[]): string {
  return lines.join(CRLF) + CRLF + CRLF
}

function reject(name: string, raw: string, status = 400): CorpusCase {
  return { name, raw, expect: 'reject', status }
}

function accept(
  name: string, first: string, framing: 'none' | 'length' | 'chunked', bodyBytes: number,
  rest = '', next?: 'accept' | 'reject', nextStatus?: number,
): CorpusCase {
  const c: CorpusCase = { name, raw: first + rest, expect: 'accept', bodyBytes, framing, messageBytes: first.length }
  if (rest !== '') {
    c.next = next ?? 'accept'
    if (nextStatus !== undefined) c.nextStatus = nextStatus
  }
  return c
}

const GET = h('GET /next HTTP/1.1', 'Host: a')
const ADMIN = h('GET /admin HTTP/1.1', 'Host: a')
const CHUNKED = '5\r\nhello\r\n0\r\n\r\n'

export const CORPUS: CorpusCase[] = [
  // --- CL.TE and TE.CL: both framing headers present ---
  reject('CL.TE: Content-Length then Transfer-Encoding chunked', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 6', 'Transfer-Encoding: chunked') + '0\r\n\r\nG'),
  reject('TE.CL: Transfer-Encoding chunked then Content-Length', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 3') + '8\r\nSMUGGLED\r\n0\r\n\r\n'),
  reject('CL.TE with an unknown coding', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 4', 'Transfer-Encoding: xchunked') + 'abcd'),
  reject('CL.TE with TE in uppercase', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'TRANSFER-ENCODING: CHUNKED') + CHUNKED),
  reject('CL.TE with Content-Length 0', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0', 'Transfer-Encoding: chunked') + '0\r\n\r\n'),

  // --- Transfer-Encoding obfuscations ---
  reject('TE: space before the colon', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding : chunked') + CHUNKED),
  reject('TE: value folded onto the next line (obs-fold)', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding:', ' chunked') + CHUNKED),
  reject('TE: vertical tab after chunked', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked\x0b') + CHUNKED),
  reject('TE: form feed before chunked', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: \x0cchunked') + CHUNKED),
  reject('TE: NUL inside chunked', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chun\x00ked') + CHUNKED),
  reject('TE: HTAB after chunked (llhttp: not chunked)', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked\t') + CHUNKED),
  reject('TE: xchunked', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: xchunked') + CHUNKED),
  reject('TE: chunked with a parameter', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked;q=1') + CHUNKED),
  reject('TE: quoted "chunked"', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: "chunked"') + CHUNKED),
  reject('TE: empty element before chunked', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: , chunked') + CHUNKED),
  reject('TE: chunked applied twice in one field', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, chunked') + CHUNKED),
  reject('TE: chunked in two fields', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked') + CHUNKED),
  reject('TE: chunked not the final coding', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, identity') + CHUNKED),
  reject('TE: gzip without chunked in a request', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip') + 'abc'),
  reject('TE: gzip, chunked in a request is not implemented', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked') + CHUNKED, 501),
  reject('TE: identity then chunked across two fields', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: identity', 'Transfer-Encoding: chunked') + CHUNKED, 501),
  reject('TE: in an HTTP/1.0 request', h('POST / HTTP/1.0', 'Host: a', 'Transfer-Encoding: chunked') + CHUNKED),
  reject('TE: name with a NUL byte', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding\x00: chunked') + CHUNKED),
  accept('TE: mixed case and OWS around chunked', h('POST / HTTP/1.1', 'Host: a', 'transfer-encoding: \t Chunked  ') + CHUNKED, 'chunked', 5),
  accept('TE: a look-alike name is just a field; Content-Length frames', h('POST / HTTP/1.1', 'Host: a', 'Transfer_Encoding: chunked', 'Content-Length: 5') + 'hello', 'length', 5, GET),

  // --- Content-Length ---
  reject('CL: duplicate with equal values', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 5') + 'hello'),
  reject('CL: duplicate with different values', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 0') + 'hello'),
  reject('CL: list value', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5, 5') + 'hello'),
  reject('CL: plus sign', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: +5') + 'hello'),
  reject('CL: negative', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: -1') + 'hello'),
  reject('CL: hexadecimal', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0x5') + 'hello'),
  reject('CL: space inside the digits', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1 0') + 'helloworld'),
  reject('CL: empty value', h('POST / HTTP/1.1', 'Host: a', 'Content-Length:') + 'hello'),
  reject('CL: 2^53, beyond exact integers', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 9007199254740992') + 'hello'),
  reject('CL: 2^64 + 1, wraps to 1 in a 64-bit parser', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 18446744073709551617') + 'hello'),
  reject('CL: space before the colon', h('POST / HTTP/1.1', 'Host: a', 'Content-Length : 5') + 'hello'),
  reject('CL: superscript digit (obs-text)', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: \xb9') + 'h'),
  accept('CL: OWS around the value', h('POST / HTTP/1.1', 'Host: a', 'Content-Length:  5 \t') + 'hello', 'length', 5),
  accept('CL: leading zeros', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 005') + 'hello', 'length', 5, GET),
  accept('CL: body that looks like a request is body', h('POST / HTTP/1.1', 'Host: a', `Content-Length: ${ADMIN.length}`) + ADMIN, 'length', ADMIN.length),
  accept('CL: GET with Content-Length 0 then a pipelined GET', h('GET / HTTP/1.1', 'Host: a', 'Content-Length: 0'), 'length', 0, GET),

  // --- chunk sizes, extensions, trailers ---
  reject('chunk size 2^64 wraps to 0 in a 64-bit parser', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '10000000000000000\r\nG\r\n0\r\n\r\n'),
  reject('chunk size 2^64-1 (16 hex digits)', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + 'ffffffffffffffff\r\nG\r\n0\r\n\r\n'),
  reject('chunk size 2^53 (beyond exact integers)', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '20000000000000\r\nG\r\n0\r\n\r\n'),
  reject('chunk size with 0x prefix', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '0x5\r\nhello\r\n0\r\n\r\n'),
  reject('chunk size negative', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '-5\r\nhello\r\n0\r\n\r\n'),
  reject('chunk size with a leading space', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + ' 5\r\nhello\r\n0\r\n\r\n'),
  reject('chunk size with a trailing space', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5 \r\nhello\r\n0\r\n\r\n'),
  reject('chunk size line ended by bare LF', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5\nhello\r\n0\r\n\r\n'),
  reject('chunk extension with whitespace (BWS)', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5 ; a=b\r\nhello\r\n0\r\n\r\n'),
  reject('chunk extension hiding a bare LF', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5;a\nb\r\nhello\r\n0\r\n\r\n'),
  reject('chunk extension with an unterminated quote', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5;a="b\r\nhello\r\n0\r\n\r\n'),
  reject('chunk data longer than its size', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '3\r\nhello\r\n0\r\n\r\n'),
  reject('chunk data followed by bare LF', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5\r\nhello\n0\r\n\r\n'),
  reject('last chunk ended by bare LFs', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5\r\nhello\r\n0\n\n'),
  reject('trailer carrying Content-Length', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5\r\nhello\r\n0\r\nContent-Length: 10\r\n\r\n'),
  reject('trailer carrying Transfer-Encoding', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '0\r\nTransfer-Encoding: chunked\r\n\r\n'),
  reject('trailer with obs-fold', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '0\r\nX: 1\r\n 2\r\n\r\n'),
  reject('oversize chunk extension line', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '1;' + 'e'.repeat(5000) + '\r\nx\r\n0\r\n\r\n'),
  accept('chunk extensions: token and quoted values', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5;a=b;c="d \\" e"\r\nhello\r\n0;z\r\n\r\n', 'chunked', 5),
  accept('chunked with trailers then a pipelined GET', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n', 'chunked', 11, GET),
  accept('chunked body containing a request line is data', h('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + '10\r\nGET / HTTP/1.1\r\n\r\n0\r\n\r\n', 'chunked', 16),

  // --- bare LF and bare CR ---
  reject('bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n'),
  reject('bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n'),
  reject('bare LF as the empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\n'),
  reject('all bare LF', 'GET / HTTP/1.1\nHost: a\n\n'),
  reject('bare CR inside a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rContent-Length: 5\r\n\r\nhello'),
  reject('bare CR ending a field line', 'GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n'),
  reject('CR CR LF', 'GET / HTTP/1.1\r\nHost: a\r\r\n\r\n'),

  // --- obs-fold ---
  reject('obs-fold with SP', h('GET / HTTP/1.1', 'Host: a', 'X-A: 1', ' X-B: 2')),
  reject('obs-fold with HTAB', h('GET / HTTP/1.1', 'Host: a', 'X-A: 1', '\tX-B: 2')),
  reject('first field line starts with SP', h('GET / HTTP/1.1', ' Host: a')),

  // --- invalid tokens and control characters ---
  reject('field name with a space before the colon', h('GET / HTTP/1.1', 'Host: a', 'X-A : 1')),
  reject('field name with "@"', h('GET / HTTP/1.1', 'Host: a', 'X@A: 1')),
  reject('empty field name', h('GET / HTTP/1.1', 'Host: a', ': 1')),
  reject('field line without a colon', h('GET / HTTP/1.1', 'Host: a', 'X-A 1')),
  reject('NUL in a value', h('GET / HTTP/1.1', 'Host: a', 'X-A: a\x00b')),
  reject('DEL in a value', h('GET / HTTP/1.1', 'Host: a', 'X-A: a\x7fb')),
  reject('ESC in a value', h('GET / HTTP/1.1', 'Host: a', 'X-A: \x1b[31m')),
  reject('NUL in the target', h('GET /a\x00b HTTP/1.1', 'Host: a')),
  reject('HTAB in the target', h('GET /a\tb HTTP/1.1', 'Host: a')),
  reject('obs-text in the target', h('GET /caf\xe9 HTTP/1.1', 'Host: a')),
  reject('method with a non-token byte', h('G(ET / HTTP/1.1', 'Host: a')),
  reject('unknown method', h('FOO / HTTP/1.1', 'Host: a'), 501),
  reject('CONNECT is not implemented', h('CONNECT a:443 HTTP/1.1', 'Host: a:443'), 501),
  accept('obs-text and HTAB in a value are fine', h('GET / HTTP/1.1', 'Host: a', 'X-A: caf\xe9\tau lait'), 'none', 0),

  // --- oversize lines and heads ---
  reject('head over 16 KiB', h('GET / HTTP/1.1', 'Host: a', 'X-Big: ' + 'a'.repeat(17000)), 431),
  reject('101 field lines', h('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)), 431),
  reject('request line over 8 KiB', h('GET /' + 'a'.repeat(8200) + ' HTTP/1.1', 'Host: a'), 414),
  accept('100 field lines is the limit', h('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 99 }, (_, i) => `X-${i}: ${i}`)), 'none', 0),

  // --- request line shape, versions ---
  reject('two spaces after the method', h('GET  / HTTP/1.1', 'Host: a')),
  reject('space after the version', h('GET / HTTP/1.1 ', 'Host: a')),
  reject('HTTP/0.9 simple request', 'GET /\r\n\r\n'),
  reject('version HTTP/0.9', h('GET / HTTP/0.9', 'Host: a')),
  reject('version HTTP/1.2', h('GET / HTTP/1.2', 'Host: a')),
  reject('version HTTP/2.0', h('GET / HTTP/2.0', 'Host: a')),
  reject('lowercase version', h('GET / http/1.1', 'Host: a')),
  reject('asterisk-form with GET', h('GET * HTTP/1.1', 'Host: a')),
  reject('authority-form with GET', h('GET a:80 HTTP/1.1', 'Host: a')),
  reject('absolute-form with userinfo', h('GET http://evil@a/ HTTP/1.1', 'Host: a')),
  reject('absolute-form with a quote in the authority', h('GET http://a"b/ HTTP/1.1', 'Host: a')),
  reject('absolute-form with an empty authority', h('GET http:///admin HTTP/1.1', 'Host: a')),
  accept('absolute-form target; Host still from the Host field', h('GET http://b.example/x HTTP/1.1', 'Host: a'), 'none', 0),
  accept('asterisk-form with OPTIONS', h('OPTIONS * HTTP/1.1', 'Host: a'), 'none', 0),
  accept('HTTP/1.0 without Host', h('GET / HTTP/1.0'), 'none', 0),

  // --- Host ---
  reject('HTTP/1.1 without Host', h('GET / HTTP/1.1', 'Accept: */*')),
  reject('two Host fields', h('GET / HTTP/1.1', 'Host: a', 'Host: b')),
  reject('Host with a space', h('GET / HTTP/1.1', 'Host: a b')),
  reject('Host with userinfo', h('GET / HTTP/1.1', 'Host: evil@a')),
  reject('Host with a path', h('GET / HTTP/1.1', 'Host: a/admin')),

  // --- leading empty lines, pipelining ---
  accept('one leading CRLF is tolerated', CRLF + h('GET / HTTP/1.1', 'Host: a'), 'none', 0, GET),
  reject('two leading CRLFs', CRLF + CRLF + h('GET / HTTP/1.1', 'Host: a')),
  reject('a leading bare LF', '\n' + h('GET / HTTP/1.1', 'Host: a')),
  accept('three pipelined GETs', h('GET /1 HTTP/1.1', 'Host: a'), 'none', 0, GET + GET),
  accept('pipelined follow-up with a bare LF is refused on its own', h('GET /1 HTTP/1.1', 'Host: a'), 'none', 0, 'GET /2 HTTP/1.1\nHost: a\r\n\r\n', 'reject', 400),
  accept('pipelined follow-up that is CL.TE is refused on its own', h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3') + 'abc', 'length', 3,
    h('POST / HTTP/1.1', 'Host: a', 'Content-Length: 4', 'Transfer-Encoding: chunked') + '0\r\n\r\n', 'reject', 400),
]
