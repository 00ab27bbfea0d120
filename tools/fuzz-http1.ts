// Differential fuzzing of portico's HTTP/1.1 request and response parsers (src/worker/http1/
// parser.ts and chunked.ts) against llhttp, the parser inside Node's http module. Runs on the
// calling thread.
//
//   node tools/fuzz-http1.ts [cases=1000000] [seed=1] [request,response]
//       long run by hand: that many requests (and a quarter as many responses); prints each mismatch
//
// test/worker/http1/differential.test.ts runs the same engine on a fixed seed for CI.
//
// llhttp is reached through Node's `_http_common` module (its HTTPParser binding, strict mode:
// kLenientNone), so no server or socket is needed. Each case is a generated request, often
// mutated at the byte level, followed by a well-formed request. When both parsers accept the case
// they must agree on method, target, version, every field name and value, the body length, and
// where the message ends: llhttp, given exactly portico's message bytes, completes the message
// cleanly, and given one byte less, does not.
//
// The rule checked: whenever llhttp rejects, portico rejects. portico is deliberately stricter
// than llhttp in these classes, where llhttp accepts and portico refuses (not counted as
// mismatches; the counts are reported as `stricter`):
//   - request line: more than one SP between parts; HTTP versions other than 1.0/1.1 (0.9, 2.0);
//     "*" with a method other than OPTIONS; absolute-form other than http(s)://authority;
//   - one leading CRLF only (llhttp skips any number);
//   - HTTP/1.1 without Host, more than one Host, Host bytes outside RFC 3986 host[:port];
//   - Content-Length above 2^53-1 (llhttp takes 64-bit lengths);
//   - Transfer-Encoding: any coding other than chunked in a request (NotImplemented), empty list
//     elements; Transfer-Encoding in HTTP/1.0;
//   - Connection elements that are not tokens;
//   - chunked: more than 15 size digits (even leading zeros), extension and trailer size limits,
//     trailers named content-length, transfer-encoding or host;
//   - CONNECT (NotImplemented);
//   - responses: status below 100; control bytes in the reason phrase; Transfer-Encoding whose
//     last coding is not chunked (llhttp reads such a body until close; portico refuses it).
// Where portico refuses something llhttp accepts outside these classes, the case is printed as
// `unexplained-stricter` by the CLI (not a failure: stricter is safe, but worth a look).

import { createRequire } from 'node:module'
import { ChunkedFramer, DEFAULT_LIMITS, RequestHead, ResponseHead, parseRequestHead, parseResponseHead } from '../src/worker/http1/parser.ts'

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(buf: Buffer): number | (Error & { code: string; bytesParsed: number })
  [key: number]: unknown
}
interface LlhttpBinding {
  HTTPParser: {
    new (): LlhttpParser
    REQUEST: number
    RESPONSE: number
    kOnHeaders: number
    kOnHeadersComplete: number
    kOnBody: number
    kOnMessageComplete: number
    kLenientNone: number
  }
  methods: string[]
}

/** Node's llhttp binding, or null when this Node no longer exposes it. */
export function loadLlhttp(): LlhttpBinding | null {
  try {
    const binding = createRequire(import.meta.url)('_http_common') as LlhttpBinding
    return typeof binding.HTTPParser === 'function' ? binding : null
  } catch {
    return null
  }
}

/** mulberry32: small, seedable, good enough to spread cases. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What is fuzzed: request heads (parseRequestHead) or response heads (parseResponseHead). */
export type Kind = 'request' | 'response'

const SENTINEL = { request: 'GET /__sentinel HTTP/1.1\r\nHost: s\r\n\r\n', response: 'HTTP/1.1 204 No Content\r\n\r\n' }

// ---------------------------------------------------------------------------------------------
// Generation

class Gen {
  rand: () => number
  constructor(rand: () => number) {
    this.rand = rand
  }
  int(n: number): number {
    return Math.floor(this.rand() * n)
  }
  chance(p: number): boolean {
    return this.rand() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]
  }
  str(alphabet: string, min: number, max: number): string {
    let s = ''
    const n = min + this.int(max - min + 1)
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)]
    return s
  }
}

