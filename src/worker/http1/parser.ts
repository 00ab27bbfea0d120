// Strict HTTP/1.1 message-head parsers (RFC 9112) for requests from downstream and responses from
// upstream servers. Worker thread, hot path: one RequestHead/ResponseHead per connection, reused.
//
// A head is parsed in one pass of charCode loops over the Buffer, from `start` every time it is
// called (the caller calls again when more bytes arrive; a head normally arrives in one read).
// Fields are not copied: `offsets` holds [nameStart, nameEnd, valueStart, valueEnd] per field,
// absolute offsets into the caller's buffer. Only host, content-length, transfer-encoding,
// connection, upgrade and expect are decoded; strings are made only for the method (interned
// constants), the target, and host/upgrade/connection tokens when present.
//
// Strictness is the point: anything two HTTP implementations could frame differently is refused,
// so portico never forwards a message whose boundaries an upstream might read another way.
// Every rule below has accept and reject cases in test/worker/http1/parser.test.ts and the
// smuggling corpus (test/worker/http1/corpus.ts).
//   - line endings are CRLF only; a bare LF or bare CR anywhere is refused;
//   - request line is exactly `METHOD SP target SP HTTP/1.0|HTTP/1.1`; one leading CRLF tolerated
//     (RFC 9112 2.2), a second refused;
//   - field lines are `token ":" OWS value OWS`: no obs-fold, no whitespace before the colon,
//     no control bytes but HTAB in values (no NUL, no DEL);
//   - Content-Length: one header, digits only, at most 2^53-1; a list ("5, 5") is refused;
//   - Transfer-Encoding: chunked exactly once and last; requests may carry nothing but chunked
//     (other codings: NotImplemented); never together with Content-Length; never in HTTP/1.0;
//   - HTTP/1.1 requests carry exactly one Host; Host bytes are those of RFC 3986 host[:port].

import { COLON, COMMA, CR, FIELD_VALUE, HOST, HTAB, LF, LOWER, ParseError, SP, TARGET, TOKEN } from './tokens.ts'

// The public surface of http1/ is this file: the framer and the error codes live beside it.
export { ChunkedFramer } from './chunked.ts'
export { ParseError } from './tokens.ts'

export interface HeadLimits {
  /** Whole head including the request/status line and the final CRLFCRLF. Over it: HeadTooLarge. */
  maxHeadBytes: number
  /** Field lines in one head. Over it: HeadTooLarge. */
  maxHeaders: number
  /** Request line without its CRLF. Over it: UriTooLong. */
  maxRequestLineBytes: number
}

/** 16 KiB heads (Node's and HAProxy's default), 100 fields, 8 KiB request lines. */
export const DEFAULT_LIMITS: HeadLimits = Object.freeze({ maxHeadBytes: 16384, maxHeaders: 100, maxRequestLineBytes: 8192 })

/** Hop-by-hop header names (RFC 9110 7.6.1 plus the legacy ones), lowercase. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
])

/** Fields shared by request and response heads. */
class MessageHead {
  versionMinor: number
  headerCount: number
  /** 4 ints per field: nameStart, nameEnd, valueStart, valueEnd (value without leading/trailing OWS). */
  offsets: Int32Array
  /** -1 when absent. */
  contentLength: number
  isChunked: boolean
  hasClose: boolean
  hasKeepAlive: boolean
  /** Connection tokens other than close/keep-alive, lowercase, joined with ","; null if none. */
  connectionTokens: string | null
  /** Upgrade value(s), lowercase, joined with ", " when repeated; null if absent. */
  upgrade: string | null
  /** Bytes of the head from `start`, including any leading CRLF and the final CRLFCRLF. */
  headLength: number

  constructor(maxHeaders: number) {
    this.versionMinor = 1
    this.headerCount = 0
    this.offsets = new Int32Array(maxHeaders * 4)
    this.contentLength = -1
    this.isChunked = false
    this.hasClose = false
    this.hasKeepAlive = false
    this.connectionTokens = null
    this.upgrade = null
    this.headLength = 0
  }

