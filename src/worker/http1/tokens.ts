// Byte-class tables for the HTTP/1.1 parsers (parser.ts, chunked.ts). Worker thread; built once at
// import, read-only after. Each is a 256-entry Uint8Array so a check is one indexed load with no
// branches on ranges, and V8 keeps the loads monomorphic (typed array of one kind).

/**
 * Negative results of the parsers and the framer; the caller maps them to 400, 431, 414 and 501.
 * Defined here (re-exported by parser.ts) so chunked.ts needs no import cycle.
 */
export const ParseError = { BadRequest: -1, HeadTooLarge: -2, UriTooLong: -3, NotImplemented: -4 } as const
export type ParseError = (typeof ParseError)[keyof typeof ParseError]

export const CR = 0x0d
export const LF = 0x0a
export const SP = 0x20
export const HTAB = 0x09
export const COLON = 0x3a
export const COMMA = 0x2c
export const SEMI = 0x3b
export const DQUOTE = 0x22
export const BSLASH = 0x5c
export const EQUALS = 0x3d

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256)
  for (let c = 0; c < 256; c++) if (accept(c)) t[c] = 1
  return t
}

const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/** RFC 9110 5.6.2 tchar: `!#$%&'*+-.^_\`|~`, DIGIT, ALPHA. Method, header names, codings. */
export const TOKEN = table((c) => isAlpha(c) || isDigit(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)))

/**
 * Field-value bytes (RFC 9110 5.5): HTAB, SP, VCHAR, obs-text. Rejects every other control byte,
 * including CR, LF, NUL and DEL, so a bare CR inside a value ends the scan and is then refused.
 * Also used for reason phrases (same grammar).
 */
export const FIELD_VALUE = table((c) => c === HTAB || (c >= 0x20 && c <= 0x7e) || c >= 0x80)

/**
 * request-target bytes: visible ASCII only (0x21-0x7e). llhttp also refuses obs-text, SP, HTAB and
 * DEL in the target; anything a browser would send is percent-encoded.
 */
export const TARGET = table((c) => c >= 0x21 && c <= 0x7e)

/**
 * Host header bytes (RFC 3986 host [":" port]): unreserved, pct-encoded, sub-delims, ":" and the
 * brackets of an IP-literal. Stricter than RFC 9110's field-value so that a Host used for routing
 * can't carry "/", "@", SP or the like to a router that splits on them.
 */
export const HOST = table((c) => isAlpha(c) || isDigit(c) || "-._~%!$&'()*+,;=:[]".includes(String.fromCharCode(c)))

/** ASCII lowercase map; bytes outside A-Z map to themselves. */
export const LOWER = new Uint8Array(256)
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c

/** Hex digit value + 1 (0 = not a hex digit), so the table stays a Uint8Array. */
export const HEX1 = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  if (isDigit(c)) HEX1[c] = c - 0x30 + 1
  else if (c >= 0x61 && c <= 0x66) HEX1[c] = c - 0x61 + 11
  else if (c >= 0x41 && c <= 0x46) HEX1[c] = c - 0x41 + 11
}

/** quoted-string qdtext (RFC 9110 5.6.4): HTAB, SP, 0x21, 0x23-0x5b, 0x5d-0x7e, obs-text. */
export const QDTEXT = table((c) => c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80)
