// The Huffman code of HPACK (RFC 7541 §5.2, Appendix B) and its decoder, for hpack.ts. Worker
// threads only; the tables are built once at module load.
//
// Decoding runs on every Huffman-coded string of every request a client sends (browsers code
// nearly all of them), so it is table-driven: one lookup per input byte in a state machine whose
// states are the 256 internal nodes of the code tree, instead of walking the tree bit by bit.
// The decoded bytes collect in a module-level scratch Buffer, sliced once into a latin1 string.
// The encoder is only for tests: our own encoder (hpack.ts HpackEncoder) writes strings raw.

// Appendix B, symbol by symbol (0-255, then EOS = 256): each code aligned to the LSB, and its
// length in bits.
const CODES = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff,
]
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]
const EOS = 256

// The code tree: internal node n has its two children at CHILD[2n] (bit 0) and CHILD[2n + 1]
// (bit 1); a child > 0 is another internal node, a child < 0 is the leaf of symbol -child - 1.
// The root is node 0 (never anyone's child). 257 leaves make exactly 256 internal nodes, so a
// node number fits the 8 bits a decoder state has below.
const CHILD = new Int16Array(512)
{
  let nodes = 1
  for (let sym = 0; sym <= EOS; sym++) {
    const code = CODES[sym]
    let node = 0
    for (let bit = LENGTHS[sym] - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1)
      if (CHILD[slot] === 0) CHILD[slot] = nodes++
      node = CHILD[slot]
    }
    CHILD[2 * node + (code & 1)] = -sym - 1
  }
}

// Where a string may end (§5.2): at the root, or up to 7 bits down the all-ones path (the
// padding is a prefix of EOS, shorter than a byte). Deeper down that path, or off it, is an error.
const ACCEPTING = new Uint8Array(256)
{
  let node = 0
  ACCEPTING[0] = 1
  for (let depth = 1; depth <= 7; depth++) {
    node = CHILD[2 * node + 1]
    ACCEPTING[node] = 1
  }
}

// One transition per (state, input byte): DECODE[state << 8 | byte] =
//   [ fail:1 | emitted:2 | second symbol:8 | first symbol:8 | next state:8 ]  (bit 26 … bit 0)
// A byte completes at most two symbols (the shortest code is 5 bits). Fail means the byte walked
// into EOS, which §5.2 forbids in a string. The 64K entries (256 KiB per worker) are composed
// from a 4-bit table, ~5 ms at module load on a slow VM (walking the tree 8 bits per entry took
// three times that). Decoding with the 4-bit table alone (two lookups per byte, as nghttp2
// does) measured 1.5-1.9x slower per string, latin1Slice included.
const NEXT_MASK = 0xff
const FIRST_SHIFT = 8
const SECOND_SHIFT = 16
const EMITTED_SHIFT = 24
const SYMBOL_MASK = 0xff << FIRST_SHIFT
const FAIL = 1 << 26
const DECODE = buildDecodeTable()

function buildDecodeTable(): Int32Array {
  // NIBBLE[state << 4 | nibble] = [ fail:1 | emitted:1 | symbol:8 | next state:8 ]
  const nibble = new Int32Array(256 * 16)
  for (let state = 0; state < 256; state++) {
    for (let bits = 0; bits < 16; bits++) {
      let node = state
      let entry = 0
      for (let bit = 3; bit >= 0; bit--) {
        const child = CHILD[2 * node + ((bits >>> bit) & 1)]
        if (child > 0) {
          node = child
          continue
        }
        if (child === -EOS - 1) {
          entry = FAIL
          break
        }
        entry = (1 << EMITTED_SHIFT) | ((-child - 1) << FIRST_SHIFT)
        node = 0
      }
      nibble[(state << 4) | bits] = entry === FAIL ? FAIL : entry | node
    }
  }
  const table = new Int32Array(256 * 256)
  for (let state = 0; state < 256; state++) {
    for (let hi = 0; hi < 16; hi++) {
      const high = nibble[(state << 4) | hi]
      const at = (state << 8) | (hi << 4)
      if ((high & FAIL) !== 0) {
        table.fill(FAIL, at, at + 16)
        continue
      }
      // The symbol the high nibble completed (if any) goes first; the low nibble's goes after it.
      const highSyms = high >>> EMITTED_SHIFT
      const lowShift = highSyms === 0 ? 0 : SECOND_SHIFT - FIRST_SHIFT
      const base = high & ~NEXT_MASK
      const mid = (high & NEXT_MASK) << 4
      for (let lo = 0; lo < 16; lo++) {
        const low = nibble[mid | lo]
        table[at | lo] = (low & FAIL) !== 0
          ? FAIL
          : base + ((low >>> EMITTED_SHIFT) << EMITTED_SHIFT) + ((low & SYMBOL_MASK) << lowShift) + (low & NEXT_MASK)
      }
    }
  }
  return table
}

/**
 * Decoded bytes before they become a string; grown (never shrunk) for longer strings, so it is
 * bounded by the largest header block the connection accepts.
 */
let scratch = Buffer.allocUnsafeSlow(4096)

/**
 * Decode the Huffman-coded string in buf[start, end) (RFC 7541 §5.2) into a latin1 string, one
 * char per decoded byte. Returns null when the input holds EOS, or ends in padding that is longer
 * than 7 bits or not all ones.
 */
export function huffmanDecode(buf: Buffer, start: number, end: number): string | null {
  // At most two bytes out per byte in.
  const most = 2 * (end - start)
  if (most > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(most, 2 * scratch.length))
  const out = scratch
  let n = 0
  let state = 0
  for (let i = start; i < end; i++) {
    const entry = DECODE[(state << 8) | buf[i]]
    if ((entry & FAIL) !== 0) return null
    const emitted = entry >>> EMITTED_SHIFT
    if (emitted !== 0) {
      // A Buffer keeps the low 8 bits of what is stored: the symbol.
      out[n++] = entry >>> FIRST_SHIFT
      if (emitted === 2) out[n++] = entry >>> SECOND_SHIFT
    }
    state = entry & NEXT_MASK
  }
  if (ACCEPTING[state] === 0) return null
  return out.latin1Slice(0, n)
}

/** Bytes `text` takes Huffman-coded (each char taken as the byte of its low 8 bits). Tests only. */
export function huffmanEncodedLength(text: string): number {
  let bits = 0
  for (let i = 0; i < text.length; i++) bits += LENGTHS[text.charCodeAt(i) & 0xff]
  return (bits + 7) >>> 3
}

/**
 * Huffman-code `text` into out at offset, padded with the high bits of EOS; returns the offset
 * after it. `out` must hold huffmanEncodedLength(text) bytes from offset. Tests only, so plain
 * float arithmetic keeps up to 37 pending bits (7 left over + a 30-bit code) exact.
 */
export function huffmanEncode(text: string, out: Buffer, offset: number): number {
  let p = offset
  let pending = 0
  let pendingBits = 0
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff
    pending = pending * 2 ** LENGTHS[sym] + CODES[sym]
    pendingBits += LENGTHS[sym]
    while (pendingBits >= 8) {
      pendingBits -= 8
      const byte = Math.floor(pending / 2 ** pendingBits)
      out[p++] = byte
      pending -= byte * 2 ** pendingBits
    }
  }
  if (pendingBits > 0) out[p++] = (pending << (8 - pendingBits)) | (0xff >>> pendingBits)
  return p
}
