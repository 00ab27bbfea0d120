// HPACK (RFC 7541) for our own HTTP/2 server layer: HpackDecoder turns a client's header blocks
// into flat [name, value, …] lists, keeping the dynamic table the client's encoder drives;
// HpackEncoder writes our response header lists. Worker threads only; one decoder per
// connection, the encoder needs none.
//
// Shaped for V8 on a path every request takes: classes with every field set in the constructor,
// integer cursors instead of closures or iterators, the dynamic table as a ring of two string
// arrays (no shift/unshift per insert), static names as module-level strings so `out` carries the
// same instances for them. The encoder is stateless and static-table-only, like HAProxy's: it
// never inserts into the dynamic table, so a peer's SETTINGS_HEADER_TABLE_SIZE never matters to
// us and there is no table to keep in step with the client's decoder. Costs a few bytes per
// response over indexing, saves the bookkeeping and the state per connection.

import { huffmanDecode } from './huffman.ts'

export const HpackError = {
  /** Undecodable block: the connection ends with COMPRESSION_ERROR (RFC 9113 §4.3). */
  Compression: -1,
  /** Decoded, but the list is larger than allowed (RFC 9113 §6.5.2): refuse the request. */
  ListTooLarge: -2,
} as const
export type HpackError = (typeof HpackError)[keyof typeof HpackError]

// Appendix A, as (name, value) at index 1-61.
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
]
// The same by index, in two flat arrays the decoder indexes directly. Index 0 is no entry
// (§6.1 makes it an error); the '' there only keeps the indexes as they are.
const STATIC_NAMES: readonly string[] = ['', ...STATIC_TABLE.map((entry) => entry[0])]
const STATIC_VALUES: readonly string[] = ['', ...STATIC_TABLE.map((entry) => entry[1])]
/** Highest static index; dynamic entries start right after it (§2.3.3). */
const STATIC_LAST = STATIC_NAMES.length - 1

/** Name → its first static index; entries sharing a name are adjacent in Appendix A. */
const STATIC_NAME_INDEX = new Map<string, number>()
for (let i = STATIC_LAST; i >= 1; i--) STATIC_NAME_INDEX.set(STATIC_NAMES[i], i)

/** Entry overhead in table and list sizes (RFC 7541 §4.1, RFC 9113 §6.5.2). */
const ENTRY_OVERHEAD = 32

/**
 * Largest integer we take: §5.1 leaves the bound to implementations and makes anything past it
 * a decoding error. Lengths, indexes and table sizes are all far below it.
 */
const MAX_INT = 0x7fffffff
/** Weights of the continuation bytes of a §5.1 integer; 2^31 needs no more than five. */
const CONTINUATION_WEIGHTS = [1, 1 << 7, 1 << 14, 1 << 21, 1 << 28]

/**
 * Decodes the header blocks of one connection, in order (the dynamic table is connection state).
 * The table lives in a ring: the newest entry (index STATIC_LAST + 1) at `head`, older ones after
 * it, so an insert moves `head` back one slot and an eviction drops the slot at the tail.
 */
export class HpackDecoder {
  private names: string[]
  private values: string[]
  /** Ring slots - 1; slots are a power of two holding every entry a table of maxTableSize can. */
  private mask: number
  private head: number
  private count: number
  /** Sum of the entry sizes in the table (§4.1). */
  private size: number
  /** The table's maximum size, as last set by the client's dynamic table size update (§4.2). */
  private tableSize: number
  /** The most a size update may ask for: our SETTINGS_HEADER_TABLE_SIZE. */
  private maxTableSize: number
  /** We lowered maxTableSize under tableSize: the next block must open with a size update. */
  private isSizeUpdateDue: boolean
  /** Read position while decoding; readInt and readString advance it. */
  private pos: number

  /**
   * `maxTableSize`: the table's starting size and the limit for size updates. A client encodes
   * against 4096 until it has our SETTINGS, so a connection advertising less starts with the
   * default and calls setMaxTableSize once the SETTINGS is acknowledged. (More is safe from the
   * start: our extra room only keeps entries the client no longer refers to.)
   */
  constructor(maxTableSize = 4096) {
    const slots = ringSlots(maxTableSize)
    this.names = emptyStrings(slots)
    this.values = emptyStrings(slots)
    this.mask = slots - 1
    this.head = 0
    this.count = 0
    this.size = 0
    this.tableSize = maxTableSize
    this.maxTableSize = maxTableSize
    this.isSizeUpdateDue = false
    this.pos = 0
  }

