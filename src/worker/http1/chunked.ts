// Chunked transfer-coding framing (RFC 9112 7.1) for request and response bodies. Worker thread,
// hot path: one framer per direction per connection, reset per message.
//
// The framer only finds where the body ends and checks that its framing is unambiguous; it never
// copies or decodes data, because the proxy forwards the raw bytes verbatim. It is a byte state
// machine that resumes at any split of the input; chunk data is skipped in bulk.
//
//   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size = 1*15HEXDIG (value at most 2^53-1)
//   chunk-ext  = *( ";" token [ "=" ( token / quoted-string ) ] )   no whitespace (BWS) anywhere
//   last-chunk = 1*("0") [ chunk-ext ] CRLF
//   trailers   = *( field-line CRLF ) CRLF, with the head's strictness
//
// Stricter than RFC 9112 where a difference could be read two ways by the next hop:
//   - no BWS around ";" and "=" in extensions (llhttp refuses spaces after the size too);
//   - at most 15 hex digits, even leading zeros;
//   - a size line is at most MAX_CHUNK_LINE_BYTES, extensions at most MAX_EXT_BYTES per message,
//     trailers at most MAX_TRAILER_BYTES;
//   - trailer fields named content-length, transfer-encoding or host are refused: an upstream that
//     merges trailers into the head would otherwise get a second framing header.

import { COLON, CR, DQUOTE, BSLASH, EQUALS, FIELD_VALUE, HEX1, LF, LOWER, ParseError, QDTEXT, SEMI, TOKEN } from './tokens.ts'

/** A chunk-size line (size and extensions, without CRLF) longer than this is refused. */
export const MAX_CHUNK_LINE_BYTES = 4096
/** Extension bytes in one message, all chunks together (Node caps them too, CVE-2024-22019). */
export const MAX_EXT_BYTES = 16384
/** Trailer section bytes, including its final CRLF. */
export const MAX_TRAILER_BYTES = 16384
const MAX_DIGITS = 15

const State = {
  Size: 0, // first hex digit of a size line
  SizeMore: 1, // more digits, ";" or CR
  ExtNameStart: 2,
  ExtName: 3,
  ExtValueStart: 4,
  ExtTokenValue: 5,
  ExtQuoted: 6,
  ExtQuotedEscape: 7,
  ExtAfterQuoted: 8,
  SizeLf: 9,
  Data: 10,
  DataCr: 11,
  DataLf: 12,
  TrailerStart: 13, // start of a trailer line, or CR of the final empty line
  TrailerName: 14,
  TrailerValue: 15,
  TrailerLf: 16,
  FinalLf: 17,
  Done: 18,
  Failed: 19,
} as const

// Trailer names refused, checked as the name streams by with one bit per name.
const FORBIDDEN_TRAILERS = ['content-length', 'transfer-encoding', 'host']
const FORBIDDEN_ALL = (1 << FORBIDDEN_TRAILERS.length) - 1

export class ChunkedFramer {
  /** True once the last chunk and the trailer section are consumed; later bytes are the next message. */
  done: boolean
  /** Chunk-data bytes seen in this message (for max_body). */
  dataBytes: number
  private state: number
  /** Size being read, then the data bytes left of the current chunk. */
  private remaining: number
  private digits: number
  private lineBytes: number
  private extBytes: number
  private trailerBytes: number
  private nameLength: number
  private nameMatch: number

  constructor() {
    this.done = false
    this.dataBytes = 0
    this.state = State.Size
    this.remaining = 0
    this.digits = 0
    this.lineBytes = 0
    this.extBytes = 0
    this.trailerBytes = 0
    this.nameLength = 0
    this.nameMatch = 0
  }

  /** Ready for a new message body. */
  reset(): void {
    this.done = false
    this.dataBytes = 0
    this.state = State.Size
    this.remaining = 0
    this.digits = 0
    this.lineBytes = 0
    this.extBytes = 0
    this.trailerBytes = 0
    this.nameLength = 0
    this.nameMatch = 0
  }

