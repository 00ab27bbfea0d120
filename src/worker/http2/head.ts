// Translating message heads between a client's HTTP/2 stream and an upstream HTTP/1.1 connection
// (RFC 9113 §8.2-8.3, RFC 9110 §7.6): the HTTP/1.1 request head built from HTTP/2 pseudo-headers
// and fields, the HTTP/2 response header list built from a parsed HTTP/1.1 response head, and the
// decoder that turns a chunked HTTP/1.1 body into plain DATA bytes. Worker threads only; runs once
// per stream, allocating only the output.

import { ChunkedFramer, ParseError, headerNameIs } from '../http1/parser.ts'
import type { ResponseHead } from '../http1/parser.ts'
import { FIELD_VALUE, HEX1, HOST, TARGET, TOKEN } from '../http1/tokens.ts'

/**
 * Connection-specific fields (RFC 9113 §8.2.2): a request carrying one is malformed. `te` is
 * allowed with the value "trailers" only.
 */
function isConnectionSpecific(name: string, value: string): boolean {
  switch (name.length) {
    case 2: return name === 'te' && value !== 'trailers'
    case 7: return name === 'upgrade'
    case 10: return name === 'connection' || name === 'keep-alive'
    case 16: return name === 'proxy-connection'
    case 17: return name === 'transfer-encoding'
    default: return false
  }
}

/** True when every char of `s` is accepted by `table` (and is a byte: nothing above U+00FF). */
function allIn(s: string, table: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 255 || table[c] === 0) return false
  }
  return true
}

/** A field name HTTP/2 allows: a token, no uppercase (RFC 9113 §8.2.1). */
function isFieldName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c > 255 || TOKEN[c] === 0 || (c >= 0x41 && c <= 0x5a)) return false
  }
  return true
}

/** A content-length value: 1 to 15 decimal digits (no sign, no list), or -1 when it is not one. */
function decimalLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k)
    if (c < 48 || c > 57) return -1
  }
  return Number(value)
}

/** No leading or trailing SP or HTAB in a field value (RFC 9113 §8.2.1). */
function isTrimmed(value: string): boolean {
  if (value.length === 0) return true
  const a = value.charCodeAt(0)
  const z = value.charCodeAt(value.length - 1)
  return a !== 0x20 && a !== 0x09 && z !== 0x20 && z !== 0x09
}

/** What checkRequestFields returns besides a content-length (≥ 0) or -1 for none. */
export const HeadCheck = {
  /** Reset the stream with PROTOCOL_ERROR (RFC 9113 §8.1.1). */
  Malformed: -2,
  /** Over max_headers fields (or, from the caller, over max_header_bytes): 431, as over HTTP/1.1. */
  TooLarge: -3,
} as const

/**
 * The checks of RFC 9113 §8.2-8.3 on a decoded request header list that the frame layer makes:
 * field names, pseudo-headers (known ones only, each once, before the fields, :method, :scheme
 * and :path present except for CONNECT), values without edge whitespace, and at most
 * `maxFields` fields besides the pseudo-headers. readRequest checks the rest. Returns the
 * content-length (-1 when absent) or a HeadCheck.
 */