  /**
   * Set the limit for the client's size updates: the SETTINGS_HEADER_TABLE_SIZE we advertise.
   * Call it once the client has acknowledged the SETTINGS; its blocks before that may still use
   * the old size. Lowering it under the table's current size makes the next block start with a
   * size update no larger (RFC 7541 §4.2).
   */
  setMaxTableSize(n: number): void {
    const slots = ringSlots(n)
    if (slots > this.mask + 1) this.growRing(slots)
    this.maxTableSize = n
    this.isSizeUpdateDue = n < this.tableSize
  }

  /**
   * Decode the complete header block buf[start, end) and append `name, value, …` to out (names as
   * received; the caller checks them). Returns the header list size (octets + 32 per field), or
   * HpackError.Compression for any malformed block (the table may then be out of step: the
   * connection must end), or HpackError.ListTooLarge when the size passes maxListSize. Past the
   * limit it stops appending but still decodes the whole block, so the table stays in step.
   */
  decode(buf: Buffer, start: number, end: number, out: string[], maxListSize: number): number {
    let listSize = 0
    let hasField = false
    this.pos = start
    while (this.pos < end) {
      const first = buf[this.pos]
      if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the first field (§4.2).
        if (hasField) return HpackError.Compression
        const size = this.readInt(buf, end, 31)
        if (size < 0 || size > this.maxTableSize) return HpackError.Compression
        this.tableSize = size
        this.evictTo(size)
        this.isSizeUpdateDue = false
        continue
      }
      if (this.isSizeUpdateDue) return HpackError.Compression
      hasField = true
      let name: string | null
      let value: string | null
      if (first >= 0x80) {
        // Indexed field (§6.1).
        const index = this.readInt(buf, end, 127)
        if (index <= 0) return HpackError.Compression
        if (index <= STATIC_LAST) {
          name = STATIC_NAMES[index]
          value = STATIC_VALUES[index]
        } else {
          const k = index - STATIC_LAST - 1
          if (k >= this.count) return HpackError.Compression
          const slot = (this.head + k) & this.mask
          name = this.names[slot]
          value = this.values[slot]
        }
      } else {
        // Literal (§6.2): with incremental indexing 01xxxxxx (6-bit index), without indexing
        // 0000xxxx or never indexed 0001xxxx (4-bit index). Never-indexed only binds encoders
        // that pass it on, and ours never indexes anything.
        const isIndexing = first >= 0x40
        const nameIndex = this.readInt(buf, end, isIndexing ? 63 : 15)
        if (nameIndex < 0) return HpackError.Compression
        name = nameIndex === 0 ? this.readString(buf, end) : this.nameAt(nameIndex)
        if (name === null) return HpackError.Compression
        value = this.readString(buf, end)
        if (value === null) return HpackError.Compression
        if (isIndexing) this.insert(name, value)
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD
      if (listSize <= maxListSize) out.push(name, value)
    }
    return listSize > maxListSize ? HpackError.ListTooLarge : listSize
  }

  /** The name at a static or dynamic index, or null for an index that names nothing. */
  private nameAt(index: number): string | null {
    if (index <= STATIC_LAST) return STATIC_NAMES[index]
    const k = index - STATIC_LAST - 1
    return k < this.count ? this.names[(this.head + k) & this.mask] : null
  }

  /**
   * A §5.1 integer whose prefix is the low bits of buf[pos] (`prefixMax` = 2^N - 1), pos < end.
   * Returns it and moves pos past it, or -1 when it runs past end or above MAX_INT.
   */
  private readInt(buf: Buffer, end: number, prefixMax: number): number {
    let p = this.pos
    let value = buf[p++] & prefixMax
    if (value === prefixMax) {
      for (let m = 0; ; m++) {
        if (p >= end || m === CONTINUATION_WEIGHTS.length) return -1
        const b = buf[p++]
        value += (b & 0x7f) * CONTINUATION_WEIGHTS[m]
        if (value > MAX_INT) return -1
        if (b < 0x80) break
      }
    }
    this.pos = p
    return value
  }

  /** A §5.2 string literal at pos: raw or Huffman-coded, as latin1. Null when malformed. */
  private readString(buf: Buffer, end: number): string | null {
    if (this.pos >= end) return null
    const isHuffman = buf[this.pos] >= 0x80
    const length = this.readInt(buf, end, 127)
    if (length < 0 || length > end - this.pos) return null
    const from = this.pos
    this.pos = from + length
    return isHuffman ? huffmanDecode(buf, from, from + length) : buf.latin1Slice(from, from + length)
  }