  /**
   * Consumes body bytes of this message from buf[start, end).
   * @returns bytes consumed (less than end - start only when the body ended inside the range), or
   *   ParseError.BadRequest on invalid framing; after an error every call returns BadRequest, after
   *   the end every call returns 0.
   */
  feed(buf: Buffer, start: number, end: number): number {
    let state = this.state
    if (state === State.Done) return 0
    if (state === State.Failed) return ParseError.BadRequest
    let p = start
    while (p < end) {
      if (state === State.Data) {
        const n = end - p < this.remaining ? end - p : this.remaining
        p += n
        this.remaining -= n
        this.dataBytes += n
        if (this.remaining === 0) state = State.DataCr
        continue
      }
      const c = buf[p++]
      switch (state) {
        case State.Size: {
          const h = HEX1[c]
          if (h === 0) return this.fail()
          this.remaining = h - 1
          this.digits = 1
          this.lineBytes = 1
          state = State.SizeMore
          break
        }
        case State.SizeMore: {
          const h = HEX1[c]
          if (h !== 0) {
            if (++this.digits > MAX_DIGITS) return this.fail()
            const size = this.remaining * 16 + (h - 1)
            if (size > Number.MAX_SAFE_INTEGER) return this.fail()
            this.remaining = size
            this.lineBytes++
          } else if (c === CR) state = State.SizeLf
          else if (c === SEMI) state = this.ext(State.ExtNameStart)
          else return this.fail()
          break
        }
        case State.ExtNameStart:
          if (TOKEN[c] === 0) return this.fail()
          state = this.ext(State.ExtName)
          break
        case State.ExtName:
          if (TOKEN[c] === 1) state = this.ext(State.ExtName)
          else if (c === EQUALS) state = this.ext(State.ExtValueStart)
          else if (c === SEMI) state = this.ext(State.ExtNameStart)
          else if (c === CR) state = State.SizeLf
          else return this.fail()
          break
        case State.ExtValueStart:
          if (c === DQUOTE) state = this.ext(State.ExtQuoted)
          else if (TOKEN[c] === 1) state = this.ext(State.ExtTokenValue)
          else return this.fail()
          break
        case State.ExtTokenValue:
          if (TOKEN[c] === 1) state = this.ext(State.ExtTokenValue)
          else if (c === SEMI) state = this.ext(State.ExtNameStart)
          else if (c === CR) state = State.SizeLf
          else return this.fail()
          break
        case State.ExtQuoted:
          if (c === DQUOTE) state = this.ext(State.ExtAfterQuoted)
          else if (c === BSLASH) state = this.ext(State.ExtQuotedEscape)
          else if (QDTEXT[c] === 1) state = this.ext(State.ExtQuoted)
          else return this.fail()
          break
        case State.ExtQuotedEscape:
          // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): the field-value bytes.
          if (FIELD_VALUE[c] === 0) return this.fail()
          state = this.ext(State.ExtQuoted)
          break
        case State.ExtAfterQuoted:
          if (c === SEMI) state = this.ext(State.ExtNameStart)
          else if (c === CR) state = State.SizeLf
          else return this.fail()
          break
        case State.SizeLf:
          if (c !== LF) return this.fail()
          if (this.remaining > 0) state = State.Data
          else {
            state = State.TrailerStart
            this.trailerBytes = 0
          }
          break
        case State.DataCr:
          if (c !== CR) return this.fail()
          state = State.DataLf
          break
        case State.DataLf:
          if (c !== LF) return this.fail()
          state = State.Size
          break
        case State.TrailerStart:
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail()
          if (c === CR) state = State.FinalLf
          else if (TOKEN[c] === 1) {
            this.nameLength = 0
            this.nameMatch = FORBIDDEN_ALL
            this.matchName(c)
            state = State.TrailerName
          } else return this.fail() // obs-fold, bare LF, junk
          break
        case State.TrailerName:
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail()
          if (TOKEN[c] === 1) this.matchName(c)
          else if (c === COLON) {
            if (this.isForbiddenName()) return this.fail()
            state = State.TrailerValue
          } else return this.fail()
          break
        case State.TrailerValue:
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail()
          if (c === CR) state = State.TrailerLf
          else if (FIELD_VALUE[c] === 0) return this.fail()
          break
        case State.TrailerLf:
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail()
          if (c !== LF) return this.fail()
          state = State.TrailerStart
          break
        case State.FinalLf:
          if (c !== LF) return this.fail()
          this.state = State.Done
          this.done = true
          return p - start
      }
      if (state === State.Failed) return this.fail() // an extension limit, from ext()
    }
    this.state = state
    return p - start
  }

  /** Counts one extension byte against the line and message limits; returns `next` or Failed. */
  private ext(next: number): number {
    if (++this.lineBytes > MAX_CHUNK_LINE_BYTES || ++this.extBytes > MAX_EXT_BYTES) return State.Failed
    return next
  }

  private matchName(c: number): void {
    const lc = LOWER[c]
    const n = this.nameLength++
    let m = this.nameMatch
    for (let i = 0; m !== 0 && i < FORBIDDEN_TRAILERS.length; i++) {
      if ((m & (1 << i)) !== 0 && FORBIDDEN_TRAILERS[i].charCodeAt(n) !== lc) m &= ~(1 << i)
    }
    this.nameMatch = m
  }

  private isForbiddenName(): boolean {
    for (let i = 0; i < FORBIDDEN_TRAILERS.length; i++) {
      if ((this.nameMatch & (1 << i)) !== 0 && FORBIDDEN_TRAILERS[i].length === this.nameLength) return true
    }
    return false
  }

  private fail(): number {
    this.state = State.Failed
    return ParseError.BadRequest
  }
}