const COMMON_METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'QUERY', 'PROPFIND', 'M-SEARCH']
const ODD_METHODS = ['get', 'FOO', 'GETT', 'GE', 'PRI', 'CONNECT', 'G@T', 'DESCRIBE', 'G\x00T', '', 'POST\t']
const PATH_CHARS = 'abcxyz0129-._~!$&\'()*+,;=:@/?%#'
const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789!#$%&'*+-.^_`|~"
const VALUE_CHARS = 'abc XYZ 019 -_.,;:=/"\'()<>@[]{}?\\\t\x80\xe9\xff'
const ODD_BYTES = ['\r', '\n', ' ', '\t', '\x00', '\x0b', '\x0c', '\x7f', '\x80', '\xff', ':', ',', ';', '"', '=', '\r\n', '0', 'a', '/']
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/1.01']
const CL_VALUES = ['0', '3', '5', '12', '005', ' 5', '5 ', '+5', '-1', '5,5', '5, 5', '', '0x5', '1 0', '99999999999999999999', '9007199254740993', '\xb5']
const TE_VALUES = ['chunked', 'chunked', 'chunked', 'Chunked', ' chunked ', 'gzip, chunked', 'chunked, chunked', 'chunked;x', 'xchunked', 'chunked\x0b', 'identity', 'gzip', ', chunked', 'chunked,', 'chunked , gzip']
const CONNECTION_VALUES = ['close', 'keep-alive', 'Keep-Alive', 'upgrade', 'close, foo', 'foo, , bar', 'a b', '']

function genTarget(g: Gen): string {
  const r = g.int(20)
  if (r === 0) return '*'
  if (r === 1) return 'http://' + g.str('abcxyz.09', 1, 8) + (g.chance(0.5) ? ':' + g.int(65536) : '') + '/' + g.str(PATH_CHARS, 0, 10)
  if (r === 2) return g.pick(['a:443', 'https://a', 'HTTP://a/b', 'ftp://a/', 'http:///x', 'x', '//a', '/a b', '/\x80', '/\t'])
  return '/' + g.str(PATH_CHARS, 0, 24)
}

function genField(g: Gen): string {
  const r = g.int(16)
  switch (r) {
    case 0: return 'Host: ' + g.pick(['a', 'example.com', 'A.Example.COM:8080', '[::1]:80', '', 'a b', 'a/b', 'a@b', 'a:b'])
    case 1: return g.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH']) + ':' + g.pick(['', ' ', '  ', '\t']) + g.pick(CL_VALUES)
    case 2: return g.pick(['Transfer-Encoding', 'transfer-encoding']) + ':' + g.pick([' ', '', '\t']) + g.pick(TE_VALUES)
    case 3: return 'Connection: ' + g.pick(CONNECTION_VALUES)
    case 4: return 'Upgrade: ' + g.pick(['websocket', 'h2c', 'WebSocket'])
    case 5: return 'Expect: ' + g.pick(['100-continue', '100-Continue', 'x'])
    case 6: return g.pick(['Content-Length ', 'Transfer-Encoding ', 'Host ', 'X\t', ' X', '', 'X@Y', 'X(', 'Transfer_Encoding']) + ': ' + g.pick(['5', 'chunked', 'a'])
    case 7: return 'X-Fold: a\r\n' + g.pick([' ', '\t']) + 'b'
    default: return g.str(TOKEN_CHARS, 1, 12) + ':' + g.pick(['', ' ', '  ', '\t']) + g.str(VALUE_CHARS, 0, 20) + g.pick(['', '', ' ', '\t'])
  }
}

function genChunked(g: Gen): string {
  let s = ''
  const chunks = g.int(4)
  for (let i = 0; i < chunks; i++) {
    const size = 1 + g.int(20)
    let sizeText = size.toString(16)
    if (g.chance(0.2)) sizeText = sizeText.toUpperCase()
    if (g.chance(0.05)) sizeText = '0'.repeat(1 + g.int(18)) + sizeText
    s += sizeText
    if (g.chance(0.2)) s += g.pick([';a', ';a=b', ';a="b c"', ';a="\\""', ' ;a', ';a=', '; a', ';a=b;c=d', ';\x00'])
    s += '\r\n' + g.str('abcdefghij', size, size) + '\r\n'
  }
  s += g.pick(['0', '0', '0', '00', '0;x'])
  s += '\r\n'
  if (g.chance(0.2)) s += g.pick(['X-T: 1\r\n', 'Content-Length: 1\r\n', 'X: a\r\n b\r\n', 'X : 1\r\n', 'Host: a\r\n'])
  s += '\r\n'
  return s
}

