// Unit tests for src/worker/http2/hpack.ts and huffman.ts: the RFC 7541 Appendix C examples
// (one decoder across each request or response sequence, the dynamic table checked after each
// block), the malformed blocks a decoder must refuse, a list over the size limit still updating
// the table, encoder → decoder round trips of random lists, and random blocks never throwing.

import t from 'tap'
import type { Test } from 'tap'
import { HpackDecoder, HpackEncoder, HpackError } from '../../../src/worker/http2/hpack.ts'
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../../../src/worker/http2/huffman.ts'

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex')
}

function decode(d: HpackDecoder, wire: Buffer | string, maxListSize = 1 << 20): { r: number; out: string[] } {
  const buf = typeof wire === 'string' ? hex(wire) : wire
  const out: string[] = []
  return { r: d.decode(buf, 0, buf.length, out, maxListSize), out }
}

/** The §6.1 indexed representation of `index`, as a block. */
function indexed(index: number): Buffer {
  if (index < 127) return Buffer.from([0x80 | index])
  const bytes = [0xff]
  let rest = index - 127
  while (rest >= 128) {
    bytes.push((rest & 0x7f) | 0x80)
    rest >>>= 7
  }
  bytes.push(rest)
  return Buffer.from(bytes)
}

/**
 * The dynamic table, newest first, read through indexed fields from 62 up until one is refused
 * (a refused index leaves the table as it was), and its size as §4.1 counts it.
 */
function table(d: HpackDecoder): { entries: string[]; size: number } {
  const entries: string[] = []
  let size = 0
  for (let index = 62; ; index++) {
    const { r, out } = decode(d, indexed(index))
    if (r < 0) return { entries, size }
    entries.push(out[0], out[1])
    size += r
  }
}

/** Size of a header list as §4.1 / RFC 9113 §6.5.2 count it. */
function listSize(list: string[]): number {
  let size = 0
  for (let i = 0; i < list.length; i += 2) size += list[i].length + list[i + 1].length + 32
  return size
}

interface Step { wire: string; list: string[]; table: string[]; size: number }

function sequence(t: Test, d: HpackDecoder, steps: Step[]): void {
  for (const [i, step] of steps.entries()) {
    const { r, out } = decode(d, step.wire)
    t.same(out, step.list, `block ${i + 1}: header list`)
    t.equal(r, listSize(step.list), `block ${i + 1}: list size`)
    t.same(table(d), { entries: step.table, size: step.size }, `block ${i + 1}: dynamic table`)
  }
}

t.test('C.2: one representation of each kind', async (t) => {
  sequence(t, new HpackDecoder(), [{
    wire: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
    list: ['custom-key', 'custom-header'], table: ['custom-key', 'custom-header'], size: 55,
  }])
  sequence(t, new HpackDecoder(), [{ wire: '040c 2f73 616d 706c 652f 7061 7468', list: [':path', '/sample/path'], table: [], size: 0 }])
  sequence(t, new HpackDecoder(), [{ wire: '1008 7061 7373 776f 7264 0673 6563 7265 74', list: ['password', 'secret'], table: [], size: 0 }])
  sequence(t, new HpackDecoder(), [{ wire: '82', list: [':method', 'GET'], table: [], size: 0 }])
})