export function checkRequestFields(list: readonly string[], maxFields: number): number {
  let hasMethod = false
  let hasScheme = false
  let hasPath = false
  let hasAuthority = false
  let isConnect = false
  let isFields = false
  let contentLength = -1
  let fields = 0
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]
    const value = list[i + 1]
    if (!isTrimmed(value)) return HeadCheck.Malformed
    if (name.charCodeAt(0) === 58 /* : */) {
      if (isFields) return HeadCheck.Malformed
      switch (name) {
        case ':method':
          if (hasMethod) return HeadCheck.Malformed
          hasMethod = true
          isConnect = value === 'CONNECT'
          break
        case ':scheme':
          if (hasScheme) return HeadCheck.Malformed
          hasScheme = true
          break
        case ':path':
          if (hasPath) return HeadCheck.Malformed
          hasPath = true
          break
        case ':authority':
          if (hasAuthority) return HeadCheck.Malformed
          hasAuthority = true
          break
        default:
          return HeadCheck.Malformed
      }
      continue
    }
    isFields = true
    if (++fields > maxFields) return HeadCheck.TooLarge
    if (!isFieldName(name)) return HeadCheck.Malformed
    if (name === 'content-length') {
      if (contentLength !== -1) return HeadCheck.Malformed
      contentLength = decimalLength(value)
      if (contentLength < 0) return HeadCheck.Malformed
    }
  }
  if (!hasMethod) return HeadCheck.Malformed
  if (!isConnect && (!hasScheme || !hasPath)) return HeadCheck.Malformed
  return contentLength
}

/** Trailers: fields only, valid names and values (RFC 9113 §8.1). */
export function checkTrailerFields(list: readonly string[]): boolean {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]
    if (name.charCodeAt(0) === 58 || !isFieldName(name) || !isTrimmed(list[i + 1]) || !allIn(list[i + 1], FIELD_VALUE)) return false
  }
  return true
}

/** What the HTTP/1.1 request head needs besides the client's fields. */
export class RequestInfo {
  method: string
  /** :path, already checked to be an origin-form target (or "*"). */
  path: string
  /** :authority, or the Host field when there is no :authority; null when neither. */
  authority: string | null
  /** content-length as sent, or -1. */
  contentLength: number
  /** Lowercase cookie value for the hash balancer, joined as HTTP/1.1 would carry it. */
  cookie: string | null

  constructor() {
    this.method = ''
    this.path = ''
    this.authority = null
    this.contentLength = -1
    this.cookie = null
  }
}

export const HeadError = {
  /** Malformed request: reset the stream with PROTOCOL_ERROR (RFC 9113 §8.1.1). */
  Malformed: -1,
  /** A method HTTP/1.1 upstreams can't take (CONNECT, unknown): 501. */
  NotImplemented: -2,
} as const

/**
 * Read the pseudo-headers and the fields that matter (authority, content-length, cookie) from the
 * raw header list ([name, value, name, value, …], names lowercase as HTTP/2 requires) into
 * `out`, checking what an HTTP/1.1 request line and head could not carry. Returns 0 or a HeadError.
 */
export function readRequest(raw: readonly string[], out: RequestInfo, knownMethods: readonly string[]): number {
  let method: string | null = null
  let path: string | null = null
  let authority: string | null = null
  let host: string | null = null
  let cookie: string | null = null
  let contentLength = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const value = raw[i + 1]
    if (name.charCodeAt(0) === 58 /* : */) {
      // checkRequestFields has refused pseudo-headers after fields, duplicates and unknown ones.
      if (name === ':method') method = value
      else if (name === ':path') path = value
      else if (name === ':authority') authority = value
      continue
    }
    if (isConnectionSpecific(name, value)) return HeadError.Malformed
    if (!allIn(value, FIELD_VALUE)) return HeadError.Malformed
    if (name === 'host') {
      if (host !== null) return HeadError.Malformed
      host = value
    } else if (name === 'content-length') {
      if (contentLength !== -1) return HeadError.Malformed
      contentLength = decimalLength(value)
      if (contentLength < 0) return HeadError.Malformed
    } else if (name === 'cookie') {
      // RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
      cookie = cookie === null ? value : cookie + '; ' + value
    }
  }
  if (method === null) return HeadError.Malformed
  if (method === 'CONNECT' || !knownMethods.includes(method)) return HeadError.NotImplemented
  if (path === null || path.length === 0 || !allIn(path, TARGET)) return HeadError.Malformed
  if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) return HeadError.Malformed
  const auth = authority ?? host
  if (auth !== null && (auth.length === 0 || !allIn(auth, HOST))) return HeadError.Malformed
  out.method = method
  out.path = path
  out.authority = auth === null ? null : auth.toLowerCase()
  out.contentLength = contentLength
  out.cookie = cookie
  return 0
}