  protected resetCommon(): void {
    this.versionMinor = 1
    this.headerCount = 0
    this.contentLength = -1
    this.isChunked = false
    this.hasClose = false
    this.hasKeepAlive = false
    this.connectionTokens = null
    this.upgrade = null
    this.headLength = 0
  }
}

/** One per downstream connection, reused for every request on it. */
export class RequestHead extends MessageHead {
  /** Always one of the interned method constants (see METHODS). */
  method: string
  /** request-target as sent (origin-form, absolute-form http(s)://, or "*" for OPTIONS). */
  target: string
  expectContinue: boolean
  /** Host header value, lowercase, with its port as sent; null when absent (HTTP/1.0 only). */
  host: string | null

  constructor(maxHeaders: number = DEFAULT_LIMITS.maxHeaders) {
    super(maxHeaders)
    this.method = ''
    this.target = ''
    this.expectContinue = false
    this.host = null
  }

  reset(): void {
    this.resetCommon()
    this.method = ''
    this.target = ''
    this.expectContinue = false
    this.host = null
  }
}

/** One per upstream connection, reused for every response on it. */
export class ResponseHead extends MessageHead {
  status: number

  constructor(maxHeaders: number = DEFAULT_LIMITS.maxHeaders) {
    super(maxHeaders)
    this.status = 0
  }

  reset(): void {
    this.resetCommon()
    this.status = 0
  }
}

// The methods llhttp accepts (Node's http.METHODS). Any other token is answered NotImplemented:
// an upstream behind portico that runs on Node could not parse it anyway, and accepting exactly
// this set keeps portico from forwarding what llhttp-based upstreams would frame as garbage.
const METHODS = [
  'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'QUERY',
  'ACL', 'BIND', 'CHECKOUT', 'COPY', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE', 'MKACTIVITY', 'MKCALENDAR',
  'MKCOL', 'MOVE', 'NOTIFY', 'PROPFIND', 'PROPPATCH', 'PURGE', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE',
  'SUBSCRIBE', 'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE',
] as const
/** The methods above, bucketed by length, for matchMethod. */
const METHODS_BY_LENGTH: string[][] = []
for (const m of METHODS) (METHODS_BY_LENGTH[m.length] ??= []).push(m)
export const KNOWN_METHODS: readonly string[] = METHODS