/** One generated request (head + body); sometimes mutated at the byte level. */
export function genCase(g: Gen): string {
  const eol = (): string => (g.chance(0.97) ? '\r\n' : g.pick(['\n', '\r', '\r\r\n', '\n\r']))
  let s = ''
  if (g.chance(0.05)) s += g.pick(['\r\n', '\r\n\r\n', '\n', ' '])
  const method = g.chance(0.92) ? g.pick(COMMON_METHODS) : g.pick(ODD_METHODS)
  const sp = (): string => (g.chance(0.97) ? ' ' : g.pick(['  ', '\t', '']))
  s += method + sp() + genTarget(g) + sp() + (g.chance(0.9) ? 'HTTP/1.1' : g.pick(VERSIONS)) + eol()
  const fields: string[] = []
  if (g.chance(0.9)) fields.push('Host: ' + g.pick(['a', 'example.com', 'a:8080']))
  const n = g.int(8)
  for (let i = 0; i < n; i++) fields.push(genField(g))
  if (g.chance(0.25)) fields.push('Content-Length: ' + g.pick(['0', '3', '5', '10']))
  if (g.chance(0.25)) fields.push('Transfer-Encoding: chunked')
  // shuffle a little: framing headers before or after the others
  if (g.chance(0.5)) fields.reverse()
  for (const f of fields) s += f + eol()
  s += eol()
  return withBody(g, s)
}

const STATUSES = ['200', '200', '200', '201', '204', '304', '404', '500', '100', '103', '101', '599', '999', '099', '20', '2000', '2x0']
const REASONS = ['', ' ', ' OK', ' OK', ' Not Found', ' Whatever \t x', ' O\x01K', ' \x80\xff', '  OK', ' OK\x7f']

/** One generated response (head + body); sometimes mutated at the byte level. */
export function genResponse(g: Gen): string {
  const eol = (): string => (g.chance(0.97) ? '\r\n' : g.pick(['\n', '\r', '\r\r\n']))
  let s = (g.chance(0.9) ? 'HTTP/1.1' : g.pick(VERSIONS)) + (g.chance(0.97) ? ' ' : g.pick(['  ', '\t', ''])) + g.pick(STATUSES) + g.pick(REASONS) + eol()
  const fields: string[] = []
  const n = g.int(8)
  for (let i = 0; i < n; i++) fields.push(genField(g))
  if (g.chance(0.5)) fields.push('Content-Length: ' + g.pick(['0', '3', '5', '10']))
  else if (g.chance(0.4)) fields.push('Transfer-Encoding: ' + g.pick(['chunked', 'chunked', 'gzip, chunked', 'chunked\t', 'gzip']))
  if (g.chance(0.5)) fields.reverse()
  for (const f of fields) s += f + eol()
  s += eol()
  return withBody(g, s)
}

/** A body by the (first) intended framing, then maybe byte mutations. Mismatches with the head are part of the point. */
function withBody(g: Gen, s: string): string {
  const te = /transfer-encoding:[ \t]*[^\r\n]*chunked/i.test(s)
  const cl = /content-length:[ \t]*(\d+)/i.exec(s)
  if (te || (cl === null && g.chance(0.05))) s += genChunked(g)
  else if (cl !== null) s += g.str('abcdefghij', Math.min(Number(cl[1]), 64), Math.min(Number(cl[1]), 64))
  if (g.chance(0.3)) s = mutate(g, s)
  return s
}

function mutate(g: Gen, s: string): string {
  const edits = 1 + g.int(3)
  for (let i = 0; i < edits; i++) {
    const p = g.int(s.length + 1)
    const r = g.int(3)
    if (r === 0) s = s.slice(0, p) + g.pick(ODD_BYTES) + s.slice(p)
    else if (r === 1) s = s.slice(0, p) + g.pick(ODD_BYTES) + s.slice(p + 1)
    else s = s.slice(0, p) + s.slice(p + 1)
  }
  return s
}

// ---------------------------------------------------------------------------------------------
// The two parsers

interface LlMessage {
  method: string
  status: number
  url: string
  versionMajor: number
  versionMinor: number
  headers: string[]
  bodyBytes: number
  upgrade: boolean
  complete: boolean
}

interface LlResult {
  messages: LlMessage[]
  error: string | null
  /** Bytes execute reported parsed (for an upgrade, where the message ended). */
  parsed: number
}