/** The request body's framing towards the upstream. */
export const UpFraming = { None: 0, Length: 1, Chunked: 2 } as const

/**
 * The HTTP/1.1 request head for the upstream, as one latin1 string (written as it is: node
 * encodes it straight into the socket write, no Buffer per request): the request line from :method and
 * :path, Host from :authority, the client's fields minus hop-by-hop ones, X-Forwarded-For
 * appended, X-Forwarded-Proto/-Host set (as http1/rewrite.ts buildRequestHead does), and the
 * body framing chosen by the caller (`framing`).
 */
export function buildRequestHead(raw: readonly string[], info: RequestInfo, clientIp: string, proto: string, framing: number): string {
  let head = info.method + ' ' + info.path + ' HTTP/1.1\r\n'
  if (info.authority !== null) head += 'host: ' + info.authority + '\r\n'
  let priorFor = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.charCodeAt(0) === 58) continue
    switch (name) {
      case 'host': case 'cookie': case 'te': case 'content-length': case 'x-forwarded-proto': case 'x-forwarded-host':
        continue
      case 'x-forwarded-for':
        priorFor = priorFor === '' ? raw[i + 1] : priorFor + ', ' + raw[i + 1]
        continue
    }
    head += name + ': ' + raw[i + 1] + '\r\n'
  }
  if (info.cookie !== null) head += 'cookie: ' + info.cookie + '\r\n'
  head += 'x-forwarded-for: ' + (priorFor === '' ? clientIp : priorFor + ', ' + clientIp) + '\r\nx-forwarded-proto: ' + proto + '\r\n'
  if (info.authority !== null) head += 'x-forwarded-host: ' + info.authority + '\r\n'
  if (framing === UpFraming.Chunked) head += 'transfer-encoding: chunked\r\n'
  else if (framing === UpFraming.Length) head += 'content-length: ' + info.contentLength + '\r\n'
  return head + '\r\n'
}

// Fields sent once only (the list node:http2 refused to send twice, its kSingleValueHeaders); an
// HTTP/1.1 upstream repeating one gets its first value through, as most HTTP/1.1 clients would
// read it.
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age',
  'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5',
  'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match',
  'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location',
  'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests',
  'user-agent', 'x-content-type-options',
])

/** Response fields that must not cross into HTTP/2 (RFC 9113 §8.2.2), plus proxy-only ones. */
function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding': case 'upgrade':
    case 'te': case 'trailer': case 'http2-settings': case 'proxy-authenticate':
      return true
    default:
      return false
  }
}

/**
 * The HTTP/2 response header list for a parsed HTTP/1.1 response head in buf, as a flat
 * [name, value, …] list for the HPACK encoder: names lowercased, hop-by-hop fields and
 * those named in Connection dropped, a repeated single-value field kept once (its first value).
 * `hasLength`: keep content-length (false when the status has no body or the body is re-framed).
 */
export function responseHeaders(buf: Buffer, res: ResponseHead, hasLength: boolean): string[] {
  const out: string[] = [':status', String(res.status)]
  const o = res.offsets
  const tokens = res.connectionTokens
  for (let h = 0; h < res.headerCount; h++) {
    const name = fieldName(buf, o[h * 4], o[h * 4 + 1])
    if (isHopByHop(name)) continue
    if (tokens !== null && (',' + tokens + ',').includes(',' + name + ',')) continue
    if (name === 'content-length' && !hasLength) continue
    if (SINGLE_VALUE.has(name) && hasName(out, name)) continue
    out.push(name, buf.latin1Slice(o[h * 4 + 2], o[h * 4 + 3]))
  }
  return out
}