/** The interned method string for buf[start,end), or null for a token that is no known method. */
function matchMethod(buf: Buffer, start: number, end: number): string | null {
  const len = end - start
  const c0 = buf[start]
  // GET and POST are nearly all traffic: compare bytes without touching the table.
  if (len === 3 && c0 === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET'
  if (len === 4 && c0 === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return 'POST'
  const bucket = METHODS_BY_LENGTH[len]
  if (bucket === undefined) return null
  for (let i = 0; i < bucket.length; i++) {
    const m = bucket[i]
    let j = 0
    while (j < len && buf[start + j] === m.charCodeAt(j)) j++
    if (j === len) return m
  }
  return null
}

/** Case-insensitive compare of a field name in the buffer against a lowercase name; no allocation. */
export function headerNameIs(buf: Buffer, nameStart: number, nameEnd: number, lowerName: string): boolean {
  const len = nameEnd - nameStart
  if (len !== lowerName.length) return false
  for (let i = 0; i < len; i++) if (LOWER[buf[nameStart + i]] !== lowerName.charCodeAt(i)) return false
  return true
}

/** Like headerNameIs, for a token or value range. */
function rangeIs(buf: Buffer, start: number, end: number, lower: string): boolean {
  return headerNameIs(buf, start, end, lower)
}

// Per-parse framing state, kept in module scope rather than on the head objects: a parse runs to
// completion synchronously, and the heads keep only the fields of the public contract.
let teSeen = false
let teChunkedCount = 0
let teLastIsChunked = false
let teHasOther = false
let hostCount = 0
/** The Host value's range and whether it needs lowercasing; the string is made once the head is complete. */
let hostStart = 0
let hostEnd = 0
let hostNeedsLower = false

const MAX_CONTENT_LENGTH = Number.MAX_SAFE_INTEGER

/**
 * Parses a request head in buf[start, end).
 * @returns headLength (> 0) when a complete valid head is there; 0 when it is incomplete and still
 *   within limits; a ParseError (< 0) when invalid. On success `out` holds the head; on any other
 *   result its fields are unspecified.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, out: RequestHead, limits: HeadLimits): number {
  out.reset()
  if (out.offsets.length < limits.maxHeaders * 4) out.offsets = new Int32Array(limits.maxHeaders * 4)
  const maxHeadBytes = limits.maxHeadBytes
  const scanEnd = end - start > maxHeadBytes ? start + maxHeadBytes : end
  let pos = start

  // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line. One.
  if (pos < scanEnd && buf[pos] === CR) {
    if (pos + 1 >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    if (buf[pos + 1] !== LF) return ParseError.BadRequest
    pos += 2
  }
  const lineStart = pos
  const maxLine = limits.maxRequestLineBytes

  // method SP
  while (pos < scanEnd && TOKEN[buf[pos]] === 1) pos++
  if (pos >= scanEnd) return incompleteLine(start, lineStart, scanEnd, limits)
  if (pos === lineStart || buf[pos] !== SP) return ParseError.BadRequest
  const method = matchMethod(buf, lineStart, pos)
  if (method === null || method === 'CONNECT') return ParseError.NotImplemented

  // request-target SP
  const targetStart = ++pos
  while (pos < scanEnd && TARGET[buf[pos]] === 1) pos++
  if (pos >= scanEnd) return incompleteLine(start, lineStart, scanEnd, limits)
  if (pos === targetStart || buf[pos] !== SP) return ParseError.BadRequest
  const targetEnd = pos
  const t0 = buf[targetStart]
  if (t0 !== 0x2f /* / */) {
    if (t0 === 0x2a /* * */) {
      if (targetEnd - targetStart !== 1 || method !== 'OPTIONS') return ParseError.BadRequest
    } else if (!isAbsoluteHttp(buf, targetStart, targetEnd)) {
      return ParseError.BadRequest
    }
  }

  // HTTP-version CRLF
  pos++
  const minor = parseVersion(buf, pos, scanEnd)
  if (minor === -2) return incompleteLine(start, lineStart, scanEnd, limits)
  if (minor < 0) return ParseError.BadRequest
  pos += 8
  if (pos >= scanEnd) return incompleteLine(start, lineStart, scanEnd, limits)
  if (buf[pos] !== CR) return ParseError.BadRequest
  if (pos - lineStart > maxLine) return ParseError.UriTooLong
  if (pos + 1 >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
  if (buf[pos + 1] !== LF) return ParseError.BadRequest
  pos += 2

  out.method = method
  out.versionMinor = minor

  const headEnd = parseFields(buf, pos, start, scanEnd, out, limits, out)
  if (headEnd <= 0) return headEnd

  // Framing decisions once every field has been seen.
  if (hostCount === 0 && minor === 1) return ParseError.BadRequest
  if (teSeen) {
    if (out.contentLength !== -1 || minor === 0) return ParseError.BadRequest
    if (teChunkedCount !== 1 || !teLastIsChunked) return ParseError.BadRequest
    if (teHasOther) return ParseError.NotImplemented
    out.isChunked = true
  }
  // Strings are made only now: a head that arrives in several reads is parsed again each time.
  out.target = buf.latin1Slice(targetStart, targetEnd)
  if (hostCount === 1) {
    const host = buf.latin1Slice(hostStart, hostEnd)
    out.host = hostNeedsLower ? host.toLowerCase() : host
  }
  out.headLength = headEnd - start
  return out.headLength
}

/**
 * Parses a response head in buf[start, end); same results as parseRequestHead, where BadRequest
 * means an invalid response. Status must be 3 digits, 100-999; the reason phrase may be empty and
 * its SP may be missing (`HTTP/1.1 200\r\n`, as llhttp accepts). Transfer-Encoding must end in
 * chunked (other codings before it are forwarded as they are); one without a final chunked, which
 * RFC 9112 6.3 would have read until close, is refused.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, out: ResponseHead, limits: HeadLimits): number {
  out.reset()
  if (out.offsets.length < limits.maxHeaders * 4) out.offsets = new Int32Array(limits.maxHeaders * 4)
  const maxHeadBytes = limits.maxHeadBytes
  const scanEnd = end - start > maxHeadBytes ? start + maxHeadBytes : end
  let pos = start

  const minor = parseVersion(buf, pos, scanEnd)
  if (minor === -2) return incompleteHead(start, scanEnd, maxHeadBytes)
  if (minor < 0) return ParseError.BadRequest
  pos += 8
  // SP 3DIGIT
  for (let i = 0; i < 4; i++) {
    if (pos + i >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    const c = buf[pos + i]
    if (i === 0 ? c !== SP : c < 0x30 || c > 0x39) return ParseError.BadRequest
  }
  const status = (buf[pos + 1] - 0x30) * 100 + (buf[pos + 2] - 0x30) * 10 + (buf[pos + 3] - 0x30)
  if (status < 100) return ParseError.BadRequest
  pos += 4
  // [ SP reason-phrase ] CRLF
  if (pos >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
  if (buf[pos] === SP) {
    pos++
    while (pos < scanEnd && FIELD_VALUE[buf[pos]] === 1) pos++
    if (pos >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
  }
  if (buf[pos] !== CR) return ParseError.BadRequest
  if (pos + 1 >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
  if (buf[pos + 1] !== LF) return ParseError.BadRequest
  pos += 2

  out.status = status
  out.versionMinor = minor
  const headEnd = parseFields(buf, pos, start, scanEnd, out, limits, null)
  if (headEnd <= 0) return headEnd

  if (teSeen) {
    if (out.contentLength !== -1 || minor === 0) return ParseError.BadRequest
    if (teChunkedCount !== 1 || !teLastIsChunked) return ParseError.BadRequest
    out.isChunked = true
  }
  out.headLength = headEnd - start
  return out.headLength
}

/** Incomplete head: HeadTooLarge if the limit already cut the scan short, else 0 (wait for more). */
function incompleteHead(start: number, scanEnd: number, maxHeadBytes: number): number {
  return scanEnd - start >= maxHeadBytes ? ParseError.HeadTooLarge : 0
}

/** Incomplete request line: UriTooLong once it is past its own limit, else as incompleteHead. */
function incompleteLine(start: number, lineStart: number, scanEnd: number, limits: HeadLimits): number {
  if (scanEnd - lineStart > limits.maxRequestLineBytes) return ParseError.UriTooLong
  return incompleteHead(start, scanEnd, limits.maxHeadBytes)
}

const HTTP_1_ = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e] // "HTTP/1."