export class Llhttp {
  private binding: LlhttpBinding
  /** One native parser, initialised again for every run (a new one per run piles up native memory). */
  private parser: LlhttpParser
  private messages: LlMessage[] = []
  private pendingHeaders: string[] = []
  private pendingUrl = ''

  constructor(binding: LlhttpBinding) {
    this.binding = binding
    this.parser = new binding.HTTPParser()
    this.bind()
  }

  private methodName(i: number): string {
    // Node's `methods` array is dense; llhttp numbers QUERY 46 (after the RTSP methods).
    return i === 46 ? 'QUERY' : i < 34 ? this.binding.methods[i] : `#${i}`
  }

  run(buf: Buffer, kind: Kind): LlResult {
    const P = this.binding.HTTPParser
    const parser = this.parser
    parser.initialize(kind === 'request' ? P.REQUEST : P.RESPONSE, {}, 0, P.kLenientNone)
    this.messages = []
    this.pendingHeaders = []
    this.pendingUrl = ''
    const r = parser.execute(buf)
    if (typeof r === 'number') return { messages: this.messages, error: null, parsed: r }
    return { messages: this.messages, error: r.code, parsed: r.bytesParsed }
  }

  private bind(): void {
    const P = this.binding.HTTPParser
    const parser = this.parser
    parser[P.kOnHeaders] = (headers: string[], url: string) => {
      this.pendingHeaders.push(...headers)
      this.pendingUrl += url ?? ''
    }
    parser[P.kOnHeadersComplete] = (
      major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined,
      status: number | undefined, _message: unknown, upgrade: boolean,
    ) => {
      const all = headers === undefined ? this.pendingHeaders : [...this.pendingHeaders, ...headers]
      this.messages.push({
        method: this.methodName(method), status: status ?? 0, url: this.pendingUrl + (url ?? ''), versionMajor: major, versionMinor: minor,
        headers: all, bodyBytes: 0, upgrade, complete: false,
      })
      this.pendingHeaders = []
      this.pendingUrl = ''
      return 0
    }
    parser[P.kOnBody] = (b: Buffer) => {
      this.messages[this.messages.length - 1].bodyBytes += b.length
    }
    parser[P.kOnMessageComplete] = () => {
      this.messages[this.messages.length - 1].complete = true
    }
  }
}

interface OurResult {
  /** 'accept' with the fields below, 'reject' (any ParseError), or 'incomplete'. */
  outcome: 'accept' | 'reject' | 'incomplete'
  code: number
  method: string
  status: number
  target: string
  versionMinor: number
  headers: string[]
  /** 'close': a response without length, read until the connection closes. */
  framing: 'none' | 'length' | 'chunked' | 'close'
  bodyBytes: number
  messageBytes: number
}

const head = new RequestHead()
const resHead = new ResponseHead()
const framer = new ChunkedFramer()

/** portico's view of the first message in buf; `cut` splits the input once to exercise resumption. */
export function ours(buf: Buffer, cut: number): OurResult {
  const res: OurResult = { outcome: 'reject', code: 0, method: '', status: 0, target: '', versionMinor: 0, headers: [], framing: 'none', bodyBytes: 0, messageBytes: 0 }
  const partial = parseRequestHead(buf, 0, cut, head, DEFAULT_LIMITS)
  const r = parseRequestHead(buf, 0, buf.length, head, DEFAULT_LIMITS)
  if (partial !== 0 && partial !== r) throw new Error(`prefix of ${cut} bytes gave ${partial}, the whole input ${r}`)
  if (r === 0) return { ...res, outcome: 'incomplete' }
  if (r < 0) return { ...res, code: r }
  res.method = head.method
  res.target = head.target
  res.versionMinor = head.versionMinor
  return frameBody(buf, cut, head, r, res)
}

/**
 * portico's view of the first response in buf, with the caller's rules for bodies: none for 1xx,
 * 204 and 304 (the session's onResponseHead; llhttp does the same), else chunked, Content-Length,
 * or until close. (Responses to HEAD are not generated.)
 */
