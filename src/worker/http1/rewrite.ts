// Rewriting message heads as they cross the proxy (RFC 9110 §7.6): hop-by-hop fields and every
// field named in Connection are dropped, X-Forwarded-For is appended, X-Forwarded-Proto/-Host set,
// framing fields re-added for the bytes we actually forward. Worker threads only; hot path: the
// output is one Buffer built by copying byte ranges of the parsed input, sized in a first pass.

import type { RequestHead, ResponseHead } from './parser.ts'

/** What to do with one header field, decided from its name without allocating. */
export const Field = { Keep: 0, Drop: 1, ForwardedFor: 2, ForwardedOther: 3 } as const

const CRLF = 0x0a0d

function lowerByte(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c
}

function nameEquals(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    if (lowerByte(buf[start + i]) !== lower.charCodeAt(i)) return false
  }
  return true
}

/** Is the name listed in a Connection header's tokens ("a,b,c", lowercase)? */
function inTokens(buf: Buffer, start: number, end: number, tokens: string): boolean {
  let from = 0
  while (from < tokens.length) {
    let to = tokens.indexOf(',', from)
    if (to < 0) to = tokens.length
    if (to - from === end - start) {
      let same = true
      for (let i = 0; i < to - from; i++) {
        if (lowerByte(buf[start + i]) !== tokens.charCodeAt(from + i)) { same = false; break }
      }
      if (same) return true
    }
    from = to + 1
  }
  return false
}

/** Classify a field by name: hop-by-hop (RFC 9110 §7.6.1 plus common legacy ones) or X-Forwarded-*. */
export function classify(buf: Buffer, start: number, end: number, connectionTokens: string | null): number {
  const len = end - start
  const c0 = lowerByte(buf[start])
  switch (len) {
    case 2: if (c0 === 116 && nameEquals(buf, start, end, 'te')) return Field.Drop; break
    case 7:
      if (c0 === 116 && nameEquals(buf, start, end, 'trailer')) return Field.Drop
      if (c0 === 117 && nameEquals(buf, start, end, 'upgrade')) return Field.Drop
      break
    case 10:
      if (c0 === 99 && nameEquals(buf, start, end, 'connection')) return Field.Drop
      if (c0 === 107 && nameEquals(buf, start, end, 'keep-alive')) return Field.Drop
      break
    case 15: if (c0 === 120 && nameEquals(buf, start, end, 'x-forwarded-for')) return Field.ForwardedFor; break
    case 16:
      if (c0 === 120 && (nameEquals(buf, start, end, 'x-forwarded-host'))) return Field.ForwardedOther
      if (c0 === 112 && nameEquals(buf, start, end, 'proxy-connection')) return Field.Drop
      break
    case 17:
      if (c0 === 116 && nameEquals(buf, start, end, 'transfer-encoding')) return Field.Drop
      if (c0 === 120 && nameEquals(buf, start, end, 'x-forwarded-proto')) return Field.ForwardedOther
      break
    case 18: if (c0 === 112 && nameEquals(buf, start, end, 'proxy-authenticate')) return Field.Drop; break
    case 19: if (c0 === 112 && nameEquals(buf, start, end, 'proxy-authorization')) return Field.Drop; break
  }
  if (connectionTokens !== null && inTokens(buf, start, end, connectionTokens)) return Field.Drop
  return Field.Keep
}

export interface ForwardInfo {
  clientIp: string
  proto: 'http' | 'https'
  /** Send `transfer-encoding: chunked` (the body is forwarded as the client chunked it). */
  isChunked: boolean
  /** WebSocket or other upgrade: keep `connection: upgrade` and the Upgrade field. */
  upgrade: string | null
}

/**
 * The request head to send upstream, as one Buffer. `target` replaces the request-target (origin
 * form for absolute-form requests); Host and every end-to-end field are kept byte for byte.
 */