/** `HTTP/1.0` or `HTTP/1.1` at pos: the minor version, -1 if invalid, -2 if cut short by limit. */
function parseVersion(buf: Buffer, pos: number, limit: number): number {
  for (let i = 0; i < 7; i++) {
    if (pos + i >= limit) return -2
    if (buf[pos + i] !== HTTP_1_[i]) return -1
  }
  if (pos + 7 >= limit) return -2
  const c = buf[pos + 7]
  return c === 0x30 ? 0 : c === 0x31 ? 1 : -1
}

/**
 * absolute-form with an http or https scheme and an authority of host[:port] with a non-empty
 * host, as checkHost: `http://host[:port][/path][?query]`. Refused: other schemes, userinfo
 * ("@"), a fragment right after the authority (llhttp refuses it too), authority-form (CONNECT's).
 */
function isAbsoluteHttp(buf: Buffer, start: number, end: number): boolean {
  let p = start
  if (end - p < 8) return false
  if (LOWER[buf[p]] !== 0x68 || LOWER[buf[p + 1]] !== 0x74 || LOWER[buf[p + 2]] !== 0x74 || LOWER[buf[p + 3]] !== 0x70) return false
  p += 4
  if (LOWER[buf[p]] === 0x73) p++
  if (p + 3 > end || buf[p] !== COLON || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x2f) return false
  p += 3
  const authorityStart = p
  while (p < end) {
    const c = buf[p]
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break
    p++
  }
  if (p === authorityStart || buf[authorityStart] === COLON) return false // no host
  return checkHost(buf, authorityStart, p) >= 0
}

/**
 * Field lines from pos to the empty line. Returns the offset just past the final CRLF, 0 when
 * incomplete, or a ParseError. `req` is the request head (same object as out) or null for responses.
 */