export function oursResponse(buf: Buffer, cut: number): OurResult {
  const res: OurResult = { outcome: 'reject', code: 0, method: '', status: 0, target: '', versionMinor: 0, headers: [], framing: 'none', bodyBytes: 0, messageBytes: 0 }
  const partial = parseResponseHead(buf, 0, cut, resHead, DEFAULT_LIMITS)
  const r = parseResponseHead(buf, 0, buf.length, resHead, DEFAULT_LIMITS)
  if (partial !== 0 && partial !== r) throw new Error(`prefix of ${cut} bytes gave ${partial}, the whole input ${r}`)
  if (r === 0) return { ...res, outcome: 'incomplete' }
  if (r < 0) return { ...res, code: r }
  res.status = resHead.status
  res.versionMinor = resHead.versionMinor
  if (res.status < 200 || res.status === 204 || res.status === 304) {
    readFields(buf, resHead, res)
    res.messageBytes = r
    res.outcome = 'accept'
    return res
  }
  if (!resHead.isChunked && resHead.contentLength < 0) {
    readFields(buf, resHead, res)
    res.framing = 'close'
    res.outcome = 'accept'
    return res
  }
  return frameBody(buf, cut, resHead, r, res)
}

function readFields(buf: Buffer, h: RequestHead | ResponseHead, res: OurResult): void {
  for (let i = 0; i < h.headerCount; i++) {
    const o = i * 4
    res.headers.push(buf.latin1Slice(h.offsets[o], h.offsets[o + 1]), buf.latin1Slice(h.offsets[o + 2], h.offsets[o + 3]))
  }
}

/** The body after a head of r bytes, by chunked or Content-Length (none when neither). */
function frameBody(buf: Buffer, cut: number, head: RequestHead | ResponseHead, r: number, res: OurResult): OurResult {
  readFields(buf, head, res)
  if (head.isChunked) {
    res.framing = 'chunked'
    framer.reset()
    const split = r + ((cut * 7) % Math.max(1, buf.length - r))
    const a = framer.feed(buf, r, split)
    if (a < 0) return { ...res, outcome: 'reject', code: a }
    const b = framer.done ? 0 : framer.feed(buf, split, buf.length)
    if (b < 0) return { ...res, outcome: 'reject', code: b }
    if (!framer.done) return { ...res, outcome: 'incomplete' }
    res.bodyBytes = framer.dataBytes
    res.messageBytes = r + a + b
  } else if (head.contentLength >= 0) {
    res.framing = 'length'
    res.bodyBytes = head.contentLength
    res.messageBytes = r + head.contentLength
    if (res.messageBytes > buf.length) return { ...res, outcome: 'incomplete' }
  } else {
    res.messageBytes = r
  }
  res.outcome = 'accept'
  return res
}

// ---------------------------------------------------------------------------------------------
// Comparison

export interface Mismatch {
  raw: string
  problem: string
}

export interface DiffStats {
  cases: number
  bothAccept: number
  bothReject: number
  /** llhttp accepts, portico refuses (allowed; see the classes at the top). */
  stricter: number
  mismatches: Mismatch[]
  /** Samples of stricter cases, for a look by hand. */
  stricterSamples: string[]
}