const REQUESTS: Array<Omit<Step, 'wire'>> = [
  {
    list: [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
    table: [':authority', 'www.example.com'], size: 57,
  },
  {
    list: [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
    table: ['cache-control', 'no-cache', ':authority', 'www.example.com'], size: 110,
  },
  {
    list: [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
    table: ['custom-key', 'custom-value', 'cache-control', 'no-cache', ':authority', 'www.example.com'], size: 164,
  },
]

t.test('C.3: three requests without Huffman coding share one dynamic table', async (t) => {
  const wires = [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]
  sequence(t, new HpackDecoder(), REQUESTS.map((step, i) => ({ ...step, wire: wires[i] })))
})

t.test('C.4: the same requests with Huffman coding', async (t) => {
  const wires = [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ]
  sequence(t, new HpackDecoder(), REQUESTS.map((step, i) => ({ ...step, wire: wires[i] })))
})

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
const LOCATION = 'https://www.example.com'
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'
const RESPONSES: Array<Omit<Step, 'wire'>> = [
  {
    list: [':status', '302', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    table: ['location', LOCATION, 'date', DATE1, 'cache-control', 'private', ':status', '302'], size: 222,
  },
  {
    // :status 302 is evicted to make room for :status 307.
    list: [':status', '307', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    table: [':status', '307', 'location', LOCATION, 'date', DATE1, 'cache-control', 'private'], size: 222,
  },
  {
    list: [':status', '200', 'cache-control', 'private', 'date', DATE2, 'location', LOCATION, 'content-encoding', 'gzip', 'set-cookie', COOKIE],
    table: ['set-cookie', COOKIE, 'content-encoding', 'gzip', 'date', DATE2], size: 215,
  },
]

t.test('C.5: three responses without Huffman coding evict from a 256-octet table', async (t) => {
  const wires = [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ]
  sequence(t, new HpackDecoder(256), RESPONSES.map((step, i) => ({ ...step, wire: wires[i] })))
})

t.test('C.6: the same responses with Huffman coding', async (t) => {
  const wires = [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ]
  sequence(t, new HpackDecoder(256), RESPONSES.map((step, i) => ({ ...step, wire: wires[i] })))
})

t.test('the decoder refuses malformed blocks with a compression error', async (t) => {
  const cases: Array<[string, string]> = [
    ['index 0', '80'],
    ['index past the (empty) dynamic table', 'be'],
    ['index past the static and dynamic tables', 'ff 80 01'],
    ['literal naming an index past the table', '7e 01 61'],
    ['integer cut short after its prefix', 'ff'],
    ['integer cut short after a continuation byte', 'ff 80'],
    ['integer over 2^31 - 1', '7f ff ff ff ff ff ff ff ff'],
    ['integer with too many continuation bytes', 'ff 80 80 80 80 80 00'],
    ['name length past the end', '00 05 61 62'],
    ['value length past the end', '04 05 2f'],
    ['value missing', '04'],
    ['Huffman value holding EOS after an "a"', '04 85 1f ff ff ff ff'],
    ['Huffman padding longer than 7 bits', '04 82 1f ff'],
    ['Huffman padding not all ones', '04 81 18'],
    ['size update above the 4096 we advertise', '3f e2 1f'],
    ['size update after a field', '82 20'],
  ]
  for (const [what, wire] of cases) t.equal(decode(new HpackDecoder(), wire).r, HpackError.Compression, what)
  t.equal(decode(new HpackDecoder(), '3f e1 1f 82').r, 42, 'a size update to exactly 4096, then a field')
  t.equal(decode(new HpackDecoder(), '20 3f e1 1f 82').r, 42, 'two size updates open a block')
  t.equal(decode(new HpackDecoder(), '04 81 1f').r, 38, 'Huffman "a" with 3 bits of padding')
  t.equal(decode(new HpackDecoder(), '').r, 0, 'an empty block')
})

t.test('after setMaxTableSize lowers the limit, the next block must open with a size update within it', async (t) => {
  const lowered = new HpackDecoder()
  lowered.setMaxTableSize(1024)
  t.equal(decode(lowered, '82').r, HpackError.Compression, 'no size update')
  const updated = new HpackDecoder()
  t.equal(decode(updated, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572').r, 55)
  updated.setMaxTableSize(1024)
  t.equal(decode(updated, '3f e2 0f 82').r, HpackError.Compression, '2049 is over 1024')
  t.equal(decode(updated, '3f e1 07 82').r, 42, 'an update to 1024')
  t.same(table(updated).entries, ['custom-key', 'custom-header'], 'the entry fits in 1024 and stays')
  t.equal(decode(updated, '20 be').r, HpackError.Compression, 'an update to 0 empties the table')
  const raised = new HpackDecoder(256)
  raised.setMaxTableSize(8192)
  t.equal(decode(raised, '3f e1 3f').r, 0, 'a raised limit admits an update to 8192')
  const big = 'x'.repeat(8000)
  const wire = Buffer.concat([hex('40 01 61 7f c1 3d'), Buffer.from(big, 'latin1'), hex('be')])
  t.same(decode(raised, wire).out, ['a', big, 'a', big], 'an entry of 8033 octets goes into the grown table')
})

t.test('a list over the limit is refused after the whole block is decoded, so the table stays in step', async (t) => {
  const d = new HpackDecoder()
  // :method GET (42), then custom-key: custom-header with incremental indexing (55).
  const { r, out } = decode(d, '82 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', 60)
  t.equal(r, HpackError.ListTooLarge)
  t.same(out, [':method', 'GET'], 'fields within the limit, none after it')
  t.same(decode(d, 'be'), { r: 55, out: ['custom-key', 'custom-header'] }, 'the next block uses the entry')
  t.equal(decode(d, '82 82 80', 50).r, HpackError.Compression, 'a compression error wins over the size')
})

t.test('Huffman code: RFC example, every byte value, and only canonical input decodes', async (t) => {
  const buf = Buffer.alloc(64)
  const n = huffmanEncode('www.example.com', buf, 0)
  t.equal(buf.subarray(0, n).toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff', 'C.4.1 :authority')
  t.equal(huffmanEncodedLength('www.example.com'), 12)
  let all = ''
  for (let c = 0; c < 256; c++) all += String.fromCharCode(c)
  const rand = mulberry32(7)
  const texts = [all, '', 'a', all.split('').reverse().join('')]
  for (let i = 0; i < 300; i++) texts.push(randomLatin1(rand, Math.floor(rand() * 64)))
  let bad = 0
  for (const text of texts) {
    const coded = Buffer.alloc(huffmanEncodedLength(text))
    huffmanEncode(text, coded, 0)
    if (huffmanDecode(coded, 0, coded.length) !== text) bad++
  }
  t.equal(bad, 0, `${texts.length} strings round-trip`)
  // Each byte string decodes to at most one text, whose coding is that very string (padding is
  // fixed), so every 1- and 2-byte input either fails or re-encodes to itself.
  let accepted = 0
  bad = 0
  const input = Buffer.alloc(2)
  const again = Buffer.alloc(8)
  for (let v = 0; v < 0x10000 + 0x100; v++) {
    const length = v < 0x10000 ? 2 : 1
    if (length === 2) input.writeUInt16BE(v, 0)
    else input[0] = v - 0x10000
    const text = huffmanDecode(input, 0, length)
    if (text === null) continue
    accepted++
    const m = huffmanEncode(text, again, 0)
    if (m !== length || again.compare(input, 0, length, 0, m) !== 0) bad++
  }
  t.equal(bad, 0, `all ${accepted} accepted 1- and 2-byte inputs are canonical`)
  t.equal(huffmanDecode(hex('ffffffff'), 0, 4), null, 'EOS alone')
  t.equal(huffmanDecode(hex('ff'), 0, 1), null, '8 bits of padding')
  t.equal(huffmanDecode(hex('fe'), 0, 1), null, 'padding with a 0 bit')
})

/** Deterministic PRNG (mulberry32) so a failure replays. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function randomLatin1(rand: () => number, length: number): string {
  let text = ''
  for (let i = 0; i < length; i++) text += String.fromCharCode(Math.floor(rand() * 256))
  return text
}

const SOME_NAMES = [':status', ':path', 'content-type', 'set-cookie', 'www-authenticate', 'accept-encoding', 'x-request-id', 'x-a']
const SOME_VALUES = ['200', '204', '404', '500', '418', '/', '/index.html', 'gzip, deflate', '']

function randomList(rand: () => number): string[] {
  const list: string[] = []
  const count = Math.floor(rand() * 12)
  for (let i = 0; i < count; i++) {
    const pick = rand()
    const name = pick < 0.6
      ? SOME_NAMES[Math.floor(rand() * SOME_NAMES.length)]
      : 'x-' + 'abcdefghij'.repeat(pick < 0.65 ? 20 : 1).slice(0, Math.floor(rand() * 200))
    const kind = rand()
    const value = kind < 0.3 ? SOME_VALUES[Math.floor(rand() * SOME_VALUES.length)]
      : kind < 0.9 ? randomLatin1(rand, Math.floor(rand() * 40))
        : kind < 0.97 ? randomLatin1(rand, 128 + Math.floor(rand() * 300))
          : randomLatin1(rand, 16384 + Math.floor(rand() * 5000))
    list.push(name, value)
  }
  return list
}

t.test('encoder → decoder round-trips random lists; one decoder takes them all', async (t) => {
  const rand = mulberry32(42)
  const encoder = new HpackEncoder()
  const decoder = new HpackDecoder()
  const out = Buffer.alloc(1 << 20)
  let bad = 0
  for (let i = 0; i < 500; i++) {
    const list = randomList(rand)
    const end = encoder.encode(list, out, 3)
    const got: string[] = []
    const r = decoder.decode(out, 3, end, got, 1 << 20)
    if (r !== listSize(list) || got.length !== list.length || got.some((s, k) => s !== list[k])) {
      bad++
      if (bad === 1) t.fail(`list ${i} came back as ${r}: ${JSON.stringify(got).slice(0, 200)}`)
    }
  }
  t.equal(bad, 0, '500 lists round-trip')
  t.same(table(decoder).entries, [], 'the encoder never adds to the dynamic table')
})

t.test('encoder: static fields go as one index byte, other names by index or as literals', async (t) => {
  const encoder = new HpackEncoder()
  const out = Buffer.alloc(64)
  const bytes = (list: string[]): string => out.subarray(0, encoder.encode(list, out, 0)).toString('hex')
  t.equal(bytes([':status', '200']), '88')
  t.equal(bytes([':status', '204', ':status', '206', ':status', '304', ':status', '400', ':status', '404', ':status', '500']), '898a8b8c8d8e')
  t.equal(bytes(['accept-encoding', 'gzip, deflate']), '90', 'full match past the first index of a name')
  t.equal(bytes([':status', '418']), '0803' + Buffer.from('418').toString('hex'), 'literal without indexing, name index 8')
  t.equal(bytes(['www-authenticate', 'a']), '0f2e0161', 'name index 61 takes a continuation byte (4-bit prefix)')
  t.equal(bytes(['x-a', 'b']), '0003782d610162', 'a literal name')
  t.equal(bytes(['age', '']), '95', 'an empty value matches the static entry')
})

t.test('encoder: -1 for every buffer too small, the exact size works, at any offset', async (t) => {
  const encoder = new HpackEncoder()
  const list = [':status', '200', 'content-type', 'text/html', 'x-long', 'v'.repeat(300), 'server', 'portico']
  const big = Buffer.alloc(1024)
  const needed = encoder.encode(list, big, 0)
  let bad = 0
  for (let size = 0; size < needed; size++) if (encoder.encode(list, Buffer.alloc(size + 5), 5) !== -1) bad++
  t.equal(bad, 0, `-1 for all ${needed} sizes short of ${needed} bytes`)
  const exact = Buffer.alloc(needed + 5)
  t.equal(encoder.encode(list, exact, 5), needed + 5)
  t.same(exact.subarray(5), big.subarray(0, needed))
})

t.test('random and mutated blocks never throw', async (t) => {
  const rand = mulberry32(1234)
  const encoder = new HpackEncoder()
  const seeds = [
    hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
    hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'),
    hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'),
  ]
  const encoded = Buffer.alloc(1 << 16)
  for (let i = 0; i < 20; i++) {
    const end = encoder.encode(randomList(rand), encoded, 0)
    seeds.push(Buffer.from(encoded.subarray(0, end)))
  }
  const longLived = new HpackDecoder(512)
  let notNumbers = 0
  let thrown = 0
  for (let i = 0; i < 2000; i++) {
    let block: Buffer
    if (i % 2 === 0) {
      block = Buffer.alloc(Math.floor(rand() * 64))
      for (let k = 0; k < block.length; k++) block[k] = Math.floor(rand() * 256)
    } else {
      block = Buffer.from(seeds[Math.floor(rand() * seeds.length)])
      const flips = 1 + Math.floor(rand() * 4)
      for (let k = 0; k < flips && block.length > 0; k++) block[Math.floor(rand() * block.length)] = Math.floor(rand() * 256)
      if (rand() < 0.3) block = block.subarray(0, Math.floor(rand() * block.length))
    }
    if (i % 100 === 0) longLived.setMaxTableSize(Math.floor(rand() * 1024))
    for (const d of [new HpackDecoder(), longLived]) {
      try {
        if (typeof d.decode(block, 0, block.length, [], Math.floor(rand() * 4096)) !== 'number') notNumbers++
      } catch {
        thrown++
      }
    }
  }
  t.equal(thrown, 0, 'no decode threw')
  t.equal(notNumbers, 0, 'every decode returned a number')
})