function parseFields(buf: Buffer, pos: number, start: number, scanEnd: number, out: MessageHead, limits: HeadLimits, req: RequestHead | null): number {
  teSeen = false
  teChunkedCount = 0
  teLastIsChunked = false
  teHasOther = false
  hostCount = 0
  const maxHeadBytes = limits.maxHeadBytes
  const maxHeaders = limits.maxHeaders
  const offsets = out.offsets
  let count = 0
  for (;;) {
    if (pos >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    let c = buf[pos]
    if (c === CR) {
      if (pos + 1 >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
      if (buf[pos + 1] !== LF) return ParseError.BadRequest
      out.headerCount = count
      return pos + 2
    }
    if (count === maxHeaders) return ParseError.HeadTooLarge
    // field-name ":" — a leading SP/HTAB (obs-fold), SP before the colon, an empty name or a
    // bare LF all stop the token scan on something other than ":".
    const nameStart = pos
    while (pos < scanEnd && TOKEN[buf[pos]] === 1) pos++
    if (pos >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    if (pos === nameStart || buf[pos] !== COLON) return ParseError.BadRequest
    const nameEnd = pos++
    while (pos < scanEnd && ((c = buf[pos]) === SP || c === HTAB)) pos++
    const valueStart = pos
    while (pos < scanEnd && FIELD_VALUE[buf[pos]] === 1) pos++
    if (pos >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    if (buf[pos] !== CR) return ParseError.BadRequest
    if (pos + 1 >= scanEnd) return incompleteHead(start, scanEnd, maxHeadBytes)
    if (buf[pos + 1] !== LF) return ParseError.BadRequest
    let valueEnd = pos
    while (valueEnd > valueStart && ((c = buf[valueEnd - 1]) === SP || c === HTAB)) valueEnd--
    pos += 2

    const o = count << 2
    offsets[o] = nameStart
    offsets[o + 1] = nameEnd
    offsets[o + 2] = valueStart
    offsets[o + 3] = valueEnd
    count++

    const nameLength = nameEnd - nameStart
    if (nameLength < 4 || nameLength > 17) continue
    const l0 = LOWER[buf[nameStart]]
    let r = 0
    switch (nameLength) {
      case 4:
        if (req !== null && l0 === 0x68 && headerNameIs(buf, nameStart, nameEnd, 'host')) r = onHost(buf, valueStart, valueEnd)
        break
      case 6:
        if (req !== null && l0 === 0x65 && headerNameIs(buf, nameStart, nameEnd, 'expect')) {
          if (rangeIs(buf, valueStart, valueEnd, '100-continue')) req.expectContinue = true
        }
        break
      case 7:
        if (l0 === 0x75 && headerNameIs(buf, nameStart, nameEnd, 'upgrade')) {
          const u = buf.latin1Slice(valueStart, valueEnd).toLowerCase()
          out.upgrade = out.upgrade === null ? u : out.upgrade + ', ' + u
        }
        break
      case 10:
        if (l0 === 0x63 && headerNameIs(buf, nameStart, nameEnd, 'connection')) r = onConnection(buf, valueStart, valueEnd, out)
        break
      case 14:
        if (l0 === 0x63 && headerNameIs(buf, nameStart, nameEnd, 'content-length')) r = onContentLength(buf, valueStart, valueEnd, out)
        break
      case 17:
        if (l0 === 0x74 && headerNameIs(buf, nameStart, nameEnd, 'transfer-encoding')) r = onTransferEncoding(buf, valueStart, valueEnd, pos - 2)
        break
    }
    if (r < 0) return r
  }
}

function onHost(buf: Buffer, start: number, end: number): number {
  if (++hostCount > 1) return ParseError.BadRequest
  const status = checkHost(buf, start, end)
  if (status < 0) return ParseError.BadRequest
  hostStart = start
  hostEnd = end
  hostNeedsLower = status === 1
  return 0
}

/**
 * host [":" port] (RFC 3986): an IP-literal in brackets or a reg-name (unreserved, pct-encoded,
 * sub-delims), then an optional port of digits. Empty is valid (RFC 9110 7.2 allows an empty Host).
 * @returns -1 when invalid, 1 when valid but not all lowercase, 0 when valid and lowercase.
 */
function checkHost(buf: Buffer, start: number, end: number): number {
  let p = start
  let status = 0
  if (p < end && buf[p] === 0x5b /* [ */) {
    status = 1
    while (p < end && buf[p] !== 0x5d /* ] */) {
      if (HOST[buf[p]] === 0) return -1
      p++
    }
    if (p === end) return -1
    p++
  } else {
    for (; p < end; p++) {
      const c = buf[p]
      if (c === COLON) break
      if (HOST[c] === 0 || c === 0x5b || c === 0x5d) return -1
      if (c >= 0x41 && c <= 0x5a) status = 1
    }
  }
  if (p < end) {
    if (buf[p] !== COLON) return -1
    for (p++; p < end; p++) {
      const c = buf[p]
      if (c < 0x30 || c > 0x39) return -1
    }
  }
  return status
}

function onContentLength(buf: Buffer, start: number, end: number, out: MessageHead): number {
  // A second Content-Length is refused even when equal: RFC 9112 6.3 lets a recipient accept
  // identical duplicates, but some upstreams take the first and some the last.
  if (out.contentLength !== -1 || start === end) return ParseError.BadRequest
  let n = 0
  for (let p = start; p < end; p++) {
    const d = buf[p] - 0x30
    if (d < 0 || d > 9) return ParseError.BadRequest
    n = n * 10 + d
    if (n > MAX_CONTENT_LENGTH) return ParseError.BadRequest
  }
  out.contentLength = n
  return 0
}

/**
 * One Transfer-Encoding field: comma-separated tokens, no parameters, no empty elements.
 * `lineEnd` is the CR: trailing HTAB after the value is refused, because llhttp then takes the
 * last coding as not chunked (a request it refuses; a response it reads until close).
 */
function onTransferEncoding(buf: Buffer, start: number, end: number, lineEnd: number): number {
  teSeen = true
  for (let q = end; q < lineEnd; q++) if (buf[q] === HTAB) return ParseError.BadRequest
  let p = start
  for (;;) {
    let c = 0
    while (p < end && ((c = buf[p]) === SP || c === HTAB)) p++
    const elementStart = p
    while (p < end && TOKEN[buf[p]] === 1) p++
    const elementEnd = p
    while (p < end && ((c = buf[p]) === SP || c === HTAB)) p++
    if (elementStart === elementEnd) return ParseError.BadRequest
    if (p < end && buf[p] !== COMMA) return ParseError.BadRequest // parameters, or junk inside
    if (rangeIs(buf, elementStart, elementEnd, 'chunked')) {
      teChunkedCount++
      teLastIsChunked = true
    } else {
      teHasOther = true
      teLastIsChunked = false
    }
    if (p === end) return 0
    p++ // the comma; a trailing comma leaves an empty element, refused above on the next turn
  }
}

/** One Connection field: comma-separated tokens; empty elements are skipped (RFC 9110 5.6.1). */
function onConnection(buf: Buffer, start: number, end: number, out: MessageHead): number {
  let p = start
  while (p < end) {
    let c = 0
    while (p < end && ((c = buf[p]) === SP || c === HTAB || c === COMMA)) p++
    if (p === end) break
    const tokenStart = p
    while (p < end && TOKEN[buf[p]] === 1) p++
    const tokenEnd = p
    while (p < end && ((c = buf[p]) === SP || c === HTAB)) p++
    if (tokenStart === tokenEnd || (p < end && buf[p] !== COMMA)) return ParseError.BadRequest
    const len = tokenEnd - tokenStart
    if (len === 5 && rangeIs(buf, tokenStart, tokenEnd, 'close')) out.hasClose = true
    else if (len === 10 && rangeIs(buf, tokenStart, tokenEnd, 'keep-alive')) out.hasKeepAlive = true
    else {
      const token = buf.latin1Slice(tokenStart, tokenEnd).toLowerCase()
      out.connectionTokens = out.connectionTokens === null ? token : out.connectionTokens + ',' + token
    }
  }
  return 0
}