/** Compares one case; returns a problem description, 'stricter', 'both-accept', 'both-reject'. */
export function compare(ll: Llhttp, raw: string, cut: number, kind: Kind = 'request'): string {
  const buf = Buffer.from(raw + SENTINEL[kind], 'latin1')
  const l = ll.run(buf, kind)
  let o: OurResult
  try {
    o = kind === 'request' ? ours(buf, Math.min(cut, buf.length)) : oursResponse(buf, Math.min(cut, buf.length))
  } catch (err) {
    return `resumption: ${(err as Error).message}`
  }
  const first = l.messages[0]
  const llCompleted = first !== undefined && first.complete
  const llRejected = !llCompleted && l.error !== null
  if (o.outcome === 'reject') return llRejected ? 'both-reject' : 'stricter'
  if (llRejected) return `llhttp rejects (${l.error}), portico ${o.outcome === 'accept' ? 'accepts' : 'waits for more'}`
  if (o.outcome === 'incomplete') {
    // portico waits for more where llhttp ended the message: that would be a framing split.
    return llCompleted ? `portico waits for more, llhttp completed a message` : 'both-reject'
  }
  if (first === undefined) return 'portico accepts, llhttp saw no complete head'
  // Both have a head: the fields must agree.
  if (kind === 'response' && first.status !== o.status) return `status: llhttp ${first.status}, portico ${o.status}`
  if (kind === 'request' && first.method !== o.method) return `method: llhttp ${first.method}, portico ${o.method}`
  if (kind === 'request' && first.url !== o.target) return `target: llhttp ${JSON.stringify(first.url)}, portico ${JSON.stringify(o.target)}`
  if (first.versionMajor !== 1 || first.versionMinor !== o.versionMinor) return `version: llhttp ${first.versionMajor}.${first.versionMinor}, portico 1.${o.versionMinor}`
  if (first.headers.length !== o.headers.length) return `field count: llhttp ${first.headers.length / 2}, portico ${o.headers.length / 2}`
  for (let i = 0; i < o.headers.length; i++) {
    if (first.headers[i] !== o.headers[i]) return `field ${i >> 1}: llhttp ${JSON.stringify(first.headers[i])}, portico ${JSON.stringify(o.headers[i])}`
  }
  if (o.framing === 'close') return 'both-accept' // both read until close: nothing more to compare
  if (!first.complete) return `portico accepts a ${o.framing} body of ${o.bodyBytes}, llhttp did not complete the message`
  if (first.bodyBytes !== o.bodyBytes) return `body bytes: llhttp ${first.bodyBytes}, portico ${o.bodyBytes}`
  // Where the message ends: llhttp must complete it on exactly portico's messageBytes, cleanly,
  // and must not complete it one byte earlier. (Bytes after it are the next message for both;
  // llhttp refuses them after `Connection: close` or HTTP/1.0, which says nothing of the boundary.)
  const exact = ll.run(buf.subarray(0, o.messageBytes), kind)
  if (exact.messages.length !== 1 || !exact.messages[0].complete || exact.error !== null) {
    return `message end: llhttp does not complete the message on portico's ${o.messageBytes} bytes (${exact.error})`
  }
  const short = ll.run(buf.subarray(0, o.messageBytes - 1), kind)
  if (short.messages.length > 0 && short.messages[0].complete) {
    return `message end: llhttp completes the message before portico's ${o.messageBytes} bytes`
  }
  return 'both-accept'
}

/** Runs `cases` generated cases from `seed`, stopping early at `deadlineMs` (wall clock) if given. */
export function runDifferential(binding: LlhttpBinding, seed: number, cases: number, deadlineMs = Infinity, kind: Kind = 'request'): DiffStats {
  const g = new Gen(prng(seed))
  const ll = new Llhttp(binding)
  const stats: DiffStats = { cases: 0, bothAccept: 0, bothReject: 0, stricter: 0, mismatches: [], stricterSamples: [] }
  for (let i = 0; i < cases; i++) {
    if ((i & 255) === 0 && Date.now() > deadlineMs) break
    const raw = kind === 'request' ? genCase(g) : genResponse(g)
    const verdict = compare(ll, raw, g.int(raw.length + 1), kind)
    stats.cases++
    if (verdict === 'both-accept') stats.bothAccept++
    else if (verdict === 'both-reject') stats.bothReject++
    else if (verdict === 'stricter') {
      stats.stricter++
      if (stats.stricterSamples.length < 2000) stats.stricterSamples.push(raw)
    } else stats.mismatches.push({ raw, problem: verdict })
  }
  return stats
}

function main(): void {
  const cases = Number(process.argv[2] ?? 1_000_000)
  const seed = Number(process.argv[3] ?? 1)
  const binding = loadLlhttp()
  if (binding === null) {
    console.error('fuzz-http1: this Node does not expose llhttp through _http_common')
    process.exit(2)
  }
  let failed = false
  for (const kind of KINDS) {
    const startedMs = Date.now()
    const stats = runDifferential(binding, seed, kind === 'request' ? cases : Math.ceil(cases / 4), Infinity, kind)
    for (const m of stats.mismatches.slice(0, 50)) console.log(`MISMATCH ${kind} ${m.problem}\n  ${JSON.stringify(m.raw)}`)
    console.log(`${kind}s: ${stats.cases} cases in ${Date.now() - startedMs} ms (seed ${seed}): ${stats.bothAccept} both accept, ` +
      `${stats.bothReject} both reject, ${stats.stricter} portico stricter, ${stats.mismatches.length} mismatches`)
    if (stats.mismatches.length > 0) failed = true
  }
  process.exit(failed ? 1 : 0)
}

const KINDS: readonly Kind[] = (process.argv[4] ?? 'request,response').split(',') as Kind[]

if (import.meta.main) main()
