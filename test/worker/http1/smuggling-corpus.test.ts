// Replays the smuggling corpus (corpus.ts) through the head parser and the chunked framer, the way
// the session frames a connection: head, then body by Content-Length or chunked, then the next
// message. Each case must get exactly its expected outcome and framing.

import t from 'tap'
import { CORPUS } from './corpus.ts'
import { ChunkedFramer, DEFAULT_LIMITS, ParseError, RequestHead, parseRequestHead } from '../../../src/worker/http1/parser.ts'

const STATUS: Record<number, number> = {
  [ParseError.BadRequest]: 400, [ParseError.HeadTooLarge]: 431, [ParseError.UriTooLong]: 414, [ParseError.NotImplemented]: 501,
}

interface Framed {
  /** 0 when accepted, else the status. */
  status: number
  framing: 'none' | 'length' | 'chunked'
  bodyBytes: number
  messageBytes: number
}

const head = new RequestHead()
const framer = new ChunkedFramer()

/** Frames one message at buf[start...]; an incomplete message is a failure of the corpus itself. */
function frame(buf: Buffer, start: number): Framed {
  const r = parseRequestHead(buf, start, buf.length, head, DEFAULT_LIMITS)
  if (r === 0) throw new Error(`corpus case is incomplete: head at ${start} never ends`)
  if (r < 0) return { status: STATUS[r], framing: 'none', bodyBytes: 0, messageBytes: 0 }
  const bodyStart = start + r
  if (head.isChunked) {
    framer.reset()
    const n = framer.feed(buf, bodyStart, buf.length)
    if (n < 0) return { status: 400, framing: 'chunked', bodyBytes: 0, messageBytes: 0 }
    if (!framer.done) throw new Error('corpus case is incomplete: chunked body never ends')
    return { status: 0, framing: 'chunked', bodyBytes: framer.dataBytes, messageBytes: r + n }
  }
  if (head.contentLength >= 0) {
    if (bodyStart + head.contentLength > buf.length) throw new Error('corpus case is incomplete: body shorter than Content-Length')
    return { status: 0, framing: 'length', bodyBytes: head.contentLength, messageBytes: r + head.contentLength }
  }
  return { status: 0, framing: 'none', bodyBytes: 0, messageBytes: r }
}

t.test('the corpus has at least 60 uniquely named cases', async (t) => {
  t.ok(CORPUS.length >= 60, `${CORPUS.length} cases`)
  t.equal(new Set(CORPUS.map((c) => c.name)).size, CORPUS.length)
  t.ok(CORPUS.every((c) => /^[\x00-\xff]*$/.test(c.raw)), 'raw strings are latin1')
})

for (const c of CORPUS) {
  t.test(c.name, async (t) => {
    const buf = Buffer.from(c.raw, 'latin1')
    const first = frame(buf, 0)
    if (c.expect === 'reject') {
      t.equal(first.status, c.status, 'refused with the expected status')
      return
    }
    t.equal(first.status, 0, 'accepted')
    t.equal(first.framing, c.framing, 'framing')
    t.equal(first.bodyBytes, c.bodyBytes, 'body bytes')
    t.equal(first.messageBytes, c.messageBytes, 'the next message starts where expected')
    let pos = first.messageBytes
    if (c.next === undefined) {
      t.equal(pos, buf.length, 'nothing follows')
      return
    }
    if (c.next === 'reject') {
      t.equal(frame(buf, pos).status, c.nextStatus, 'the follow-up is refused')
      return
    }
    let messages = 0
    while (pos < buf.length && messages < 10) {
      const next = frame(buf, pos)
      t.equal(next.status, 0, `follow-up ${messages + 1} accepted`)
      if (next.status !== 0) return
      pos += next.messageBytes
      messages++
    }
    t.equal(pos, buf.length, 'every follow-up consumed exactly')
  })
}