  /** Add an entry (§4.4): evict from the tail until it fits; one larger than the table empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD
    if (entrySize > this.tableSize) {
      this.evictTo(0)
      return
    }
    this.evictTo(this.tableSize - entrySize)
    const slot = (this.head - 1) & this.mask
    this.head = slot
    this.names[slot] = name
    this.values[slot] = value
    this.count++
    this.size += entrySize
  }

  /** Evict the oldest entries until the table's size is at most `limit`. */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head + this.count - 1) & this.mask
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD
      // Let the strings go: the slot may not be written again for a long time.
      this.names[slot] = ''
      this.values[slot] = ''
      this.count--
    }
  }

  /** Move the entries, newest first, into a larger ring. */
  private growRing(slots: number): void {
    const names = emptyStrings(slots)
    const values = emptyStrings(slots)
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head + k) & this.mask
      names[k] = this.names[slot]
      values[k] = this.values[slot]
    }
    this.names = names
    this.values = values
    this.mask = slots - 1
    this.head = 0
  }
}

/** Ring slots for a table of `tableSize` octets: every entry takes at least 32 (§4.1). */
function ringSlots(tableSize: number): number {
  let slots = 1
  while (slots * ENTRY_OVERHEAD < tableSize) slots *= 2
  return slots
}

/** A packed array of `n` empty strings, so the ring's arrays keep one elements kind. */
function emptyStrings(n: number): string[] {
  const list: string[] = []
  for (let i = 0; i < n; i++) list.push('')
  return list
}

/**
 * Encodes our response (or trailer) header lists against the static table only; holds no state,
 * so one instance serves every connection of a worker.
 */
export class HpackEncoder {
  /**
   * Write `list` ([name, value, …], names lowercase, pseudo-headers first) into out from
   * `offset` as one header block. A field of the static table goes as its index (':status' '200'
   * is the byte 0x88); any other as a literal without indexing, naming the static entry when
   * the name has one, with raw (not Huffman-coded) strings. Returns the offset after the block,
   * or -1 when out is too small (out then holds a partial block; retry with a larger one).
   */
  encode(list: readonly string[], out: Buffer, offset: number): number {
    let p = offset
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]
      const value = list[i + 1]
      const nameIndex = STATIC_NAME_INDEX.get(name)
      if (nameIndex === undefined) {
        if (p >= out.length) return -1
        out[p++] = 0x00
        p = writeString(out, p, name)
      } else {
        const index = staticIndexOf(nameIndex, name, value)
        if (index !== 0) {
          p = writeInt(out, p, index, 127, 0x80)
          if (p < 0) return -1
          continue
        }
        p = writeInt(out, p, nameIndex, 15, 0x00)
      }
      if (p < 0) return -1
      p = writeString(out, p, value)
      if (p < 0) return -1
    }
    return p
  }
}

/** The static index holding exactly (name, value), searched from the name's first; 0 when none. */
function staticIndexOf(first: number, name: string, value: string): number {
  for (let i = first; i <= STATIC_LAST && STATIC_NAMES[i] === name; i++) if (STATIC_VALUES[i] === value) return i
  return 0
}

/**
 * Write a §5.1 integer at p with an N-bit prefix (`prefixMax` = 2^N - 1) under the high bits
 * `pattern`. Returns the offset after it, or -1 when out ends first.
 */
function writeInt(out: Buffer, p: number, value: number, prefixMax: number, pattern: number): number {
  if (p >= out.length) return -1
  if (value < prefixMax) {
    out[p] = pattern | value
    return p + 1
  }
  out[p++] = pattern | prefixMax
  value -= prefixMax
  while (value >= 0x80) {
    if (p >= out.length) return -1
    out[p++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  if (p >= out.length) return -1
  out[p] = value
  return p + 1
}

/** Below this length a byte loop beats the call into latin1Write (they crossed between 16 and 32). */
const SHORT_STRING = 24

/**
 * Write `text` as a raw §5.2 string literal (H = 0), one octet per char (its low 8 bits: the
 * caller has checked values are latin1). Returns the offset after it, or -1 when out ends first.
 */
function writeString(out: Buffer, p: number, text: string): number {
  const length = text.length
  p = writeInt(out, p, length, 127, 0x00)
  if (p < 0 || length > out.length - p) return -1
  if (length < SHORT_STRING) {
    for (let i = 0; i < length; i++) out[p + i] = text.charCodeAt(i)
  } else {
    out.latin1Write(text, p, length)
  }
  return p + length
}