// Field names most responses carry, by length: fieldName hands out these strings instead of a
// slice and its lowercased copy for each field of each response.
const COMMON_NAMES: string[][] = Array.from({ length: 32 }, () => [])
for (const name of [
  'age', 'date', 'etag', 'vary', 'server', 'expires', 'location', 'connection', 'keep-alive', 'set-cookie',
  'content-type', 'accept-ranges', 'cache-control', 'last-modified', 'content-length', 'content-encoding',
  'transfer-encoding', 'strict-transport-security', 'access-control-allow-origin',
]) COMMON_NAMES[name.length].push(name)

/** The lowercase name of the field name in buf[start, end). */
function fieldName(buf: Buffer, start: number, end: number): string {
  if (end - start < COMMON_NAMES.length) {
    const known = COMMON_NAMES[end - start]
    for (let i = 0; i < known.length; i++) if (headerNameIs(buf, start, end, known[i])) return known[i]
  }
  return buf.latin1Slice(start, end).toLowerCase()
}

function hasName(list: string[], name: string): boolean {
  for (let i = 2; i < list.length; i += 2) if (list[i] === name) return true
  return false
}

const Dechunk = { Size: 0, Ext: 1, SizeLf: 2, Data: 3, DataCr: 4, DataLf: 5, Trailers: 6, Done: 7 } as const

/**
 * A chunked HTTP/1.1 body → its data bytes. The ChunkedFramer validates the framing and finds
 * where the body ends; this walks the same (already validated) bytes and hands out the data
 * ranges, so it can be lenient: extensions and trailers are skipped, never checked twice.
 */
export class Dechunker {
  readonly framer: ChunkedFramer
  private state: number
  private remaining: number
  /** Trailer section: bytes seen on the current line (0 at a line start). */
  private lineBytes: number

  constructor() {
    this.framer = new ChunkedFramer()
    this.state = Dechunk.Size
    this.remaining = 0
    this.lineBytes = 0
  }

  reset(): void {
    this.framer.reset()
    this.state = Dechunk.Size
    this.remaining = 0
    this.lineBytes = 0
  }

  get done(): boolean {
    return this.framer.done
  }

  /**
   * Consume body bytes of buf[start, end); `onData(buf, from, to)` gets each data range in order.
   * Returns the bytes that belonged to the body (less than end - start once it ended), or
   * ParseError.BadRequest on invalid framing.
   */
  feed<T>(buf: Buffer, start: number, end: number, target: T, onData: (target: T, buf: Buffer, from: number, to: number) => void): number {
    const used = this.framer.feed(buf, start, end)
    if (used < 0) return ParseError.BadRequest
    const stop = start + used
    let p = start
    let state = this.state
    while (p < stop) {
      if (state === Dechunk.Data) {
        const n = stop - p < this.remaining ? stop - p : this.remaining
        onData(target, buf, p, p + n)
        p += n
        this.remaining -= n
        if (this.remaining === 0) state = Dechunk.DataCr
        continue
      }
      const c = buf[p++]
      switch (state) {
        case Dechunk.Size: {
          const h = HEX1[c]
          if (h !== 0) this.remaining = this.remaining * 16 + h - 1
          else if (c === 13) state = Dechunk.SizeLf
          else state = Dechunk.Ext
          break
        }
        case Dechunk.Ext:
          if (c === 13) state = Dechunk.SizeLf
          break
        case Dechunk.SizeLf:
          if (this.remaining > 0) state = Dechunk.Data
          else {
            state = Dechunk.Trailers
            this.lineBytes = 0
          }
          break
        case Dechunk.DataCr:
          state = Dechunk.DataLf
          break
        case Dechunk.DataLf:
          state = Dechunk.Size
          this.remaining = 0
          break
        case Dechunk.Trailers:
          // Lines until an empty one; the framer has checked them and says when the body ended.
          if (c === 10) this.lineBytes = 0
          else this.lineBytes++
          break
      }
    }
    this.state = this.framer.done ? Dechunk.Done : state
    return used
  }
}