export function buildRequestHead(buf: Buffer, head: RequestHead, target: string, info: ForwardInfo): Buffer {
  const offsets = head.offsets
  const count = head.headerCount
  const tokens = head.connectionTokens
  // Pass 1: size, and the client's X-Forwarded-For chain.
  let size = head.method.length + 1 + Buffer.byteLength(target, 'latin1') + 11 // " HTTP/1.1\r\n"
  let priorFor = ''
  for (let h = 0; h < count; h++) {
    const ns = offsets[h * 4], ne = offsets[h * 4 + 1], vs = offsets[h * 4 + 2], ve = offsets[h * 4 + 3]
    const kind = classify(buf, ns, ne, tokens)
    if (kind === Field.Keep) size += (ne - ns) + 2 + (ve - vs) + 2
    else if (kind === Field.ForwardedFor && ve > vs) priorFor = priorFor === '' ? buf.latin1Slice(vs, ve) : priorFor + ', ' + buf.latin1Slice(vs, ve)
  }
  const forwardedFor = priorFor === '' ? info.clientIp : priorFor + ', ' + info.clientIp
  let extra = 'x-forwarded-for: ' + forwardedFor + '\r\nx-forwarded-proto: ' + info.proto + '\r\n'
  if (head.host !== null) extra += 'x-forwarded-host: ' + head.host + '\r\n'
  if (info.isChunked) extra += 'transfer-encoding: chunked\r\n'
  if (info.upgrade !== null) extra += 'connection: upgrade\r\nupgrade: ' + info.upgrade + '\r\n'
  extra += '\r\n'
  size += Buffer.byteLength(extra, 'latin1')
  // Pass 2: copy.
  const out = Buffer.allocUnsafe(size)
  let p = out.latin1Write(head.method, 0)
  out[p++] = 32
  p += out.latin1Write(target, p)
  p += out.latin1Write(' HTTP/1.1\r\n', p)
  for (let h = 0; h < count; h++) {
    const ns = offsets[h * 4], ne = offsets[h * 4 + 1], vs = offsets[h * 4 + 2], ve = offsets[h * 4 + 3]
    if (classify(buf, ns, ne, tokens) !== Field.Keep) continue
    p += buf.copy(out, p, ns, ne)
    out[p++] = 58 // ':'
    out[p++] = 32
    p += buf.copy(out, p, vs, ve)
    out.writeUInt16LE(CRLF, p)
    p += 2
  }
  p += out.latin1Write(extra, p)
  return p === size ? out : out.subarray(0, p)
}

/** Connection handling for the response sent downstream. */
export const ConnectionMode = {
  /** HTTP/1.1 client, connection stays open: say nothing. */
  Persist: 0,
  /** HTTP/1.0 client that asked for keep-alive: say so. */
  KeepAlive10: 1,
  /** The connection closes after this response. */
  Close: 2,
} as const

/**
 * The response head to send downstream. The status line keeps the upstream's code and reason
 * but always says HTTP/1.1; `isChunked` re-adds the chunked coding the body is forwarded in.
 */
export function buildResponseHead(buf: Buffer, start: number, head: ResponseHead, isChunked: boolean, mode: number, upgrade: string | null): Buffer {
  const offsets = head.offsets
  const count = head.headerCount
  const tokens = head.connectionTokens
  // Status line: "HTTP/1.x " is 9 bytes; keep "SSS reason" up to the CRLF.
  const lineEnd = buf.indexOf(13, start)
  let size = 9 + (lineEnd - (start + 9)) + 2
  for (let h = 0; h < count; h++) {
    const ns = offsets[h * 4], ne = offsets[h * 4 + 1], vs = offsets[h * 4 + 2], ve = offsets[h * 4 + 3]
    if (classify(buf, ns, ne, tokens) === Field.Drop) continue
    size += (ne - ns) + 2 + (ve - vs) + 2
  }
  let extra = ''
  if (isChunked) extra += 'transfer-encoding: chunked\r\n'
  if (upgrade !== null) extra += 'connection: upgrade\r\nupgrade: ' + upgrade + '\r\n'
  else if (mode === ConnectionMode.Close) extra += 'connection: close\r\n'
  else if (mode === ConnectionMode.KeepAlive10) extra += 'connection: keep-alive\r\n'
  extra += '\r\n'
  size += extra.length
  const out = Buffer.allocUnsafe(size)
  let p = out.latin1Write('HTTP/1.1 ', 0)
  p += buf.copy(out, p, start + 9, lineEnd)
  out.writeUInt16LE(CRLF, p)
  p += 2
  for (let h = 0; h < count; h++) {
    const ns = offsets[h * 4], ne = offsets[h * 4 + 1], vs = offsets[h * 4 + 2], ve = offsets[h * 4 + 3]
    if (classify(buf, ns, ne, tokens) === Field.Drop) continue
    p += buf.copy(out, p, ns, ne)
    out[p++] = 58
    out[p++] = 32
    p += buf.copy(out, p, vs, ve)
    out.writeUInt16LE(CRLF, p)
    p += 2
  }
  p += out.latin1Write(extra, p)
  return p === size ? out : out.subarray(0, p)
}
